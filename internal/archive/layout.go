package archive

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Segment files live in directory/YYYY/MM/DD/ (UTC, the day the segment was
// opened) as seg-<seq>.fla, beside seg-<seq>.manifest once sealed or
// seg-<seq>.tombstone once deleted by retention.
const (
	segmentPrefix = "seg-"
	segmentExt    = ".fla"
	manifestExt   = ".manifest"
	tombstoneExt  = ".tombstone"
	lockFile      = ".lock"
	seqDigits     = 16
)

// segmentPath is the slash-separated path, relative to the archive
// directory, of segment seq opened at t.
func segmentPath(t time.Time, seq uint64) string {
	return t.UTC().Format("2006/01/02") + "/" + segmentFile(seq)
}

// segmentFile is the file name of segment seq.
func segmentFile(seq uint64) string {
	return fmt.Sprintf("%s%0*d%s", segmentPrefix, seqDigits, seq, segmentExt)
}

// withExt is rel with its extension replaced by ext.
func withExt(rel, ext string) string { return strings.TrimSuffix(rel, path.Ext(rel)) + ext }

// entry is every file the archive holds for one segment sequence number;
// paths are relative and slash-separated, empty when absent.
type entry struct {
	seq                          uint64
	segment, manifest, tombstone string
}

// scan lists the archive's segments by sequence number.
func scan(dir string) ([]entry, error) {
	bySeq := map[uint64]*entry{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		ext := path.Ext(name)
		if !strings.HasPrefix(name, segmentPrefix) || (ext != segmentExt && ext != manifestExt && ext != tombstoneExt) {
			return nil
		}
		digits := strings.TrimSuffix(strings.TrimPrefix(name, segmentPrefix), ext)
		seq, perr := strconv.ParseUint(digits, 10, 64)
		if perr != nil || len(digits) != seqDigits {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !inDayDir(rel) {
			// Not part of this archive's layout (perhaps a copy, or --dir
			// names a parent of the archive).
			return nil
		}
		e := bySeq[seq]
		if e == nil {
			e = &entry{seq: seq}
			bySeq[seq] = e
		}
		var slot *string
		switch ext {
		case segmentExt:
			slot = &e.segment
		case manifestExt:
			slot = &e.manifest
		default:
			slot = &e.tombstone
		}
		if *slot != "" {
			return fmt.Errorf("segment %d is stored twice: %s and %s", seq, *slot, rel)
		}
		*slot = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan archive %s: %w", dir, err)
	}
	out := make([]entry, 0, len(bySeq))
	for _, e := range bySeq {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out, nil
}

// joinRel turns a slash-separated archive path into a file system path.
func joinRel(dir, rel string) string { return filepath.Join(dir, filepath.FromSlash(rel)) }

// inDayDir reports whether rel is a file directly inside a YYYY/MM/DD directory.
func inDayDir(rel string) bool {
	parts := strings.Split(rel, "/")
	if len(parts) != 4 {
		return false
	}
	_, err := time.Parse("2006/01/02", strings.Join(parts[:3], "/"))
	return err == nil
}
