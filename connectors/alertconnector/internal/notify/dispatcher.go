package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v7"
	"go.uber.org/zap"

	"github.com/fleetlog/fleetlog/connectors/alertconnector/internal/outbox"
	"github.com/fleetlog/fleetlog/internal/alert"
	"github.com/fleetlog/fleetlog/internal/archive"
)

// Telemetry receives the dispatcher's counts, per output name.
type Telemetry interface {
	Sent(output string, n int)
	Failed(output string, n int)
	Retried(output string)
	Queued(output string, delta int)
	Dropped(output, reason string, n int)
	Silenced(n int)
}

// Silence suppresses notifications whose labels hold every matcher, from
// StartsAt (zero: always) until EndsAt (zero: forever).
type Silence struct {
	Matchers         map[string]string
	StartsAt, EndsAt time.Time
}

func (s *Silence) silences(n *Notification, now time.Time) bool {
	if !s.StartsAt.IsZero() && now.Before(s.StartsAt) || !s.EndsAt.IsZero() && !now.Before(s.EndsAt) {
		return false
	}
	for k, v := range s.Matchers {
		got, ok := n.Labels[k]
		if k == "severity" {
			got, ok = string(n.Severity), true
		}
		if !ok || got != v {
			return false
		}
	}
	return true
}

// Retry is the delivery retry policy of an output.
type Retry struct {
	InitialInterval, MaxInterval time.Duration
	Multiplier, Randomization    float64
	// MaxElapsed gives up on a notification that could not be delivered
	// for this long (zero: never).
	MaxElapsed time.Duration
}

// Output is one destination.
type Output struct {
	Name   string
	Sender Sender
	Outbox *outbox.Outbox
	Retry  Retry
	// PerMinute bounds deliveries per minute (0: no bound); what exceeds
	// it waits in the outbox.
	PerMinute int
	// Timeout bounds one Send (default 10s).
	Timeout time.Duration
	// Checkpoints makes the output take the archive's checkpoints too
	// (EnqueueCheckpoint).
	Checkpoints bool
}

// Config configures a Dispatcher.
type Config struct {
	// QueueSize bounds the in-memory queue between evaluation and the
	// outboxes; when full the oldest notification is dropped and counted.
	QueueSize int
	// RepeatInterval re-sends a firing alert (0: never).
	RepeatInterval time.Duration
	Silences       []Silence
	// Evidence makes an alert's evidence command.
	Evidence func(alert.Alert) string
}

// Dispatcher turns alerts into notifications for every output without ever
// blocking its caller.
type Dispatcher struct {
	cfg     Config
	outputs []*Output
	tel     Telemetry
	log     *zap.Logger
	now     func() time.Time

	mu     sync.Mutex
	queue  []*Notification // ring in a slice: oldest first
	active map[string]*active
	wake   chan struct{}

	stop chan struct{}
	wg   sync.WaitGroup
}

type active struct {
	n        *Notification
	lastSent time.Time
}

