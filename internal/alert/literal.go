package alert

import "strings"

// literals finds, in one pass over a body, which of every rule's
// body_contains strings it holds. Each position's two bytes are looked up
// in a bitmap of the strings' first two bytes, and only on a hit are the
// strings with that prefix compared; a body is read once however many
// rules and strings there are, where a strings.Contains per string reads it
// once per string.
type literals struct {
	pats      []string
	bitmap    [1 << 16 / 64]uint64
	pairSlot  []uint16 // 1<<16 entries once a string is added: pair → 1 + index into pairs
	pairs     [][]int
	single    [256][]int // one-byte strings
	hasSingle bool
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
		l.hasSingle = true
		return i
	}
	if l.pairSlot == nil {
		l.pairSlot = make([]uint16, 1<<16)
	}
	k := pairOf(s[0], s[1])
	l.bitmap[k/64] |= 1 << (k % 64)
	if l.pairSlot[k] == 0 {
		l.pairs = append(l.pairs, nil)
		l.pairSlot[k] = uint16(len(l.pairs))
	}
	l.pairs[l.pairSlot[k]-1] = append(l.pairs[l.pairSlot[k]-1], i)
	return i
}

// scan sets hit[i] for every string body contains; hit has len(l.pats).
func (l *literals) scan(body string, hit []bool) {
	clear(hit)
	if len(l.pats) == 0 {
		return
	}
	if l.hasSingle {
		for i := 0; i < len(body); i++ {
			for _, p := range l.single[body[i]] {
				hit[p] = true
			}
		}
	}
	if l.pairSlot == nil {
		return
	}
	for i := 0; i+1 < len(body); i++ {
		k := pairOf(body[i], body[i+1])
		if l.bitmap[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, p := range l.pairs[l.pairSlot[k]-1] {
			if !hit[p] && strings.HasPrefix(body[i:], l.pats[p]) {
				hit[p] = true
			}
		}
	}
}
