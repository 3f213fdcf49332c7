package integration

import (
	encbin "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mountSmallFS mounts a tmpfs of size at a new directory for the test, or
// skips the test where that is not possible (it needs root).
func mountSmallFS(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("mounting a %s tmpfs as the agent's data directory needs root", size)
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a %s tmpfs (%v): %s", size, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// TestSpoolDiskFullBackpressure puts the agent's data directory on a 16MiB
// filesystem, with min_free off so that the disk itself fills, and writes
// far more lines than fit while the gateway is down. The file input is held
// at the line the spool could not take, and a TCP syslog sender waits on
// its connection; once the gateway is up, every line and message arrives,
// the lines once each, with no restart.
func TestSpoolDiskFullBackpressure(t *testing.T) {
	spoolDiskFull(t, "    min_free: 0\n", 200_000, false)
}

// TestSpoolDiskFullRestart stops and starts the agent while it is held back
// by the full disk: nothing is lost, and the lines re-read from the last
// checkpoint are the only duplicates.
func TestSpoolDiskFullRestart(t *testing.T) {
	spoolDiskFull(t, "    min_free: 0\n", 200_000, true)
}

// TestSpoolMinFreeBlocks is the same 16MiB filesystem with the default
// min_free (half of it, here) and the block policy: the spool stops short of
// filling the disk and holds the input back, and every line arrives.
func TestSpoolMinFreeBlocks(t *testing.T) {
	spoolDiskFull(t, "    full_policy: block\n", 120_000, false)
}

// spoolDiskFull writes total lines (200,000 are about 20MiB, about what
// they take spooled: more than the 16MiB filesystem holds) with the agent's
// spool overlay.
func spoolDiskFull(t *testing.T, overlay string, total int, restart bool) {
	data := mountSmallFS(t, "16m")
	r := newSpoolRig(t, overlay)
	minFree := !strings.Contains(overlay, "min_free: 0")
	r.agentEnv["FLEETLOG_DATA_DIR"] = data
	r.startAgent() // no gateway yet

	// Written in 100 chunks 20ms apart.
	path := filepath.Join(r.logDir, "app.log")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	pad := strings.Repeat("x", 80)
	var b strings.Builder
	for chunk := range 100 {
		b.Reset()
		for i := chunk * (total / 100); i < (chunk+1)*(total/100); i++ {
			fmt.Fprintf(&b, "%s%06d %s\n", spoolLinePrefix, i, pad)
		}
		_, err := f.WriteString(b.String())
		require.NoError(t, err)
		time.Sleep(20 * time.Millisecond)
	}
	require.NoError(t, f.Close())

	// Held, not skipping: the spool stops growing short of every line, and
	// nothing is evicted.
	var last float64 = -1
	eventually(t, "the file input held back", func() bool {
		n := counter(t, r.agentMetrics, "otelcol_spool_appended_records")
		held := n == last && n > 0
		last = n
		if held {
			time.Sleep(time.Second)
			held = counter(t, r.agentMetrics, "otelcol_spool_appended_records") == n
		}
		return held
	}, r.agent)
	require.False(t, r.agent.exited(), "the agent survives a full disk")
	spooled := counter(t, r.agentMetrics, "otelcol_spool_appended_records")
	assert.Less(t, spooled, float64(total), "the disk was to fill before every line was spooled")
	assert.Zero(t, counter(t, r.agentMetrics, "otelcol_spool_evicted_records"))
	free := counter(t, r.agentMetrics, "otelcol_spool_filesystem_free")
	t.Logf("held back with %.0f of %d lines spooled, %.0f append retries, %.0f bytes free, min_free %.0f", spooled, total,
		counter(t, r.agentMetrics, "otelcol_spool_append_retries"), free, counter(t, r.agentMetrics, "otelcol_spool_min_free"))
	if minFree {
		// The default on 16MiB is half of it; the spool stops within a
		// segment's worth of it.
		assert.EqualValues(t, 8<<20, counter(t, r.agentMetrics, "otelcol_spool_min_free"))
		assert.Greater(t, free, float64(6<<20), "min_free kept the disk from filling")
	} else {
		assert.Positive(t, counter(t, r.agentMetrics, "otelcol_spool_append_retries"), "the full disk failed appends")
	}
	// Syslog over TCP is held back too: the agent stops reading the
	// connection, so a sender of more than the socket buffers hold waits.
	var tcpSender *exec.Cmd
	tcpDone := make(chan error, 1)
	if !restart {
		tcpSender = exec.Command("logger", "--tcp", "--rfc5424", "-n", "127.0.0.1",
			"-P", strings.Split(r.agentEnv["FLEETLOG_SYSLOG_ADDR"], ":")[1], "-t", "diskfull")
		var in strings.Builder
		for i := range tcpMessages {
			fmt.Fprintf(&in, "%s%06d %s\n", tcpPrefix, i, strings.Repeat("t", 250))
		}
		tcpSender.Stdin = strings.NewReader(in.String())
		require.NoError(t, tcpSender.Start())
		go func() { tcpDone <- tcpSender.Wait() }()
		select {
		case err := <-tcpDone:
			t.Fatalf("logger sent %d messages to an agent whose disk is full without waiting (%v)", tcpMessages, err)
		case <-time.After(2 * time.Second):
		}
	}

	var pastCheckpoint int
	if restart {
		// The lines the agent spooled past its last checkpoint are the ones
		// it reads, and so spools, again.
		spooled = counter(t, r.agentMetrics, "otelcol_spool_appended_records")
		r.agent.stop(t)
		checkpointed := int(savedFileOffset(t, data, "logs") / int64(len(fmt.Sprintf("%s%06d %s\n", spoolLinePrefix, 0, pad))))
		pastCheckpoint = int(spooled) - checkpointed
		t.Logf("stopped with %.0f lines spooled, %d of them before the last checkpoint", spooled, checkpointed)
		r.startAgent()
	}

	started := time.Now()
	r.startGateway()
	eventually(t, "every line at the sink", func() bool {
		d, _ := r.sink.distinct()
		return d == total
	}, r.agent, r.gateway)
	if tcpSender != nil {
		select {
		case err := <-tcpDone:
			require.NoError(t, err, "logger")
		case <-time.After(waitTimeout):
			t.Fatal("logger still waits with the gateway up")
		}
		eventually(t, "every TCP syslog message at the sink", func() bool {
			return tcpDistinct(r.sink) == tcpMessages
		}, r.agent, r.gateway)
	}
	// Let late duplicates, if any, arrive before counting them.
	time.Sleep(time.Second)
	distinct, received := r.sink.distinct()
	t.Logf("disk full (restart %v): %d lines written, %d distinct received, %d duplicates, delivered %s after the gateway came up",
		restart, total, distinct, received-distinct, time.Since(started).Round(100*time.Millisecond))
	assert.Equal(t, total, distinct)
	if !restart {
		assert.Equal(t, total, received, "no duplicates without a restart")
	} else {
		// Only the lines spooled since the last checkpoint come twice:
		// what the input had read of the poll the full disk stopped.
		assert.LessOrEqual(t, received-distinct, pastCheckpoint)
	}
}

const (
	// tcpMessages of about 300 bytes are more than loopback's socket
	// buffers hold.
	tcpMessages = 60_000
	tcpPrefix   = "tcpmsg-"
)

// tcpDistinct counts the different numbered TCP syslog messages at the sink.
func tcpDistinct(s *spoolSink) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, lr := range s.records {
		body := lr.Body().AsString()
		if i := strings.Index(body, tcpPrefix); i >= 0 && len(body) >= i+len(tcpPrefix)+6 {
			seen[body[i:i+len(tcpPrefix)+6]] = true
		}
	}
	return len(seen)
}

// savedFileOffset returns the read offset that the checkpoints in dataDir
// hold for the one file the file input tracks, or 0 if none is saved.
func savedFileOffset(t *testing.T, dataDir, input string) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dataDir, "checkpoints.json"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	require.NoError(t, err)
	var data map[string][]byte
	require.NoError(t, json.Unmarshal(raw, &data))
	known, ok := data[input+".knownFiles"]
	if !ok {
		return 0
	}
	// fileconsumer's protobuf encoding: MetadataList{1: Metadata{2: offset}}.
	list := protoFields(t, known)
	require.Len(t, list[1], 1, "one file tracked")
	md := protoFields(t, list[1][0])
	if len(md[2]) == 0 {
		return 0 // proto3 leaves a zero offset out
	}
	off, n := encbin.Uvarint(md[2][0])
	require.Positive(t, n)
	return int64(off)
}

// protoFields splits a protobuf message into its fields by number: the
// bytes of length-delimited fields, the encoded varint of varint fields.
func protoFields(t *testing.T, b []byte) map[uint64][][]byte {
	t.Helper()
	fields := map[uint64][][]byte{}
	for len(b) > 0 {
		tag, n := encbin.Uvarint(b)
		require.Positive(t, n, "protobuf tag")
		b = b[n:]
		var v []byte
		switch tag & 7 {
		case 0:
			_, n = encbin.Uvarint(b)
			require.Positive(t, n, "protobuf varint")
			v, b = b[:n], b[n:]
		case 2:
			l, n := encbin.Uvarint(b)
			require.Positive(t, n, "protobuf length")
			require.LessOrEqual(t, l, uint64(len(b)-n))
			v, b = b[n:n+int(l)], b[n+int(l):]
		default:
			t.Fatalf("unexpected protobuf wire type %d", tag&7)
		}
		fields[tag>>3] = append(fields[tag>>3], v)
	}
	return fields
}
