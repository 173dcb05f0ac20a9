// Package records keeps FHIR resource versions, encrypted, in the node's
// records database, and runs the write path that makes them durable and
// anchored: a version is encrypted under its subject's data key (the
// patient's, or an organisation compartment's), written durably, anchored
// on the ledger by the records contract, and only then visible to reads.
//
// Clear text exists only in memory: the database holds ciphertext keyed by
// resource type, id and version (server-assigned, not personal) with a
// small clear header (last-updated time, deletion flag, subject pseudonym).
// It never decides who may read what: authorisation is the API's job.
package records

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
)

// Sealer encrypts and decrypts record versions under a subject's key.
// *crypt.Keyring implements it.
type Sealer interface {
	Seal(subject string, aad, plaintext []byte) ([]byte, error)
	Open(subject string, aad, ciphertext []byte) ([]byte, error)
}

// ErrNotFound is returned (wrapped) when a resource or version does not
// exist in the store.
var ErrNotFound = errors.New("records: not found")

// Meta is the clear header of a stored version.
type Meta struct {
	Type        string    `json:"t"`
	ID          string    `json:"i"`
	Version     uint64    `json:"v"`
	LastUpdated time.Time `json:"u"`
	Deleted     bool      `json:"d,omitempty"`
	Subject     string    `json:"s,omitempty"` // key subject: a patient pseudonym or "org:<id>"
}

// AAD returns the additional authenticated data binding a ciphertext to
// its place, so ciphertexts cannot be swapped between versions.
func (m Meta) AAD() []byte {
	return []byte(m.Type + "/" + m.ID + "/_history/" + fmt.Sprint(m.Version))
}

// Store is the records database. Safe for concurrent use.
type Store struct {
	db     *pebble.DB
	sealer Sealer
}

// Options configures Open.
type Options struct {
	Dir    string
	Sealer Sealer
	Logger *slog.Logger
}

