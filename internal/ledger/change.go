package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
)

// Change is one world-state write in a block: a key set to a value, or
// deleted.
type Change struct {
	Key    []byte
	Value  []byte // nil when Delete
	Delete bool
}

// SortChanges sorts changes by key; keys must be unique.
func SortChanges(cs []Change) {
	slices.SortFunc(cs, func(a, b Change) int { return bytes.Compare(a.Key, b.Key) })
}

// ChangesHasher computes ChangesHash incrementally. Feed it a block's
// changes in ascending key order; verification uses it to re-derive the
// hash from the stored state without holding a block's changes in memory.
type ChangesHasher struct {
	d   hash.Cloner
	n   uint64
	buf [binary.MaxVarintLen64]byte
}

// NewChangesHasher returns an empty ChangesHasher.
func NewChangesHasher() *ChangesHasher {
	d := sha256.New().(hash.Cloner) // every stdlib hash is a Cloner since Go 1.25
	d.Write([]byte(domainChanges))
	return &ChangesHasher{d: d}
}

// Add feeds one change. Keys must arrive in strictly ascending order.
func (c *ChangesHasher) Add(key, value []byte, del bool) {
	c.lp(key)
	if del {
		c.d.Write([]byte{1})
	} else {
		c.d.Write([]byte{0})
		c.lp(value)
	}
	c.n++
}

func (c *ChangesHasher) lp(b []byte) {
	n := binary.PutUvarint(c.buf[:], uint64(len(b)))
	c.d.Write(c.buf[:n])
	c.d.Write(b)
}

// Sum returns the hash over everything added; it also commits to the count.
// It does not change the hasher: Sum may be called again, and Add may
// follow.
func (c *ChangesHasher) Sum() Hash {
	// The count is written to a copy, so that a second Sum (or a later Add)
	// does not hash it twice.
	d, err := c.d.Clone()
	if err != nil {
		panic(err) // cannot happen: SHA-256 clones without error
	}
	var buf [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(buf[:], c.n)
	d.Write(buf[:n])
	var h Hash
	d.Sum(h[:0])
	return h
}

// ChangesHash returns the hash of a block's changes, which must be sorted
// by key (see SortChanges).
func ChangesHash(cs []Change) Hash {
	c := NewChangesHasher()
	for _, ch := range cs {
		c.Add(ch.Key, ch.Value, ch.Delete)
	}
	return c.Sum()
}

// AppHash chains the application state: it commits to the previous app
// hash, this block's state changes and results, and the tx log after this
// block. Since each block's app hash covers the one before, the app hash at
// height H commits to the whole world state and history up to H.
func AppHash(prev, changes, results Hash, txlogSize uint64, txlogRoot Hash) Hash {
	d := sha256.New()
	d.Write([]byte(domainApp))
	d.Write(prev[:])
	d.Write(changes[:])
	d.Write(results[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], txlogSize)
	d.Write(n[:])
	d.Write(txlogRoot[:])
	var h Hash
	d.Sum(h[:0])
	return h
}
