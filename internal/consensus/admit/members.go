package admit

import (
	"bytes"
	"strings"
	"sync"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// MemberCache caches committed member records for admission checks. Its
// owner calls Invalidate with each committed block's changes; execution
// itself always reads state, so a stale entry can only cause a spurious
// admission reject or a re-verification, never a wrong result. It is safe
// for concurrent use.
type MemberCache struct {
	r contract.StateReader

	mu  sync.RWMutex
	m   map[string]*contract.Member // guarded by mu; nil value: not enrolled
	gen uint64                      // guarded by mu; bumped by every invalidation
}

// NewMemberCache returns an empty cache over committed state r.
func NewMemberCache(r contract.StateReader) *MemberCache {
	return &MemberCache{r: r, m: make(map[string]*contract.Member)}
}

// Get returns the member, nil if not enrolled. The record is shared:
// never modify it. An error means state could not be read.
func (c *MemberCache) Get(id string) (*contract.Member, error) {
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

// MemberContract is the contract whose namespace holds member records: a
// contract writes only under its own name, so only its transactions can
// change a signer.
var MemberContract, _, _ = strings.Cut(string(memberPrefix), "/")

// Invalidate drops the cached records that changes touch.
func (c *MemberCache) Invalidate(cs []ledger.Change) {
	for _, ch := range cs {
		if bytes.HasPrefix(ch.Key, memberPrefix) {
			c.mu.Lock()
			delete(c.m, string(ch.Key[len(memberPrefix):]))
			c.gen++
			c.mu.Unlock()
		}
	}
}