// Open opens or creates the records database.
func Open(o Options) (*Store, error) {
	cache := pebble.NewCache(32 << 20)
	defer cache.Unref()
	po := &pebble.Options{Cache: cache, FormatMajorVersion: pebble.FormatNewest, MemTableSize: 32 << 20, Logger: quiet{o.Logger}}
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(o.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("open records store %s: %w", o.Dir, err)
	}
	return &Store{db: db, sealer: o.Sealer}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// SetSealer installs the sealer after Open: the keyring keeps its keys in
// this same database (see Keys), so it can only be built once the store is
// open. Call it once, before any other method.
func (s *Store) SetSealer(x Sealer) { s.sealer = x }

// Key layout: 'v' type 0x00 id 0x00 BE64(version) → header length (uvarint),
// header JSON, ciphertext. Types and ids cannot contain 0x00.
func versionKey(typ, id string, v uint64) []byte {
	k := make([]byte, 0, len(typ)+len(id)+11)
	k = append(k, 'v')
	k = append(k, typ...)
	k = append(k, 0)
	k = append(k, id...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, v)
}

func resourcePrefix(typ, id string) []byte {
	k := versionKey(typ, id, 0)
	return k[:len(k)-8]
}

// Version is one version to write: its header and canonical JSON (empty
// for a deletion).
type Version struct {
	Meta Meta
	JSON []byte
}

// Put encrypts and writes versions in one atomic batch, without waiting
// for an fsync: they become durable at the next Sync, which the node runs
// before committing every ledger block. Since a version is anchored only
// in a later block, it is always durable before its anchor. They are not
// yet anchored: callers anchor them on the ledger next, and only then
// expose them.
func (s *Store) Put(vs []Version) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, v := range vs {
		// The header stores them as JSON, which would change invalid
		// UTF-8, and the key layout separates them with 0x00: either way
		// the version could not be found or decrypted again.
		if !validName(v.Meta.Type) || !validName(v.Meta.ID) {
			return errors.New("records: a type or id is not UTF-8 without NUL bytes")
		}
		var ct []byte
		if !v.Meta.Deleted {
			var err error
			if ct, err = s.sealer.Seal(v.Meta.Subject, v.Meta.AAD(), v.JSON); err != nil {
				return fmt.Errorf("records: encrypt %s/%s: %w", v.Meta.Type, v.Meta.ID, err)
			}
		}
		hdr, err := json.Marshal(v.Meta)
		if err != nil {
			return err
		}
		val := binary.AppendUvarint(make([]byte, 0, len(hdr)+len(ct)+4), uint64(len(hdr)))
		val = append(append(val, hdr...), ct...)
		b.Set(versionKey(v.Meta.Type, v.Meta.ID, v.Meta.Version), val, nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return fmt.Errorf("records: write: %w", err)
	}
	return nil
}

func validName(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// Sync makes every write made so far durable (one WAL fsync, shared by all
// of them).
func (s *Store) Sync() error { return s.db.LogData(nil, pebble.Sync) }

func decodeValue(val []byte) (Meta, []byte, error) {
	var m Meta
	n, l := binary.Uvarint(val)
	if l <= 0 || uint64(len(val)-l) < n {
		return m, nil, errors.New("records: corrupt version header")
	}
	if err := json.Unmarshal(val[l:l+int(n)], &m); err != nil {
		return m, nil, fmt.Errorf("records: corrupt version header: %w", err)
	}
	return m, val[l+int(n):], nil
}

// Get returns a version's header and decrypted canonical JSON (nil for a
// deletion).
func (s *Store) Get(typ, id string, version uint64) (Meta, []byte, error) {
	val, c, err := s.db.Get(versionKey(typ, id, version))
	if errors.Is(err, pebble.ErrNotFound) {
		return Meta{}, nil, fmt.Errorf("%s/%s/_history/%d: %w", typ, id, version, ErrNotFound)
	}
	if err != nil {
		return Meta{}, nil, err
	}
	defer c.Close()
	m, ct, err := decodeValue(val)
	if err != nil {
		return m, nil, err
	}
	if m.Deleted {
		return m, nil, nil
	}
	pt, err := s.sealer.Open(m.Subject, m.AAD(), ct)
	if err != nil {
		return m, nil, fmt.Errorf("records: decrypt %s/%s/_history/%d: %w", typ, id, version, err)
	}
	return m, pt, nil
}

// has reports whether a version is stored, without decrypting it.
func (s *Store) has(typ, id string, version uint64) (bool, error) {
	_, c, err := s.db.Get(versionKey(typ, id, version))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, c.Close()
}

// Versions returns the headers of every stored version of a resource,
// oldest first (including any not yet anchored; callers filter).
func (s *Store) Versions(typ, id string) ([]Meta, error) {
	p := resourcePrefix(typ, id)
	return s.metas(p, append(bytes.Clone(p), 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF))
}

// metas returns the headers of the versions stored in [lo, hi).
func (s *Store) metas(lo, hi []byte) ([]Meta, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []Meta
	for ok := it.First(); ok; ok = it.Next() {
		m, _, err := decodeValue(it.Value())
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, it.Error()
}

// TypeVersions returns the headers of every stored version of a type, in
// key order (including any not yet anchored; callers filter).
func (s *Store) TypeVersions(typ string) ([]Meta, error) {
	return s.metas(append(append([]byte{'v'}, typ...), 0), append(append([]byte{'v'}, typ...), 1))
}

// Each calls fn for every stored version in key order (type, id,
// version), with its decrypted JSON (nil for deletions and for versions
// whose key was shredded: then err is the decryption error). Used to
// rebuild indexes and to export.
func (s *Store) Each(fn func(m Meta, js []byte, openErr error) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'v'}, UpperBound: []byte{'w'}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		m, ct, err := decodeValue(it.Value())
		if err != nil {
			return err
		}
		var pt []byte
		var oerr error
		if !m.Deleted {
			pt, oerr = s.sealer.Open(m.Subject, m.AAD(), ct)
		}
		if err := fn(m, pt, oerr); err != nil {
			return err
		}
	}
	return it.Error()
}

// Remove deletes stored versions (orphans that were never anchored).
func (s *Store) Remove(ms []Meta) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, m := range ms {
		b.Delete(versionKey(m.Type, m.ID, m.Version), nil)
	}
	return b.Commit(pebble.Sync)
}

// DB exposes the database for key storage (package crypt's KeyStore is
// kept in the same database under its own prefix).
func (s *Store) DB() *pebble.DB { return s.db }

type quiet struct{ l *slog.Logger }

func (q quiet) Infof(string, ...any) {}
func (q quiet) Errorf(f string, a ...any) {
	if q.l != nil {
		q.l.Error("records db", "msg", fmt.Sprintf(f, a...))
	}
}
func (q quiet) Fatalf(f string, a ...any) {
	q.Errorf(f, a...)
	panic(fmt.Sprintf("records db: "+f, a...))
}
