package alert

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const concurrentRules = `rules:
  - {name: brute, type: threshold, count: 5, window: 1h, match: {body_contains: ["Failed password"]}}
  - {name: oom, type: match, match: {body_contains: ["Out of memory"]}}
  - {name: fw, type: change, attribute: firmware}
  - {name: silent, type: absence, for: 1m}
`

// Batches observed concurrently give the alerts the same batches give one
// after the other: selection runs outside the lock, state under it.
func TestConcurrentObserveMatchesSerial(t *testing.T) {
	batch := func(dev int) func(func(*Record) bool) {
		var rs []*Record
		for i := range 20 {
			body := "Accepted password"
			switch i % 7 {
			case 0:
				body = "Failed password for root"
			case 3:
				body = "Out of memory: killed process"
			}
			rs = append(rs, rec(body, "device.id", fmt.Sprintf("d%d", dev), "firmware", fmt.Sprintf("v%d", i/10)))
		}
		return one(rs...)
	}
	count := func(as []Alert) map[string]int {
		m := map[string]int{}
		for _, a := range as {
			m[a.Rule+"/"+a.Device+"/"+string(a.Status)]++
		}
		return m
	}
	serial := engine(t, concurrentRules)
	var want []Alert
	for dev := range 8 {
		want = append(want, serial.Observe(t0, batch(dev))...)
	}

	conc := engine(t, concurrentRules)
	var (
		mu  sync.Mutex
		got []Alert
		wg  sync.WaitGroup
	)
	for dev := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			as := conc.Observe(t0, batch(dev))
			mu.Lock()
			got = append(got, as...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	assert.Equal(t, count(want), count(got))
	assert.Equal(t, serial.Stats(), conc.Stats())
	assert.Equal(t, serial.TakeCounts(), conc.TakeCounts())
}

// Reloading while batches are observed is safe (run with -race) and every
// batch is evaluated against one rule set.
func TestObserveDuringReload(t *testing.T) {
	e := engine(t, concurrentRules)
	rulesA, err := Parse([]byte(concurrentRules))
	require.NoError(t, err)
	rulesB, err := Parse([]byte(`rules: [{name: oom, type: match, match: {body_contains: ["Out of memory", "oom-killer"]}}]`))
	require.NoError(t, err)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e.Observe(t0.Add(time.Duration(i)*time.Second), one(
					rec("Out of memory: killed process", "device.id", fmt.Sprintf("w%d", w)),
					rec("Failed password for root", "device.id", fmt.Sprintf("w%d", w)),
				))
			}
		}()
	}
	for i := range 50 {
		rules := rulesA
		if i%2 == 1 {
			rules = rulesB
		}
		_, err := e.Reload(rules, t0)
		require.NoError(t, err)
	}
	close(stop)
	wg.Wait()
	assert.Positive(t, e.Stats().Records)
}
