package fleetmetadataprocessor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/fleetlog/fleetlog/internal/fleetattr"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/detect"
	"github.com/fleetlog/fleetlog/processors/fleetmetadataprocessor/internal/metadata"
)

const testMachineID = "3d1219c7c4c5404aaa1f6d2a48adfda4"

// agentEnv is a fake environment: tests must not depend on, or change, the
// process's own.
func agentEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func fixedHost(string) func() (string, error) {
	return func() (string, error) { return "kiosk-host", nil }
}

// testPaths points detection at files in a temp dir; an empty machineID
// leaves the file out.
func testPaths(t *testing.T, machineID string) DetectionConfig {
	t.Helper()
	dir := t.TempDir()
	cfg := DetectionConfig{
		MachineIDFile:   filepath.Join(dir, "machine-id"),
		ProductUUIDFile: filepath.Join(dir, "product_uuid"),
		OSReleaseFile:   filepath.Join(dir, "os-release"),
	}
	if machineID != "" {
		require.NoError(t, os.WriteFile(cfg.MachineIDFile, []byte(machineID+"\n"), 0o600))
	}
	require.NoError(t, os.WriteFile(cfg.OSReleaseFile, []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o600))
	return cfg
}

// startAgent builds and starts an agent-mode processor directly, with a fake
// environment.
func startAgent(t *testing.T, cfg *Config, env map[string]string) (*agentProcessor, error) {
	t.Helper()
	set := processortest.NewNopSettings(metadata.Type)
	set.BuildInfo.Version = "1.2.3"
	p := newAgentProcessor(cfg, set, agentEnv(env), fixedHost(""))
	err := p.start(context.Background(), componenttest.NewNopHost())
	t.Cleanup(func() { require.NoError(t, p.shutdown(context.Background())) })
	return p, err
}

// oneResource returns logs with one resource holding attrs.
func oneResource(attrs map[string]any) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	_ = rl.Resource().Attributes().FromRaw(attrs)
	rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr("line")
	return ld
}

func resourceAttrs(t *testing.T, ld plog.Logs, i int) map[string]any {
	t.Helper()
	require.Greater(t, ld.ResourceLogs().Len(), i)
	return ld.ResourceLogs().At(i).Resource().Attributes().AsRaw()
}

func stampOnce(t *testing.T, p *agentProcessor, attrs map[string]any) map[string]any {
	t.Helper()
	ld, err := p.processLogs(context.Background(), oneResource(attrs))
	require.NoError(t, err)
	return resourceAttrs(t, ld, 0)
}

func writeDeviceFile(t *testing.T, path, content string) {
	t.Helper()
	// Write and rename, as provisioning tools do, so a poll never sees half a file.
	tmp := path + ".tmp"
	require.NoError(t, os.WriteFile(tmp, []byte(content), 0o600))
	require.NoError(t, os.Rename(tmp, path))
}

func TestAgentSourcePrecedence(t *testing.T) {
	t.Parallel()
	derived := detect.AppSpecificID([]byte{0x3d, 0x12, 0x19, 0xc7, 0xc4, 0xc5, 0x40, 0x4a, 0xaa, 0x1f, 0x6d, 0x2a, 0x48, 0xad, 0xfd, 0xa4})
	fileContent := "id: file-id\nfleet: file-fleet\nsite: file-site\nregion: file-region\nmodel: M-9\nlabels: {rack: a3, owner: file}\n"
	env := map[string]string{
		"FLEETLOG_DEVICE_ID":        "env-id",
		"FLEETLOG_FLEET":            "env-fleet",
		"FLEETLOG_FIRMWARE_VERSION": "4.10",
		"FLEETLOG_LABELS":           "owner=env, tier=gold",
	}
	tests := []struct {
		name   string
		static DeviceConfig
		labels map[string]string
		env    map[string]string
		file   string
		want   map[string]any
	}{
		{
			name: "detection only", env: map[string]string{},
			want: map[string]any{fleetattr.DeviceID: derived},
		},
		{
			name: "device file over detection", env: map[string]string{}, file: fileContent,
			want: map[string]any{fleetattr.DeviceID: "file-id", fleetattr.FleetName: "file-fleet", fleetattr.DeviceModel: "M-9",
				fleetattr.LabelPrefix + "rack": "a3", fleetattr.LabelPrefix + "owner": "file"},
		},
		{
			name: "environment over device file", env: env, file: fileContent,
			want: map[string]any{fleetattr.DeviceID: "env-id", fleetattr.FleetName: "env-fleet", fleetattr.FleetSite: "file-site",
				fleetattr.DeviceFirmwareVersion: "4.10", fleetattr.LabelPrefix + "owner": "env", fleetattr.LabelPrefix + "tier": "gold",
				fleetattr.LabelPrefix + "rack": "a3"},
		},
		{
			name: "config over environment", env: env, file: fileContent,
			static: DeviceConfig{ID: "cfg-id", Region: "cfg-region"}, labels: map[string]string{"owner": "cfg"},
			want: map[string]any{fleetattr.DeviceID: "cfg-id", fleetattr.FleetName: "env-fleet", fleetattr.FleetRegion: "cfg-region",
				fleetattr.FleetSite: "file-site", fleetattr.LabelPrefix + "owner": "cfg"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := createDefaultConfig()
			cfg.Detection = testPaths(t, testMachineID)
			cfg.Device, cfg.Labels = tt.static, tt.labels
			if tt.file != "" {
				cfg.DeviceFile.Path = filepath.Join(t.TempDir(), "device.yaml")
				writeDeviceFile(t, cfg.DeviceFile.Path, tt.file)
			}
			p, err := startAgent(t, cfg, tt.env)
			require.NoError(t, err)
			got := stampOnce(t, p, nil)
			for k, v := range tt.want {
				assert.Equal(t, v, got[k], k)
			}
			// Detection supplies these whatever the other sources say.
			assert.Equal(t, "kiosk-host", got[fleetattr.HostName])
			assert.Equal(t, "linux", got[fleetattr.OSType])
			assert.Equal(t, "12", got[fleetattr.OSVersion])
			assert.Equal(t, "1.2.3", got[fleetattr.AgentVersion])
		})
	}
}

