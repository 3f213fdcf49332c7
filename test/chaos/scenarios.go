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
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.Lines)
	done := runWriter(ctx, w)
	if err := waitWritten(ctx, w, w.Total/4); err != nil {
		return result{Err: err}
	}
	r.Gateway.Kill()
	e.logf("gateway killed at line %d; down for %s", w.Written(), e.size.GatewayDown)
	time.Sleep(e.size.GatewayDown)
	if err := r.StartGateway(); err != nil {
		return result{Err: err}
	}
	healed := time.Now()
	if err := <-done; err != nil {
		return result{Err: err}
	}
	return e.measure(ctx, r, w.Total, healed)
}

// linkOutage holds every byte between the tiers for LinkOut, connections
// open, while the lines keep coming.
func linkOutage(ctx context.Context, e *env) (res result) {
	r, err := e.rig(e2e.RigOptions{})
	if err != nil {
		return result{Err: err}
	}
	defer closeRig(r, &res)
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.Lines)
	done := runWriter(ctx, w)
	if err := waitWritten(ctx, w, w.Total/4); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Hold)
	e.logf("link down at line %d for %s", w.Written(), e.size.LinkOut)
	time.Sleep(e.size.LinkOut)
	r.Relay.SetMode(e2e.Pass)
	healed := time.Now()
	if err := <-done; err != nil {
		return result{Err: err}
	}
	return e.measure(ctx, r, w.Total, healed)
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
	if err := startBoth(r); err != nil {
		return result{Err: err}
	}
	w := e.writer(r, e.size.Lines)
	done := runWriter(ctx, w)
	if err := waitWritten(ctx, w, w.Total/4); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Hold)
	e.logf("link down at line %d for %s; idle flows forgotten after %s", w.Written(), e.size.NATOutage, e.size.NATIdle)
	time.Sleep(e.size.NATOutage)
	r.Relay.SetMode(e2e.Pass)
	healed := time.Now()
	if err := <-done; err != nil {
		return result{Err: err}
	}
	res = e.measure(ctx, r, w.Total, healed)
	res.Notes = append(res.Notes, fmt.Sprintf("%d flows forgotten", r.Relay.Forgotten()))
	return res
}

// agentDiskFull puts the agent's data directory on a small tmpfs and keeps
// the gateway unreachable while more lines are written than it can hold.
func agentDiskFull(ctx context.Context, e *env) (res result) {
	mnt := filepath.Join(e.dir, "agent-fs")
	if err := mountTmpfs(mnt, e.size.AgentFS); err != nil {
		return result{Skip: err.Error()}
	}
	defer unmount(mnt)
	r, err := e.rig(e2e.RigOptions{AgentData: filepath.Join(mnt, "data")})
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

// tornSpoolTail tears the spool as a crash in the middle of a write does:
// with the gateway unreachable, the agent is killed while it reads a
// backlog (in the middle of a file poll, so the lines it spooled last are
// past its saved file checkpoint, as after a real crash), its newest spool
// segment is cut in the middle of the last frame, and it starts again.
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
	w := e.writer(r, e.size.Lines/5)
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	// The backlog: written while the agent is down, read in one poll.
	r.Agent.Kill()
	w.Total, w.Pause = e.size.TornBacklog, 0
	if err := w.Run(ctx); err != nil {
		return result{Err: err}
	}
	if err := r.StartAgent(); err != nil {
		return result{Err: err}
	}
	// Kill as soon as the agent spools its first backlog records.
	base := e.size.Lines / 5
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
	seg, cut, err := tearNewestSegment(filepath.Join(r.AgentData(), "spool"))
	if err != nil {
		return result{Err: err}
	}
	e.logf("agent killed while reading a backlog of %d lines; cut %d bytes from %s", w.Total-base, cut, filepath.Base(seg))
	if err := r.StartAgent(); err != nil {
		return result{Err: err}
	}
	r.Relay.SetMode(e2e.Pass)
	return e.measure(ctx, r, w.Total, time.Now())
}

// tearNewestSegment truncates the most recently written spool segment in
// the middle of its last frame.
func tearNewestSegment(dir string) (string, int64, error) {
	matches, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return "", 0, err
	}
	var newest string
	var newestTime time.Time
	var size int64
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			continue
		}
		if st.ModTime().After(newestTime) && st.Size() > 64 {
			newest, newestTime, size = m, st.ModTime(), st.Size()
		}
	}
	if newest == "" {
		return "", 0, fmt.Errorf("no spool segment with frames in %s", dir)
	}
	// A frame of a line is over 100 bytes: cutting 20 ends the file inside it.
	const cut = 20
	return newest, cut, os.Truncate(newest, size-cut)
}

func dfLine(dir string) string {
	out, err := e2e.Run("df", "-h", "--output=size,used,avail", dir)
	if err != nil {
		return "df failed"
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	return strings.Join(strings.Fields(lines[len(lines)-1]), " ") + " (size used avail)"
}
