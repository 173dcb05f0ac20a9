package store

import (
	"math"
	"sync"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
)

// keyFilter is an in-memory Bloom filter over every key written to the
// latest-state and tx-index key spaces, so that reads of keys that were
// never written (the replay check of each new transaction, the first write
// of a state key) are answered without touching the database.
//
// It only ever answers "absent" for keys never added; keys are added
// before the batch writing them becomes visible, so a racing reader can
// only see a false "maybe present", which falls through to the database.
// It grows as a chain of filters, each twice the capacity of the last, at
// about 10 bits per key (1% false positives per filter).
type keyFilter struct {
	mu    sync.Mutex                     // serialises add
	chain atomic.Pointer[[]*bloomFilter] // immutable slice; the last one receives adds
}

type bloomFilter struct {
	bits  []atomic.Uint64
	k     uint32
	cap   int
	count int // guarded by keyFilter.mu
}

func newBloom(capacity int) *bloomFilter {
	m := int(math.Ceil(float64(capacity) * 9.6)) // bits for 1% false positives
	words := (m + 63) / 64
	return &bloomFilter{bits: make([]atomic.Uint64, words), k: 7, cap: capacity}
}

func newKeyFilter(capacity int) *keyFilter {
	f := &keyFilter{}
	chain := []*bloomFilter{newBloom(max(capacity, 1<<20))}
	f.chain.Store(&chain)
	return f
}

func (b *bloomFilter) positions(h uint64, fn func(word int, bit uint64) bool) bool {
	h1, h2 := uint32(h), uint32(h>>32)
	n := uint64(len(b.bits)) * 64
	for i := uint32(0); i < b.k; i++ {
		p := uint64(h1+i*h2) % n
		if !fn(int(p/64), 1<<(p%64)) {
			return false
		}
	}
	return true
}

func (f *keyFilter) add(key []byte) {
	h := xxhash.Sum64(key)
	f.mu.Lock()
	defer f.mu.Unlock()
	chain := *f.chain.Load()
	b := chain[len(chain)-1]
	if b.count >= b.cap {
		b = newBloom(2 * b.cap)
		next := append(append([]*bloomFilter(nil), chain...), b)
		f.chain.Store(&next)
	}
	b.positions(h, func(w int, bit uint64) bool { b.bits[w].Or(bit); return true })
	b.count++
}

// mayContain reports false only if key was never added.
func (f *keyFilter) mayContain(key []byte) bool {
	h := xxhash.Sum64(key)
	for _, b := range *f.chain.Load() {
		if b.positions(h, func(w int, bit uint64) bool { return b.bits[w].Load()&bit != 0 }) {
			return true
		}
	}
	return false
}
