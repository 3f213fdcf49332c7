// Package checkpoint is a small key/value store, one fsync'd file, that holds
// the file inputs' read offsets. It implements stanza's operator.Persister.
//
// It exists instead of the file_storage extension for one guarantee: before
// any value is written, the store calls a barrier (the spool's Sync), so a file
// checkpoint is never on disk ahead of the lines it covers. A store can also be
// poisoned: once an input failed to spool a line, no checkpoint is saved again
// in this process, and the next start re-reads from the last good one (a
// duplicate, never a loss).
package checkpoint // import "github.com/fleetlog/fleetlog/receivers/spoolreceiver/internal/checkpoint"

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"go.opentelemetry.io/collector/extension/xextension/storage"

	"github.com/fleetlog/fleetlog/internal/durable"
)

// filePerm is the checkpoint file's mode.
const filePerm = 0o600

// ErrPoisoned is returned by writes after Poison: a line was not spooled, so
// no later offset may be saved.
var ErrPoisoned = errors.New("checkpoint: not saved, an earlier line failed to reach the spool")

// Store is a Persister backed by one file, rewritten atomically on each write.
type Store struct {
	path    string
	barrier func() error

	mu       sync.Mutex
	data     map[string][]byte
	poisoned error
}

// Open loads the store at path (a missing file is an empty store; a damaged
// one is set aside as path.bad and replaced, since offsets can be re-derived
// by re-reading, at the cost of duplicates). barrier is called before every
// write reaches the disk.
func Open(path string, barrier func() error) (*Store, error) {
	s := &Store{path: path, barrier: barrier, data: map[string][]byte{}}
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("read checkpoints %s: %w", path, err)
	}
	if err := json.Unmarshal(raw, &s.data); err != nil {
		s.data = map[string][]byte{}
		if err := os.Rename(path, path+".bad"); err != nil {
			return nil, fmt.Errorf("set aside damaged checkpoints %s: %w", path, err)
		}
	}
	return s, nil
}

// Poison makes every later write fail with ErrPoisoned wrapping cause.
func (s *Store) Poison(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poisoned == nil {
		s.poisoned = fmt.Errorf("%w: %w", ErrPoisoned, cause)
	}
}

// Get returns the value of key, or nil if it is not set.
func (s *Store) Get(_ context.Context, key string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data[key], nil
}

// Set stores value under key, durably, after the barrier.
func (s *Store) Set(ctx context.Context, key string, value []byte) error {
	return s.Batch(ctx, storage.SetOperation(key, value))
}

// Delete removes key, durably.
func (s *Store) Delete(ctx context.Context, key string) error {
	return s.Batch(ctx, storage.DeleteOperation(key))
}

// Batch applies ops in order and writes the store once. Get operations fill
// in their Value.
func (s *Store) Batch(_ context.Context, ops ...*storage.Operation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// fileconsumer saves its offsets after every poll, changed or not; an
	// unchanged store is not rewritten, which spares idle devices two fsyncs
	// per poll.
	dirty := false
	for _, op := range ops {
		switch op.Type {
		case storage.Get:
			op.Value = s.data[op.Key]
		case storage.Set:
			old, ok := s.data[op.Key]
			dirty = dirty || !ok || !bytes.Equal(old, op.Value)
		case storage.Delete:
			_, ok := s.data[op.Key]
			dirty = dirty || ok
		}
	}
	if !dirty {
		return nil
	}
	if s.poisoned != nil {
		return s.poisoned
	}
	// The barrier runs before the new offsets are even in memory, so a
	// failed barrier leaves the store exactly as it was.
	if s.barrier != nil {
		if err := s.barrier(); err != nil {
			return fmt.Errorf("sync spool before checkpoint: %w", err)
		}
	}
	for _, op := range ops {
		switch op.Type {
		case storage.Set:
			s.data[op.Key] = append([]byte(nil), op.Value...)
		case storage.Delete:
			delete(s.data, op.Key)
		}
	}
	return s.write()
}

// write replaces the file atomically: temp file, fsync, rename, fsync dir.
func (s *Store) write() error {
	raw, err := json.Marshal(s.data)
	if err != nil {
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	if err := durable.WriteFile(s.path, raw, filePerm); err != nil {
		return fmt.Errorf("save checkpoints: %w", err)
	}
	return nil
}
