package report

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// Series is one panel of a Lines chart: Y against X.
type Series struct {
	Title string
	X, Y  []float64
	// Format prints the panel's largest value, e.g. "%.0f".
	Format string
}

// Line chart geometry, in SVG user units.
const (
	linesW      = 720
	linesPanelH = 150
	linesTop    = 40
	linesLeft   = 70
	linesRight  = 20
)

// Lines writes a chart of stacked panels, one per series, sharing the X
// axis (seconds), with a dashed vertical line at mark (no line when mark is
// not positive).
func Lines(w io.Writer, title string, mark float64, series []Series) error {
	h := linesTop + len(series)*linesPanelH + 30
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", linesW, h, linesW, h)
	b.WriteString(`<rect width="100%" height="100%" fill="white"/>` + "\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-weight="bold">%s</text>`+"\n", linesLeft, html.EscapeString(title))
	xMax := 0.0
	for _, s := range series {
		for _, x := range s.X {
			xMax = max(xMax, x)
		}
	}
	if xMax == 0 {
		xMax = 1
	}
	plotW := float64(linesW - linesLeft - linesRight)
	for i, s := range series {
		top := float64(linesTop + i*linesPanelH + 20)
		bot := top + linesPanelH - 40
		yMax := 0.0
		for _, y := range s.Y {
			yMax = max(yMax, y)
		}
		scale := yMax
		if scale == 0 {
			scale = 1
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f">%s</text>`+"\n", linesLeft, top-6, html.EscapeString(s.Title))
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="black"/>`+"\n", linesLeft, bot, linesW-linesRight, bot)
		fmt.Fprintf(&b, `<line x1="%d" y1="%.0f" x2="%d" y2="%.0f" stroke="black"/>`+"\n", linesLeft, top, linesLeft, bot)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">`+s.Format+`</text>`+"\n", linesLeft-4, top+4, yMax)
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="end">0</text>`+"\n", linesLeft-4, bot+4)
		if mark > 0 {
			x := linesLeft + mark/xMax*plotW
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="gray" stroke-dasharray="4,3"/>`+"\n", x, top, x, bot)
		}
		var pts []string
		for j := range min(len(s.X), len(s.Y)) {
			x := linesLeft + s.X[j]/xMax*plotW
			y := bot - s.Y[j]/scale*(bot-top)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", barColors[i%len(barColors)], strings.Join(pts, " "))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">seconds since the first device started (%.0f s)</text>`+"\n", linesLeft+int(plotW)/2, h-8, xMax)
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
