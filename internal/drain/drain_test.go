package drain

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

func TestTokensMask(t *testing.T) {
	got := Tokens(nil, "Failed password for root from 10.0.0.1 port 2201 ssh2\t")
	assert.Equal(t, []string{"Failed", "password", "for", "root", "from", Wildcard, "port", Wildcard, Wildcard}, got)
	assert.Empty(t, Tokens(nil, "   "))
}

func TestMinerMergesAndCreates(t *testing.T) {
	m := New(Config{})
	a, isNew := m.Add("Accepted password for alice from 10.0.0.1 port 22")
	require.True(t, isNew)
	b, isNew := m.Add("Accepted password for bob from 10.0.0.2 port 23")
	assert.False(t, isNew)
	assert.Same(t, a, b)
	assert.Equal(t, "Accepted password for <*> from <*> port <*>", a.String())
	assert.EqualValues(t, 2, a.Count)
	c, isNew := m.Add("Connection closed by 10.0.0.3")
	assert.True(t, isNew)
	assert.NotEqual(t, a.ID, c.ID)
	assert.Same(t, a, m.Match("Accepted password for carol from 10.1.1.1 port 2"))
	assert.Nil(t, m.Match("kernel panic"))
	assert.Equal(t, 2, m.Len())
}

func TestMinerBounded(t *testing.T) {
	m := New(Config{MaxTemplates: 3})
	for i := range 10 {
		m.Add(fmt.Sprintf("event%c happened", 'a'+i))
	}
	assert.Equal(t, 3, m.Len())
	assert.True(t, m.Full())
	tpl, isNew := m.Add("something else entirely here")
	assert.Nil(t, tpl)
	assert.False(t, isNew)
	tpl, _ = m.Add("eventa happened")
	assert.NotNil(t, tpl, "a known template still matches when full")
}

func TestMaxChildren(t *testing.T) {
	m := New(Config{MaxChildren: 3})
	for i := range 20 {
		m.Add(fmt.Sprintf("w%c x y", 'a'+i))
	}
	// The root's children for 3-token lines are at most MaxChildren.
	assert.LessOrEqual(t, len(m.root[3].children), 3)
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		err  error
	}{
		{"defaults", Config{}, nil},
		{"shallow", Config{Depth: 2}, ErrDepth},
		{"similarity", Config{Similarity: 1.5}, ErrSimilarity},
		{"templates", Config{MaxTemplates: -1}, ErrMaxTemplates},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.WithDefaults().Validate()
			if tt.err == nil {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, tt.err)
			}
		})
	}
}

// realLookingLine is one of a few dozen sshd, kernel and app shapes with
// varying users, addresses, ports, pids and ids.
func realLookingLine(i int) string {
	users := []string{"root", "admin", "pi", "ubuntu", "oracle", "test", "git", "deploy"}
	switch i % 12 {
	case 0:
		return fmt.Sprintf("Failed password for %s from 10.%d.%d.%d port %d ssh2", users[i%8], i%250, i%7, i%200, 1024+i%60000)
	case 1:
		return fmt.Sprintf("Accepted publickey for %s from 192.168.%d.%d port %d ssh2: RSA SHA256:%x", users[i%8], i%250, i%200, 1024+i%60000, i*7919)
	case 2:
		return fmt.Sprintf("pam_unix(sshd:session): session opened for user %s by (uid=%d)", users[i%8], i%1000)
	case 3:
		return fmt.Sprintf("Out of memory: Killed process %d (java) total-vm:%dkB, anon-rss:%dkB", i, i*4, i*2)
	case 4:
		return fmt.Sprintf("GET /api/v1/devices/%d/status HTTP/1.1 200 %d %dms", i, i%5000, i%900)
	case 5:
		return fmt.Sprintf("Received block blk_%d of size %d from /10.250.%d.%d", i*31, 67108864-i%100, i%250, i%200)
	case 6:
		return fmt.Sprintf("Invalid user %s from 203.0.113.%d", users[(i/3)%8], i%250)
	case 7:
		return fmt.Sprintf("Connection closed by authenticating user %s 198.51.100.%d port %d [preauth]", users[i%8], i%250, i%65000)
	case 8:
		return fmt.Sprintf("kernel: usb %d-%d: new high-speed USB device number %d using ehci-pci", i%4, i%8, i%128)
	case 9:
		return fmt.Sprintf("systemd[1]: Started Session %d of user %s.", i, users[i%8])
	case 10:
		return fmt.Sprintf("worker %s finished job %x in %d ms with status ok", users[i%8], i*2654435761, i%10000)
	default:
		return fmt.Sprintf("CRON[%d]: (root) CMD (run-parts /etc/cron.hourly)", i)
	}
}

// BenchmarkMinerMillionLines mines 1M real-looking lines and reports the
// heap the miner holds afterwards (bytes_held) and its templates.
func BenchmarkMinerMillionLines(b *testing.B) {
	const lines = 1_000_000
	input := make([]string, 4096)
	for i := range input {
		input[i] = realLookingLine(i * 7)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := New(Config{})
		for i := range lines {
			// Vary numbers beyond the pre-built set without allocating per line.
			if i%4096 == 0 && i > 0 {
				input[i%4096] = realLookingLine(i)
			}
			m.Add(input[i%4096])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "bytes_held")
		b.ReportMetric(float64(m.Len()), "templates")
		runtime.KeepAlive(m)
	}
	b.ReportMetric(float64(lines), "lines/op")
}

// BenchmarkMinerLoghubMillion mines the contents of every loghub 2k sample
// (32k lines of 16 systems), cycled to 1M lines, into one miner with the
// default cap: the memory of a fleet whose logs hold every one of them.
func BenchmarkMinerLoghubMillion(b *testing.B) {
	dir := loghub.Require(b)
	systems, err := loghub.Systems(dir)
	require.NoError(b, err)
	var input []string
	for _, sys := range systems {
		rows, err := loghub.ReadStructured(dir, sys)
		require.NoError(b, err)
		for _, r := range rows {
			input = append(input, r.Content)
		}
	}
	const lines = 1_000_000
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m := New(Config{})
		for i := range lines {
			m.Add(input[i%len(input)])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "bytes_held")
		b.ReportMetric(float64(m.Len()), "templates")
		runtime.KeepAlive(m)
	}
	b.ReportMetric(float64(lines), "lines/op")
}
