package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/outbox"
	"github.com/fleetlog/fleetlog/internal/alert"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func sample(st alert.Status) alert.Alert {
	a := alert.Alert{
		Status: st, Rule: "auth_brute_force", Type: alert.KindThreshold, Severity: alert.SeverityCritical,
		Description: "Many failed logins", Fingerprint: "0123456789abcdef",
		Labels:   map[string]string{"alertname": "auth_brute_force", "device.id": "edge-7"},
		Identity: alert.Identity{Device: "edge-7", Fleet: "eu", Site: "ber1"}, Count: 20, Window: 5 * time.Minute,
		StartsAt: t0, FirstRecord: t0.Add(-time.Minute), LastRecord: t0, Summary: "20 matching records within 5m0s",
	}
	if st == alert.StatusResolved {
		a.EndsAt = t0.Add(10 * time.Minute)
	}
	return a
}

func TestFormats(t *testing.T) {
	n := FromAlert(sample(alert.StatusFiring), "fleetlogctl archive query --dir /a --device edge-7", t0)
	until := t0.Add(time.Hour)
	n.ValidUntil = &until

	b, err := Webhook(n)
	require.NoError(t, err)
	var w map[string]any
	require.NoError(t, json.Unmarshal(b, &w))
	assert.Equal(t, "1", w["version"])
	assert.Equal(t, "firing", w["status"])
	assert.Equal(t, "edge-7", w["device"])
	assert.Equal(t, float64(20), w["count"])
	assert.Equal(t, "5m0s", w["window"])
	assert.Contains(t, w["evidence"], "fleetlogctl archive query")

	b, err = Slack(n)
	require.NoError(t, err)
	var s slackMessage
	require.NoError(t, json.Unmarshal(b, &s))
	assert.Equal(t, "[FIRING] auth_brute_force on edge-7: 20 matching records within 5m0s", s.Text)
	require.Len(t, s.Attachments, 1)
	assert.Equal(t, "danger", s.Attachments[0].Color)

	b, err = Alertmanager([]*Notification{n}, "http://gw:8888/alerts")
	require.NoError(t, err)
	var am []map[string]any
	require.NoError(t, json.Unmarshal(b, &am))
	require.Len(t, am, 1)
	labels := am[0]["labels"].(map[string]any)
	assert.Equal(t, "edge-7", labels["device_id"])
	assert.Equal(t, "auth_brute_force", labels["alertname"])
	assert.Equal(t, "critical", labels["severity"])
	assert.Equal(t, "2026-11-24T10:00:00Z", am[0]["startsAt"])
	assert.Equal(t, "2026-11-24T11:00:00Z", am[0]["endsAt"])
	assert.Contains(t, am[0]["generatorURL"], "rule=auth_brute_force")

	msg := string(Syslog(n, SyslogParams{Facility: 10, Hostname: "gw 1", Version: "0.1.0"}))
	sp := strings.IndexByte(msg, ' ')
	assert.Equal(t, msg[:sp], itoa(len(msg)-sp-1), "octet counting")
	assert.True(t, strings.HasPrefix(msg[sp+1:], "<82>1 2026-11-24T10:00:00Z gw_1 fleetlog - auth_brute_force - CEF:0|fleetlog|fleetlog-gateway|0.1.0|auth_brute_force|Many failed logins|9|act=firing"), msg)
	assert.Contains(t, msg, "dvchost=edge-7 cs1Label=fleet cs1=eu")
	assert.Contains(t, msg, `cs4=fleetlogctl archive query --dir /a --device edge-7`)
	assert.Equal(t, `a\=b\\c\n`, cefValue("a=b\\c\n"))
	assert.Equal(t, `a\|b`, cefHeader("a|b"))
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

type counts struct {
	mu                                            sync.Mutex
	sent, failed, retried, queued, silenced, drop map[string]int
}

func newCounts() *counts {
	return &counts{sent: map[string]int{}, failed: map[string]int{}, retried: map[string]int{}, queued: map[string]int{}, drop: map[string]int{}, silenced: map[string]int{}}
}
func (c *counts) add(m map[string]int, k string, n int) { c.mu.Lock(); m[k] += n; c.mu.Unlock() }
func (c *counts) get(m map[string]int, k string) int    { c.mu.Lock(); defer c.mu.Unlock(); return m[k] }
func (c *counts) Sent(o string, n int)                  { c.add(c.sent, o, n) }
func (c *counts) Failed(o string, n int)                { c.add(c.failed, o, n) }
func (c *counts) Retried(o string)                      { c.add(c.retried, o, 1) }
func (c *counts) Queued(o string, n int)                { c.add(c.queued, o, n) }
func (c *counts) Dropped(o, r string, n int)            { c.add(c.drop, o+"/"+r, n) }
func (c *counts) Silenced(n int)                        { c.add(c.silenced, "", n) }

func fastRetry() Retry {
	return Retry{InitialInterval: 10 * time.Millisecond, MaxInterval: 50 * time.Millisecond, Multiplier: 2}
}

// slackPeer stands in for Slack: it checks the incoming-webhook payload
// and answers 503 to the first fail requests.
type slackPeer struct {
	t     *testing.T
	fail  atomic.Int32
	mu    sync.Mutex
	texts []string
}

func (p *slackPeer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	if p.fail.Add(-1) >= 0 {
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var m slackMessage
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &m) != nil ||
		m.Text == "" || len(m.Attachments) != 1 || len(m.Attachments[0].Fields) == 0 {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	p.texts = append(p.texts, m.Text)
	p.mu.Unlock()
	_, _ = io.WriteString(w, "ok")
}

func (p *slackPeer) got() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.texts...)
}

