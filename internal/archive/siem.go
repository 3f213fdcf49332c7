package archive // import "github.com/fleetlog/fleetlog/internal/archive"

import (
	"bytes"
	"encoding/base64"
	"fmt"
)

// Checkpoints kept by a SIEM. The gateway's syslog output can send every
// checkpoint the archive signs as a CEF event (the alert connector's
// `notify::syslog::checkpoints`) whose extension field labelled
// CEFNoteLabel holds the signed note, base64-encoded: a SIEM that keeps
// those events is a witness on other storage. ReadCheckpointsFile reads a
// file of such events (a SIEM search exported as raw events, an rsyslog
// output file) as it reads notes.
const (
	// CEFNoteField is the field of the signed note, the event's last,
	// and CEFNoteLabel its label.
	CEFNoteField = "cs6"
	CEFNoteLabel = "signedNote"
	// CEFEventClass is the event's class in the CEF header.
	CEFEventClass = "archive_checkpoint"
)

// cefNotes returns the signed notes of the checkpoint events among data's
// lines, each with its line number; none when data holds no such event.
func cefNotes(data []byte) (notes [][]byte, lines []int, err error) {
	label := []byte(CEFNoteField + "Label=" + CEFNoteLabel)
	if !bytes.Contains(data, label) {
		return nil, nil, nil
	}
	field := []byte(" " + CEFNoteField + "=")
	for i, line := range bytes.Split(data, []byte("\n")) {
		at := bytes.LastIndex(line, field)
		if at < 0 || !bytes.Contains(line, label) {
			continue
		}
		enc := line[at+len(field):]
		if end := bytes.IndexAny(enc, " \r"); end >= 0 {
			enc = enc[:end]
		}
		note, err := base64.StdEncoding.DecodeString(string(bytes.ReplaceAll(enc, []byte(`\=`), []byte("="))))
		if err != nil {
			return nil, nil, fmt.Errorf("line %d: %w: the %s field is not base64: %w", i+1, ErrBadCheckpoint, CEFNoteLabel, err)
		}
		notes = append(notes, note)
		lines = append(lines, i+1)
	}
	return notes, lines, nil
}
