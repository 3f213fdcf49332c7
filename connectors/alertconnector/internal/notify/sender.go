package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// ErrPermanent marks a delivery that retrying cannot fix (a 4xx answer
// other than 408 and 429): the notification is counted as failed and
// removed.
var ErrPermanent = errors.New("permanent delivery error")

// Sender delivers a batch of notifications.
type Sender interface {
	// Send returns nil once the peer took all of them.
	Send(ctx context.Context, ns []*Notification) error
	// MaxBatch is how many notifications one Send takes.
	MaxBatch() int
	Close() error
}

// Encoder makes one HTTP body from a batch.
type Encoder func(ns []*Notification) ([]byte, error)

// HTTPSender POSTs JSON.
type HTTPSender struct {
	Client *http.Client
	URL    string
	Encode Encoder
	Batch  int
}

// NewWebhook sends each notification as the generic JSON body.
func NewWebhook(c *http.Client, url string) *HTTPSender {
	return &HTTPSender{Client: c, URL: url, Batch: 1, Encode: func(ns []*Notification) ([]byte, error) { return Webhook(ns[0]) }}
}

// NewSlack sends each notification as a Slack incoming-webhook message.
func NewSlack(c *http.Client, url string) *HTTPSender {
	return &HTTPSender{Client: c, URL: url, Batch: 1, Encode: func(ns []*Notification) ([]byte, error) { return Slack(ns[0]) }}
}

// NewAlertmanager posts batches to base/api/v2/alerts.
func NewAlertmanager(c *http.Client, base, generator string) *HTTPSender {
	return &HTTPSender{Client: c, URL: trimSlash(base) + "/api/v2/alerts", Batch: 64,
		Encode: func(ns []*Notification) ([]byte, error) { return Alertmanager(ns, generator) }}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// MaxBatch implements Sender.
func (s *HTTPSender) MaxBatch() int { return max(s.Batch, 1) }

// Send implements Sender.
func (s *HTTPSender) Send(ctx context.Context, ns []*Notification) error {
	body, err := s.Encode(ns)
	if err != nil {
		return fmt.Errorf("%w: encode: %w", ErrPermanent, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return fmt.Errorf("post: %s: %s", resp.Status, bytes.TrimSpace(msg))
	default:
		return fmt.Errorf("%w: post: %s: %s", ErrPermanent, resp.Status, bytes.TrimSpace(msg))
	}
}

// Close implements Sender.
func (s *HTTPSender) Close() error {
	s.Client.CloseIdleConnections()
	return nil
}

// SyslogSender writes RFC 5425 framed RFC 5424 messages over TLS. It keeps
// one connection and redials after an error.
type SyslogSender struct {
	Addr    string
	TLS     *tls.Config
	Params  SyslogParams
	Timeout time.Duration
	mu      sync.Mutex
	conn    net.Conn
}

// MaxBatch implements Sender.
func (s *SyslogSender) MaxBatch() int { return 16 }

// Send implements Sender. TCP gives no application acknowledgement: a
// message is delivered once written to a connection that stays healthy.
func (s *SyslogSender) Send(ctx context.Context, ns []*Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: s.Timeout}, Config: s.TLS}
		c, err := d.DialContext(ctx, "tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("dial syslog %s: %w", s.Addr, err)
		}
		s.conn = c
	}
	var buf bytes.Buffer
	for _, n := range ns {
		buf.Write(Syslog(n, s.Params))
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = s.conn.SetWriteDeadline(dl)
	}
	if _, err := s.conn.Write(buf.Bytes()); err != nil {
		s.conn.Close()
		s.conn = nil
		return fmt.Errorf("write syslog: %w", err)
	}
	return nil
}

// Close implements Sender.
func (s *SyslogSender) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		err := s.conn.Close()
		s.conn = nil
		return err
	}
	return nil
}
