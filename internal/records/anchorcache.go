package records

import (
	"hash/maphash"
	"sync"

	"github.com/medledger/medledger/internal/contracts/records"
)

// anchorCache keeps decoded version anchors. An anchor never changes once
// committed (the records contract only ever adds versions), so entries
// need no invalidation; only anchors read from committed state are put.
//
// It is a sharded two-generation cache: each shard fills a current map
// and, when that is full, demotes it to the previous generation, dropping
// the older one. A hit in the previous generation is promoted. That keeps
// recently read anchors at a bounded cost without a linked list per entry.
type anchorCache struct {
	seed   maphash.Seed
	shards [32]anchorShard
}

type anchorShard struct {
	mu   sync.Mutex
	max  int
	cur  map[string]*records.Version // guarded by mu
	prev map[string]*records.Version // guarded by mu
}

// newAnchorCache returns a cache holding at least max anchors (up to
// twice that, across the two generations).
func newAnchorCache(max int) *anchorCache {
	c := &anchorCache{seed: maphash.MakeSeed()}
	per := max/len(c.shards) + 1
	for i := range c.shards {
		c.shards[i].max = per
		c.shards[i].cur = make(map[string]*records.Version)
	}
	return c
}

func (c *anchorCache) shard(key string) *anchorShard {
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// get returns the cached anchor for key. The caller must not modify it.
func (c *anchorCache) get(key string) (*records.Version, bool) {
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.cur[key]; ok {
		return v, true
	}
	v, ok := s.prev[key]
	if ok {
		s.putLocked(key, v)
	}
	return v, ok
}

func (c *anchorCache) put(key string, v *records.Version) {
	s := c.shard(key)
	s.mu.Lock()
	s.putLocked(key, v)
	s.mu.Unlock()
}

func (s *anchorShard) putLocked(key string, v *records.Version) {
	if len(s.cur) >= s.max {
		s.prev, s.cur = s.cur, make(map[string]*records.Version, s.max)
	}
	s.cur[key] = v
}
