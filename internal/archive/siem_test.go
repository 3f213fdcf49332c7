package archive

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckpointsFromSIEMEvents: a file of the syslog output's checkpoint
// events reads as checkpoints, whatever else the SIEM's export holds; a
// line that only mentions the field is not one, and a damaged note is an
// error that names its line.
func TestCheckpointsFromSIEMEvents(t *testing.T) {
	_, key := newKey(t)
	w, _ := openWriter(t, filepath.Join(t.TempDir(), "a"), key, &fakeClock{now: time.Unix(1_790_000_000, 0)})
	appendLogs(t, w, makeLogs("atm-1", "eu", "x", time.Unix(1_790_000_000, 0), 4))
	require.NoError(t, w.Checkpoint())
	note := w.LatestCheckpointNote()
	require.NoError(t, w.Close())
	enc := strings.ReplaceAll(base64.StdEncoding.EncodeToString(note), "=", `\=`) // as CEF escapes it
	event := "<86>1 2026-12-01T10:00:00Z gw-1 fleetlog - archive_checkpoint - CEF:0|fleetlog|fleetlog-gateway|1|archive_checkpoint|Archive checkpoint|1|cn1Label=treeSize cn1=4 msg=archive checkpoint of 4 records " +
		CEFNoteField + "Label=" + CEFNoteLabel + " " + CEFNoteField + "=" + enc
	file := filepath.Join(t.TempDir(), "export.log")
	content := "2026-12-01 sshd[1]: Accepted publickey\n" +
		"a note about " + CEFNoteField + "Label=" + CEFNoteLabel + " without the field\n" +
		event + "\r\n"
	require.NoError(t, os.WriteFile(file, []byte(content), 0o600))
	cps, err := ReadCheckpointsFile(file)
	require.NoError(t, err)
	require.Len(t, cps, 1)
	assert.Equal(t, note, cps[0].Note)
	assert.Equal(t, uint64(4), cps[0].Size)
	assert.Equal(t, file+":3", cps[0].Name)

	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(event, CEFNoteField+"="+enc[:8], CEFNoteField+"=!!!!"+enc[4:8], 1)), 0o600))
	_, err = ReadCheckpointsFile(file)
	require.ErrorIs(t, err, ErrBadCheckpoint)
	assert.ErrorContains(t, err, "line 1")
}
