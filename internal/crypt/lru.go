package crypt

import (
	"container/list"
	"sync"

	"github.com/tink-crypto/tink-go/v2/tink"
)

// dekEntry is what the cache knows about a subject: its DEK primitive, or
// that it was shredded.
type dekEntry struct {
	aead     tink.AEAD // nil if shredded
	shredded bool
}

// lru is a fixed-capacity least-recently-used cache of dekEntry by
// subject. It is safe for concurrent use.
type lru struct {
	max int

	mu sync.Mutex
	ll *list.List               // guarded by mu; front = most recent; values are *lruItem
	m  map[string]*list.Element // guarded by mu
}

type lruItem struct {
	subject string
	e       dekEntry
}

func newLRU(max int) *lru {
	return &lru{max: max, ll: list.New(), m: make(map[string]*list.Element)}
}

func (c *lru) get(subject string) (dekEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.m[subject]
	if !ok {
		return dekEntry{}, false
	}
	c.ll.MoveToFront(el)
	return el.Value.(*lruItem).e, true
}

func (c *lru) put(subject string, e dekEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[subject]; ok {
		el.Value.(*lruItem).e = e
		c.ll.MoveToFront(el)
		return
	}
	c.m[subject] = c.ll.PushFront(&lruItem{subject: subject, e: e})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.m, old.Value.(*lruItem).subject)
	}
}

func (c *lru) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
