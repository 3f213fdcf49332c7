package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fleetlog/fleetlog/internal/e2e"
)

// agentKill writes KillLines lines with rename rotation while the agent is
// SIGKILLed Kills times; the path "heals" at the last restart.
func agentKill(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.KillLines)
	done := runWriter(ctx, w)
	var healed time.Time
	for i := range e.size.Kills {
		time.Sleep(e.size.KillEvery)
		r.Agent.Kill()
		if err := r.StartAgent(); err != nil {
			return result{Err: err}
		}
		healed = time.Now()
		e.logf("kill %d of %d at line %d", i+1, e.size.Kills, w.Written())
	}
	if err := <-done; err != nil {
		return result{Err: err}
	}
	return e.measure(ctx, r, w.Total, healed)
}

// gatewayKill SIGKILLs the gateway a quarter into the lines and keeps it
// down for GatewayDown while the lines keep coming.
func gatewayKill(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	return e.midwayFault(ctx, r, func(written int) error {
		r.Gateway.Kill()
		e.logf("gateway killed at line %d; down for %s", written, e.size.GatewayDown)
		time.Sleep(e.size.GatewayDown)
		return r.StartGateway()
	})
}

// linkOutage holds every byte between the tiers for LinkOut, connections
// open, while the lines keep coming.
func linkOutage(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	return e.midwayFault(ctx, r, func(written int) error {
		r.Relay.SetMode(e2e.Hold)
		e.logf("link down at line %d for %s", written, e.size.LinkOut)
		time.Sleep(e.size.LinkOut)
		r.Relay.SetMode(e2e.Pass)
		return nil
	})
}

// natExpiry is a link outage of NATOutage through a NAT that forgets flows
// idle for NATIdle without telling either end: after the outage, every
// connection the agent had is a black hole, and the agent must notice.
func natExpiry(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	r.Relay.SetForgetIdle(e.size.NATIdle)
	res = e.midwayFault(ctx, r, func(written int) error {
		r.Relay.SetMode(e2e.Hold)
		e.logf("link down at line %d for %s; idle flows forgotten after %s", written, e.size.NATOutage, e.size.NATIdle)
		time.Sleep(e.size.NATOutage)
		r.Relay.SetMode(e2e.Pass)
		return nil
	})
	res.Notes = append(res.Notes, fmt.Sprintf("%d flows forgotten", r.Relay.Forgotten()))
	return res
}

// midwayFault is the shape of the scenarios whose fault strikes while the
// lines are written: both tiers start, fault runs a quarter into the lines
// (given how many were written) and returns once the path is healed, and
// the archive is measured from then on.
func (e *env) midwayFault(ctx context.Context, r *e2e.Rig, fault func(written int) error) result {
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.Lines)
	done := runWriter(ctx, w)
	if err := waitWritten(ctx, w, w.Total/4); err != nil {
		return result{Err: err}
	}
	if err := fault(w.Written()); err != nil {
		return result{Err: err}
	}
	healed := time.Now()
	if err := <-done; err != nil {
		return result{Err: err}
	}
	return e.measure(ctx, r, w.Total, healed)
}

// agentDiskFull puts the agent's data directory on a small tmpfs and keeps
// the gateway unreachable while more lines are written than it can hold.
// min_free is off so that the disk itself fills (with it, the spool stops
// short of a full disk and full_policy applies).
func agentDiskFull(ctx context.Context, e *env) (res result) {
	mnt := filepath.Join(e.dir, "agent-fs")
	if err := mountTmpfs(mnt, e.size.AgentFS); err != nil {
		return result{Skip: err.Error()}
	}
	defer unmount(mnt)
	r, err := e.rig(e2e.RigOptions{AgentData: filepath.Join(mnt, "data"), AgentYAML: "receivers:\n  spool:\n    min_free: 0\n"})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Refuse)
	w := e.writer(r, e.size.DiskLines)
	w.Pause = 0
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	// Time for the agent to read what it can and find the disk full.
	time.Sleep(5 * time.Second)
	e.logf("%d lines written with the gateway unreachable; agent data: %s", w.Written(), dfLine(mnt))
	r.Relay.SetMode(e2e.Pass)
	return e.measure(ctx, r, w.Total, time.Now())
}

// gatewayDiskFull puts the gateway's archive on a small tmpfs, writes more
// than it holds, then grows the file system.
func gatewayDiskFull(ctx context.Context, e *env) (res result) {
	mnt := filepath.Join(e.dir, "gateway-fs")
	if err := mountTmpfs(mnt, e.size.GatewayFS); err != nil {
		return result{Skip: err.Error()}
	}
	defer unmount(mnt)
	r, err := e.rig(e2e.RigOptions{GatewayData: filepath.Join(mnt, "data")})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.Lines)
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	err = e2e.Wait(wctx, 200*time.Millisecond, func() bool {
		n, err := e2e.Counter(r.GatewayMetrics, "otelcol_archive_write_errors")
		return err == nil && n > 0
	}, r.Gateway)
	cancel()
	if err != nil {
		return result{Err: fmt.Errorf("the gateway's disk did not fill: %w", err)}
	}
	time.Sleep(2 * time.Second)
	e.logf("archive disk full (%s); growing it to %s", dfLine(mnt), e.size.GatewayFSGrown)
	if err := remountTmpfs(mnt, e.size.GatewayFSGrown); err != nil {
		return result{Err: err}
	}
	return e.measure(ctx, r, w.Total, time.Now())
}

