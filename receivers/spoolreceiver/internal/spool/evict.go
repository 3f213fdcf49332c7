package spool

import "time"

// reclaimLocked deletes a fully acknowledged segment that is still open for
// appends (Ack keeps those to avoid churning files). It reports whether it
// freed anything.
func (s *Spool) reclaimLocked() bool {
	for i := range s.chains {
		c := &s.chains[i]
		if g := c.active; g != nil && g.count > 0 && g.ackedN >= g.count && len(c.wbuf) == 0 {
			s.removeSegLocked(c, g)
			return true
		}
	}
	return false
}

// lowestChainLocked returns the lowest chain holding segments, or
// numChains.
func (s *Spool) lowestChainLocked() int {
	for i := range s.chains {
		if len(s.chains[i].segs) > 0 {
			return i
		}
	}
	return numChains
}

// add merges n records of up to severity sev, observed from first to last.
func (ev *Eviction) add(n, bytes int64, sev uint8, first, last int64) {
	if ev.Records == 0 || first < ev.First.UnixNano() {
		ev.First = time.Unix(0, first)
	}
	if ev.Records == 0 || last > ev.Last.UnixNano() {
		ev.Last = time.Unix(0, last)
	}
	ev.Records += n
	ev.Bytes += bytes
	ev.Severity = max(ev.Severity, sev)
}

// evictLocked drops one segment per the full policy, adding what it held
// and nobody had acknowledged to ev. It reports false when there is nothing
// left to evict.
func (s *Spool) evictLocked(ev *Eviction) bool {
	c, g := s.victimLocked()
	if g == nil {
		return false
	}
	unread, unreadBytes := g.count-g.readN, g.frameBytes-g.readBytes
	// Records out with the consumer lose their only durable copy with the
	// segment: a crash before their Ack would lose them, so they are
	// reported as dropped too. They stay in s.records until that Ack.
	out, outBytes := g.readN-g.ackedN, g.readBytes-g.ackedBytes
	if n, bytes := unread+out, unreadBytes+outBytes; n > 0 {
		// The dropped range starts after the last acknowledged record.
		first := g.firstTime
		if g.ackedN > 0 {
			first = g.ackTime
		}
		ev.add(n, bytes, g.maxSev, first, g.lastTime)
		c.unread -= unread
		s.unread -= unread
		s.records -= unread
		s.stats.Evicted += n
		s.stats.EvictedBytes += bytes
	}
	s.removeSegLocked(c, g)
	return true
}

// victimLocked picks the segment to evict: under EvictLowestSeverity the
// oldest of the lowest chain that holds any (the chains are in eviction
// order), under DropOldest the oldest of all. It passes over a segment with
// records out with the consumer when the same chain has another, because
// those records are likely delivered in a moment; taking it anyway is
// counted and reported by evictLocked.
func (s *Spool) victimLocked() (*chain, *segment) {
	var vc *chain
	var vg *segment
	for i := range s.chains {
		c := &s.chains[i]
		if len(c.segs) == 0 {
			continue
		}
		g := c.segs[0]
		for _, cand := range c.segs {
			if cand.readN <= cand.ackedN {
				g = cand
				break
			}
		}
		if s.opts.Full == EvictLowestSeverity {
			return c, g
		}
		if vg == nil || g.firstSeq < vg.firstSeq {
			vc, vg = c, g
		}
	}
	return vc, vg
}
