package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer echoes every connection until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newTestRelay(t *testing.T) (*Relay, net.Conn) {
	t.Helper()
	r, err := NewRelay(echoServer(t))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close()) })
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return r, c
}

// roundTrip sends msg and reads the echo within d.
func roundTrip(c net.Conn, msg string, d time.Duration) (string, error) {
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", err
	}
	_ = c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, len(msg))
	_, err := io.ReadFull(c, buf)
	return string(buf), err
}

func TestRelayPassAndHold(t *testing.T) {
	r, c := newTestRelay(t)
	got, err := roundTrip(c, "hello", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "hello", got)

	r.SetMode(Hold)
	_, err = roundTrip(c, "held", 300*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "nothing passes during a hold")
	r.SetMode(Pass)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	_, err = io.ReadFull(c, buf)
	require.NoError(t, err)
	assert.Equal(t, "held", string(buf), "held bytes arrive after the hold")
}

func TestRelayRefuseResets(t *testing.T) {
	r, c := newTestRelay(t)
	_, err := roundTrip(c, "x", 2*time.Second)
	require.NoError(t, err)
	r.SetMode(Refuse)
	_, err = roundTrip(c, "y", 2*time.Second)
	require.Error(t, err)
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a reset, not silence: %v", err)

	// The relay accepts and resets at once, so the reset may reach the
	// client while it is still connecting or on its first exchange.
	c2, err := net.Dial("tcp", r.Addr())
	if err == nil {
		defer c2.Close()
		_, err = roundTrip(c2, "z", 2*time.Second)
	}
	require.Error(t, err, "new connections are refused too")
	assert.False(t, errors.Is(err, os.ErrDeadlineExceeded), "a reset, not silence: %v", err)
}

func TestRelayForgetsIdleFlows(t *testing.T) {
	r, c := newTestRelay(t)
	r.SetForgetIdle(200 * time.Millisecond)
	_, err := roundTrip(c, "a", 2*time.Second)
	require.NoError(t, err)
	time.Sleep(400 * time.Millisecond)
	_, err = roundTrip(c, "b", 500*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded, "swallowed silently, no reset and no end")
	assert.EqualValues(t, 1, r.Forgotten())

	c2, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c2.Close()
	got, err := roundTrip(c2, "new", 2*time.Second)
	require.NoError(t, err)
	assert.Equal(t, "new", got, "a new flow passes")
}

func TestRelayHoldReplies(t *testing.T) {
	r, c := newTestRelay(t)
	r.SetMode(HoldReplies)
	_, err := roundTrip(c, "q", 300*time.Millisecond)
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	r.SetMode(Refuse)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the held reply is discarded with the flow")
}
