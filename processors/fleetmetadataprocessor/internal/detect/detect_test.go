package detect

import (
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testMachineID = "3d1219c7c4c5404aaa1f6d2a48adfda4"

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func hostname(name string) func() (string, error) {
	return func() (string, error) {
		if name == "" {
			return "", errors.New("no host name")
		}
		return name, nil
	}
}

func TestDetectDeviceIDFallbacks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	machineID := writeFile(t, dir, "machine-id", testMachineID+"\n")
	uninitialized := writeFile(t, dir, "machine-id-first-boot", "uninitialized\n")
	garbage := writeFile(t, dir, "machine-id-garbage", "not-an-id\n")
	uuid := writeFile(t, dir, "product_uuid", "4C4C4544-0042-3510-8052-B4C04F595931\n")
	zeroUUID := writeFile(t, dir, "product_uuid_zero", "00000000-0000-0000-0000-000000000000\n")
	missing := filepath.Join(dir, "missing")
	derived := AppSpecificID(mustHex(t, testMachineID))

	tests := []struct {
		name       string
		paths      Paths
		host       string
		wantID     string
		wantSource string
		problems   []string
	}{
		{name: "machine-id", paths: Paths{MachineID: machineID, ProductUUID: uuid}, host: "kiosk",
			wantID: derived, wantSource: SourceMachineID},
		{name: "missing machine-id falls back to DMI", paths: Paths{MachineID: missing, ProductUUID: uuid}, host: "kiosk",
			wantID: "4c4c4544-0042-3510-8052-b4c04f595931", wantSource: SourceProductUUID, problems: []string{"machine ID", "no such file"}},
		{name: "first boot falls back to DMI", paths: Paths{MachineID: uninitialized, ProductUUID: uuid},
			wantID: "4c4c4544-0042-3510-8052-b4c04f595931", wantSource: SourceProductUUID, problems: []string{"uninitialized"}},
		{name: "garbage machine-id and placeholder DMI fall back to host name", paths: Paths{MachineID: garbage, ProductUUID: zeroUUID}, host: "kiosk",
			wantID: "kiosk", wantSource: SourceHostName, problems: []string{ErrMachineIDInvalid.Error(), ErrProductUUIDInvalid.Error()}},
		{name: "nothing at all", paths: Paths{MachineID: missing, ProductUUID: missing},
			problems: []string{"machine ID", "DMI product UUID", "host name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := Detect(tt.paths, hostname(tt.host))
			assert.Equal(t, tt.wantID, r.DeviceID)
			assert.Equal(t, tt.wantSource, r.DeviceIDSource)
			assert.Equal(t, tt.host, r.HostName)
			joined := errors.Join(r.Problems...)
			for _, p := range tt.problems {
				require.Error(t, joined)
				assert.Contains(t, joined.Error(), p)
			}
			if tt.problems == nil && tt.wantSource == SourceMachineID {
				assert.Empty(t, r.Problems)
			}
		})
	}
}

func TestMachineIDIsNeverSentRaw(t *testing.T) {
	t.Parallel()
	id := AppSpecificID(mustHex(t, testMachineID))
	assert.Len(t, id, 32)
	assert.NotEqual(t, testMachineID, id)
	assert.Equal(t, id, AppSpecificID(mustHex(t, testMachineID)), "stable across restarts")
}

// systemd-id128 computes the same ID, so operators can look a device up.
func TestAppSpecificIDMatchesSystemd(t *testing.T) {
	t.Parallel()
	tool, err := exec.LookPath("systemd-id128")
	if err != nil {
		t.Skip("systemd-id128 not installed")
	}
	raw, err := os.ReadFile("/etc/machine-id")
	if err != nil {
		t.Skip("no /etc/machine-id")
	}
	out, err := exec.Command(tool, "machine-id", "--app-specific="+appID).Output()
	require.NoError(t, err)
	assert.Equal(t, strings.TrimSpace(string(out)), AppSpecificID(mustHex(t, strings.TrimSpace(string(raw)))))
}

func TestDetectOSRelease(t *testing.T) {
	t.Parallel()
	r := Detect(Paths{OSRelease: filepath.Join("testdata", "os-release")}, hostname("h"))
	assert.Equal(t, "12", r.OSVersion)
	assert.Equal(t, osType, r.OSType)

	r = Detect(Paths{OSRelease: filepath.Join(t.TempDir(), "missing")}, hostname("h"))
	assert.Empty(t, r.OSVersion)
	assert.ErrorContains(t, errors.Join(r.Problems...), "os-release")
}

func TestParseOSRelease(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "os-release"))
	require.NoError(t, err)
	defer f.Close()
	rel, err := ParseOSRelease(f)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)",
		"NAME":        "Debian GNU/Linux",
		"VERSION_ID":  "12",
		"VERSION":     "12 (bookworm)",
		"ID":          "debian",
		"HOME_URL":    "https://www.debian.org/",
		"VARIANT":     `Kiosk "edge" build`,
	}, rel)
}

func FuzzParseOSRelease(f *testing.F) {
	seed, err := os.ReadFile(filepath.Join("testdata", "os-release"))
	require.NoError(f, err)
	for _, s := range []string{string(seed), "", "A=", "A=\"", "A=\"\\\"", "=x", "A='b'\nB=\"c\\$d\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rel, err := ParseOSRelease(strings.NewReader(in))
		if err != nil {
			return
		}
		for k := range rel {
			if k == "" || strings.ContainsAny(k, "=\n") {
				t.Fatalf("bad key %q", k)
			}
		}
	})
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}
