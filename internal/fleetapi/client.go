package fleetapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

// ErrNotFound is returned for a device or assignment the gateway does not know.
var ErrNotFound = errors.New("not found")

// Client calls the admin API with an operator certificate.
type Client struct {
	base *url.URL
	http *http.Client
}

// NewClient returns a client for the admin API at base (https://host:port)
// that authenticates with the operator certificate certFile/keyFile and
// trusts the gateway certificates signed by caFile.
func NewClient(base, caFile, certFile, keyFile string) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("gateway address %q: want https://host:port", base)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load operator certificate: %w", err)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:      pool,
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS13,
		},
		ForceAttemptHTTP2: true,
	}
	return &Client{base: u, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// Filter selects devices in Devices; empty fields match every device.
type Filter struct {
	Fleet, Site, State string
}

// Devices lists the registry's devices.
func (c *Client) Devices(ctx context.Context, f Filter) ([]Device, error) {
	q := url.Values{}
	for k, v := range map[string]string{"fleet": f.Fleet, "site": f.Site, "state": f.State} {
		if v != "" {
			q.Set(k, v)
		}
	}
	var out []Device
	return out, c.do(ctx, http.MethodGet, DevicesPath, q, nil, &out)
}

// Device returns one device.
func (c *Client) Device(ctx context.Context, id string) (*Device, error) {
	var out Device
	if err := c.do(ctx, http.MethodGet, DevicesPath+"/"+url.PathEscape(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Assignments lists the assignments.
func (c *Client) Assignments(ctx context.Context) ([]Assignment, error) {
	var out []Assignment
	return out, c.do(ctx, http.MethodGet, AssignmentsPath, nil, nil, &out)
}

// Assignment returns one assignment with each device's outcome.
func (c *Client) Assignment(ctx context.Context, name string) (*Assignment, error) {
	var out Assignment
	if err := c.do(ctx, http.MethodGet, AssignmentsPath+"/"+url.PathEscape(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetAssignment creates or replaces an assignment.
func (c *Client) SetAssignment(ctx context.Context, spec *AssignmentSpec) (*Assignment, error) {
	var out Assignment
	if err := c.do(ctx, http.MethodPut, AssignmentsPath+"/"+url.PathEscape(spec.Name), nil, spec, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteAssignment deletes an assignment: its devices go back to their
// local configuration or to the next assignment that selects them.
func (c *Client) DeleteAssignment(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, AssignmentsPath+"/"+url.PathEscape(name), nil, nil, nil)
}

func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	u := *c.base
	u.Path = path
	u.RawQuery = q.Encode()
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	if resp.StatusCode >= 300 {
		var e Error
		msg := string(bytes.TrimSpace(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%w: %s", ErrNotFound, msg)
		}
		return fmt.Errorf("gateway: %s (%s)", msg, resp.Status)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	return nil
}
