// Command archivequery generates a large archive in the real format (the
// archive package's Writer, with the exporter's default segment size and
// age) and measures `fleetlogctl archive query` on it: a device's last hour,
// a full-text search over one day, queries the index answers by skipping,
// and what the index adds to the archive's size. The archive must pass
// `fleetlogctl archive verify` first.
//
//	go run ./bench/archivequery -ctl bin/fleetlogctl                    # 10 million records
//	go run ./bench/archivequery -ctl bin/fleetlogctl -records 100000000 # the full size
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/fleetlog/fleetlog/internal/archive"
)

type options struct {
	ctl, dir, out        string
	records              int64
	days, devices, batch int
	runs, procs          int
	keep, reuse          bool
}

func main() {
	var o options
	flag.StringVar(&o.ctl, "ctl", "bin/fleetlogctl", "fleetlogctl binary")
	flag.StringVar(&o.dir, "dir", "", "where to generate (default: a new directory under the temporary directory); removed afterwards unless -keep")
	flag.StringVar(&o.out, "out", "", "write the results as Markdown to this file (e.g. bench/results/archive.md)")
	flag.Int64Var(&o.records, "records", 10_000_000, "records to generate (the goals are stated for 100000000)")
	flag.IntVar(&o.days, "days", 30, "days the records span, ending now")
	flag.IntVar(&o.devices, "devices", 10_000, "devices")
	flag.IntVar(&o.batch, "batch", 1024, "records per append (a gateway batch of many devices' exports)")
	flag.IntVar(&o.runs, "runs", 5, "timed runs of each query")
	flag.IntVar(&o.procs, "procs", 2, "GOMAXPROCS of the timed fleetlogctl runs")
	flag.BoolVar(&o.keep, "keep", false, "keep the generated archive")
	flag.BoolVar(&o.reuse, "reuse", false, "measure the archive a previous run generated in -dir with -keep, instead of generating one")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "archivequery:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if _, err := os.Stat(o.ctl); err != nil {
		return fmt.Errorf("-ctl: %w (run make build first)", err)
	}
	root := o.dir
	if root == "" {
		var err error
		if root, err = os.MkdirTemp("", "archivequery-"); err != nil {
			return err
		}
	}
	if !o.keep && !o.reuse {
		defer os.RemoveAll(root)
	}
	dir := filepath.Join(root, "archive")
	pubPath := filepath.Join(root, "archive-pub.pem")
	statePath := filepath.Join(root, "generated.json")
	var st state
	if o.reuse {
		data, err := os.ReadFile(statePath)
		if err != nil {
			return fmt.Errorf("-reuse: %w", err)
		}
		if err := json.Unmarshal(data, &st); err != nil {
			return fmt.Errorf("-reuse: %w", err)
		}
		o.records, o.days, o.devices, o.batch = st.Records, st.Days, st.Devices, st.Batch
	} else {
		st = state{End: time.Now().UTC().Truncate(time.Minute), Records: o.records, Days: o.days, Devices: o.devices, Batch: o.batch}
		g := newGenerator(o, st.End)
		fmt.Fprintf(os.Stderr, "generating %d records over %d days from %d devices in %s\n", o.records, o.days, o.devices, dir)
		var err error
		if st.Gen, err = g.generate(dir, pubPath); err != nil {
			return err
		}
		data, _ := json.Marshal(st)
		if err := os.WriteFile(statePath, data, 0o600); err != nil {
			return err
		}
	}
	end, gen := st.End, st.Gen
	g := newGenerator(o, end)
	fmt.Fprintf(os.Stderr, "generated in %s (%.0f records/s), %s on disk\n", gen.Wall.Round(time.Second), float64(o.records)/gen.Wall.Seconds(), mib(gen.Bytes))

	r := &results{opts: o, gen: gen, end: end}
	t0 := time.Now()
	out, err := exec.Command(o.ctl, "archive", "verify", "--dir", dir, "--pubkey", pubPath).CombinedOutput()
	if err != nil {
		return fmt.Errorf("archive verify: %w\n%s", err, out)
	}
	r.verify, r.verifyOut = time.Since(t0), strings.TrimSpace(string(out))
	fmt.Fprintf(os.Stderr, "verified in %s\n", r.verify.Round(time.Second))
	if r.size, err = measureIndex(dir); err != nil {
		return err
	}

	day := end.Add(-time.Duration(o.days/2) * 24 * time.Hour).Truncate(24 * time.Hour)
	r.day = day
	queries := []query{
		{name: "device, last hour", goal: "< 1 s", args: []string{"--device", g.device(4242), "--since", end.Add(-time.Hour).Format(time.RFC3339)}},
		{name: "full text, one day", goal: "≥ 1M records/s", perRecord: true,
			args: []string{"--since", day.Format(time.RFC3339), "--until", day.Add(24 * time.Hour).Format(time.RFC3339), "--contains", "Failed password for invalid user admin"}},
		{name: "count, one day", args: []string{"--since", day.Format(time.RFC3339), "--until", day.Add(24 * time.Hour).Format(time.RFC3339), "--count"}},
		{name: "quiet device, 30 days", args: []string{"--device", g.device(quietDevice(o.devices))}},
		{name: "fatal, 30 days", args: []string{"--severity", "fatal", "--count"}},
		{name: "absent attribute value, 30 days", args: []string{"--attr", "site=site-none", "--count"}},
	}
	for _, q := range queries {
		m, err := measure(o, dir, q)
		if err != nil {
			return err
		}
		r.queries = append(r.queries, m)
		fmt.Fprintf(os.Stderr, "%-34s median %s (min %s, max %s), CPU %s, load %s, %d matched, %d of %d segments read, %d records read\n",
			q.name, m.median().Round(time.Millisecond), m.min().Round(time.Millisecond), m.max().Round(time.Millisecond),
			m.medianCPU().Round(time.Millisecond), strings.Join(m.loads, " "), m.stats.Matched, m.stats.Segments, m.stats.Segments+m.stats.Skipped+m.stats.Counted, m.stats.Records)
	}
	report := r.markdown()
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// quietDevice only logs during the incident.
func quietDevice(devices int) int { return devices - 1 }