// tornSpoolTail leaves the spool as a crash in the middle of a write does:
// with the gateway unreachable, the agent spools every line and is
// SIGKILLed, the end of its newest spool segment is torn (a partial frame
// after the last whole one, what a write cut short leaves), and it starts
// again: recovery cuts the torn tail, and every line still arrives once.
//
// (Cutting into a whole frame instead would destroy a record the spool had
// made durable, and the file checkpoint may already be past it: that is
// damage, which the spool counts as lost, not what a crash leaves.)
func tornSpoolTail(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Refuse)
	w := e.writer(r, e.size.Lines)
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	if err := waitSpooled(ctx, r, w.Total); err != nil {
		return result{Err: err}
	}
	r.Agent.Kill()
	seg, torn, err := tearNewestSegment(filepath.Join(r.AgentData(), "spool"))
	if err != nil {
		return result{Err: err}
	}
	e.logf("agent killed with %d lines spooled; %s ends in %d bytes of a torn frame", w.Total, filepath.Base(seg), torn)
	if err := r.StartAgent(); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Pass)
	res = e.measure(ctx, r, w.Total, time.Now())
	if strings.Contains(r.Agent.Out.String(), "torn_tail_bytes") {
		res.Notes = append(res.Notes, "the agent cut the torn tail")
	}
	return res
}

// agentKillBacklog SIGKILLs the agent while it catches up a backlog (lines
// written while it was down, with the gateway unreachable), as soon as it
// has spooled the first of them. The file input saves its checkpoint only
// at the end of a poll, so after the restart it reads from before what it
// spooled of the backlog; its ledger must recognise those lines, or they
// are spooled again as new records (duplicates in the archive).
func agentKillBacklog(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Refuse)
	w := e.writer(r, e.size.Lines/5)
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	if err := waitSpooled(ctx, r, w.Total); err != nil {
		return result{Err: err}
	}
	r.Agent.Kill()
	base := w.Total
	w.Total, w.Pause = e.size.TornBacklog, 0
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	if err := r.StartAgent(); err != nil {
		return result{Err: err}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = e2e.Wait(wctx, 5*time.Millisecond, func() bool {
		n, err := e2e.Counter(r.AgentMetrics, "otelcol_spool_appended_records")
		return err == nil && n > 0
	}, r.Agent)
	cancel()
	if err != nil {
		return result{Err: err}
	}
	r.Agent.Kill()
	e.logf("agent killed while catching up a backlog of %d lines", w.Total-base)
	if err := r.StartAgent(); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Pass)
	res = e.measure(ctx, r, w.Total, time.Now())
	if n, err := e2e.Counter(r.AgentMetrics, "otelcol_spool_reread_skipped_records"); err == nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%d lines read again recognised and skipped at intake", int(n)))
	}
	return res
}

// waitSpooled waits until the agent spooled n records (since it started)
// and a little longer, past its file input's next checkpoint.
func waitSpooled(ctx context.Context, r *e2e.Rig, n int) error {
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err := e2e.Wait(wctx, 50*time.Millisecond, func() bool {
		got, err := e2e.Counter(r.AgentMetrics, "otelcol_spool_appended_records")
		return err == nil && got >= float64(n)
	}, r.Agent)
	if err != nil {
		return fmt.Errorf("the agent did not spool %d lines: %w", n, err)
	}
	time.Sleep(time.Second)
	return nil
}

// tearNewestSegment makes the most recently written spool segment end in
// the middle of a frame: it appends a fragment of its own last frames (60
// bytes: less than any frame of a line, so never a whole one).
func tearNewestSegment(dir string) (string, int, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return "", 0, err
	}
	var newest string
	var newestTime time.Time
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		if st.ModTime().After(newestTime) && st.Size() > 512 {
			newest, newestTime = m, st.ModTime()
		}
	}
	if newest == "" {
		return "", 0, fmt.Errorf("no spool segment with frames in %s", dir)
	}
	data, err := os.ReadFile(newest)
	if err != nil {
		return "", 0, err
	}
	const torn = 60
	frag := append([]byte(nil), data[len(data)-2*torn:len(data)-torn]...)
	f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return "", 0, err
	}
	if _, err := f.Write(frag); err != nil {
		f.Close()
		return "", 0, err
	}
	return newest, torn, f.Close()
}

func dfLine(dir string) string {
	out, err := e2e.Run("df", "-h", "--output=size,used,avail", dir)
	if err != nil {
		return "df failed"
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.Join(strings.Fields(lines[len(lines)-1]), " ") + " (size used avail)"
}
