package segfmt

import "io"

// ScanResult describes the damage Scan met.
type ScanResult struct {
	// Regions counts damaged regions followed by an intact frame.
	Regions int64
	// TornAt is the start of damage running to the end, or -1.
	TornAt int64
}

// Scan calls fn for each intact frame of the segment of size bytes in f, and
// tells what damage it passed. With hdrOK false (a damaged header) it
// salvages frames from the first byte on. The frame given to fn is valid
// only during the call.
func Scan(f io.ReaderAt, size int64, hdrOK bool, fn func(*Frame)) (ScanResult, error) {
	var sr Reader
	return scanWith(&sr, f, size, hdrOK, fn)
}

func scanWith(sr *Reader, f io.ReaderAt, size int64, hdrOK bool, fn func(*Frame)) (ScanResult, error) {
	res := ScanResult{TornAt: -1}
	start := int64(HeaderSize)
	if !hdrOK {
		start = 0 // salvage frames after a damaged header
	}
	sr.Reset(f, start, size)
	for {
		fr, skipped, st, at, err := sr.Next()
		if err != nil {
			return res, err
		}
		if skipped > 0 {
			res.Regions++
		}
		switch st {
		case StatusEnd:
			return res, nil
		case StatusTorn:
			res.TornAt = at
			return res, nil
		}
		fn(&fr)
		sr.Advance()
	}
}
