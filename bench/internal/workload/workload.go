// Package workload generates the benchmark's deterministic log workload:
// syslog-style lines of about 100 bytes, about one in ten carrying PII or a
// secret (an email, a Luhn-valid card number, a bearer token, a password=
// pair or an AWS access key ID).
package workload

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// piiEvery is the inverse of the share of lines that carry PII or a secret.
const piiEvery = 10

// base is the timestamp of line 0. Lines are 1 ms apart, so a run's timestamps
// are the same whatever the clock says.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

var (
	hosts    = []string{"edge-0017", "edge-0042", "gw-cam-07", "pump-ctl-3", "kiosk-112", "sensor-hub-9"}
	apps     = []string{"sshd", "kernel", "nginx", "app", "systemd", "cron", "modemd", "ota"}
	users    = []string{"ops", "deploy", "maria", "chen", "root", "svc-backup", "j.smith"}
	domains  = []string{"example.com", "mail.example.org", "corp.example.net"}
	paths    = []string{"/api/v1/status", "/healthz", "/api/v1/readings", "/ota/manifest", "/metrics"}
	services = []string{"ota-agent.service", "modem-manager.service", "telemetry.service", "ntp.service"}
)

// Generator produces the workload one line at a time. The same seed gives
// the same lines.
type Generator struct {
	rng *rand.Rand
	n   int
}

