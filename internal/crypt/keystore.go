package crypt

import (
	"bytes"
	"sync"
)

// A KeyStore durably holds the Keyring's wrapped keys: the encrypted KEK
// keyset, one wrapped DEK or tombstone per subject. Values are opaque and
// already encrypted; names are short printable strings. Implementations
// must be safe for concurrent use.
//
// The records store implements it on its database; MemKeyStore is an
// in-memory implementation for tests.
type KeyStore interface {
	// GetKey returns the value stored under name, or ok == false if there
	// is none. The caller may keep the returned slice.
	GetKey(name string) (value []byte, ok bool, err error)
	// PutKey stores value under name, replacing any previous value, and
	// returns only once the write is durable. It must not retain value.
	//
	// Crypto-shredding replaces a wrapped DEK with a tombstone through
	// PutKey: the implementation should not keep the replaced value any
	// longer than its storage engine must (for an LSM tree, compact the
	// key's range after a shred).
	PutKey(name string, value []byte) error
}

// Names of KeyStore entries.
const (
	kekName   = "kek"
	dekPrefix = "dek/"
)

func dekName(subject string) string { return dekPrefix + subject }

// Leading byte of stored values.
const (
	tagWrapped   = 0x01 // tink EncryptedKeyset follows
	tagTombstone = 0x02 // the subject was shredded; nothing follows
)

var _ KeyStore = (*MemKeyStore)(nil)

// MemKeyStore is a KeyStore in memory. Its zero value is empty and ready
// to use; it is safe for concurrent use and copies values in and out.
type MemKeyStore struct {
	mu sync.Mutex
	m  map[string][]byte // guarded by mu
}

// GetKey implements KeyStore.
func (s *MemKeyStore) GetKey(name string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name]
	return bytes.Clone(v), ok, nil
}

// PutKey implements KeyStore.
func (s *MemKeyStore) PutKey(name string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string][]byte)
	}
	s.m[name] = bytes.Clone(value)
	return nil
}

// Len returns the number of entries, for tests and statistics.
func (s *MemKeyStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