func TestAgentOverride(t *testing.T) {
	t.Parallel()
	for _, override := range []bool{true, false} {
		cfg := createDefaultConfig()
		cfg.Detection = testPaths(t, testMachineID)
		cfg.Device.ID = "cfg-id"
		cfg.Override = override
		p, err := startAgent(t, cfg, nil)
		require.NoError(t, err)
		got := stampOnce(t, p, map[string]any{fleetattr.DeviceID: "app-set", "service.name": "pos"})
		want := "app-set"
		if override {
			want = "cfg-id"
		}
		assert.Equal(t, want, got[fleetattr.DeviceID], "override=%v", override)
		assert.Equal(t, "pos", got["service.name"], "unrelated attributes are kept")
		assert.Equal(t, "kiosk-host", got[fleetattr.HostName], "missing attributes are always added")
	}
}

func TestAgentDeviceFileReload(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.Detection = testPaths(t, testMachineID)
	cfg.DeviceFile = DeviceFileConfig{Path: filepath.Join(t.TempDir(), "device.yaml"), CheckInterval: 5 * time.Millisecond}
	// The file does not exist yet at start: detection supplies device.id.
	p, err := startAgent(t, cfg, nil)
	require.NoError(t, err)
	assert.Len(t, stampOnce(t, p, nil)[fleetattr.DeviceID], 32)

	waitFor := func(key, want string) {
		t.Helper()
		require.Eventually(t, func() bool {
			return stampOnce(t, p, nil)[key] == want
		}, 5*time.Second, 5*time.Millisecond, "%s never became %q", key, want)
	}
	writeDeviceFile(t, cfg.DeviceFile.Path, "id: atm-0042\nsite: branch-7\n")
	waitFor(fleetattr.DeviceID, "atm-0042")
	writeDeviceFile(t, cfg.DeviceFile.Path, `{"id": "atm-0042", "site": "branch-9"}`)
	waitFor(fleetattr.FleetSite, "branch-9")

	// A broken file keeps the previous values.
	writeDeviceFile(t, cfg.DeviceFile.Path, "id: [unterminated\n")
	time.Sleep(50 * time.Millisecond)
	assert.Equal(t, "branch-9", stampOnce(t, p, nil)[fleetattr.FleetSite])
}

func TestAgentDeviceIDFallback(t *testing.T) {
	t.Parallel()

	t.Run("missing machine-id falls back to the host name", func(t *testing.T) {
		t.Parallel()
		cfg := createDefaultConfig()
		cfg.Detection = testPaths(t, "")
		p, err := startAgent(t, cfg, nil)
		require.NoError(t, err)
		assert.Equal(t, "kiosk-host", stampOnce(t, p, nil)[fleetattr.DeviceID])
	})

	t.Run("no source at all is a clear error", func(t *testing.T) {
		t.Parallel()
		cfg := createDefaultConfig()
		cfg.Detection = testPaths(t, "")
		set := processortest.NewNopSettings(metadata.Type)
		p := newAgentProcessor(cfg, set, agentEnv(nil), func() (string, error) { return "", errors.New("no uts") })
		err := p.start(context.Background(), componenttest.NewNopHost())
		require.ErrorIs(t, err, ErrNoDeviceID)
		assert.ErrorContains(t, err, "FLEETLOG_DEVICE_ID")
		assert.ErrorContains(t, err, "machine ID", "the error says why detection failed")
		require.NoError(t, p.shutdown(context.Background()))
	})
}

func TestAgentStartErrors(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.Detection = testPaths(t, testMachineID)
	_, err := startAgent(t, cfg, map[string]string{"FLEETLOG_LABELS": "ok=1,broken"})
	require.ErrorIs(t, err, ErrEnvLabels)

	cfg = createDefaultConfig()
	cfg.Detection = testPaths(t, testMachineID)
	cfg.DeviceFile.Path = filepath.Join(t.TempDir(), "device.yaml")
	writeDeviceFile(t, cfg.DeviceFile.Path, "fleeet: typo\n")
	_, err = startAgent(t, cfg, nil)
	require.ErrorContains(t, err, cfg.DeviceFile.Path)
}

func TestAgentStampsEveryResource(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig()
	cfg.Detection = testPaths(t, testMachineID)
	cfg.Device.ID = "atm-1"
	p, err := startAgent(t, cfg, nil)
	require.NoError(t, err)
	ld := plog.NewLogs()
	for range 3 {
		ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	}
	ld, err = p.processLogs(context.Background(), ld)
	require.NoError(t, err)
	for i := range 3 {
		v, ok := ld.ResourceLogs().At(i).Resource().Attributes().Get(fleetattr.DeviceID)
		require.True(t, ok)
		assert.Equal(t, pcommon.ValueTypeStr, v.Type())
		assert.Equal(t, "atm-1", v.Str())
	}
}
