package fleetproto

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
)

type hostWith map[component.ID]component.Component

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h }

type heartbeatExt struct {
	component.StartFunc
	component.ShutdownFunc
	name string
}

func (heartbeatExt) RangeHeartbeats(func(string, string, string, time.Time) bool) {}

func TestExtension(t *testing.T) {
	plain := component.MustNewType("plain")
	beats := component.MustNewType("beats")
	host := hostWith{
		component.NewIDWithName(beats, "b"): heartbeatExt{name: "b"},
		component.NewID(plain): struct {
			component.StartFunc
			component.ShutdownFunc
		}{},
		component.NewIDWithName(beats, "a"): heartbeatExt{name: "a"},
	}
	for range 20 { // map order varies between runs; the answer must not
		got, ok := Extension[HeartbeatSource](host)
		assert.True(t, ok)
		assert.Equal(t, "a", got.(heartbeatExt).name, "the first by ID")
	}
	_, ok := Extension[StatusRegistry](host)
	assert.False(t, ok, "no extension implements it")
	_, ok = Extension[HeartbeatSource](componenttest.NewNopHost())
	assert.False(t, ok)
	_, ok = Extension[HeartbeatSource](nil)
	assert.False(t, ok)
}
