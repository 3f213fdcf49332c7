package spool

// Flush writes every buffered record to its segment file, without an fsync,
// and returns the sequence number of the last record appended: once it
// returns nil, every record up to it is in the files, so a crash of the
// process (not of the machine) keeps them. On a failed write the records
// stay buffered, as after any failed write, and it returns the error.
func (s *Spool) Flush() (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	for i := range s.chains {
		if err := s.flushLocked(&s.chains[i]); err != nil {
			return 0, err
		}
	}
	return s.nextSeq - 1, nil
}

// Durable returns the sequence number up to which this process has fsynced
// the records (0 under FsyncNever, or before its first sync).
func (s *Spool) Durable() uint64 { return s.durableSeq.Load() }