// New returns a dispatcher; nothing runs until Start.
func New(cfg Config, outputs []*Output, tel Telemetry, log *zap.Logger) *Dispatcher {
	if cfg.QueueSize < 1 {
		cfg.QueueSize = 1000
	}
	return &Dispatcher{cfg: cfg, outputs: outputs, tel: tel, log: log, now: time.Now,
		active: map[string]*active{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Enqueue hands alerts over; it never blocks. When the queue is full the
// oldest queued notification is dropped and counted.
func (d *Dispatcher) Enqueue(alerts []alert.Alert) {
	if len(alerts) == 0 {
		return
	}
	now := d.now()
	ns := make([]*Notification, 0, len(alerts))
	for _, a := range alerts {
		ev := ""
		if d.cfg.Evidence != nil {
			ev = d.cfg.Evidence(a)
		}
		ns = append(ns, FromAlert(a, ev, now))
	}
	d.push(ns...)
}

// push queues notifications, dropping and counting the oldest queued one
// for each that finds the queue full, and wakes the dispatch loop.
func (d *Dispatcher) push(ns ...*Notification) {
	d.mu.Lock()
	for _, n := range ns {
		if len(d.queue) >= d.cfg.QueueSize {
			d.queue = d.queue[1:]
			d.tel.Dropped("queue", "queue_full", 1)
		}
		d.queue = append(d.queue, n)
	}
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// EnqueueCheckpoint hands an archive checkpoint over to the outputs that
// take them; it never blocks. A checkpoint is no alert: it is neither
// deduplicated, repeated nor silenced.
func (d *Dispatcher) EnqueueCheckpoint(cp *Checkpoint) {
	d.push(&Notification{Rule: archive.CEFEventClass, Checkpoint: cp, CreatedAt: d.now(),
		Summary: fmt.Sprintf("archive checkpoint of %d records", cp.Size)})
}

// Start runs the dispatch loop and one delivery loop per output.
func (d *Dispatcher) Start() {
	d.wg.Add(1 + len(d.outputs))
	go d.dispatch()
	for _, o := range d.outputs {
		go d.deliver(o)
	}
}

// Shutdown stops the loops; what is in the outboxes stays for the next
// start. Queued notifications not yet in an outbox are written first.
func (d *Dispatcher) Shutdown() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
	}
	d.wg.Wait()
	for _, o := range d.outputs {
		_ = o.Sender.Close()
		o.Outbox.Close()
	}
}

func (d *Dispatcher) dispatch() {
	defer d.wg.Done()
	var tick <-chan time.Time
	if d.cfg.RepeatInterval > 0 {
		t := time.NewTicker(min(d.cfg.RepeatInterval/4, time.Minute))
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-d.stop:
			d.drain()
			return
		case <-d.wake:
			d.drain()
		case <-tick:
			d.repeat()
		}
	}
}

func (d *Dispatcher) drain() {
	for {
		d.mu.Lock()
		if len(d.queue) == 0 {
			d.mu.Unlock()
			return
		}
		n := d.queue[0]
		d.queue = d.queue[1:]
		d.mu.Unlock()
		d.route(n)
	}
}

func (d *Dispatcher) route(n *Notification) {
	if n.Checkpoint != nil {
		d.put(n, true)
		return
	}
	now := d.now()
	switch n.Status {
	case alert.StatusFiring:
		if a := d.active[n.Fingerprint]; a != nil && !n.Repeat {
			// The engine fires a group once; a second firing of the same
			// fingerprint (a rules reload) is not news.
			return
		}
		if d.cfg.RepeatInterval > 0 {
			until := now.Add(2 * d.cfg.RepeatInterval)
			n.ValidUntil = &until
		}
		d.active[n.Fingerprint] = &active{n: n, lastSent: now}
	case alert.StatusResolved:
		delete(d.active, n.Fingerprint)
	}
	for _, s := range d.cfg.Silences {
		if s.silences(n, now) {
			d.tel.Silenced(1)
			return
		}
	}
	d.put(n, false)
}

// put writes n to the outbox of every output, or, for a checkpoint, of
// every output that takes checkpoints.
func (d *Dispatcher) put(n *Notification, checkpoint bool) {
	b, err := json.Marshal(n)
	if err != nil {
		return
	}
	for _, o := range d.outputs {
		if checkpoint && !o.Checkpoints {
			continue
		}
		before := o.Outbox.Dropped()
		if err := o.Outbox.Put(b); err != nil {
			d.tel.Dropped(o.Name, "outbox_error", 1)
			d.log.Warn("Notification not queued", zap.String("output", o.Name), zap.Error(err))
			continue
		}
		if dropped := o.Outbox.Dropped() - before; dropped > 0 {
			d.tel.Dropped(o.Name, "outbox_full", int(dropped))
			d.tel.Queued(o.Name, -int(dropped))
		}
		d.tel.Queued(o.Name, 1)
	}
}

func (d *Dispatcher) repeat() {
	now := d.now()
	var due []*Notification
	for _, a := range d.active {
		if now.Sub(a.lastSent) >= d.cfg.RepeatInterval {
			c := *a.n
			c.Repeat = true
			c.CreatedAt = now
			due = append(due, &c)
		}
	}
	for _, n := range due {
		d.route(n)
	}
}

func (d *Dispatcher) deliver(o *Output) {
	defer d.wg.Done()
	bo := &backoff.ExponentialBackOff{InitialInterval: o.Retry.InitialInterval, MaxInterval: o.Retry.MaxInterval,
		Multiplier: o.Retry.Multiplier, RandomizationFactor: o.Retry.Randomization}
	if bo.InitialInterval <= 0 {
		bo.InitialInterval = time.Second
	}
	if bo.MaxInterval <= 0 {
		bo.MaxInterval = time.Minute
	}
	if bo.Multiplier < 1 {
		bo.Multiplier = 1.5
	}
	bo.Reset()
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	var (
		failingSince time.Time
		sentTimes    []time.Time // the last minute's deliveries, for PerMinute
	)
	wait := func(dur time.Duration) bool {
		t := time.NewTimer(dur)
		defer t.Stop()
		select {
		case <-d.stop:
			return false
		case <-t.C:
			return true
		}
	}
	for {
		select {
		case <-d.stop:
			return
		case <-o.Outbox.Ready():
		}
		for {
			batch := o.Sender.MaxBatch()
			if o.PerMinute > 0 {
				now := d.now()
				for len(sentTimes) > 0 && now.Sub(sentTimes[0]) >= time.Minute {
					sentTimes = sentTimes[1:]
				}
				if len(sentTimes) >= o.PerMinute {
					if !wait(time.Minute - now.Sub(sentTimes[0])) {
						return
					}
					continue
				}
				batch = min(batch, o.PerMinute-len(sentTimes))
			}
			ents, err := o.Outbox.Peek(batch)
			if err != nil || len(ents) == 0 {
				break
			}
			ns := make([]*Notification, 0, len(ents))
			seqs := make([]uint64, 0, len(ents))
			for _, e := range ents {
				var n Notification
				seqs = append(seqs, e.Seq)
				if json.Unmarshal(e.Data, &n) == nil {
					ns = append(ns, &n)
				}
			}
			if len(ns) < len(seqs) {
				d.tel.Failed(o.Name, len(seqs)-len(ns))
			}
			var sendErr error
			if len(ns) > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				sendErr = o.Sender.Send(ctx, ns)
				cancel()
			}
			switch {
			case sendErr == nil:
				_ = o.Outbox.Remove(seqs...)
				d.tel.Sent(o.Name, len(ns))
				d.tel.Queued(o.Name, -len(seqs))
				failingSince = time.Time{}
				bo.Reset()
				if o.PerMinute > 0 {
					for range ns {
						sentTimes = append(sentTimes, d.now())
					}
				}
			case errors.Is(sendErr, ErrPermanent):
				d.log.Warn("Notification refused; dropped", zap.String("output", o.Name), zap.Error(sendErr))
				_ = o.Outbox.Remove(seqs...)
				d.tel.Failed(o.Name, len(ns))
				d.tel.Queued(o.Name, -len(seqs))
			default:
				now := d.now()
				if failingSince.IsZero() {
					failingSince = now
					d.log.Warn("Notification delivery failing; retrying", zap.String("output", o.Name), zap.Error(sendErr))
				}
				if o.Retry.MaxElapsed > 0 && now.Sub(failingSince) >= o.Retry.MaxElapsed {
					_ = o.Outbox.Remove(seqs...)
					d.tel.Failed(o.Name, len(ns))
					d.tel.Queued(o.Name, -len(seqs))
					failingSince = time.Time{}
					continue
				}
				d.tel.Retried(o.Name)
				if !wait(bo.NextBackOff()) {
					return
				}
			}
		}
	}
}