func newDispatcher(t *testing.T, cfg Config, url, dir string, c *counts) *Dispatcher {
	ob, err := outbox.Open(dir, 100)
	require.NoError(t, err)
	out := &Output{Name: "slack", Sender: NewSlack(&http.Client{Timeout: time.Second}, url), Outbox: ob, Retry: fastRetry()}
	return New(cfg, []*Output{out}, c, zap.NewNop())
}

func TestDispatcherDeliversRetriesAndDedups(t *testing.T) {
	peer := &slackPeer{t: t}
	peer.fail.Store(2)
	srv := httptest.NewServer(peer)
	defer srv.Close()
	c := newCounts()
	d := newDispatcher(t, Config{Evidence: func(alert.Alert) string { return "fleetlogctl archive query" }}, srv.URL, t.TempDir(), c)
	d.Start()
	defer d.Shutdown()
	d.Enqueue([]alert.Alert{sample(alert.StatusFiring), sample(alert.StatusFiring)})
	d.Enqueue([]alert.Alert{sample(alert.StatusResolved)})
	require.Eventually(t, func() bool { return len(peer.got()) == 2 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{
		"[FIRING] auth_brute_force on edge-7: 20 matching records within 5m0s",
		"[RESOLVED] auth_brute_force on edge-7: 20 matching records within 5m0s",
	}, peer.got())
	// The peer has the message before the dispatcher has its answer.
	require.Eventually(t, func() bool { return c.get(c.sent, "slack") == 2 }, time.Second, 10*time.Millisecond)
	assert.Equal(t, 2, c.get(c.retried, "slack"))
	require.Eventually(t, func() bool { return c.get(c.queued, "slack") == 0 }, time.Second, 10*time.Millisecond)
}

func TestOutboxSurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "slack")
	c := newCounts()
	// The peer is down: nothing listens there.
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	d := newDispatcher(t, Config{}, downURL, dir, c)
	d.Start()
	d.Enqueue([]alert.Alert{sample(alert.StatusFiring)})
	require.Eventually(t, func() bool { return c.get(c.retried, "slack") > 0 }, 5*time.Second, 10*time.Millisecond)
	d.Shutdown()
	assert.Zero(t, c.get(c.sent, "slack"))

	peer := &slackPeer{t: t}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	d = newDispatcher(t, Config{}, srv.URL, dir, c)
	d.Start()
	defer d.Shutdown()
	require.Eventually(t, func() bool { return len(peer.got()) == 1 }, 5*time.Second, 10*time.Millisecond)
}

func TestPermanentFailureCounted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no_service", http.StatusNotFound)
	}))
	defer srv.Close()
	c := newCounts()
	d := newDispatcher(t, Config{}, srv.URL, t.TempDir(), c)
	d.Start()
	defer d.Shutdown()
	d.Enqueue([]alert.Alert{sample(alert.StatusFiring)})
	require.Eventually(t, func() bool { return c.get(c.failed, "slack") == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Zero(t, c.get(c.retried, "slack"))
}

func TestSilenceAndQueueBound(t *testing.T) {
	peer := &slackPeer{t: t}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	c := newCounts()
	d := newDispatcher(t, Config{QueueSize: 2, Silences: []Silence{{Matchers: map[string]string{"alertname": "auth_brute_force", "device.id": "edge-7"}}}}, srv.URL, t.TempDir(), c)
	// Not started: the queue fills.
	a := sample(alert.StatusFiring)
	b := a
	b.Labels = map[string]string{"alertname": "other"}
	b.Rule, b.Fingerprint = "other", "ffff"
	d.Enqueue([]alert.Alert{a, a, b})
	assert.Equal(t, 1, c.get(c.drop, "queue/queue_full"))
	d.Start()
	defer d.Shutdown()
	require.Eventually(t, func() bool { return len(peer.got()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, 1, c.get(c.silenced, ""))
	assert.Contains(t, peer.got()[0], "other")
}

func TestRepeat(t *testing.T) {
	peer := &slackPeer{t: t}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	c := newCounts()
	d := newDispatcher(t, Config{RepeatInterval: 100 * time.Millisecond}, srv.URL, t.TempDir(), c)
	d.Start()
	defer d.Shutdown()
	d.Enqueue([]alert.Alert{sample(alert.StatusFiring)})
	require.Eventually(t, func() bool { return len(peer.got()) >= 3 }, 5*time.Second, 10*time.Millisecond)
	d.Enqueue([]alert.Alert{sample(alert.StatusResolved)})
	require.Eventually(t, func() bool {
		g := peer.got()
		return strings.HasPrefix(g[len(g)-1], "[RESOLVED]")
	}, 5*time.Second, 10*time.Millisecond)
}

func TestRateLimit(t *testing.T) {
	peer := &slackPeer{t: t}
	srv := httptest.NewServer(peer)
	defer srv.Close()
	ob, err := outbox.Open(t.TempDir(), 100)
	require.NoError(t, err)
	c := newCounts()
	d := New(Config{}, []*Output{{Name: "slack", Sender: NewSlack(http.DefaultClient, srv.URL), Outbox: ob, PerMinute: 2}}, c, zap.NewNop())
	d.Start()
	defer d.Shutdown()
	var as []alert.Alert
	for _, fp := range []string{"a", "b", "c", "d"} {
		a := sample(alert.StatusFiring)
		a.Fingerprint = fp
		as = append(as, a)
	}
	d.Enqueue(as)
	require.Eventually(t, func() bool { return len(peer.got()) == 2 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	assert.Len(t, peer.got(), 2, "the rest wait in the outbox")
	assert.Equal(t, 2, ob.Len())
}