// generator makes deterministic records: batch i covers the i-th slice of
// the time span; each batch holds exports (resource groups) of a few records
// from random devices.
type generator struct {
	o             options
	start, end    time.Time
	batches       int64
	incident      time.Time // one hour in which the quiet device logs fatal records
	fleets, sites []string
}

func newGenerator(o options, end time.Time) *generator {
	g := &generator{o: o, end: end, start: end.Add(-time.Duration(o.days) * 24 * time.Hour)}
	g.batches = (o.records + int64(o.batch) - 1) / int64(o.batch)
	g.incident = g.start.Add(time.Duration(o.days) * 24 * time.Hour * 2 / 5).Truncate(time.Hour)
	for i := range 10 {
		g.fleets = append(g.fleets, fmt.Sprintf("fleet-%02d", i))
	}
	for i := range 100 {
		g.sites = append(g.sites, fmt.Sprintf("site-%03d", i))
	}
	return g
}

func (g *generator) device(i int) string { return fmt.Sprintf("dev-%05d", i) }

var users = []string{"ops", "maria", "kiosk", "root", "deploy", "admin", "backup", "svc-pos"}
var files = []string{"/var/log/auth.log", "/var/log/syslog", "/var/log/kern.log", "/var/log/nginx/access.log", "/var/log/pos/app.log", "/var/log/daemon.log"}

// body renders a syslog-style line; severity follows the kind of line.
func body(r *mrand.Rand) (string, plog.SeverityNumber) {
	ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256))
	switch n := r.IntN(100); {
	case n < 25:
		return fmt.Sprintf("sshd[%d]: Accepted publickey for %s from %s port %d ssh2: ED25519 SHA256:%016x", 1000+r.IntN(30000), users[r.IntN(len(users))], ip, 30000+r.IntN(30000), r.Uint64()), plog.SeverityNumberInfo
	case n < 27:
		return fmt.Sprintf("sshd[%d]: Failed password for invalid user %s from %s port %d ssh2", 1000+r.IntN(30000), users[r.IntN(len(users))], ip, 30000+r.IntN(30000)), plog.SeverityNumberWarn
	case n < 55:
		return fmt.Sprintf(`%s - - "GET /api/v1/tx/%d HTTP/1.1" %d %d "-" "pos-client/4.%d"`, ip, r.IntN(1_000_000), []int{200, 200, 200, 304, 404, 500}[r.IntN(6)], r.IntN(20000), r.IntN(10)), plog.SeverityNumberInfo
	case n < 75:
		return fmt.Sprintf("pos[%d]: transaction %08x completed in %dms, %d items, terminal %d", 1000+r.IntN(30000), r.Uint32(), r.IntN(900), 1+r.IntN(30), r.IntN(8)), plog.SeverityNumberDebug
	case n < 88:
		return fmt.Sprintf("systemd[1]: Started session %d of user %s.", r.IntN(100000), users[r.IntN(len(users))]), plog.SeverityNumberInfo
	case n < 96:
		return fmt.Sprintf("kernel: [%d.%06d] usb 1-%d: reset high-speed USB device number %d using xhci_hcd", r.IntN(900000), r.IntN(1000000), 1+r.IntN(4), r.IntN(20)), plog.SeverityNumberWarn
	default:
		return fmt.Sprintf("pos[%d]: card reader timeout after %dms, retry %d of 3", 1000+r.IntN(30000), 500+r.IntN(5000), 1+r.IntN(3)), plog.SeverityNumberError
	}
}

