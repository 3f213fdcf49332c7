package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/fleetlog/fleetlog/internal/archive"
)

// progressBarWidth is the bar's width in cells.
const progressBarWidth = 30

// queryProgressBar draws a query's progress on w when w is a terminal, and
// returns a nil update otherwise, so redirected or piped output never
// carries it. Records going to the same terminal (stdout) would be torn by
// the bar, so then it is only drawn for a count. done erases it.
func queryProgressBar(w, stdout io.Writer, count bool) (update func(archive.QueryProgress), done func()) {
	if !isTerminal(w) || (!count && isTerminal(stdout)) {
		return nil, func() {}
	}
	bar := &progressBar{w: w, every: 100 * time.Millisecond}
	return bar.update, bar.clear
}

// progressBar redraws at most every `every`, and always at the last segment.
type progressBar struct {
	w     io.Writer
	every time.Duration
	last  time.Time
	drawn bool
}

func (b *progressBar) update(p archive.QueryProgress) {
	now := time.Now()
	if p.Done < p.Total && now.Sub(b.last) < b.every {
		return
	}
	b.last = now
	b.drawn = true
	fmt.Fprint(b.w, "\r"+renderProgress(p)+"\033[K")
}

func (b *progressBar) clear() {
	if b.drawn {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// renderProgress is one line: the bar, segments done, and what was read.
func renderProgress(p archive.QueryProgress) string {
	filled := progressBarWidth
	if p.Total > 0 {
		filled = p.Done * progressBarWidth / p.Total
	}
	return fmt.Sprintf("[%s%s] %d/%d segments (%d skipped), %s records read, %s matched",
		strings.Repeat("#", filled), strings.Repeat(".", progressBarWidth-filled),
		p.Done, p.Total, p.Stats.Skipped, humanCount(p.Stats.Records), humanCount(p.Stats.Matched))
}

// humanCount writes n with a k, M or G suffix past a thousand.
func humanCount(n uint64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
