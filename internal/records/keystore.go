package records

import (
	"bytes"
	"context"
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

// PutKey stores a subject's wrapped key durably. When it replaces a value
// (a shred, a rotation) it then compacts the key's range, as
// crypt.KeyStore asks, so that the replaced value does not linger in the
// database's tables. (A write-ahead log file that Pebble keeps for reuse
// may still hold it until it is overwritten.)
func (k *KeyStore) PutKey(subject string, wrapped []byte) error {
	key := keyKey(subject)
	_, c, err := k.db.Get(key)
	replaced := err == nil
	if replaced {
		c.Close()
	} else if !errors.Is(err, pebble.ErrNotFound) {
		return err
	}
	if err := k.db.Set(key, wrapped, pebble.Sync); err != nil {
		return err
	}
	if !replaced {
		return nil
	}
	return k.db.Compact(context.Background(), key, append(bytes.Clone(key), 0), false)
}
