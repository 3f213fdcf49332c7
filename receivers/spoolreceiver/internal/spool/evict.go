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
// and nobody had read to ev. It reports false when there is nothing left to
// evict.
func (s *Spool) evictLocked(ev *Eviction) bool {
	var c *chain
	for i := range s.chains {
		ci := &s.chains[i]
		if len(ci.segs) == 0 {
			continue
		}
		if s.opts.Full == EvictLowestSeverity {
			c = ci // the chains are in eviction order
			break
		}
		if c == nil || ci.segs[0].firstSeq < c.segs[0].firstSeq {
			c = ci
		}
	}
	if c == nil {
		return false
	}
	g := c.segs[0]
	n, bytes := g.count-g.readN, g.frameBytes-g.readBytes
	if n > 0 {
		// A partly read segment's unread part starts after the last record
		// read; its time bounds the range.
		first := g.firstTime
		if g.readN > 0 {
			first = g.lastReadTime
		}
		ev.add(n, bytes, g.maxSev, first, g.lastTime)
		c.unread -= n
		s.unread -= n
		s.records -= n
		s.stats.Evicted += n
		s.stats.EvictedBytes += bytes
	}
	s.removeSegLocked(c, g)
	return true
}
