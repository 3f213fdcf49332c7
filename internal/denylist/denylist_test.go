package denylist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{name: "empty", in: "", want: nil},
		{name: "one per line", in: "atm-1\natm-2\n", want: []string{"atm-1", "atm-2"}},
		{name: "comments and blanks", in: "# lost 2026-11-02\n\natm-1  # stolen\n   \n\tatm-2\t\n", want: []string{"atm-1", "atm-2"}},
		{name: "no trailing newline", in: "atm-1", want: []string{"atm-1"}},
		{name: "CRLF", in: "atm-1\r\natm-2\r\n", want: []string{"atm-1", "atm-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			set, err := Parse(strings.NewReader(tt.in))
			require.NoError(t, err)
			assert.Len(t, set, len(tt.want))
			for _, id := range tt.want {
				assert.True(t, set.Contains(id), id)
			}
		})
	}
}

func TestParseRejectsHugeLine(t *testing.T) {
	t.Parallel()
	_, err := Parse(strings.NewReader(strings.Repeat("x", maxLineBytes+1)))
	require.Error(t, err)
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	set, found, err := Load(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	assert.False(t, found)
	assert.Empty(t, set)

	path := filepath.Join(dir, "denied")
	require.NoError(t, os.WriteFile(path, []byte("atm-7\n"), 0o600))
	set, found, err = Load(path)
	require.NoError(t, err)
	assert.True(t, found)
	assert.True(t, set.Contains("atm-7"))

	_, _, err = Load(dir) // a directory is not a list
	require.Error(t, err)
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{"", "atm-1\n", "# c\natm-2 # x\n", "\r\n\t#\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		set, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for id := range set {
			if id == "" || strings.ContainsAny(id, "#\n") || strings.TrimSpace(id) != id {
				t.Fatalf("bad entry %q from %q", id, in)
			}
		}
	})
}
