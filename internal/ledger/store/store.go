// Package store persists the ledger in one embedded Pebble database: signed
// block headers, transactions, results, the transaction-ID index, tx-log
// Merkle nodes and the versioned world state. A block and everything it
// changes are written in one atomic batch that is fsynced before Commit
// returns, so a crash at any instant leaves either the whole block or none
// of it.
//
// The store checks nothing about what it is given: validation belongs to the
// sequencer and to verification, which read back through this package.
//
// Pebble, not bbolt: a benchmark of the ledger's write pattern (three keys
// per transaction, two of them random, one fsynced batch per block) gave
// bbolt 14,000 tx/s at 2 million transactions and falling, Pebble 60,000 to
// 90,000 tx/s; the README's Performance section has the figures.
package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// ErrNotFound is returned (wrapped) when a block, transaction, node or
// state key does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrCorrupt is wrapped when stored bytes cannot be what the store wrote.
var ErrCorrupt = errors.New("store: corrupt")

// Options configures Open. The zero value, with Dir set, is valid.
type Options struct {
	// Dir is the database directory; it is created if missing (unless
	// ReadOnly).
	Dir string
	// ReadOnly opens without write access (verification, inspection).
	ReadOnly bool
	// MustExist fails if no database exists at Dir.
	MustExist bool
	// Logger receives Pebble's errors; nil discards them.
	Logger *slog.Logger
	// CacheBytes is the block cache size; default 64 MiB.
	CacheBytes int64
	// HotPrefixes lists state-key prefixes whose latest values are kept in
	// memory (write-through): small, frequently read records such as
	// member identities and policies. Default: none.
	HotPrefixes [][]byte
}

// Store is the ledger database. Reads are safe for concurrent use with each
// other and with one writer; Commit calls must be serialised by the caller.
type Store struct {
	db     *pebble.DB
	height atomic.Uint64 // latest committed height; 0 before block 1

	mu   sync.Mutex // guards last
	last ledger.SignedHeader

	filter *keyFilter // nil when read-only: every key may exist

	hotPrefixes [][]byte
	hotMu       sync.RWMutex
	hot         map[string]hotEntry // guarded by hotMu: latest values under hotPrefixes
	// hotGen counts commits; guarded by hotMu. Get caches what it read
	// only if no commit happened meanwhile: the value it read from disk
	// may predate that commit's (already cached) one.
	hotGen uint64
}

// hotEntry is a cached latest value; ok false caches absence.
type hotEntry struct {
	v  []byte
	ok bool
}

const maxHot = 1 << 20

