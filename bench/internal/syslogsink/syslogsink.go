// Package syslogsink is the receiver for the benchmark's syslog peers
// (rsyslog, syslog-ng): a syslog-over-TLS listener (RFC 5425) on loopback
// with the gateway's certificates and mutual TLS 1.3, as the OTLP sink has.
// It reads octet-counted frames (and, for a client that sends them,
// newline-terminated ones), and counts each message by the workload line id
// it carries, so lost and duplicated lines are counted exactly, the bytes
// read from the connections and the messages that still show a planted
// secret. It acknowledges nothing: syslog over TLS has no acknowledgements.
package syslogsink

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/config/configtls"

	"github.com/fleetlog/fleetlog/bench/internal/workload"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// maxFrame is the largest message the receiver accepts; the workload's
// lines are about 100 bytes, a syslog header adds less than 100.
const maxFrame = 64 << 10

// ErrFrame is a frame the receiver cannot read.
var ErrFrame = errors.New("malformed syslog frame")

// Sink is a running syslog-over-TLS receiver.
type Sink struct {
	ln     net.Listener
	ledger *workload.Ledger

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	errs  []error
	// firstForeign is the first message without a workload line id.
	firstForeign string

	connections atomic.Int64
	wireBytes   atomic.Int64
	leaked      atomic.Int64
	malformed   atomic.Int64
}

// Start listens on a free loopback port with the certificates in tlsDir (a
// directory with ca.pem, cert.pem and key.pem, as `fleetlogctl certs init`
// writes for the gateway): TLS 1.3 at least, and a client certificate from
// that CA required. Every message goes into ledger.
func Start(tlsDir string, ledger *workload.Ledger) (*Sink, error) {
	cfg := configtls.NewDefaultServerConfig()
	cfg.CertFile = filepath.Join(tlsDir, pki.CertFile)
	cfg.KeyFile = filepath.Join(tlsDir, pki.KeyFile)
	cfg.ClientCAFile = filepath.Join(tlsDir, pki.CACertFile)
	cfg.MinVersion = "1.3"
	tlsCfg, err := cfg.LoadTLSConfig(context.Background())
	if err != nil {
		return nil, fmt.Errorf("configure syslog sink TLS: %w", err)
	}
	// No TLS 1.3 session tickets, as syslog-ng's TLS listener sends none:
	// in a protocol where the server never writes, tickets are bytes the
	// client never reads, and a client that closes its connection with them
	// unread resets it, so that what the receiver had not read yet can be
	// lost. With tickets, rsyslog lost lines here on its reconnects.
	tlsCfg.SessionTicketsDisabled = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("syslog sink listen: %w", err)
	}
	s := &Sink{ln: ln, ledger: ledger, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept(tlsCfg)
	return s, nil
}

// Addr is the host:port the receiver listens on.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Port is the port the receiver listens on.
func (s *Sink) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *Sink) accept(cfg *tls.Config) {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed
		}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.connections.Add(1)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			err := s.serve(tls.Server(&countingConn{Conn: c, n: &s.wireBytes}, cfg))
			s.mu.Lock()
			delete(s.conns, c)
			if err != nil {
				s.errs = append(s.errs, err)
			}
			s.mu.Unlock()
		}()
	}
}

// serve reads frames until the peer closes the connection.
func (s *Sink) serve(c *tls.Conn) error {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake with %s: %w", c.RemoteAddr(), err)
	}
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		msg, err := ReadFrame(r)
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			return nil
		case errors.Is(err, ErrFrame):
			// The stream cannot be resynchronised after a bad length.
			s.malformed.Add(1)
			return fmt.Errorf("connection from %s: %w", c.RemoteAddr(), err)
		case err != nil:
			return nil // reset by the peer, or closed by Close
		}
		if workload.Leaked(string(msg)) {
			s.leaked.Add(1)
		}
		if !s.ledger.Add(msg) {
			s.noteForeign(msg)
		}
	}
}

// noteForeign keeps the first message that carries no line id, for the
// report to show what the peer sent.
func (s *Sink) noteForeign(msg []byte) {
	if _, ok := workload.ID(msg); ok {
		return // a duplicate
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstForeign == "" {
		s.firstForeign = string(msg)
	}
}

// ReadFrame reads one syslog message from r: octet-counted ("LEN SP MSG",
// RFC 5425 and RFC 6587) or, when the frame starts with '<',
// newline-terminated. The message is valid until the next call.
func ReadFrame(r *bufio.Reader) ([]byte, error) {
	first, err := r.Peek(1)
	// A line end after a frame (a client that adds one to octet-counted
	// frames) belongs to no frame. It is skipped here, before the next
	// frame, and not after the last: looking past a frame would wait for
	// the next one.
	for err == nil && (first[0] == '\n' || first[0] == '\r') {
		_, _ = r.ReadByte()
		first, err = r.Peek(1)
	}
	if err != nil {
		return nil, err
	}
	if first[0] == '<' {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrFrame, r.Size())
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), nil
	}
	head, err := r.ReadSlice(' ')
	if err != nil {
		if errors.Is(err, io.EOF) && len(head) == 0 {
			return nil, io.EOF
		}
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %q is no length", ErrFrame, head)
	}
	n, err := strconv.Atoi(string(head[:len(head)-1]))
	if err != nil || n <= 0 || n > maxFrame {
		return nil, fmt.Errorf("%w: length %q", ErrFrame, head[:len(head)-1])
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimSuffix(msg, []byte("\n")), nil
}

// Counts is what the receiver has seen so far.
type Counts struct {
	// Lines is the ledger's count of the messages by workload line.
	Lines workload.Tally
	// Connections accepted.
	Connections int64
	// WireBytes read from the connections: TLS records as they crossed
	// loopback.
	WireBytes int64
	// Leaked messages still show a secret the workload planted.
	Leaked int64
	// Malformed frames ended their connection.
	Malformed int64
	// FirstForeign is the first message that carried no workload line id.
	FirstForeign string
}

// Counts returns the current counts.
func (s *Sink) Counts() Counts {
	s.mu.Lock()
	foreign := s.firstForeign
	s.mu.Unlock()
	return Counts{
		FirstForeign: foreign,
		Lines:        s.ledger.Tally(),
		Connections:  s.connections.Load(),
		WireBytes:    s.wireBytes.Load(),
		Leaked:       s.leaked.Load(),
		Malformed:    s.malformed.Load(),
	}
}

// Close stops listening, closes the open connections and waits for their
// readers. It returns the connections' errors (a failed handshake, a
// malformed frame); a second call returns nil.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	errs := s.errs
	s.errs = nil
	return errors.Join(append([]error{err}, errs...)...)
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
