package alert

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

func FuzzLiterals(f *testing.F) {
	f.Add("Failed password for root", "Failed password,ord,F,x,root")
	f.Add("aaaa", "aa,a,aaa,b")
	f.Fuzz(func(t *testing.T, body, pats string) {
		var l literals
		var idx []int
		for _, p := range strings.Split(pats, ",") {
			if p != "" {
				idx = append(idx, l.add(p))
			}
		}
		hit := make([]bool, len(l.pats))
		l.scan(body, hit)
		for _, i := range idx {
			assert.Equal(t, strings.Contains(body, l.pats[i]), hit[i], "%q in %q", l.pats[i], body)
		}
	})
}
