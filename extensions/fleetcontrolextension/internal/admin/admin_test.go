package admin

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/registry"
	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/store"
	"github.com/fleetlog/fleetlog/internal/fleetapi"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/internal/pki"
)

// knownFleet is a registry with three ATMs (one of them degraded, one
// silent) and a kiosk. The page handler is served in-process over loopback
// HTTP: the admin listener's mutual TLS is tested in the extension's tests,
// and headless Chromium has no certificate store to present an operator
// certificate from.
func knownFleet(t *testing.T) (*httptest.Server, time.Time) {
	t.Helper()
	st, err := store.Open(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	clock := now.Add(-5 * time.Minute)
	reg, err := registry.Open(st, registry.Options{
		Thresholds: registry.Thresholds{SilentAfter: 90 * time.Second, SpoolFillRatio: 0.8, AckAge: 5 * time.Minute, LossWindow: 10 * time.Minute},
		Now:        func() time.Time { return clock },
	})
	require.NoError(t, err)
	report := func(id, fleet, site string, s *fleetproto.Status) {
		_, err := reg.Report(&registry.Report{
			Identity: pki.DeviceIdentity{DeviceID: id, Fleet: fleet, Site: site}, Described: true,
			Claimed: fleetapi.Claims{DeviceID: id}, Version: "0.1.0", Status: s,
		})
		require.NoError(t, err)
	}
	report("atm-0003", "atms", "branch-2", &fleetproto.Status{AgentTime: clock, Spool: &fleetproto.SpoolStatus{}})
	clock = now.Add(-10 * time.Second)
	report("atm-0001", "atms", "branch-1", &fleetproto.Status{AgentTime: clock, Version: "0.1.0", Spool: &fleetproto.SpoolStatus{Bytes: 4096, Records: 12, OldestAgeSeconds: 2},
		Files: []fleetproto.FileStatus{{Path: "/var/log/atm/journal.log", Size: 10240, Offset: 8192, LagBytes: 2048}}})
	report("atm-0002", "atms", "branch-1", &fleetproto.Status{AgentTime: clock, Version: "0.1.0", Spool: &fleetproto.SpoolStatus{Bytes: 900 << 20, MaxBytes: 1 << 30, Records: 250000, OldestAgeSeconds: 3600}})
	report("kiosk-0001", "kiosks", "mall-3", &fleetproto.Status{AgentTime: clock, Spool: &fleetproto.SpoolStatus{}})
	clock = now
	srv := httptest.NewServer(New(reg, nil, func() time.Time { return now }))
	t.Cleanup(srv.Close)
	return srv, now
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func TestFleetPageHTML(t *testing.T) {
	t.Parallel()
	srv, _ := knownFleet(t)
	code, body := get(t, srv.URL+"/fleet?fleet=atms")
	require.Equal(t, http.StatusOK, code)
	for _, want := range []string{`data-device="atm-0001"`, `data-device="atm-0002"`, `data-device="atm-0003"`, "spool 88% full", "2.0 KiB", ">silent<"} {
		assert.Contains(t, body, want)
	}
	assert.NotContains(t, body, "kiosk-0001", "the fleet filter")
	_, body = get(t, srv.URL+"/fleet?state=degraded")
	assert.Contains(t, body, "atm-0002")
	assert.NotContains(t, body, `data-device="atm-0001"`)
	code, body = get(t, srv.URL+"/fleet/devices/atm-0001")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, "/var/log/atm/journal.log")
	code, _ = get(t, srv.URL+"/fleet/devices/nope")
	assert.Equal(t, http.StatusNotFound, code)
	code, body = get(t, srv.URL+"/api/v1/devices?state=silent")
	assert.Equal(t, http.StatusOK, code)
	assert.Contains(t, body, `"id": "atm-0003"`)
}

// TestFleetPageInChromium loads the fleet page in headless Chromium (Debian's
// chromium, installed by .ci/run), checks what the rendered DOM shows for the
// ATM fleet, and keeps a screenshot in $FLEETLOG_TEST_ARTIFACTS (or the
// test's temporary directory), printing its path.
func TestFleetPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (.ci/run installs Debian's chromium package)")
	}
	srv, _ := knownFleet(t)
	profile := t.TempDir()
	chromium := func(args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile}
		out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
		require.NoError(t, err, "chromium %v", args)
		return string(out)
	}
	dom := chromium("--dump-dom", srv.URL+"/fleet?fleet=atms")
	for _, want := range []string{`data-device="atm-0001"`, `data-device="atm-0002"`, `data-device="atm-0003"`, "spool 88% full", `class="state silent"`} {
		assert.Contains(t, dom, want)
	}
	assert.NotContains(t, dom, "kiosk-0001")
	assert.Regexp(t, `state healthy">healthy</span> 1</span>`, dom, "the ATM fleet counts one healthy device")

	dir := os.Getenv("FLEETLOG_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "fleet-page.png")
	chromium("--screenshot="+shot, "--window-size=1400,700", "--hide-scrollbars", srv.URL+"/fleet?fleet=atms")
	b, err := os.ReadFile(shot)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(b), "\x89PNG"), "a PNG")
	t.Logf("screenshot of the fleet page: %s (%d bytes)", shot, len(b))
}
