// Package store keeps the fleet registry on disk in a bbolt database: one
// bucket of device records, one of assignments, and the reserved upper bound
// of remote configuration serials. Records are opaque bytes (the registry's
// JSON); the store only guarantees that a transaction is all or nothing and
// durable when it returns.
package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileName is the database file inside the registry directory.
const FileName = "registry.db"

const (
	dirPerm  = 0o700
	filePerm = 0o600
)

var (
	bucketDevices     = []byte("devices")
	bucketAssignments = []byte("assignments")
	bucketMeta        = []byte("meta")
	keySerialReserved = []byte("serial_reserved")
)

// Store is an open registry database.
type Store struct {
	db *bolt.DB
}

// Open opens (creating it if needed) the database in dir, which is created
// 0700; the file is 0600.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("create registry directory: %w", err)
	}
	if err := os.Chmod(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("restrict registry directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	// A second gateway on the same directory waits at most this long for
	// the file lock and then fails to start instead of hanging.
	db, err := bolt.Open(path, filePerm, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	if err := os.Chmod(path, filePerm); err != nil {
		db.Close()
		return nil, fmt.Errorf("restrict registry %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketDevices, bucketAssignments, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("prepare registry %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Devices calls fn for every stored device record.
func (s *Store) Devices(fn func(id string, rec []byte) error) error {
	return s.each(bucketDevices, fn)
}

// Assignments calls fn for every stored assignment.
func (s *Store) Assignments(fn func(name string, rec []byte) error) error {
	return s.each(bucketAssignments, fn)
}

func (s *Store) each(bucket []byte, fn func(string, []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			// bbolt's slices are valid only inside the transaction.
			return fn(string(k), append([]byte(nil), v...))
		})
	})
}

// PutDevices writes many device records in one transaction.
func (s *Store) PutDevices(recs map[string][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		for id, rec := range recs {
			if err := b.Put([]byte(id), rec); err != nil {
				return fmt.Errorf("store device %s: %w", id, err)
			}
		}
		return nil
	})
}

// PutAssignment writes one assignment.
func (s *Store) PutAssignment(name string, rec []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssignments).Put([]byte(name), rec)
	})
}

// DeleteAssignment removes one assignment.
func (s *Store) DeleteAssignment(name string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssignments).Delete([]byte(name))
	})
}

// SerialReserved returns the reserved upper bound of serials (0 if none).
func (s *Store) SerialReserved() (uint64, error) {
	var n uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketMeta).Get(keySerialReserved)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return errors.New("registry: corrupt serial record")
		}
		n = binary.BigEndian.Uint64(v)
		return nil
	})
	return n, err
}

// ReserveSerials durably raises the reserved bound to upTo: serials below it
// may be handed out without another write, and a restart continues above
// it, so no serial is ever issued twice.
func (s *Store) ReserveSerials(upTo uint64) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		var v [8]byte
		binary.BigEndian.PutUint64(v[:], upTo)
		return tx.Bucket(bucketMeta).Put(keySerialReserved, v[:])
	})
}
