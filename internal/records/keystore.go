package records

import (
	"bytes"
	"errors"

	"github.com/cockroachdb/pebble/v2"
)

// KeyStore keeps wrapped data-encryption keys in the records database
// under prefix 'k' (it implements crypt.KeyStore). Writes are fsynced: a
// key must be durable before anything it encrypts.
type KeyStore struct{ db *pebble.DB }

// Keys returns the store's key storage.
func (s *Store) Keys() *KeyStore { return &KeyStore{db: s.db} }

func keyKey(subject string) []byte { return append([]byte{'k'}, subject...) }

// GetKey returns the wrapped key of a subject.
func (k *KeyStore) GetKey(subject string) ([]byte, bool, error) {
	v, c, err := k.db.Get(keyKey(subject))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	return bytes.Clone(v), true, nil
}

// PutKey stores a subject's wrapped key durably.
func (k *KeyStore) PutKey(subject string, wrapped []byte) error {
	return k.db.Set(keyKey(subject), wrapped, pebble.Sync)
}
