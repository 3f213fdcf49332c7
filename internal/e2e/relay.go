package e2e

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// RelayMode is what a Relay does with the bytes of its flows.
type RelayMode int

const (
	// Pass forwards bytes both ways.
	Pass RelayMode = iota
	// Hold stops forwarding without closing anything, as a link outage
	// does: bytes wait (in the relay and the kernels' buffers) and move on
	// once the mode is Pass again. Flows are idle meanwhile.
	Hold
	// Refuse resets every flow and every new connection, as a host whose
	// service is down does.
	Refuse
	// HoldReplies forwards what the client sends but holds what the
	// backend answers: the backend acts on a request whose answer the
	// client never sees (until the mode changes; Refuse discards it).
	HoldReplies
)

// Relay is a TCP relay between the agent and the gateway. Besides its
// modes it can forget idle flows as a NAT does: a flow that forwarded no
// byte for ForgetIdle is forgotten, silently (no FIN, no RST): from then on
// the bytes either side sends are swallowed. New connections get new flows.
type Relay struct {
	ln      net.Listener
	backend string

	mu   sync.Mutex
	mode RelayMode
	// up and down are closed while bytes may pass client to backend and
	// backend to client.
	up, down chan struct{}
	forget   time.Duration
	flows    map[*flow]struct{}
	closed   bool

	forgotten atomic.Int64
	wg        sync.WaitGroup
}

type flow struct {
	client, backend net.Conn
	last            atomic.Int64 // Unix ns of the last forwarded byte
	gone            atomic.Bool  // forgotten
	closeOnce       sync.Once
}

// NewRelay listens on a free loopback port and forwards to backend.
func NewRelay(backend string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, backend: backend, up: make(chan struct{}), down: make(chan struct{}), flows: map[*flow]struct{}{}}
	close(r.up)
	close(r.down)
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the relay's listen address.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Port is the relay's listen port.
func (r *Relay) Port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// Forgotten counts the flows forgotten for being idle.
func (r *Relay) Forgotten() int64 { return r.forgotten.Load() }

// SetForgetIdle sets how long a flow may be idle before it is forgotten;
// 0 never forgets.
func (r *Relay) SetForgetIdle(d time.Duration) {
	r.mu.Lock()
	r.forget = d
	r.mu.Unlock()
}

// SetMode switches the relay's mode.
func (r *Relay) SetMode(m RelayMode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode = m
	r.setPassLocked(&r.up, m != Hold)
	r.setPassLocked(&r.down, m != Hold && m != HoldReplies)
	if m == Refuse {
		for f := range r.flows {
			f.reset()
		}
	}
}

func (r *Relay) setPassLocked(ch *chan struct{}, open bool) {
	select {
	case <-*ch:
		if !open {
			*ch = make(chan struct{})
		}
	default:
		if open {
			close(*ch)
		}
	}
}

// Close stops the relay and closes every flow.
func (r *Relay) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.setPassLocked(&r.up, true)
	r.setPassLocked(&r.down, true)
	for f := range r.flows {
		f.close()
	}
	r.mu.Unlock()
	err := r.ln.Close()
	r.wg.Wait()
	return err
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		mode, closed := r.mode, r.closed
		r.mu.Unlock()
		if closed || mode == Refuse {
			resetConn(c)
			continue
		}
		r.wg.Add(1)
		go r.open(c)
	}
}

func (r *Relay) open(c net.Conn) {
	defer r.wg.Done()
	b, err := net.DialTimeout("tcp", r.backend, 5*time.Second)
	if err != nil {
		resetConn(c) // the backend is down: refuse as it would
		return
	}
	f := &flow{client: c, backend: b}
	f.last.Store(time.Now().UnixNano())
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		f.close()
		return
	}
	r.flows[f] = struct{}{}
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(f, c, b, &r.up) }()
	go func() { defer wg.Done(); r.pipe(f, b, c, &r.down) }()
	wg.Wait()
	r.mu.Lock()
	delete(r.flows, f)
	r.mu.Unlock()
}

// pipe forwards src to dst per the relay's mode until src ends.
func (r *Relay) pipe(f *flow, src, dst net.Conn, pass *chan struct{}) {
	buf := make([]byte, 32<<10)
	for {
		if !r.waitPass(pass) {
			f.close()
			return
		}
		n, err := src.Read(buf)
		if n > 0 && !f.gone.Load() {
			// Bytes read before a Hold began wait for its end.
			if !r.waitPass(pass) {
				f.close()
				return
			}
			if r.expired(f) {
				f.gone.Store(true)
				r.forgotten.Add(1)
			} else {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					f.close()
					return
				}
				f.last.Store(time.Now().UnixNano())
			}
		}
		if err != nil {
			// A forgotten flow tells the client nothing when the backend
			// ends it: the client's socket stays open, swallowing, until
			// the client gives up on it.
			if f.gone.Load() && src == f.backend {
				_ = f.backend.Close()
			} else {
				f.close()
			}
			return
		}
	}
}

// waitPass blocks while pass is held; false when the relay closed. A flow
// reset meanwhile is seen by the next read or write.
func (r *Relay) waitPass(pass *chan struct{}) bool {
	for {
		r.mu.Lock()
		ch, closed := *pass, r.closed
		r.mu.Unlock()
		if closed {
			return false
		}
		select {
		case <-ch:
			return true
		case <-time.After(100 * time.Millisecond):
			// The channel may have been replaced: look again.
		}
	}
}

func (r *Relay) expired(f *flow) bool {
	r.mu.Lock()
	forget := r.forget
	r.mu.Unlock()
	return forget > 0 && time.Since(time.Unix(0, f.last.Load())) > forget
}

func (f *flow) close() {
	f.closeOnce.Do(func() {
		_ = f.client.Close()
		_ = f.backend.Close()
	})
}

func (f *flow) reset() {
	f.closeOnce.Do(func() {
		resetConn(f.client)
		resetConn(f.backend)
	})
}

// resetConn closes c with an RST instead of a FIN.
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
