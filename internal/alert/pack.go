package alert

import (
	_ "embed"
	"errors"
	"fmt"
	"sort"
)

//go:embed pack/pack.yaml
var packYAML []byte

// ErrUnknownPackRule names a pack rule that does not exist.
var ErrUnknownPackRule = errors.New("unknown pack rule")

// Pack returns the shipped rules named (all of them for "all"), validated.
func Pack(names ...string) ([]*Rule, error) {
	all, err := Parse(packYAML)
	if err != nil {
		return nil, fmt.Errorf("shipped pack: %w", err)
	}
	byName := map[string]*Rule{}
	for _, r := range all {
		byName[r.Name] = r
	}
	var out []*Rule
	for _, n := range names {
		if n == "all" {
			return all, nil
		}
		r, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("%w %q: use one of %v or all", ErrUnknownPackRule, n, PackNames())
		}
		out = append(out, r)
	}
	return out, nil
}

// PackNames lists the shipped rules.
func PackNames() []string {
	all, _ := Parse(packYAML)
	out := make([]string, 0, len(all))
	for _, r := range all {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return out
}