// makeBatch builds batch i: about o.batch records in exports of 1-8
// records from random devices, times spread over the batch's slice.
func (g *generator) makeBatch(i int64) (plog.Logs, time.Time) {
	r := mrand.New(mrand.NewPCG(uint64(i), 0x5eed))
	span := g.end.Sub(g.start)
	t0 := g.start.Add(time.Duration(float64(span) * float64(i) / float64(g.batches)))
	t1 := g.start.Add(time.Duration(float64(span) * float64(i+1) / float64(g.batches)))
	n := int64(g.o.batch)
	if rest := g.o.records - i*int64(g.o.batch); rest < n {
		n = rest
	}
	inIncident := !t0.Before(g.incident) && t0.Before(g.incident.Add(time.Hour))
	ld := plog.NewLogs()
	for left := int(n); left > 0; {
		dev := r.IntN(g.o.devices - 1) // the quiet device logs only in the incident
		k := min(left, 1+r.IntN(8))
		fatal := inIncident && r.IntN(50) == 0
		if fatal {
			dev, k = quietDevice(g.o.devices), 1
		}
		rl := ld.ResourceLogs().AppendEmpty()
		res := rl.Resource().Attributes()
		res.PutStr(archive.DeviceAttribute, g.device(dev))
		res.PutStr(archive.FleetAttribute, g.fleets[dev%len(g.fleets)])
		res.PutStr("site", g.sites[dev%len(g.sites)])
		res.PutStr("host.name", g.device(dev)+".branch.example")
		res.PutStr("os.type", "linux")
		sl := rl.ScopeLogs().AppendEmpty()
		for range k {
			lr := sl.LogRecords().AppendEmpty()
			ts := t0.Add(time.Duration(r.Int64N(int64(t1.Sub(t0)) + 1)))
			lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
			lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts.Add(time.Duration(r.IntN(2000)) * time.Millisecond)))
			b, sev := body(r)
			if fatal {
				b, sev = fmt.Sprintf("kernel: watchdog: BUG: soft lockup - CPU#%d stuck for %ds! [pos:%d]", r.IntN(4), 20+r.IntN(40), 1000+r.IntN(30000)), plog.SeverityNumberFatal
			}
			lr.Body().SetStr(b)
			lr.SetSeverityNumber(sev)
			lr.Attributes().PutStr("log.file.path", files[r.IntN(len(files))])
			lr.Attributes().PutInt("pid", int64(1000+r.IntN(30000)))
		}
		left -= k
	}
	return ld, t1
}

type generation struct {
	Wall     time.Duration
	Bytes    int64
	Segments int
	Workers  int
}

// state is what -reuse needs of the run that generated the archive.
type state struct {
	End                  time.Time
	Records              int64
	Days, Devices, Batch int
	Gen                  generation
}

