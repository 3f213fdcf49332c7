package edgeruntimeextension

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSmapsPicksOnlyTheBinarysFilePages(t *testing.T) {
	t.Parallel()
	maps := smaps(t, "testdata/smaps")
	require.Len(t, maps, 9)

	const exe = "/usr/bin/fleetlog-agent"
	tests := []struct {
		name string
		m    mapping
		want bool
	}{
		{"code", maps[0], true},
		{"constant data", maps[1], true},
		{"writable data", maps[2], false},
		{"read-only but relocated (PIE RELRO)", maps[3], false},
		{"heap", maps[4], false},
		{"another file", maps[5], false},
		{"read-only with copies swapped out", maps[7], false},
		{"stack", maps[8], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.m.releasable(exe))
		})
	}
	assert.Equal(t, mapping{start: 0x400000, end: 0x157c000, perms: "r-xp", path: exe, rss: 13168 << 10}, maps[0])
	assert.Equal(t, int64(64<<10), maps[3].anon)
	assert.True(t, maps[6].releasable("/opt/old build/fleetlog-agent"), "a replaced binary is still matched by its path")
}

func TestParseSmapsRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"zzzz-0000 r-xp 0 0 0 /x\n", "00400000 r-xp\n", "2000-1000 r-xp 0 fe:00 1 /x\n"} {
		_, err := parseSmaps(stringsReader(in))
		assert.Error(t, err, "%q", in)
	}
}

// TestReleaseBinaryPagesOfThisProcess drops this test binary's own code and
// constant-data mappings, then keeps running code: the pages come back from
// the page cache on their next use.
func TestReleaseBinaryPagesOfThisProcess(t *testing.T) {
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	before := exeRSS(t, exe)
	require.Positive(t, before)

	released, err := releaseBinaryPages()
	require.NoError(t, err)
	assert.Positive(t, released)
	after := exeRSS(t, exe)
	assert.Less(t, after, before, "the binary's resident pages went down")

	// Code runs on after the release: parse the fixture again.
	assert.Len(t, smaps(t, "testdata/smaps"), 9)
	assert.Positive(t, residentBytes())
}

// exeRSS is the resident size of this process's read-only mappings of exe.
func exeRSS(t *testing.T, exe string) int64 {
	t.Helper()
	var rss int64
	for _, m := range smaps(t, "/proc/self/smaps") {
		if m.releasable(exe) {
			rss += m.rss
		}
	}
	return rss
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// smaps parses the smaps file at path.
func smaps(t *testing.T, path string) []mapping {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	maps, err := parseSmaps(f)
	require.NoError(t, err)
	return maps
}
