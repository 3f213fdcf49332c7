// Package pipelineturn lets a stage of the gateway's pipeline give back,
// early, the turn a bound on concurrent batches gave its batch.
//
// The gateway's fleet_metadata processor lets a bounded number of batches
// through the rest of the pipeline at once, so that the CPU stages (pii, the
// alert engine, the archive's encoding) are not shared among thousands of
// batches. A batch's last step is the wait for the archive's fsync, which
// uses no CPU and which one fsync ends for every batch written before it:
// holding the turn through it would cap the batches an fsync covers at the
// bound. The archive exporter calls Release once the batch is written and
// only the fsync is left, and the next batch goes in.
package pipelineturn // import "github.com/fleetlog/fleetlog/internal/pipelineturn"

import (
	"context"
	"sync"
)

type key struct{}

type turn struct {
	once    sync.Once
	release func()
}

// With returns ctx carrying a turn that release gives back. Release and
// Done call release once between them.
func With(ctx context.Context, release func()) (context.Context, func()) {
	t := &turn{release: release}
	done := func() { t.once.Do(t.release) }
	return context.WithValue(ctx, key{}, t), done
}

// Release gives back the turn ctx carries, if any and not yet given back.
func Release(ctx context.Context) {
	if t, ok := ctx.Value(key{}).(*turn); ok {
		t.once.Do(t.release)
	}
}

// Gatekeeper is a front door of the pipeline that can refuse a request
// before it is read, such as the fleet_identity extension's gRPC tap. The
// gateway's bound on waiting batches tells it, when the pipeline starts,
// how to ask whether the pipeline is overloaded (busy), and nil when it
// stops. A refusal there costs neither the request's decoding nor its
// memory.
type Gatekeeper interface {
	SetBusy(busy func() bool)
}