// generate writes the archive with as many concurrent appenders as cores:
// the writer compresses concurrent appends in parallel and writes them in
// turn. The clock follows the records, so segments are sealed every hour of
// record time (max_segment_age) or at 64 MiB, as the exporter would.
func (g *generator) generate(dir, pubPath string) (generation, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return generation{}, err
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return generation{}, err
	}
	if err := os.MkdirAll(filepath.Dir(pubPath), 0o700); err != nil {
		return generation{}, err
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		return generation{}, err
	}
	var clock atomic.Int64
	clock.Store(g.start.UnixNano())
	w, _, err := archive.Open(archive.Options{
		Dir: dir, Key: key, GatewayID: "bench", MaxSegmentSize: 64 << 20, MaxSegmentAge: time.Hour,
		Fsync: archive.FsyncOnSeal, Now: func() time.Time { return time.Unix(0, clock.Load()).UTC() },
	})
	if err != nil {
		return generation{}, err
	}
	workers := runtime.GOMAXPROCS(0) + 1 // one more, to overlap building batches with the writer's turn
	var next atomic.Int64
	var done atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	t0 := time.Now()
	stopProgress := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				n := done.Load()
				fmt.Fprintf(os.Stderr, "  %d of %d records, %.0f records/s\n", n, g.o.records, float64(n)/time.Since(t0).Seconds())
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= g.batches {
					return
				}
				ld, t1 := g.makeBatch(i)
				for {
					cur := clock.Load()
					if t1.UnixNano() <= cur || clock.CompareAndSwap(cur, t1.UnixNano()) {
						break
					}
				}
				if _, err := w.Append(ld); err != nil {
					errs <- err
					return
				}
				if _, err := w.SealIfOlder(); err != nil {
					errs <- err
					return
				}
				done.Add(int64(ld.LogRecordCount()))
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	close(errs)
	if err := <-errs; err != nil {
		w.Close()
		return generation{}, err
	}
	if err := w.Seal(); err != nil {
		w.Close()
		return generation{}, err
	}
	if err := w.Close(); err != nil {
		return generation{}, err
	}
	gen := generation{Wall: time.Since(t0), Workers: workers}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		gen.Bytes += info.Size()
		if strings.HasSuffix(p, ".manifest") {
			gen.Segments++
		}
		return nil
	})
	return gen, err
}

// indexSize is what the manifests' index objects weigh against the archive.
type indexSize struct {
	archive, segments, manifests, index, filter int64
}

func measureIndex(dir string) (indexSize, error) {
	var s indexSize
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		s.archive += info.Size()
		switch filepath.Ext(p) {
		case ".fla":
			s.segments += info.Size()
		case ".manifest":
			s.manifests += info.Size()
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			body, _, _ := bytes.Cut(data, []byte("\n"))
			var m struct {
				Index json.RawMessage `json:"index"`
			}
			if err := json.Unmarshal(body, &m); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			s.index += int64(len(`,"index":`) + len(m.Index))
			var ix struct {
				Filter json.RawMessage `json:"filter"`
			}
			if err := json.Unmarshal(m.Index, &ix); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			s.filter += int64(len(ix.Filter))
		}
		return nil
	})
	return s, err
}

type query struct {
	name, goal string
	args       []string
	perRecord  bool // the goal is records read per second
}

type measurement struct {
	q     query
	walls []time.Duration
	cpus  []time.Duration // user+system time of each run
	loads []string        // the 1-minute load average after each run
	stats archive.QueryStats
	inDay uint64
}

func (m measurement) sorted() []time.Duration {
	s := slices.Clone(m.walls)
	slices.Sort(s)
	return s
}
func (m measurement) median() time.Duration { s := m.sorted(); return s[len(s)/2] }

// medianCPU is the CPU time of the run with the median wall time.
func (m measurement) medianCPU() time.Duration {
	i := slices.Index(m.walls, m.median())
	return m.cpus[i]
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(data))[0]
}
func (m measurement) min() time.Duration { return m.sorted()[0] }
func (m measurement) max() time.Duration { s := m.sorted(); return s[len(s)-1] }

// measure times the real fleetlogctl (output discarded, as to a pipe) and
// reads the query's statistics in-process.
func measure(o options, dir string, q query) (measurement, error) {
	m := measurement{q: q}
	args := append([]string{"archive", "query", "--dir", dir}, q.args...)
	for range o.runs {
		cmd := exec.Command(o.ctl, args...)
		cmd.Env = append(os.Environ(), fmt.Sprintf("GOMAXPROCS=%d", o.procs))
		cmd.Stdout = io.Discard
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			return m, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, stderr.String())
		}
		m.walls = append(m.walls, time.Since(t0))
		m.cpus = append(m.cpus, cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())
		m.loads = append(m.loads, loadAverage())
	}
	f, err := filterOf(q.args)
	if err != nil {
		return m, err
	}
	if m.stats, err = archive.QueryWithOptions(dir, f, archive.QueryOptions{CountOnly: true}, nil); err != nil {
		return m, err
	}
	if q.perRecord {
		in := f
		in.Contains = ""
		st, err := archive.QueryWithOptions(dir, in, archive.QueryOptions{CountOnly: true}, nil)
		if err != nil {
			return m, err
		}
		m.inDay = st.Matched
	}
	return m, nil
}

