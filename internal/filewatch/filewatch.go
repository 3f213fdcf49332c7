// Package filewatch calls a function when a file changes. It polls the
// file's identity, size and modification time: polling works the same on
// every file system, including bind mounts and Kubernetes ConfigMap volumes
// whose atomic symlink swaps inotify-based watchers miss, and the files
// watched here (deny lists, device descriptions) change rarely.
package filewatch

import (
	"os"
	"sync"
	"time"
)

// Watcher polls one path and calls onChange, from its own goroutine, after
// the file appeared, disappeared, or changed identity, size or modification
// time.
type Watcher struct {
	path     string
	interval time.Duration
	onChange func()

	last os.FileInfo

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// New returns a Watcher; nothing runs until Start.
func New(path string, interval time.Duration, onChange func()) *Watcher {
	return &Watcher{
		path:     path,
		interval: interval,
		onChange: onChange,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Start records the file's current state and begins polling. Changes made
// before Start are not reported: the caller loads the file itself first.
func (w *Watcher) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started || w.stopped {
		return
	}
	w.started = true
	w.last = stat(w.path)
	go w.run()
}

// Stop ends polling and waits for the goroutine, including an onChange call
// in progress. It is safe to call more than once, and without Start; a
// Watcher cannot be restarted.
func (w *Watcher) Stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.stop)
	}
	started := w.started
	w.mu.Unlock()
	if started {
		<-w.done
	}
}

func (w *Watcher) run() {
	defer close(w.done)
	ticker := time.NewTicker(w.interval)
	defer ticker.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-ticker.C:
			cur := stat(w.path)
			if changed(w.last, cur) {
				w.last = cur
				w.onChange()
			}
		}
	}
}

func stat(path string) os.FileInfo {
	fi, err := os.Stat(path)
	if err != nil {
		return nil
	}
	return fi
}

func changed(a, b os.FileInfo) bool {
	switch {
	case a == nil || b == nil:
		return a != b
	case !os.SameFile(a, b):
		return true
	default:
		return a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
	}
}
