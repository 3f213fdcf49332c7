package alert

import "strings"

// literals finds, in one pass over a body, which of every rule's
// body_contains strings it holds. Each position's two bytes are looked up
// in a bitmap of the strings' first two bytes, and only on a hit are the
// strings with that prefix compared; a body is read once however many
// rules and strings there are, where a strings.Contains per string reads it
// once per string.
type literals struct {
	pats   []string
	bitmap [1 << 16 / 64]uint64
	pairs  map[uint16][]int
	single [256][]int // one-byte strings
}

func pairOf(a, b byte) uint16 { return uint16(a)<<8 | uint16(b) }

// add registers s and returns its index.
func (l *literals) add(s string) int {
	for i, p := range l.pats {
		if p == s {
			return i
		}
	}
	i := len(l.pats)
	l.pats = append(l.pats, s)
	if len(s) == 1 {
		l.single[s[0]] = append(l.single[s[0]], i)
		return i
	}
	if l.pairs == nil {
		l.pairs = map[uint16][]int{}
	}
	k := pairOf(s[0], s[1])
	l.bitmap[k/64] |= 1 << (k % 64)
	l.pairs[k] = append(l.pairs[k], i)
	return i
}

// scan sets hit[i] for every string body contains; hit has len(l.pats).
func (l *literals) scan(body string, hit []bool) {
	clear(hit)
	if len(l.pats) == 0 {
		return
	}
	for i := 0; i < len(body); i++ {
		for _, p := range l.single[body[i]] {
			hit[p] = true
		}
		if i+1 >= len(body) {
			break
		}
		k := pairOf(body[i], body[i+1])
		if l.bitmap[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, p := range l.pairs[k] {
			if !hit[p] && strings.HasPrefix(body[i:], l.pats[p]) {
				hit[p] = true
			}
		}
	}
}
