package contract

import (
	"bytes"
	"slices"
	"strings"

	"github.com/medledger/medledger/internal/ledger"
)

// StateReader reads committed world state (the latest version of a key).
// Implementations must be safe for concurrent use.
type StateReader interface {
	Get(key []byte) (value []byte, ok bool, err error)
}

// entry is a pending write in an overlay.
type entry struct {
	value []byte
	del   bool
}

// overlay is a layer of pending writes over a parent reader.
type overlay struct {
	parent StateReader
	w      map[string]entry
}

func newOverlay(parent StateReader) *overlay {
	return &overlay{parent: parent, w: make(map[string]entry)}
}

func (o *overlay) Get(k []byte) ([]byte, bool, error) {
	if e, ok := o.w[string(k)]; ok {
		if e.del {
			return nil, false, nil
		}
		return e.value, true, nil
	}
	return o.parent.Get(k)
}

func (o *overlay) set(k, v []byte) { o.w[string(k)] = entry{value: bytes.Clone(v)} }
func (o *overlay) del(k []byte)    { o.w[string(k)] = entry{del: true} }

// mergeInto applies o's writes to dst (another overlay).
func (o *overlay) mergeInto(dst *overlay) {
	for k, e := range o.w {
		dst.w[k] = e
	}
}

// changes returns o's writes sorted by key, as ledger changes.
func (o *overlay) changes() []ledger.Change {
	keys := make([]string, 0, len(o.w))
	for k := range o.w {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]ledger.Change, len(keys))
	for i, k := range keys {
		e := o.w[k]
		out[i] = ledger.Change{Key: []byte(k), Value: e.value, Delete: e.del}
	}
	return out
}

// MemState is an in-memory StateReader holding the latest value of every
// key; verification replays history into one.
type MemState struct{ m map[string][]byte }

// NewMemState returns an empty MemState.
func NewMemState() *MemState { return &MemState{m: make(map[string][]byte)} }

// Get implements StateReader.
func (s *MemState) Get(k []byte) ([]byte, bool, error) {
	v, ok := s.m[string(k)]
	return v, ok, nil
}

// Apply writes changes into s.
func (s *MemState) Apply(cs []ledger.Change) {
	for _, c := range cs {
		if c.Delete {
			delete(s.m, string(c.Key))
		} else {
			s.m[string(c.Key)] = c.Value
		}
	}
}

// Len returns the number of live keys.
func (s *MemState) Len() int { return len(s.m) }

// Scan calls fn for each key with the prefix, in key order, until fn
// returns false. It costs a sort of the matching keys: for tests and
// small states.
func (s *MemState) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, string(prefix)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !fn([]byte(k), s.m[k]) {
			return nil
		}
	}
	return nil
}
