package solo

import (
	"bytes"
	"strings"
	"sync"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// memberCache caches committed member records for admission checks. The
// sequencer invalidates entries when a block changes them; execution itself
// always reads state, so a stale entry can only cause a spurious admission
// reject or a re-verification, never a wrong result.
type memberCache struct {
	r contract.StateReader

	mu  sync.RWMutex
	m   map[string]*contract.Member // guarded by mu; nil value: not enrolled
	gen uint64                      // guarded by mu; bumped by every invalidation
}

func newMemberCache(r contract.StateReader) *memberCache {
	return &memberCache{r: r, m: make(map[string]*contract.Member)}
}

// get returns the member, nil if not enrolled.
func (c *memberCache) get(id string) (*contract.Member, error) {
	c.mu.RLock()
	m, ok := c.m[id]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return m, nil
	}
	m, found, err := contract.LookupMember(c.r, id)
	if err != nil {
		return nil, err
	}
	if !found {
		m = nil
	}
	c.mu.Lock()
	// A commit may have changed members while we read: then what we read
	// may predate it, and must not be cached.
	if c.gen == gen {
		if len(c.m) > 100000 {
			clear(c.m)
		}
		c.m[id] = m
	}
	c.mu.Unlock()
	return m, nil
}

var memberPrefix = contract.MemberKey("")

// memberContract is the contract whose namespace holds member records: a
// contract writes only under its own name, so only its transactions can
// change a signer.
var memberContract, _, _ = strings.Cut(string(memberPrefix), "/")

func (c *memberCache) invalidate(cs []ledger.Change) {
	for _, ch := range cs {
		if bytes.HasPrefix(ch.Key, memberPrefix) {
			c.mu.Lock()
			delete(c.m, string(ch.Key[len(memberPrefix):]))
			c.gen++
			c.mu.Unlock()
		}
	}
}
