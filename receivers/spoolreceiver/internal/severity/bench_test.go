package severity

import (
	"testing"

	"github.com/fleetlog/fleetlog/internal/loghub"
)

// BenchmarkSniff measures one line of each shape: the level early (the
// common case), late (BGL), as a JSON key, and absent, which scans the whole
// window.
func BenchmarkSniff(b *testing.B) {
	for _, bm := range []struct{ name, line string }{
		{"early", "2026-11-25T00:00:00.000Z INFO request 0000001 served path=/api/v1/things status=200 duration=3ms"},
		{"json", `{"ts":"2026-11-25T00:00:00.000Z","level":"info","msg":"request served","path":"/api/v1/things"}`},
		{"late", "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected"},
		{"none", "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4"},
	} {
		line := []byte(bm.line)
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				Sniff(line)
			}
		})
	}
}

// BenchmarkSniffLoghub runs Sniff over every line of Loghub-2k (32,000 real
// lines of 16 systems) and reports the cost per line.
func BenchmarkSniffLoghub(b *testing.B) {
	all, err := loghub.AllLines(loghub.Require(b))
	if err != nil {
		b.Fatal(err)
	}
	lines := make([][]byte, len(all))
	for i, l := range all {
		lines[i] = []byte(l)
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			Sniff(l)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(lines)), "ns/line")
}