// filterOf reads the few flags the queries above use.
func filterOf(args []string) (archive.Filter, error) {
	var f archive.Filter
	for i := 0; i < len(args); i++ {
		val := func() string { i++; return args[i] }
		var err error
		switch args[i] {
		case "--device":
			f.Device = val()
		case "--since":
			f.Since, err = time.Parse(time.RFC3339, val())
		case "--until":
			f.Until, err = time.Parse(time.RFC3339, val())
		case "--contains":
			f.Contains = val()
		case "--severity":
			f.MinSeverity, err = archive.ParseSeverity(val())
		case "--attr":
			k, v, _ := strings.Cut(val(), "=")
			f.Attrs = map[string]string{k: v}
		case "--count":
		default:
			return f, errors.New("filterOf: unknown flag " + args[i])
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

type results struct {
	opts      options
	gen       generation
	end, day  time.Time
	verify    time.Duration
	verifyOut string
	size      indexSize
	queries   []measurement
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func (r *results) markdown() string {
	var b strings.Builder
	o := r.opts
	fmt.Fprintf(&b, "# Archive query benchmark\n\n")
	fmt.Fprintf(&b, "`go run ./bench/archivequery -records %d` on %s (%d cores, shared with other jobs; see the bench README on noise), %s.\n\n",
		o.records, hostDesc(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "## Archive\n\n")
	fmt.Fprintf(&b, "| | |\n|---|---|\n")
	fmt.Fprintf(&b, "| records | %d over %d days, %d devices, batches of %d |\n", o.records, o.days, o.devices, o.batch)
	fmt.Fprintf(&b, "| generated in | %s (%.0f records/s, %d concurrent appenders, fsync at seal) |\n", r.gen.Wall.Round(time.Second), float64(o.records)/r.gen.Wall.Seconds(), r.gen.Workers)
	fmt.Fprintf(&b, "| sealed segments | %d (64 MiB or 1 h of records, the exporter's defaults) |\n", r.gen.Segments)
	fmt.Fprintf(&b, "| on disk | %s: segments %s, manifests %s |\n", mib(r.size.archive), mib(r.size.segments), mib(r.size.manifests))
	fmt.Fprintf(&b, "| index | %s = **%.2f%%** of the archive (goal ≤ 5%%); its Bloom filters %s |\n", mib(r.size.index), 100*float64(r.size.index)/float64(r.size.archive-r.size.index), mib(r.size.filter))
	fmt.Fprintf(&b, "| `archive verify` | passes, %s |\n\n", r.verify.Round(time.Second))
	fmt.Fprintf(&b, "## Queries\n\n")
	fmt.Fprintf(&b, "Wall time of `bin/fleetlogctl archive query --dir D ...` with GOMAXPROCS=%d, stdout discarded, page cache warm; median of %d runs (min-max).\n\n", o.procs, o.runs)
	fmt.Fprintf(&b, "| query | flags | wall, median (min-max) | CPU of the median run | load average after each run | segments read / skipped / counted from the manifest | records read | matched | goal |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.queries {
		goal := m.q.goal
		if m.q.perRecord {
			rate := float64(m.inDay) / m.median().Seconds()
			perCPU := float64(m.inDay) / m.medianCPU().Seconds()
			goal = fmt.Sprintf("%s: **%.2fM records/s** (%d records in the day; %.2fM per CPU-second)", goal, rate/1e6, m.inDay, perCPU/1e6)
		} else if goal != "" {
			goal = fmt.Sprintf("%s: **%s**", goal, m.median().Round(time.Millisecond))
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s (%s-%s) | %s | %s | %d / %d / %d | %d | %d | %s |\n", m.q.name, strings.Join(m.q.args, " "),
			m.median().Round(time.Millisecond), m.min().Round(time.Millisecond), m.max().Round(time.Millisecond),
			m.medianCPU().Round(time.Millisecond), strings.Join(m.loads, " "),
			m.stats.Segments, m.stats.Skipped, m.stats.Counted, m.stats.Records, m.stats.Matched, goal)
	}
	b.WriteString("\nThe last hour is given as an absolute `--since` (the archive ends at generation time, rounded to the minute); `--since 1h` right after generating is the same query.\n")
	return b.String()
}

func hostDesc() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "this machine"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return "this machine"
}