// New returns a Generator for seed.
func New(seed uint64) *Generator {
	return &Generator{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Next appends the next line, without a newline, to buf and returns it, and
// whether the line carries PII or a secret.
func (g *Generator) Next(buf []byte) ([]byte, bool) {
	ts := base.Add(time.Duration(g.n) * time.Millisecond)
	g.n++
	buf = ts.AppendFormat(buf, "2006-01-02T15:04:05.000Z")
	buf = append(buf, ' ')
	buf = append(buf, g.pick(hosts)...)
	buf = append(buf, ' ')
	buf = append(buf, g.pick(apps)...)
	buf = append(buf, '[')
	buf = strconv.AppendInt(buf, int64(100+g.rng.IntN(32000)), 10)
	buf = append(buf, "]: "...)
	if g.rng.IntN(piiEvery) == 0 {
		return g.secret(buf), true
	}
	return g.benign(buf), false
}

func (g *Generator) pick(s []string) string { return s[g.rng.IntN(len(s))] }

// benign lines carry the tokens a redactor must leave alone: addresses and
// ports, durations, UUIDs, versions, hashes, order numbers. None contains an
// '@', a run of 13 or more digits or a key=value secret, so Leaked can tell
// them apart from what was not redacted.
func (g *Generator) benign(buf []byte) []byte {
	r := g.rng
	switch r.IntN(8) {
	case 0:
		return fmt.Appendf(buf, "Accepted key for %s from 10.%d.%d.%d port %d",
			g.pick(users), r.IntN(256), r.IntN(256), r.IntN(256), 1024+r.IntN(60000))
	case 1:
		return fmt.Appendf(buf, "GET %s 200 %dB %dms up=10.0.%d.%d:8080",
			g.pick(paths), r.IntN(90000), r.IntN(900), r.IntN(256), r.IntN(256))
	case 2:
		return fmt.Appendf(buf, "Started %s (pid %d, restart %d/5)", g.pick(services), 100+r.IntN(32000), r.IntN(5))
	case 3:
		return fmt.Appendf(buf, "eth0: link up 1000Mbps, rx_errors=%d tx_dropped=%d", r.IntN(50), r.IntN(50))
	case 4:
		return fmt.Appendf(buf, "chunk %s-%s-4%s done, sha %s", g.hex(8), g.hex(4), g.hex(3), g.hex(12))
	case 5:
		return fmt.Appendf(buf, "update v%d.%d.%d staged, order %d, window %02d:00Z", r.IntN(4), r.IntN(20), r.IntN(50), 100000+r.IntN(900000), r.IntN(24))
	case 6:
		return fmt.Appendf(buf, "temperature %d.%dC fan %drpm load %d.%02d battery %d%%", 30+r.IntN(50), r.IntN(10), 1000+r.IntN(4000), r.IntN(4), r.IntN(100), r.IntN(101))
	default:
		return fmt.Appendf(buf, "session %d closed for %s after %ds", r.IntN(99999), g.pick(users), r.IntN(7200))
	}
}

// secret lines carry one of the secrets a redactor must remove.
func (g *Generator) secret(buf []byte) []byte {
	r := g.rng
	switch r.IntN(5) {
	case 0:
		return fmt.Appendf(buf, "password reset mail sent to %s.%d@%s by %s", g.pick(users), r.IntN(1000), g.pick(domains), g.pick(users))
	case 1:
		return fmt.Appendf(buf, "payment declined card=%s amount=%d.%02d EUR", g.card(), r.IntN(500), r.IntN(100))
	case 2:
		return fmt.Appendf(buf, "GET %s Authorization: Bearer %s", g.pick(paths), g.token(24))
	case 3:
		return fmt.Appendf(buf, "login retry user=%s password=%s attempt=%d", g.pick(users), g.token(12), 1+r.IntN(5))
	default:
		return fmt.Appendf(buf, "s3 sync aws_access_key_id=AKIA%s", g.upper(16))
	}
}

const (
	alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
)

func (g *Generator) token(n int) string { return g.from(alnum, n) }
func (g *Generator) upper(n int) string { return g.from(upper, n) }

// hex returns n lowercase hex digits with a letter at every sixth place, so
// no hash or id in a benign line looks like a card number.
func (g *Generator) hex(n int) string {
	b := []byte(g.from("0123456789abcdef", n))
	for i := 5; i < n; i += 6 {
		b[i] = "abcdef"[g.rng.IntN(6)]
	}
	return string(b)
}
func (g *Generator) from(set string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[g.rng.IntN(len(set))]
	}
	return string(b)
}

// card returns a 16-digit number that passes the Luhn check, grouped in
// fours half of the time.
func (g *Generator) card() string {
	d := make([]byte, 16)
	d[0] = '4'
	for i := 1; i < 15; i++ {
		d[i] = byte('0' + g.rng.IntN(10))
	}
	d[15] = byte('0' + LuhnCheckDigit(d[:15]))
	if g.rng.IntN(2) == 0 {
		return string(d)
	}
	return string(d[0:4]) + " " + string(d[4:8]) + " " + string(d[8:12]) + " " + string(d[12:16])
}

// LuhnCheckDigit returns the digit that makes payload followed by it pass
// the Luhn check.
func LuhnCheckDigit(payload []byte) int {
	sum := 0
	for i := len(payload) - 1; i >= 0; i-- {
		v := int(payload[i] - '0')
		if (len(payload)-1-i)%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return (10 - sum%10) % 10
}

// Stats describes a written workload.
type Stats struct {
	Lines, PII int
	Bytes      int64
}

// Write writes n lines of seed's workload to w, one per line.
func Write(w io.Writer, seed uint64, n int) (Stats, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	g := New(seed)
	var st Stats
	buf := make([]byte, 0, 256)
	for range n {
		line, pii := g.Next(buf[:0])
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return st, fmt.Errorf("write workload: %w", err)
		}
		st.Lines++
		st.Bytes += int64(len(line))
		if pii {
			st.PII++
		}
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write workload: %w", err)
	}
	return st, nil
}

// Leaked reports whether a line that left a redactor still shows one of the
// secrets Generator plants. It is a cheap check tailored to this workload,
// not a detector: benign lines never contain an '@', 13 or more digits in a
// row (spaces and dashes allowed), an AKIA key or an unmasked bearer token or
// password.
func Leaked(s string) bool {
	if strings.IndexByte(s, '@') >= 0 || strings.Contains(s, "AKIA") {
		return true
	}
	if valueFollows(s, "Bearer ") || valueFollows(s, "password=") {
		return true
	}
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			if digits >= 13 {
				return true
			}
		case c == ' ' || c == '-':
		default:
			digits = 0
		}
	}
	return false
}

// valueFollows reports whether key is followed by an alphanumeric value
// rather than a mask.
func valueFollows(s, key string) bool {
	i := strings.Index(s, key)
	if i < 0 || i+len(key) >= len(s) {
		return false
	}
	c := s[i+len(key)]
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}
