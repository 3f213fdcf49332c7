package fleetproto

import (
	"slices"

	"go.opentelemetry.io/collector/component"
)

// Extension returns the first of host's extensions, in the order of their
// IDs, that implements T, which is how a component finds the other side of
// one of these contracts in Start (the order makes the choice independent of
// map order when several could serve). ok is false without a host or such
// an extension.
func Extension[T any](host component.Host) (ext T, ok bool) {
	if host == nil {
		return ext, false
	}
	exts := host.GetExtensions()
	ids := make([]component.ID, 0, len(exts))
	for id := range exts {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b component.ID) int {
		switch as, bs := a.String(), b.String(); {
		case as < bs:
			return -1
		case as > bs:
			return 1
		}
		return 0
	})
	for _, id := range ids {
		if ext, ok = exts[id].(T); ok {
			return ext, true
		}
	}
	return ext, false
}
