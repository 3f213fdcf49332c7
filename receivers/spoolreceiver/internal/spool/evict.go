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
	c, g := s.victimLocked()
	if g == nil {
		return false
	}
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

// victimLocked picks the segment to evict: the oldest of the lowest chain
// that has one (EvictLowestSeverity, the chains are in eviction order) or
// the oldest of all (DropOldest). A segment holding records that were read
// but not yet acknowledged is passed over: until the Ack, the disk is their
// only durable copy, and deleting it would lose them without a count or a
// report if the process died before the consumer succeeded. At most one
// batch is out at a time, so this spares at most a batch's worth of
// segments.
func (s *Spool) victimLocked() (*chain, *segment) {
	var vc *chain
	var vg *segment
	for i := range s.chains {
		c := &s.chains[i]
		for _, g := range c.segs {
			if g.readN > g.ackedN {
				continue
			}
			if s.opts.Full == EvictLowestSeverity {
				return c, g
			}
			if vg == nil || g.firstSeq < vg.firstSeq {
				vc, vg = c, g
			}
			break
		}
	}
	return vc, vg
}