func (s *Store) isHot(k []byte) bool {
	for _, p := range s.hotPrefixes {
		if bytes.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// Open opens or creates the database in o.Dir.
func Open(o Options) (*Store, error) {
	cache := pebble.NewCache(cmpDefault(o.CacheBytes, 64<<20))
	defer cache.Unref()
	po := &pebble.Options{
		Cache:                       cache,
		ReadOnly:                    o.ReadOnly,
		ErrorIfNotExists:            o.MustExist || o.ReadOnly,
		FormatMajorVersion:          pebble.FormatNewest,
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       1000,
		Logger:                      pebbleLogger{o.Logger},
		// A corrupt block is returned to the reader as an error (and
		// logged). Pebble's default handler calls Logger.Fatalf, which
		// panics here: verify must report corruption, not crash on it.
		EventListener: &pebble.EventListener{DataCorruption: func(info pebble.DataCorruptionInfo) {
			if o.Logger != nil {
				o.Logger.Error("pebble: data corruption", "path", info.Path, "err", info.Details)
			}
		}},
	}
	// Bloom filters make point reads of absent keys (the replay check of
	// every new transaction, first writes of state keys) cheap.
	po.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	db, err := pebble.Open(o.Dir, po)
	if err != nil {
		return nil, fmt.Errorf("open ledger store %s: %w", o.Dir, err)
	}
	s := &Store{db: db, hotPrefixes: o.HotPrefixes, hot: make(map[string]hotEntry)}
	if err := s.load(o.ReadOnly); err != nil {
		db.Close()
		return nil, fmt.Errorf("open ledger store %s: %w", o.Dir, err)
	}
	if !o.ReadOnly {
		if err := s.buildFilter(); err != nil {
			db.Close()
			return nil, fmt.Errorf("open ledger store %s: %w", o.Dir, err)
		}
	}
	return s, nil
}

func cmpDefault(v, d int64) int64 {
	if v <= 0 {
		return d
	}
	return v
}

func (s *Store) load(readOnly bool) error {
	v, err := s.get(metaFormat)
	switch {
	case errors.Is(err, ErrNotFound):
		if readOnly {
			return fmt.Errorf("no ledger here: %w", ErrNotFound)
		}
		if err := s.db.Set(metaFormat, []byte(formatVersion), pebble.Sync); err != nil {
			return err
		}
	case err != nil:
		return err
	case string(v) != formatVersion:
		return fmt.Errorf("store format %q, this build reads %q: %w", v, formatVersion, ErrCorrupt)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pfxHeader}, UpperBound: []byte{pfxHeader + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	if it.Last() {
		sh, err := ledger.DecodeSignedHeader(it.Value())
		if err != nil {
			if !readOnly {
				return fmt.Errorf("latest header: %v: %w (run medledger verify)", err, ErrCorrupt)
			}
			// Read-only tools (verify) must still open a damaged ledger to
			// say where the damage is; they read headers themselves.
			if k := it.Key(); len(k) == 9 {
				s.height.Store(binary.BigEndian.Uint64(k[1:]))
			}
			return it.Error()
		}
		s.last = sh
		s.height.Store(sh.Header.Height)
	}
	return it.Error()
}

// buildFilter loads every key of the latest-state and tx-index spaces into
// the in-memory filter (a key scan: about a second per few million keys).
func (s *Store) buildFilter() error {
	var keys [][]byte
	for _, space := range []byte{pfxLatest, pfxIndex} {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{space}, UpperBound: []byte{space + 1}})
		if err != nil {
			return err
		}
		for ok := it.First(); ok; ok = it.Next() {
			keys = append(keys, bytes.Clone(it.Key()))
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	s.filter = newKeyFilter(2 * len(keys))
	for _, k := range keys {
		s.filter.add(k)
	}
	return nil
}

// mayExist reports whether key (a latest-state or index key) may exist.
func (s *Store) mayExist(key []byte) bool {
	return s.filter == nil || s.filter.mayContain(key)
}

// noteKeys adds the keys a batch is about to write to the filter; it runs
// before the batch is committed, so no reader can find a key in the
// database that the filter says is absent.
func (s *Store) noteKeys(changes []ledger.Change, ids []ledger.Hash, unindexed []bool) {
	if s.filter == nil {
		return
	}
	for _, c := range changes {
		if !c.Delete {
			s.filter.add(LatestKey(c.Key))
		}
	}
	for i, id := range ids {
		if unindexed == nil || !unindexed[i] {
			s.filter.add(IndexKey(id))
		}
	}
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Height returns the latest committed block height (0 before block 1).
func (s *Store) Height() uint64 { return s.height.Load() }

// Last returns the latest committed signed header (zero before block 1).
func (s *Store) Last() ledger.SignedHeader {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *Store) get(k []byte) ([]byte, error) {
	v, c, err := s.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(v)
	c.Close()
	return out, nil
}

// Genesis returns the canonical genesis document stored by InitGenesis.
func (s *Store) Genesis() ([]byte, error) { return s.get(metaGenesis) }

// InitGenesis stores the genesis document and the genesis state (height 0)
// in one durable batch. It fails if a genesis is already stored.
func (s *Store) InitGenesis(doc []byte, changes []ledger.Change) error {
	if _, err := s.get(metaGenesis); err == nil {
		return errors.New("store: genesis already initialised")
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(metaGenesis, doc, nil)
	for _, c := range changes {
		setState(b, c, 0)
	}
	s.noteKeys(changes, nil, nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	// Reads before genesis may have cached hot keys as absent.
	s.hotMu.Lock()
	s.hotGen++
	clear(s.hot)
	s.hotMu.Unlock()
	return nil
}

func setState(b *pebble.Batch, c ledger.Change, h uint64) {
	k := StateKey(c.Key, h)
	if c.Delete {
		b.Set(k, []byte{tagDelete}, nil)
		b.Delete(LatestKey(c.Key), nil)
		return
	}
	b.Set(LatestKey(c.Key), c.Value, nil)
	v := make([]byte, 1+len(c.Value))
	v[0] = tagPut
	copy(v[1:], c.Value)
	b.Set(k, v, nil)
}

// Block is everything one block writes.
type Block struct {
	Header  ledger.SignedHeader
	Txs     [][]byte      // canonical encodings, in block order
	IDs     []ledger.Hash // ledger.Tx.ID of each
	Results [][]byte      // canonical encodings, one per tx
	Changes []ledger.Change
	Nodes   []Node // tx-log nodes created by this block's txs
	// Unindexed marks transactions not to index: replays of an already
	// committed ID, which keep the index pointing at the first one. Nil
	// indexes every transaction.
	Unindexed []bool
}

// Node is a tx-log Merkle node to persist.
type Node struct {
	ID   txlog.NodeID
	Hash ledger.Hash
}

// Commit writes b atomically and fsyncs it. b.Header.Header.Height must be
// Height()+1. Only one Commit may run at a time.
func (s *Store) Commit(b *Block) error {
	h := b.Header.Header.Height
	if h != s.height.Load()+1 {
		return fmt.Errorf("store: commit height %d after %d", h, s.height.Load())
	}
	if len(b.Txs) != len(b.Results) || len(b.Txs) != len(b.IDs) {
		return fmt.Errorf("store: block %d has %d txs, %d ids, %d results", h, len(b.Txs), len(b.IDs), len(b.Results))
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	batch.Set(HeaderKey(h), b.Header.Encode(), nil)
	firstLeaf := b.Header.Header.TxLogSize - uint64(len(b.Txs))
	var loc [20]byte
	for i := range b.Txs {
		batch.Set(TxKey(h, uint32(i)), b.Txs[i], nil)
		batch.Set(ResultKey(h, uint32(i)), b.Results[i], nil)
		if b.Unindexed != nil && b.Unindexed[i] {
			continue
		}
		binary.BigEndian.PutUint64(loc[0:], h)
		binary.BigEndian.PutUint32(loc[8:], uint32(i))
		binary.BigEndian.PutUint64(loc[12:], firstLeaf+uint64(i))
		batch.Set(IndexKey(b.IDs[i]), loc[:], nil)
	}
	for _, n := range b.Nodes {
		batch.Set(NodeKey(n.ID.Level, n.ID.Index), n.Hash[:], nil)
	}
	for _, c := range b.Changes {
		setState(batch, c, h)
	}
	s.noteKeys(b.Changes, b.IDs, b.Unindexed)
	if err := batch.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("store: commit block %d: %w", h, err)
	}
	if len(s.hotPrefixes) > 0 {
		s.hotMu.Lock()
		s.hotGen++
		for _, c := range b.Changes {
			if s.isHot(c.Key) {
				s.hot[string(c.Key)] = hotEntry{v: c.Value, ok: !c.Delete}
			}
		}
		s.hotMu.Unlock()
	}
	s.mu.Lock()
	s.last = b.Header
	s.mu.Unlock()
	s.height.Store(h)
	return nil
}

// Header returns the signed header at height h.
func (s *Store) Header(h uint64) (ledger.SignedHeader, error) {
	v, err := s.get(HeaderKey(h))
	if err != nil {
		return ledger.SignedHeader{}, fmt.Errorf("header %d: %w", h, err)
	}
	sh, err := ledger.DecodeSignedHeader(v)
	if err != nil {
		return ledger.SignedHeader{}, fmt.Errorf("header %d: %v: %w", h, err, ErrCorrupt)
	}
	return sh, nil
}

// Tx returns the encoded transaction i of block h.
func (s *Store) Tx(h uint64, i uint32) ([]byte, error) {
	v, err := s.get(TxKey(h, i))
	if err != nil {
		return nil, fmt.Errorf("tx %d/%d: %w", h, i, err)
	}
	return v, nil
}

// ViewTx calls fn with the encoded transaction i of block h as stored,
// without copying it: raw is valid only until fn returns, and fn must not
// modify it or keep anything that aliases it.
func (s *Store) ViewTx(h uint64, i uint32, fn func(raw []byte) error) error {
	v, c, err := s.db.Get(TxKey(h, i))
	if errors.Is(err, pebble.ErrNotFound) {
		err = ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("tx %d/%d: %w", h, i, err)
	}
	defer c.Close()
	return fn(v)
}

// Result returns the encoded result of transaction i of block h.
func (s *Store) Result(h uint64, i uint32) ([]byte, error) {
	v, err := s.get(ResultKey(h, i))
	if err != nil {
		return nil, fmt.Errorf("result %d/%d: %w", h, i, err)
	}
	return v, nil
}

// Loc is where a committed transaction is.
type Loc struct {
	Height uint64
	Index  uint32
	Leaf   uint64 // position in the tx log
}

// Locate returns where the transaction with the given ID was committed, or
// ErrNotFound.
func (s *Store) Locate(id ledger.Hash) (Loc, error) {
	k := IndexKey(id)
	if !s.mayExist(k) {
		return Loc{}, ErrNotFound
	}
	v, err := s.get(k)
	if err != nil {
		return Loc{}, err
	}
	return decodeLoc(v)
}

func decodeLoc(v []byte) (Loc, error) {
	if len(v) != 20 {
		return Loc{}, fmt.Errorf("index entry is %d bytes: %w", len(v), ErrCorrupt)
	}
	return Loc{
		Height: binary.BigEndian.Uint64(v[0:]),
		Index:  binary.BigEndian.Uint32(v[8:]),
		Leaf:   binary.BigEndian.Uint64(v[12:]),
	}, nil
}

// Has reports whether a transaction with this ID is committed.
func (s *Store) Has(id ledger.Hash) (bool, error) {
	_, err := s.Locate(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Node implements txlog.NodeReader.
func (s *Store) Node(id txlog.NodeID) (ledger.Hash, error) {
	v, err := s.get(NodeKey(id.Level, id.Index))
	if err != nil {
		return ledger.Hash{}, err
	}
	h, err := ledger.HashFromSlice(v)
	if err != nil {
		return h, fmt.Errorf("node %d/%d: %v: %w", id.Level, id.Index, err, ErrCorrupt)
	}
	return h, nil
}

var _ txlog.NodeReader = (*Store)(nil)

// Get returns the latest value of state key k. ok is false if the key was
// never set or is deleted. Callers must not modify the returned slice.
func (s *Store) Get(k []byte) (v []byte, ok bool, err error) {
	hot := s.isHot(k)
	if hot {
		s.hotMu.RLock()
		e, cached := s.hot[string(k)]
		gen := s.hotGen
		s.hotMu.RUnlock()
		if cached {
			return e.v, e.ok, nil
		}
		defer func() {
			if err == nil {
				s.hotMu.Lock()
				defer s.hotMu.Unlock()
				if s.hotGen != gen {
					return // a commit may have made v stale
				}
				if len(s.hot) >= maxHot {
					clear(s.hot)
				}
				s.hot[string(k)] = hotEntry{v: v, ok: ok}
			}
		}()
	}
	lk := LatestKey(k)
	if !s.mayExist(lk) {
		return nil, false, nil
	}
	v, err = s.get(lk)
	if errors.Is(err, ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return v, true, nil
}

// GetAt returns the value of state key k as of height h: the newest version
// written at or below h.
func (s *Store) GetAt(k []byte, h uint64) (v []byte, ok bool, err error) {
	p := stateKeyPrefix(k)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: prefixEnd(p)})
	if err != nil {
		return nil, false, err
	}
	defer it.Close()
	if !it.SeekGE(binary.BigEndian.AppendUint64(p, ^h)) {
		return nil, false, it.Error()
	}
	return stateValue(it.Value())
}

func stateValue(raw []byte) ([]byte, bool, error) {
	if len(raw) == 0 {
		return nil, false, fmt.Errorf("empty state value: %w", ErrCorrupt)
	}
	switch raw[0] {
	case tagPut:
		return bytes.Clone(raw[1:]), true, nil
	case tagDelete:
		if len(raw) != 1 {
			return nil, false, fmt.Errorf("delete marker with value: %w", ErrCorrupt)
		}
		return nil, false, nil
	}
	return nil, false, fmt.Errorf("state value tag %d: %w", raw[0], ErrCorrupt)
}

// Scan calls fn for each live state key with the given prefix, in key
// order, with its value as of height h (use ^uint64(0) for the latest).
// fn must not retain its arguments; returning false stops the scan.
func (s *Store) Scan(prefix []byte, h uint64, fn func(k, v []byte) bool) error {
	lo := appendEscaped(nil, prefix)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: prefixEnd(lo)})
	if err != nil {
		return err
	}
	defer it.Close()
	valid := it.First()
	for valid {
		k, kh, err := ParseStateKey(it.Key())
		if err != nil {
			return fmt.Errorf("%w: %w", err, ErrCorrupt)
		}
		if kh > h { // a newer version: skip to the newest one at or below h
			valid = it.SeekGE(binary.BigEndian.AppendUint64(stateKeyPrefix(k), ^h))
			continue
		}
		v, live, err := stateValue(it.Value())
		if err != nil {
			return err
		}
		if live && !fn(k, v) {
			return nil
		}
		// Skip the older versions of k: everything below its terminator + 1.
		next := appendEscaped(nil, k)
		valid = it.SeekGE(append(next, 0x00, 0x02))
	}
	return it.Error()
}

// Checkpoint writes a consistent copy of the database to dir (which must
// not exist), while the store keeps serving.
func (s *Store) Checkpoint(dir string) error {
	if err := s.db.Flush(); err != nil {
		return fmt.Errorf("store: checkpoint: %w", err)
	}
	if err := s.db.Checkpoint(dir); err != nil {
		return fmt.Errorf("store: checkpoint to %s: %w", dir, err)
	}
	return nil
}

// Raw gives verification and repair tools ordered access to a whole key
// space: fn receives each key and value with the given first byte, in key
// order. fn must not retain its arguments.
func (s *Store) Raw(space byte, fn func(k, v []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{space}, UpperBound: []byte{space + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

// Key-space bytes for Raw.
const (
	SpaceHeader = pfxHeader
	SpaceTx     = pfxTx
	SpaceResult = pfxResult
	SpaceIndex  = pfxIndex
	SpaceNode   = pfxNode
	SpaceState  = pfxState
	SpaceLatest = pfxLatest
)

// DecodeLoc decodes an index entry value (for verification tools).
func DecodeLoc(v []byte) (Loc, error) { return decodeLoc(v) }

// ParsePos decodes a tx or result key into height and index.
func ParsePos(k []byte) (uint64, uint32, error) { return parsePos(k) }

// DecodeStateValue decodes a stored state value: the value and whether it
// is live (false for a deletion).
func DecodeStateValue(raw []byte) ([]byte, bool, error) { return stateValue(raw) }

type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(string, ...any) {}
func (p pebbleLogger) Errorf(format string, args ...any) {
	if p.l != nil {
		p.l.Error("pebble", "msg", fmt.Sprintf(format, args...))
	}
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	if p.l != nil {
		p.l.Error("pebble fatal", "msg", fmt.Sprintf(format, args...))
	}
	panic(fmt.Sprintf("pebble: "+format, args...))
}

var _ io.Closer = (*Store)(nil)

// Cursor walks the keys of one range in order, for verification tools that
// read whole key spaces sequentially. It is not safe for concurrent use;
// keys and values it returns are valid only until the next call.
type Cursor struct {
	it    *pebble.Iterator
	valid bool
}

// Cursor returns a cursor over [lower, upper), positioned at the first key.
func (s *Store) Cursor(lower, upper []byte) (*Cursor, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	return &Cursor{it: it, valid: it.First()}, nil
}

// SpaceCursor returns a cursor over a whole key space (see Raw).
func (s *Store) SpaceCursor(space byte) (*Cursor, error) {
	return s.Cursor([]byte{space}, []byte{space + 1})
}

// NodeLevelCursor returns a cursor over the tx-log nodes of one level.
func (s *Store) NodeLevelCursor(level uint) (*Cursor, error) {
	return s.Cursor([]byte{pfxNode, byte(level)}, []byte{pfxNode, byte(level) + 1})
}

// Peek returns the current key and value without advancing; ok is false at
// the end (check Err).
func (c *Cursor) Peek() (k, v []byte, ok bool) {
	if !c.valid {
		return nil, nil, false
	}
	return c.it.Key(), c.it.Value(), true
}

// Advance moves to the next key.
func (c *Cursor) Advance() { c.valid = c.it.Next() }

// Err returns an error the cursor met, if any.
func (c *Cursor) Err() error { return c.it.Error() }

// Close releases the cursor.
func (c *Cursor) Close() error { return c.it.Close() }
