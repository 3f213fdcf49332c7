package fleetcontrolextension

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/fleetlog/fleetlog/extensions/fleetcontrolextension/internal/metadata"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

func TestWitnesses(t *testing.T) {
	p := newFleetPKI(t)
	addr := freeAddr(t)
	cfg := testConfig(t, p, addr)
	ext, err := NewFactory().Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	w := ext.(fleetproto.CheckpointWitnesses)
	assert.False(t, w.RangeWitnessed(func(string, []string) bool { return true }), "no registry before Start")
	require.NoError(t, ext.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, ext.Shutdown(context.Background())) }()

	var mu sync.Mutex
	var checked [][]string
	w.SetWitnessCheck(func(device string, notes []string) {
		mu.Lock()
		defer mu.Unlock()
		checked = append(checked, append([]string{device}, notes...))
	})
	cps := ext.(fleetproto.CheckpointSource)
	assert.Nil(t, cps.NewestCheckpoint(), "nothing published yet")
	w.PublishCheckpoint([]byte("cp-1\n"))
	w.PublishCheckpoint([]byte(strings.Repeat("x", fleetproto.MaxCheckpointBytes+1))) // not published
	assert.Equal(t, "cp-1\n", string(cps.NewestCheckpoint()), "the syslog output's source")

	a := startAgent(t, "https://"+addr+OpAMPPath, p.device(t, "atm-1", "atms"), "atm-1", "atm-1")
	denied := startAgent(t, "https://"+addr+OpAMPPath, p.device(t, "atm-9", "atms"), "atm-9", "atm-9")
	a.sendStatus(t, &fleetproto.Status{AgentTime: time.Now()})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		msgs := a.customMessages()
		if assert.NotEmpty(c, msgs) {
			m := msgs[0]
			assert.Equal(c, fleetproto.CheckpointCapability, m.Capability)
			assert.Equal(c, fleetproto.CheckpointMessageType, m.Type)
			assert.Equal(c, "cp-1\n", string(m.Data))
		}
	}, 10*time.Second, 50*time.Millisecond)

	// The agent reports what it holds: at most the newest five, each
	// bounded; the check sees each new set once.
	held := []string{"cp-0", strings.Repeat("y", fleetproto.MaxCheckpointBytes+1), "a", "b", "c", "d", "cp-1\n"}
	a.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Checkpoints: held})
	denied.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Checkpoints: []string{"cp-1\n"}})
	want := []string{"a", "b", "c", "d", "cp-1\n"}
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		got := map[string][]string{}
		w.RangeWitnessed(func(device string, notes []string) bool {
			got[device] = notes
			return true
		})
		assert.Equal(c, map[string][]string{"atm-1": want}, got, "a denied device is no witness")
	}, 10*time.Second, 50*time.Millisecond)
	a.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Checkpoints: held})
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		mu.Lock()
		defer mu.Unlock()
		assert.Contains(c, checked, append([]string{"atm-1"}, want...))
	}, 10*time.Second, 50*time.Millisecond)
	mu.Lock()
	n := 0
	for _, c := range checked {
		if c[0] == "atm-1" && len(c) == 6 {
			n++
		}
	}
	mu.Unlock()
	assert.Equal(t, 1, n, "the same checkpoints are checked once")
	// It holds the newest: it is not sent again.
	before := len(a.customMessages())
	a.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Checkpoints: want})
	a.sendStatus(t, &fleetproto.Status{AgentTime: time.Now(), Checkpoints: want})
	assert.Len(t, a.customMessages(), before)

	src := ext.(fleetproto.WitnessFindingSource)
	for i := range maxWitnessFindings + 3 {
		w.RecordWitnessFinding(fleetproto.WitnessFinding{Device: "atm-1", Problem: "rolled back", Detail: strings.Repeat("!", i)})
	}
	f := src.TakeWitnessFindings()
	require.Len(t, f, maxWitnessFindings)
	assert.Equal(t, "!!!", f[0].Detail, "the oldest go first")
	assert.Empty(t, src.TakeWitnessFindings())
}
