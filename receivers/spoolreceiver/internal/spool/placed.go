package spool

import "context"

// Placement says where records went: for each chain, the sequence number of
// the last of them in it (0 if none went there).
type Placement [numChains]uint64

// maxPlacedBatch bounds the batch AppendPlaced holds in memory before any of
// it is written, as does a quarter of a segment (the active segment grows
// past its size by at most that); a larger one is appended as by Append,
// without placed.
const maxPlacedBatch = 2 << 20

// AppendPlaced is Append for a caller that must note where a batch went
// before any of it can reach a file (a crash of the process then leaves
// either the note without the records, which Holds tells, or both). Once
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

// Holds reports whether records placed at p were all in the spool's files
// when it was opened, or acknowledged by then: for each chain, the file held
// a record at or after p's (a chain's file is written in order, so a crash
// of the process cuts only its end).
func (s *Spool) Holds(p Placement) bool {
	for c, seq := range p {
		if seq != 0 && seq > s.openAckSeq && seq > s.openLast[c] {
			return false
		}
	}
	return true
}

// Durable returns the sequence number up to which this process has fsynced
// the records (0 under FsyncNever, or before its first sync).
func (s *Spool) Durable() uint64 { return s.durableSeq.Load() }
