package fleetidentityextension

import (
	"context"
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// recordingListener keeps a copy of what the server writes on each
// connection it accepts.
type recordingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []*recordingConn
}

type recordingConn struct {
	net.Conn
	mu      sync.Mutex
	written []byte
}

func (l *recordingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &recordingConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, rc)
	l.mu.Unlock()
	return rc, nil
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.written = append(c.written, p...)
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// serverPings counts the PING frames (not acknowledgements) in what a
// server wrote: HTTP/2 frames, each a 9-byte header (24-bit length, type,
// flags, stream) and its payload.
func serverPings(t *testing.T, b []byte) int {
	t.Helper()
	const typePing, flagAck = 0x6, 0x1
	pings := 0
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 9, "a whole frame header")
		n := int(binary.BigEndian.Uint32(append([]byte{0}, b[:3]...)))
		if b[3] == typePing && b[4]&flagAck == 0 {
			pings++
		}
		require.GreaterOrEqual(t, len(b), 9+n, "a whole frame")
		b = b[9+n:]
	}
	return pings
}

// The grpc_server settings reach the receiver's gRPC server through the
// middleware's options: a static window stops the server's bandwidth
// probes (a PING after the first data of nearly every request of a client
// that sends one at a time), and requests served by stream workers are
// served as without them.
func TestGRPCServerSettings(t *testing.T) {
	tests := []struct {
		name      string
		cfg       GRPCServerConfig
		wantPings bool
	}{
		{name: "defaults", wantPings: true},
		{name: "static window", cfg: GRPCServerConfig{WindowSize: 1 << 20}},
		{name: "stream workers", cfg: GRPCServerConfig{StreamWorkers: 4}, wantPings: true},
		{name: "both", cfg: GRPCServerConfig{StreamWorkers: 4, WindowSize: 1 << 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := createDefaultConfig()
			cfg.GRPCServer = tt.cfg
			a := newTestAuthenticator(t, cfg)
			opts, err := a.GetGRPCServerOptions(context.Background())
			require.NoError(t, err)

			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			rl := &recordingListener{Listener: l}
			srv := grpc.NewServer(opts...)
			healthpb.RegisterHealthServer(srv, health.NewServer())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(rl) }()

			cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			require.NoError(t, err)
			hc := healthpb.NewHealthClient(cc)
			const requests = 5
			for range requests {
				resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
				require.NoError(t, err)
				assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.GetStatus())
			}
			require.NoError(t, cc.Close())
			srv.Stop()
			require.NoError(t, <-served)

			rl.mu.Lock()
			defer rl.mu.Unlock()
			require.Len(t, rl.conns, 1)
			rl.conns[0].mu.Lock()
			pings := serverPings(t, rl.conns[0].written)
			rl.conns[0].mu.Unlock()
			if tt.wantPings {
				assert.Positive(t, pings, "gRPC's dynamic window probes the bandwidth")
			} else {
				assert.Zero(t, pings, "a static window sends no probes")
			}
		})
	}
}
