package spoolreceiver // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver"

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/fleetlog/fleetlog/internal/fleetproto"
	"github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/spool"
)

// knownFilesKey is the key under which stanza's fileconsumer saves its
// readers' metadata in the input's scoped persister.
const (
	knownFilesKey = "knownFiles"
	filePathAttr  = "log.file.path"
)

// registerFleetStatus offers the receiver's status to the extension that
// reports the agent's status to the fleet (fleet_agent), if the collector
// runs one. It is called once Start succeeded; Shutdown unregisters before
// it closes the spool, so FleetStatus never sees a closed spool.
func (r *spoolReceiver) registerFleetStatus(host component.Host) {
	if reg, ok := fleetproto.Extension[fleetproto.StatusRegistry](host); ok {
		r.unregisterFleet = reg.RegisterStatusSource(r.set.ID.String(), r)
	}
}

// ackTimer is the spool as the delivery loop sees it, noting when the
// gateway last acknowledged a batch for the fleet status report.
type ackTimer struct {
	*spool.Spool
	lastAck *atomic.Int64
}

// Ack acknowledges b and notes the time.
func (a ackTimer) Ack(b spool.Batch) error {
	err := a.Spool.Ack(b)
	a.lastAck.Store(time.Now().UnixNano())
	return err
}

func (r *spoolReceiver) unregisterFleetStatus() {
	if r.unregisterFleet != nil {
		r.unregisterFleet()
		r.unregisterFleet = nil
	}
}

// FleetStatus implements fleetproto.StatusSource: the spool's depth and
// losses, the last acknowledged delivery, and how far behind each tailed
// file its saved checkpoint is.
func (r *spoolReceiver) FleetStatus(s *fleetproto.Status) {
	st := r.sp.Stats()
	sp := &fleetproto.SpoolStatus{
		Bytes:    st.Bytes,
		MaxBytes: int64(r.cfg.MaxSize),
		Records:  st.Records,
		Evicted:  st.Evicted,
		Dropped:  st.Lost,
		// Free space of the spool's filesystem: one statfs per report.
		FreeBytes: freeBytes(r.cfg.Directory),
	}
	if !st.Oldest.IsZero() {
		sp.OldestAgeSeconds = max(time.Since(st.Oldest).Seconds(), 0)
	}
	s.Spool = sp
	if ack := r.lastAck.Load(); ack != 0 {
		s.LastAck = time.Unix(0, ack).UTC()
	}
	s.Files = r.fileStatus()
}

// fileStatus reads the offsets the file inputs last checkpointed and
// compares them with each file's size now. Lag therefore includes lines
// read but not yet checkpointed, a fraction of a second's worth. A file
// whose checkpoint names no path (include_file_path off) is left out.
func (r *spoolReceiver) fileStatus() []fleetproto.FileStatus {
	var out []fleetproto.FileStatus
	seen := map[string]bool{}
	for _, name := range sortedKeys(r.cfg.Files) {
		raw, _ := r.store.Get(context.Background(), name+"."+knownFilesKey)
		for _, k := range decodeKnownFiles(raw) {
			// knownFiles lists the newest generation first; an older one
			// for the same path is a rotated-away file.
			if k.path == "" || seen[k.path] {
				continue
			}
			seen[k.path] = true
			fs := fleetproto.FileStatus{Path: k.path, Offset: k.offset}
			if fi, err := os.Stat(k.path); err == nil {
				fs.Size = fi.Size()
				fs.LagBytes = max(fs.Size-fs.Offset, 0)
			}
			out = append(out, fs)
		}
	}
	return out
}

type knownFile struct {
	path   string
	offset int64
}

// decodeKnownFiles reads the path and offset of each file in a stanza
// fileconsumer checkpoint. stanza keeps that encoding internal, so only the
// two fields are read here, from either of its encodings: protobuf
// (MetadataList{repeated Metadata metadata = 1}, Metadata{int64 offset = 2;
// bytes file_attributes = 4 (JSON)}) or the older JSON one (a count, then
// one metadata object per file). Anything else yields nothing.
func decodeKnownFiles(raw []byte) []knownFile {
	if len(raw) == 0 {
		return nil
	}
	if raw[0] >= '0' && raw[0] <= '9' {
		return decodeKnownFilesJSON(raw)
	}
	var out []knownFile
	for len(raw) > 0 {
		num, typ, n := protowire.ConsumeTag(raw)
		if n < 0 {
			return out
		}
		raw = raw[n:]
		if num != 1 || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, raw); n < 0 {
				return out
			}
			raw = raw[n:]
			continue
		}
		md, n := protowire.ConsumeBytes(raw)
		if n < 0 {
			return out
		}
		raw = raw[n:]
		out = append(out, decodeMetadataProto(md))
	}
	return out
}

func decodeMetadataProto(md []byte) knownFile {
	var k knownFile
	for len(md) > 0 {
		num, typ, n := protowire.ConsumeTag(md)
		if n < 0 {
			return k
		}
		md = md[n:]
		switch {
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(md)
			if n < 0 {
				return k
			}
			k.offset, md = int64(v), md[n:]
		case num == 4 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(md)
			if n < 0 {
				return k
			}
			k.path, md = attrPath(v), md[n:]
		default:
			if n = protowire.ConsumeFieldValue(num, typ, md); n < 0 {
				return k
			}
			md = md[n:]
		}
	}
	return k
}

func attrPath(attrsJSON []byte) string {
	var attrs map[string]any
	if json.Unmarshal(attrsJSON, &attrs) != nil {
		return ""
	}
	p, _ := attrs[filePathAttr].(string)
	return p
}

func decodeKnownFilesJSON(raw []byte) []knownFile {
	dec := json.NewDecoder(bytes.NewReader(raw))
	var n int
	if dec.Decode(&n) != nil {
		return nil
	}
	var out []knownFile
	for range n {
		var md struct {
			Offset         int64
			FileAttributes map[string]any
		}
		if dec.Decode(&md) != nil {
			break
		}
		p, _ := md.FileAttributes[filePathAttr].(string)
		out = append(out, knownFile{path: p, offset: md.Offset})
	}
	return out
}
