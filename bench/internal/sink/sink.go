// Package sink is the benchmark's stand-in for the gateway: an OTLP/gRPC logs
// server on loopback, with the gateway's mutual TLS, that acknowledges every
// request and counts the records, the bytes on the wire, the records that
// still carry a secret and, by the workload's line ids, the lines lost and
// duplicated. It measures only the agent in front of it.
package sink

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configgrpc"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// Sink is a running OTLP/gRPC logs server.
type Sink struct {
	plogotlp.UnimplementedGRPCServer

	addr    string
	server  *grpc.Server
	done    chan struct{}
	serveMu sync.Mutex
	serve   error

	records   atomic.Int64
	requests  atomic.Int64
	wireBytes atomic.Int64
	leaked    atomic.Int64
	ledger    *workload.Ledger
}

// Start listens on a free loopback port. With tlsDir set (a directory with
// ca.pem, cert.pem and key.pem, as `fleetlogctl certs init` writes for the
// gateway) it requires TLS 1.3 and a client certificate from that CA, as the
// gateway does; empty tlsDir serves plaintext. Each record's body goes into
// ledger, if not nil.
func Start(tlsDir string, ledger *workload.Ledger) (*Sink, error) {
	cfg := configgrpc.NewDefaultServerConfig()
	cfg.NetAddr.Endpoint = "127.0.0.1:0"
	if tlsDir != "" {
		tls := configtls.NewDefaultServerConfig()
		tls.CertFile = filepath.Join(tlsDir, pki.CertFile)
		tls.KeyFile = filepath.Join(tlsDir, pki.KeyFile)
		tls.ClientCAFile = filepath.Join(tlsDir, pki.CACertFile)
		tls.MinVersion = "1.3"
		cfg.TLS = configoptional.Some(tls)
	}
	ctx := context.Background()
	// ToServer also registers the zstd and snappy decompressors the agents use.
	server, err := cfg.ToServer(ctx, nil, componenttest.NewNopTelemetrySettings())
	if err != nil {
		return nil, fmt.Errorf("configure sink: %w", err)
	}
	ln, err := cfg.NetAddr.Listen(ctx)
	if err != nil {
		return nil, fmt.Errorf("sink listen: %w", err)
	}
	s := &Sink{addr: ln.Addr().String(), server: server, done: make(chan struct{}), ledger: ledger}
	plogotlp.RegisterGRPCServer(server, s)
	go func() {
		defer close(s.done)
		err := server.Serve(&countingListener{Listener: ln, n: &s.wireBytes})
		s.serveMu.Lock()
		s.serve = err
		s.serveMu.Unlock()
	}()
	return s, nil
}

// Addr is the host:port the sink listens on.
func (s *Sink) Addr() string { return s.addr }

// Export counts a request's records and checks their bodies for secrets.
func (s *Sink) Export(_ context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	logs := req.Logs()
	var leaked int64
	rls := logs.ResourceLogs()
	for i := range rls.Len() {
		sls := rls.At(i).ScopeLogs()
		for j := range sls.Len() {
			lrs := sls.At(j).LogRecords()
			for k := range lrs.Len() {
				body := lrs.At(k).Body().AsString()
				if workload.Leaked(body) {
					leaked++
				}
				if s.ledger != nil {
					s.ledger.Add([]byte(body))
				}
			}
		}
	}
	s.leaked.Add(leaked)
	s.records.Add(int64(logs.LogRecordCount()))
	s.requests.Add(1)
	return plogotlp.NewExportResponse(), nil
}

// Counts is what the sink has seen so far.
type Counts struct {
	// Records acknowledged, duplicates included.
	Records int64
	// Requests acknowledged.
	Requests int64
	// WireBytes read from the agents' connections: compressed, encrypted
	// gRPC frames as they crossed loopback.
	WireBytes int64
	// Leaked is the number of records whose body still shows a secret the
	// workload planted.
	Leaked int64
	// Lines is the ledger's count of workload lines, zero without one.
	Lines workload.Tally
}

// Counts returns the current counts.
func (s *Sink) Counts() Counts {
	c := Counts{
		Records:   s.records.Load(),
		Requests:  s.requests.Load(),
		WireBytes: s.wireBytes.Load(),
		Leaked:    s.leaked.Load(),
	}
	if s.ledger != nil {
		c.Lines = s.ledger.Tally()
	}
	return c
}

// Close stops the server and waits for it.
func (s *Sink) Close() error {
	s.server.Stop()
	<-s.done
	s.serveMu.Lock()
	defer s.serveMu.Unlock()
	if s.serve != nil && s.serve != grpc.ErrServerStopped {
		return s.serve
	}
	return nil
}

// countingListener counts every byte read from the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}
