package syslogsink

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/pki"
)

func TestReadFrame(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		want  []string
		final error
	}{
		{"octet-counted", "5 hello3 abc", []string{"hello", "abc"}, io.EOF},
		{"octet-counted with a line end inside and after", "6 hello\n\n4 abc\n", []string{"hello", "abc"}, io.EOF},
		{"newline-terminated", "<13>1 a\n<13>1 b\r\n", []string{"<13>1 a", "<13>1 b"}, io.EOF},
		{"mixed", "<13>x\n3 abc", []string{"<13>x", "abc"}, io.EOF},
		{"no length", "hello world", nil, ErrFrame},
		{"zero length", "0 x", nil, ErrFrame},
		{"too long", fmt.Sprintf("%d x", maxFrame+1), nil, ErrFrame},
		{"cut short", "10 abc", nil, io.ErrUnexpectedEOF},
		{"cut in the length", "12", nil, io.ErrUnexpectedEOF},
		{"unterminated line", "<13>x", nil, io.ErrUnexpectedEOF},
		{"empty", "", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := bufio.NewReader(strings.NewReader(tt.in))
			var got []string
			for {
				msg, err := ReadFrame(r)
				if err != nil {
					assert.ErrorIs(t, err, tt.final)
					break
				}
				got = append(got, string(msg))
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestReadFrameDoesNotWaitPastAFrame: the last frame a client sent is
// counted although nothing follows it.
func TestReadFrameDoesNotWaitPastAFrame(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	go func() { _, _ = io.WriteString(pw, "5 hello") }()
	done := make(chan string)
	go func() {
		msg, _ := ReadFrame(bufio.NewReader(pr))
		done <- string(msg)
	}()
	select {
	case msg := <-done:
		assert.Equal(t, "hello", msg)
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFrame waits for more than its frame")
	}
}

func TestSinkCountsLinesOverMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := pki.Init(dir, pki.InitOptions{})
	require.NoError(t, err)
	dev, err := pki.IssueDevice(dir, pki.DeviceOptions{DeviceID: "bench-device"})
	require.NoError(t, err)

	ledger := workload.NewLedger(4)
	s, err := Start(filepath.Join(dir, pki.GatewayDirName), ledger)
	require.NoError(t, err)
	defer s.Close()

	cert, err := tls.LoadX509KeyPair(dev.Cert, dev.Key)
	require.NoError(t, err)
	caPEM, err := os.ReadFile(res.CACert)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(caPEM))

	g := workload.New(1)
	var lines []string
	for range 3 {
		line, _ := g.Next(nil)
		lines = append(lines, string(line))
	}
	conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), conn.ConnectionState().Version)
	var frames strings.Builder
	for _, msg := range []string{
		"<14>1 2026-12-01T14:00:00+00:00 bench-device bench - - - " + lines[0],
		"<14>1 2026-12-01T14:00:00+00:00 bench-device bench - - [meta sequenceId=\"2\"] " + lines[1] + "\n",
		"<14>1 2026-12-01T14:00:00+00:00 bench-device bench - - - " + lines[1], // a duplicate
		"<14>1 2026-12-01T14:00:00+00:00 bench-device bench - - - not a workload line",
		"<14>1 2026-12-01T14:00:00+00:00 bench-device bench - - - login retry user=ops password=hunter2 attempt=1",
	} {
		fmt.Fprintf(&frames, "%d %s", len(msg), msg)
	}
	_, err = io.WriteString(conn, frames.String())
	require.NoError(t, err)
	require.NoError(t, conn.Close())

	require.Eventually(t, func() bool { return s.Counts().Lines.Records == 5 }, 10*time.Second, 10*time.Millisecond)
	c := s.Counts()
	assert.Equal(t, workload.Tally{Records: 5, Unique: 2, Duplicated: 1, Lost: 2, Foreign: 2}, c.Lines)
	assert.Equal(t, int64(1), c.Connections)
	assert.Equal(t, int64(1), c.Leaked)
	assert.Contains(t, c.FirstForeign, "not a workload line")
	assert.Greater(t, c.WireBytes, int64(frames.Len()), "TLS records are counted, handshake included")
	assert.Equal(t, []int64{2, 3}, ledger.Missing(10))

	// Without a client certificate, no message gets in.
	bare, err := tls.Dial("tcp", s.Addr(), &tls.Config{RootCAs: roots, ServerName: "localhost", MinVersion: tls.VersionTLS13})
	if err == nil {
		// TLS 1.3: the client learns of the refusal on its first exchange.
		_, _ = io.WriteString(bare, "3 abc")
		_, _ = bare.Read(make([]byte, 1))
		_ = bare.Close()
	}
	// The refused connection's reader ends with the handshake; Close waits
	// for it, so the count below is final.
	require.Eventually(t, func() bool { return s.Counts().Connections == 2 }, 10*time.Second, 10*time.Millisecond)
	err = s.Close()
	assert.ErrorContains(t, err, "certificate", "the refused handshake is reported")
	assert.Equal(t, int64(5), s.Counts().Lines.Records)
}
