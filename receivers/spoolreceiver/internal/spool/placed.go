package spool

import "context"

// Placement says where a batch of records went.
type Placement struct {
	// First is the sequence number of the batch's first record.
	First uint64
	// Last is, for each chain, the sequence number of the batch's last
	// record in it (0 if none went there).
	Last [numChains]uint64
}

// maxPlacedBatch bounds the batch AppendPlaced holds in memory before any of
// it is written, as does a quarter of a segment (the active segment grows
// past its size by at most that); a larger one is appended as by Append,
// without placed.
const maxPlacedBatch = 2 << 20

// AppendPlaced is Append for a caller that must note where a batch went
// before any of it can reach a file (a crash of the process then leaves
// either the note without the records, which Held tells, or both). Once
// every record is buffered, and before any is written, it calls placed with
// the batch's placement, under the spool's lock (so placed must be short and
// must not call the spool). placed is not called when the batch is taken
// only in part or not at all, nor for a batch of more than 2MiB or a quarter
// of a segment.
func (s *Spool) AppendPlaced(ctx context.Context, recs []Record, placed func(Placement)) error {
	return s.append(ctx, recs, true, placed)
}

// writeHeldLocked does the writes held back while a placed batch was
// buffered: it writes a full buffer out and seals a full segment, as
// appendLocked does per record. (A failed write keeps the records
// buffered, as ever; the next write or sync reports it.)
func (s *Spool) writeHeldLocked() {
	for i := range s.chains {
		c := &s.chains[i]
		if c.active == nil {
			continue
		}
		if len(c.wbuf) >= writeBufSize || c.active.size >= s.opts.SegmentSize {
			if s.flushLocked(c) == nil && c.active.size >= s.opts.SegmentSize {
				s.sealLocked(c)
			}
		}
	}
}

// Held returns how many of the n records of a batch placed at p the spool
// held when it was opened, in files or acknowledged by then. A chain's file
// is written in order, so a crash of the process cuts only its end (a write
// cut short inside a record leaves a torn tail, which Open cuts off): all n
// are held when every chain the batch used reaches its last record; when
// the batch went to one chain under consecutive sequence numbers, the ones
// up to where that chain ends are; otherwise none is counted.
func (s *Spool) Held(p Placement, n int) int {
	all, chain := true, -1
	for c, seq := range p.Last {
		if seq == 0 {
			continue
		}
		if seq > s.openAckSeq && seq > s.openLast[c] {
			all = false
		}
		if chain >= 0 {
			chain = numChains // more than one
		} else {
			chain = c
		}
	}
	switch {
	case all:
		return n
	case chain < 0 || chain == numChains || p.First == 0 || p.Last[chain]-p.First+1 != uint64(n):
		return 0
	}
	held := max(s.openLast[chain], s.openAckSeq)
	if held < p.First {
		return 0
	}
	return int(held - p.First + 1)
}

// Durable returns the sequence number up to which this process has fsynced
// the records (0 under FsyncNever, or before its first sync).
func (s *Spool) Durable() uint64 { return s.durableSeq.Load() }
