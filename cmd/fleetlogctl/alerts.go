package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/archive"
)

// errAlertsFired is returned (exit status 1) by `alerts test --fail` when a
// rule fired.
var errAlertsFired = errors.New("alerts fired")

func newAlertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "alerts",
		Short: "Alert rules: test them offline",
	}
	cmd.AddCommand(newAlertsTestCmd())
	return cmd
}

type alertsTest struct {
	rulesFile, archiveDir, since, until, device, fleet, site, output string
	pack                                                             []string
	year                                                             int
	fail                                                             bool
}

func newAlertsTestCmd() *cobra.Command {
	var o alertsTest
	cmd := &cobra.Command{
		Use:   "test [--rules FILE] [--pack NAME ...] (FILE... | --archive DIR [--since T] [--until T])",
		Short: "Run alert rules over log files or an archive range and print what would fire",
		Long: `Runs alert rules, as the gateway's alert connector does, over log files (one record
a line; "-" is standard input) or a range of the archive, and prints every alert
that would fire or resolve, then a count per rule.

A line is a JSON object as 'archive query' prints it (time, severity_number, body,
attributes, resource) or plain text, whose leading RFC 3339 or syslog timestamp
("Jan  2 15:04:05", in --year) is its time. Plain lines belong to --device (default:
the file's base name), --fleet and --site. Rules run on the records' own clock, so a
replay fires as the gateway would have; a record without a time takes the last one
seen, and each file starts its own clock. Absence rules fire for a device whose records stop for their 'for' within the
input.

Exit status: 0, or 1 with --fail when any alert fired; 2 on a usage, rules or I/O
error. Progress goes to stderr when stderr is a terminal.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if (len(args) == 0) == (o.archiveDir == "") {
				return usageError{errors.New("give FILE arguments or --archive, not both")}
			}
			if o.output != "text" && o.output != "json" {
				return usageError{fmt.Errorf("--output %q: use text or json", o.output)}
			}
			var rules []*alert.Rule
			if len(o.pack) > 0 {
				p, err := alert.Pack(o.pack...)
				if err != nil {
					return usageError{fmt.Errorf("--pack: %w", err)}
				}
				rules = append(rules, p...)
			}
			if o.rulesFile != "" {
				f, err := alert.ParseFile(o.rulesFile)
				if err != nil {
					return usageError{err}
				}
				rules = append(rules, f...)
			}
			if len(rules) == 0 {
				return usageError{errors.New("no rules: give --rules or --pack")}
			}
			eng, err := alert.NewEngine(rules)
			if err != nil {
				return usageError{err}
			}
			r := &alertsRun{o: &o, eng: eng, out: bufio.NewWriter(cmd.OutOrStdout()), fired: map[string]int{}, resolved: map[string]int{}}
			if f, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				r.progress = f
			}
			if o.archiveDir != "" {
				err = r.archive()
			} else {
				err = r.files(args)
			}
			r.finish()
			if ferr := r.out.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return usageError{err}
			}
			if o.fail && r.total > 0 {
				return fmt.Errorf("%w: %d", errAlertsFired, r.total)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.rulesFile, "rules", "", "rules YAML file")
	fl.StringSliceVar(&o.pack, "pack", nil, "shipped rules to enable by name, or all (repeatable)")
	fl.StringVar(&o.archiveDir, "archive", "", "archive directory to read instead of files")
	fl.StringVar(&o.since, "since", "", "with --archive: records at or after this time")
	fl.StringVar(&o.until, "until", "", "with --archive: records before this time")
	fl.StringVar(&o.device, "device", "", "device.id of plain lines (default: the file's base name)")
	fl.StringVar(&o.fleet, "fleet", "", "fleet.name of plain lines")
	fl.StringVar(&o.site, "site", "", "fleet.site of plain lines")
	fl.IntVar(&o.year, "year", time.Now().Year(), "year of syslog timestamps, which have none")
	fl.StringVarP(&o.output, "output", "o", "text", "text or json")
	fl.BoolVar(&o.fail, "fail", false, "exit 1 when any alert fired")
	return cmd
}

type alertsRun struct {
	o                 *alertsTest
	eng               *alert.Engine
	out               *bufio.Writer
	progress          io.Writer
	clock, lastTick   time.Time
	records           int64
	bytes, totalBytes int64
	lastProgress      time.Time
	fired, resolved   map[string]int
	total             int
}

func (r *alertsRun) files(paths []string) error {
	for _, p := range paths {
		if p != "-" {
			if st, err := os.Stat(p); err == nil {
				r.totalBytes += st.Size()
			}
		}
	}
	for _, p := range paths {
		if err := r.file(p); err != nil {
			return err
		}
	}
	return nil
}

func (r *alertsRun) file(path string) error {
	var in io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	// Each file runs on its own clock: files of several devices cover
	// different times.
	r.clock, r.lastTick = time.Time{}, time.Time{}
	base := map[string]string{}
	dev := r.o.device
	if dev == "" && path != "-" {
		dev = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	for k, v := range map[string]string{"device.id": dev, "fleet.name": r.o.fleet, "fleet.site": r.o.site} {
		if v != "" {
			base[k] = v
		}
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		r.bytes += int64(len(line)) + 1
		if strings.TrimSpace(line) == "" {
			continue
		}
		rec := alert.ParseLine(strings.TrimRight(line, "\r"), r.o.year, base)
		r.observe(&rec)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

func (r *alertsRun) archive() error {
	var f archive.Filter
	var err error
	now := time.Now()
	if f.Since, err = parseQueryTime(r.o.since, now); err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	if f.Until, err = parseQueryTime(r.o.until, now); err != nil {
		return fmt.Errorf("--until: %w", err)
	}
	_, err = archive.Query(r.o.archiveDir, f, func(ar *archive.Record) error {
		if ar.Scope.Name() == alert.RecordScope {
			return nil
		}
		rec := alert.Record{Time: ar.Time, Severity: ar.Severity, Body: ar.Body.AsString(),
			Attrs: &alert.PdataAttrs{Record: ar.Attributes, Resource: ar.Resource}}
		if rec.Time.IsZero() || rec.Time.UnixNano() == 0 {
			rec.Time = ar.ObservedTime
		}
		r.observe(&rec)
		return nil
	})
	return err
}

func (r *alertsRun) observe(rec *alert.Record) {
	if !rec.Time.IsZero() && rec.Time.After(r.clock) {
		r.clock = rec.Time
	}
	if r.clock.IsZero() {
		r.clock = time.Now()
	}
	r.records++
	r.print(r.eng.Observe(r.clock, func(yield func(*alert.Record) bool) { yield(rec) }))
	// Windows close and absences fire as the clock moves, once a second of
	// record time at most.
	if r.clock.Sub(r.lastTick) >= time.Second {
		r.lastTick = r.clock
		r.print(r.eng.Tick(r.clock))
	}
	r.showProgress(false)
}

func (r *alertsRun) finish() {
	r.showProgress(true)
	var rules []string
	for k := range r.fired {
		rules = append(rules, k)
	}
	sort.Strings(rules)
	if r.o.output == "text" {
		fmt.Fprintf(r.out, "%d records, %d alerts fired\n", r.records, r.total)
		for _, k := range rules {
			fmt.Fprintf(r.out, "  %-28s fired %d, resolved %d\n", k, r.fired[k], r.resolved[k])
		}
	}
}

type alertLine struct {
	Status      alert.Status      `json:"status"`
	Rule        string            `json:"rule"`
	Severity    alert.Severity    `json:"severity"`
	Fingerprint string            `json:"fingerprint"`
	Labels      map[string]string `json:"labels"`
	Device      string            `json:"device,omitempty"`
	Fleet       string            `json:"fleet,omitempty"`
	Count       int64             `json:"count"`
	Window      string            `json:"window"`
	At          time.Time         `json:"at"`
	FirstRecord time.Time         `json:"first_record"`
	LastRecord  time.Time         `json:"last_record"`
	Summary     string            `json:"summary"`
}

func (r *alertsRun) print(alerts []alert.Alert) {
	for _, a := range alerts {
		at := a.StartsAt
		if a.Status == alert.StatusResolved {
			at = a.EndsAt
			r.resolved[a.Rule]++
		} else {
			r.fired[a.Rule]++
			r.total++
		}
		if r.progress != nil {
			fmt.Fprint(r.progress, "\r\033[K")
		}
		if r.o.output == "json" {
			b, _ := json.Marshal(alertLine{Status: a.Status, Rule: a.Rule, Severity: a.Severity, Fingerprint: a.Fingerprint,
				Labels: a.Labels, Device: a.Device, Fleet: a.Fleet, Count: a.Count, Window: a.Window.String(), At: at,
				FirstRecord: a.FirstRecord, LastRecord: a.LastRecord, Summary: a.Summary})
			r.out.Write(append(b, '\n'))
			continue
		}
		who := a.Device
		if who == "" {
			who = "fleet " + a.Fleet
		}
		fmt.Fprintf(r.out, "%s %-8s %-24s %-16s %s\n", at.UTC().Format(time.RFC3339), strings.ToUpper(string(a.Status)), a.Rule, who, a.Summary)
	}
	if len(alerts) > 0 && r.progress != nil {
		// Alerts go out before the progress line is drawn again.
		_ = r.out.Flush()
	}
}

// showProgress draws a bar (files of known size) or a count on stderr,
// five times a second at most.
func (r *alertsRun) showProgress(final bool) {
	if r.progress == nil || (!final && time.Since(r.lastProgress) < 200*time.Millisecond) {
		return
	}
	r.lastProgress = time.Now()
	if r.totalBytes > 0 {
		frac := min(float64(r.bytes)/float64(r.totalBytes), 1)
		if final {
			frac = 1
		}
		const width = 30
		n := int(frac * width)
		fmt.Fprintf(r.progress, "\r\033[K[%s%s] %3.0f%% %d records, %d alerts", strings.Repeat("#", n), strings.Repeat(".", width-n), frac*100, r.records, r.total)
	} else {
		fmt.Fprintf(r.progress, "\r\033[K%d records, %d alerts", r.records, r.total)
	}
	if final {
		fmt.Fprintln(r.progress)
	}
}
