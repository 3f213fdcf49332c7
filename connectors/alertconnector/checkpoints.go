package alertconnector // import "github.com/fleetlog/fleetlog/connectors/alertconnector"

import (
	"bytes"
	"encoding/base64"

	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/notify"
	"github.com/fleetlog/fleetlog/internal/archive"
	"github.com/fleetlog/fleetlog/internal/fleetproto"
)

// checkpointSource returns the first extension (by ID) that publishes the
// archive's checkpoints, or nil.
func checkpointSource(host component.Host) fleetproto.CheckpointSource {
	src, _ := fleetproto.Extension[fleetproto.CheckpointSource](host)
	return src
}

// forwardCheckpoint hands the archive's newest checkpoint to the outputs
// that take checkpoints (`notify::syslog::checkpoints`) when it changed
// since the previous tick. A checkpoint published and replaced within one
// tick is not sent: any later one covers it (the tree only grows).
func (c *alertConnector) forwardCheckpoint() {
	note := c.checkpoints.NewestCheckpoint()
	if len(note) == 0 || bytes.Equal(note, c.lastCheckpoint) {
		return
	}
	c.lastCheckpoint = note
	cp, err := archive.ParseCheckpoint(note)
	if err != nil {
		c.set.Logger.Warn("The archive published a checkpoint that does not parse; it is not sent", zap.Error(err))
		return
	}
	c.dispatcher.EnqueueCheckpoint(&notify.Checkpoint{Origin: cp.Origin, Size: cp.Size,
		Root: base64.StdEncoding.EncodeToString(cp.Root), Epoch: cp.Epoch, Note: note})
}
