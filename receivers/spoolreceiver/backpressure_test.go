package spoolreceiver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/stanza/operator/input/tcp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// savedOffset returns the read offset of the one file that the file input
// "app" tracks, as saved in the checkpoints on disk, or -1 if none is saved.
func savedOffset(t *testing.T, dir string) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, checkpointsFile))
	if errors.Is(err, os.ErrNotExist) {
		return -1
	}
	require.NoError(t, err)
	var data map[string][]byte
	require.NoError(t, json.Unmarshal(raw, &data))
	known, ok := data["app.knownFiles"]
	if !ok {
		return -1
	}
	// fileconsumer's protobuf encoding: MetadataList{1: Metadata{2: offset}}.
	list := protoFields(t, known)
	require.Len(t, list[1], 1, "one file tracked")
	md := protoFields(t, list[1][0])
	if len(md[2]) == 0 {
		return 0 // proto3 leaves a zero offset out
	}
	off, n := binary.Uvarint(md[2][0])
	require.Positive(t, n)
	return int64(off)
}

// protoFields splits a protobuf message into its fields by number: the
// bytes of length-delimited fields, the encoded varint of varint fields.
func protoFields(t *testing.T, b []byte) map[uint64][][]byte {
	t.Helper()
	fields := map[uint64][][]byte{}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		require.Positive(t, n, "protobuf tag")
		b = b[n:]
		var v []byte
		switch tag & 7 {
		case 0:
			_, n = binary.Uvarint(b)
			require.Positive(t, n, "protobuf varint")
			v, b = b[:n], b[n:]
		case 2:
			l, n := binary.Uvarint(b)
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

// fileLine is a fixed-width line, so an offset counts lines.
func fileLine(i int) string { return fmt.Sprintf("file %06d", i) }

const fileLineLen = 12 // fileLine and its newline

// stalled reports whether the spool and the sender both stopped moving:
// the same readings for ten checks 50ms apart.
func stalled(t *testing.T, sp *spool.Spool, sent *atomic.Int64) bool {
	t.Helper()
	last := [2]int64{-1, -1}
	same := 0
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		now := [2]int64{sp.Stats().Appended, sent.Load()}
		if now == last {
			if same++; same == 10 {
				return true
			}
		} else {
			last, same = now, 0
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// blockConfig is a 1MiB spool under the block policy with the file input
// "app" on logDir and an octet-counting TCP syslog input on addr.
func blockConfig(t *testing.T, logDir string) (cfg *Config, addr string) {
	t.Helper()
	cfg = testConfig(t, logDir)
	cfg.FullPolicy = FullBlock
	addr = freeAddr(t)
	sc := NewSyslogConfig()
	sc.EnableOctetCounting = true
	sc.TCP = &tcp.NewConfig().BaseConfig
	sc.TCP.ListenAddress = addr
	cfg.Syslog = map[string]*SyslogConfig{"tcp": sc}
	smallSpool(cfg)
	return cfg, addr
}

// syslogPeer sends numbered RFC 5424 messages of about 1KB over one TCP
// connection, as fast as the connection takes them, until it is stopped
// (the message being written is finished) or has sent peerMaxMessages.
type syslogPeer struct {
	conn net.Conn
	sent atomic.Int64
	stop atomic.Bool
	done chan struct{}
	err  error // set before done is closed
}

// peerMaxMessages bounds a peer that is never held back: 50MB, far beyond
// a 1MiB spool and the socket buffers.
const peerMaxMessages = 50000

var peerPad = strings.Repeat("p", 900)

func peerMessage(i int) string { return fmt.Sprintf("tcp %06d %s", i, peerPad) }

func startSyslogPeer(t *testing.T, addr string) *syslogPeer {
	t.Helper()
	p := &syslogPeer{done: make(chan struct{})}
	waitFor(t, "the listener", func() bool {
		var err error
		p.conn, err = net.Dial("tcp", addr)
		return err == nil
	})
	// A small send buffer keeps what the kernel holds for the peer small
	// next to what it has to send.
	require.NoError(t, p.conn.(*net.TCPConn).SetWriteBuffer(64<<10))
	require.NoError(t, p.conn.SetWriteDeadline(time.Now().Add(30*time.Second)))
	go func() {
		defer close(p.done)
		for i := 0; i < peerMaxMessages && !p.stop.Load(); i++ {
			msg := "<14>1 2026-11-25T01:00:00Z edge-1 app - - - " + peerMessage(i)
			if _, err := fmt.Fprintf(p.conn, "%d %s", len(msg), msg); err != nil {
				p.err = err
				return
			}
			p.sent.Add(1)
		}
	}()
	t.Cleanup(func() { // before the receiver's shutdown if the test ends early
		_ = p.conn.Close()
		<-p.done
	})
	return p
}

// holdBack fills the spool of r from peer and checks that the peer, not the
// spool, gives way: both stop moving while the peer still has messages to
// send, and nothing is evicted. The peer is then told to stop after the
// message it is blocked on.
func holdBack(t *testing.T, r *spoolReceiver, peer *syslogPeer) spool.Stats {
	t.Helper()
	require.True(t, stalled(t, r.sp, &peer.sent), "the spool and the peer stop moving")
	peer.stop.Store(true)
	stats := r.sp.Stats()
	t.Logf("held back: the peer blocked after writing %d messages to the socket; %d records (%d bytes) in the spool",
		peer.sent.Load(), stats.Records, stats.Bytes)
	require.Less(t, peer.sent.Load(), int64(peerMaxMessages), "the peer is held back")
	assert.Zero(t, stats.Evicted)
	assert.Zero(t, stats.Delivered)
	return stats
}

// deliveredKeys counts records by their syslog message, or their body for
// file lines.
func deliveredKeys(next *sink) map[string]int {
	seen := map[string]int{}
	for _, lr := range next.records() {
		key := lr.Body().AsString()
		if m, ok := lr.Attributes().Get("message"); ok {
			key = m.AsString()
		}
		seen[key]++
	}
	return seen
}

// TestBlockPolicyHoldsBackTCPAndFiles fills a 1MiB spool under the block
// policy while the next consumer fails (retryably), with a real TCP syslog
// peer on loopback and a file input: the peer is held back by TCP flow
// control instead of losing messages, the file input stops reading and its
// saved checkpoint covers no line that is not in the spool, and once the
// consumer recovers every message and line arrives with nothing evicted.
func TestBlockPolicyHoldsBackTCPAndFiles(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg, addr := blockConfig(t, logDir)
	var up atomic.Bool
	next := &sink{fail: func(int64) error {
		if !up.Load() {
			return errors.New("gateway down")
		}
		return nil
	}}
	r := startReceiver(t, cfg, next)
	app := filepath.Join(logDir, "app.log")

	// Lines that fit are spooled and checkpointed as usual.
	const firstLines, moreLines = 200, 200
	appendFile(t, app, numberedLines(0, firstLines, fileLine))
	waitFor(t, "the first lines checkpointed", func() bool {
		return savedOffset(t, cfg.Directory) == firstLines*fileLineLen
	})

	peer := startSyslogPeer(t, addr)
	stats := holdBack(t, r, peer)

	// The file input stops too: nothing more is checkpointed than spooled.
	appended, offset := stats.Appended, savedOffset(t, cfg.Directory)
	appendFile(t, app, numberedLines(firstLines, firstLines+moreLines, fileLine))
	time.Sleep(300 * time.Millisecond) // 15 poll intervals
	appendedLater, offsetLater := r.sp.Stats().Appended, savedOffset(t, cfg.Directory)
	t.Logf("file input while full: checkpoint %d -> %d bytes, %d records appended",
		offset, offsetLater, appendedLater-appended)
	assert.Less(t, offsetLater, int64((firstLines+moreLines)*fileLineLen), "file reading stopped")
	assert.LessOrEqual(t, (offsetLater-offset)/fileLineLen, appendedLater-appended,
		"the checkpoint does not cover lines that are not in the spool")

	start := time.Now()
	up.Store(true)
	select {
	case <-peer.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the peer is still held back after the consumer recovered")
	}
	require.NoError(t, peer.err)
	require.NoError(t, peer.conn.Close())
	messages := int(peer.sent.Load()) // the blocked one included
	want := messages + firstLines + moreLines
	var seen map[string]int
	waitFor(t, "every message and line", func() bool {
		seen = deliveredKeys(next)
		return len(seen) >= want
	})
	t.Logf("drained %d records in %v after the consumer recovered",
		len(next.records()), time.Since(start).Round(time.Millisecond))
	for i := range messages {
		require.Positive(t, seen[peerMessage(i)], "message %d", i)
	}
	for i := range firstLines + moreLines {
		require.Positive(t, seen[fileLine(i)], "line %d", i)
	}
	assert.Len(t, seen, want, "nothing else arrived")
	assert.Zero(t, r.sp.Stats().Evicted)
	waitFor(t, "the checkpoint to cover the file", func() bool {
		return savedOffset(t, cfg.Directory) == (firstLines+moreLines)*fileLineLen
	})
}

// TestBlockPolicyShutdownWhileHeldBack stops the receiver while its inputs
// wait for room: Shutdown returns promptly, the file checkpoint stays where
// the spool was, and a restart delivers every file line and, of the TCP
// messages, an unbroken first run (what the peer had in flight goes with
// the connection: TCP syslog has no acknowledgements).
func TestBlockPolicyShutdownWhileHeldBack(t *testing.T) {
	t.Parallel()
	logDir := t.TempDir()
	cfg, addr := blockConfig(t, logDir)
	down := &sink{fail: func(int64) error { return errors.New("gateway down") }}
	r := startReceiver(t, cfg, down)
	app := filepath.Join(logDir, "app.log")
	const lines = 400
	appendFile(t, app, numberedLines(0, lines/2, fileLine))
	waitFor(t, "the first lines checkpointed", func() bool {
		return savedOffset(t, cfg.Directory) == lines/2*fileLineLen
	})
	peer := startSyslogPeer(t, addr)
	holdBack(t, r, peer)
	appendFile(t, app, numberedLines(lines/2, lines, fileLine))
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	require.NoError(t, r.Shutdown(context.Background()))
	t.Logf("shutdown took %v", time.Since(start).Round(time.Millisecond))
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Equal(t, int64(lines/2*fileLineLen), savedOffset(t, cfg.Directory), "no checkpoint past the spool")
	require.NoError(t, peer.conn.Close())
	<-peer.done

	up := &sink{}
	startReceiver(t, cfg, up)
	var seen map[string]int
	waitFor(t, "every file line", func() bool {
		seen = deliveredKeys(up)
		for i := range lines {
			if seen[fileLine(i)] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	seen = deliveredKeys(up)
	got := 0
	for seen[peerMessage(got)] > 0 {
		got++
	}
	t.Logf("after the restart: %d file lines, TCP messages 0..%d of the %d the peer wrote", lines, got-1, peer.sent.Load())
	assert.Positive(t, got)
	assert.Len(t, seen, lines+got, "the TCP messages that arrived are an unbroken run from the first")
}
