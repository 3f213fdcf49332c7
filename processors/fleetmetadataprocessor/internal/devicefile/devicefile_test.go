package devicefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadYAMLAndJSON(t *testing.T) {
	t.Parallel()
	want := Device{
		ID: "atm-0042", Fleet: "atms", Site: "branch-7", Region: "eu-west", Environment: "production",
		Model: "ATM-9000", FirmwareVersion: "4.10", Labels: map[string]string{"rack": "a3", "owner": "branch-ops"},
	}
	for _, name := range []string{"device.yaml", "device.json"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d, found, err := Load(filepath.Join("testdata", name))
			require.NoError(t, err)
			assert.True(t, found)
			assert.Equal(t, want, d)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	d, found, err := Load(filepath.Join(dir, "missing.yaml"))
	require.NoError(t, err)
	assert.False(t, found)
	assert.Equal(t, Device{}, d)

	tests := []struct {
		name, content, wantErr string
	}{
		{name: "unknown key", content: "id: a\nfleeet: typo\n", wantErr: "field fleeet not found"},
		{name: "not a mapping", content: "- a\n- b\n", wantErr: "parse device file"},
		{name: "labels not a map", content: "labels: [a]\n", wantErr: "parse device file"},
		{name: "too large", content: "id: a\n#" + strings.Repeat("x", maxFileBytes), wantErr: ErrTooLarge.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			_, found, err := Load(path)
			assert.True(t, found)
			require.ErrorContains(t, err, tt.wantErr)
			assert.Contains(t, err.Error(), path, "the error names the file")
		})
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	d, err := Parse(nil)
	require.NoError(t, err)
	assert.Equal(t, Device{}, d)
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"device.yaml", "device.json"} {
		seed, err := os.ReadFile(filepath.Join("testdata", name))
		require.NoError(f, err)
		f.Add(seed)
	}
	f.Add([]byte("id: [\n"))
	f.Fuzz(func(_ *testing.T, in []byte) {
		_, _ = Parse(in) // must not panic
	})
}
