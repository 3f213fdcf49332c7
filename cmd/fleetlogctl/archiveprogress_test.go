package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/archive"
)

// runWithStreams runs fleetlogctl with the given stdout and stderr.
func runWithStreams(t *testing.T, stdout, stderr *os.File, args ...string) error {
	t.Helper()
	cmd := newRootCmd()
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	cmd.SetArgs(args)
	return cmd.Execute()
}

func TestArchiveQueryCount(t *testing.T) {
	dir, _ := writeArchive(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "all", want: "2\n"},
		{name: "device", args: []string{"--device", "atm-2"}, want: "1\n"},
		{name: "none", args: []string{"--device", "atm-9"}, want: "0\n"},
		{name: "text output ignored", args: []string{"--contains", "door", "-o", "text"}, want: "2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(t, append([]string{"archive", "query", "--dir", dir, "--count"}, tt.args...)...)
			require.NoError(t, err)
			assert.Equal(t, tt.want, out)
		})
	}
}

// Piped stderr (and stdout) never carry the progress bar.
func TestArchiveQueryNoProgressWhenPiped(t *testing.T) {
	dir, _ := writeArchive(t)
	for _, args := range [][]string{{"--count"}, {"--device", "atm-1"}} {
		outR, outW, err := os.Pipe()
		require.NoError(t, err)
		errR, errW, err := os.Pipe()
		require.NoError(t, err)
		require.NoError(t, runWithStreams(t, outW, errW, append([]string{"archive", "query", "--dir", dir}, args...)...))
		require.NoError(t, outW.Close())
		require.NoError(t, errW.Close())
		var stdout, stderr bytes.Buffer
		_, err = stdout.ReadFrom(outR)
		require.NoError(t, err)
		_, err = stderr.ReadFrom(errR)
		require.NoError(t, err)
		assert.Empty(t, stderr.String(), args)
		assert.NotContains(t, stdout.String(), "segments", args)
		assert.NotContains(t, stdout.String(), "\r", args)
	}
}

func TestRenderProgress(t *testing.T) {
	p := archive.QueryProgress{Done: 360, Total: 720, Stats: archive.QueryStats{Skipped: 300, Records: 12_345_678, Matched: 1234}}
	assert.Equal(t, "[###############...............] 360/720 segments (300 skipped), 12.3M records read, 1234 matched", renderProgress(p))

	var buf bytes.Buffer
	bar := &progressBar{w: &buf, every: 1 << 62}
	bar.update(archive.QueryProgress{Done: 1, Total: 3})
	bar.update(archive.QueryProgress{Done: 2, Total: 3}) // too soon: not drawn
	bar.update(archive.QueryProgress{Done: 3, Total: 3}) // the last: always drawn
	bar.clear()
	lines := strings.Split(buf.String(), "\r")
	require.Len(t, lines, 4)
	assert.Contains(t, lines[1], "1/3 segments")
	assert.Contains(t, lines[2], "3/3 segments")
	assert.Equal(t, "\033[K", lines[3])
}
