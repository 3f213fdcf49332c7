package segfmt

import "io"

// ScanResult describes the damage Scan met.
type ScanResult struct {
	// Regions counts damaged regions followed by an intact frame.
	Regions int64
	// TornAt is the start of damage running to the end, or -1.
	TornAt int64
}

// Scan calls fn for each intact record of the segment of size bytes in f,
// of format version (HeaderVersion), and tells what damage it passed.
// With version 0 (a damaged header) it salvages records from the first
// byte on, in the version that finds more of them. The frame given to fn
// is valid only during the call.
func Scan(f io.ReaderAt, size int64, version int, fn func(*Frame)) (ScanResult, error) {
	var sr Reader
	start := int64(HeaderSize)
	if version == 0 {
		version, start = salvageVersion(&sr, f, size), 0
	}
	return scanWith(&sr, f, size, version, start, fn)
}

// SalvageVersion is the version in which a segment with a damaged header
// yields more records (Version on a tie).
func SalvageVersion(f io.ReaderAt, size int64) int {
	var sr Reader
	return salvageVersion(&sr, f, size)
}

func salvageVersion(sr *Reader, f io.ReaderAt, size int64) int {
	count := func(v int) int {
		n := 0
		_, err := scanWith(sr, f, size, v, 0, func(*Frame) { n++ })
		if err != nil {
			return -1
		}
		return n
	}
	if count(Version1) > count(Version) {
		return Version1
	}
	return Version
}

func scanWith(sr *Reader, f io.ReaderAt, size int64, version int, start int64, fn func(*Frame)) (ScanResult, error) {
	res := ScanResult{TornAt: -1}
	sr.Reset(f, start, size, version)
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
