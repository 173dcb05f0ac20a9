package identity

import (
	"crypto/ed25519"
	"sync"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// KeyCache keeps public keys in expanded (decompressed, precomputed) form,
// so that verifying many signatures by the same members skips the point
// decompression that otherwise dominates each batch entry. Each entry takes
// about 1.5 KiB; the cache holds at most MaxKeys and then starts afresh.
// It is safe for concurrent use.
type KeyCache struct {
	// MaxKeys bounds the cache; default 16384.
	MaxKeys int

	mu sync.RWMutex
	m  map[string]*voi.ExpandedPublicKey // guarded by mu
}

func (c *KeyCache) get(pub ed25519.PublicKey) *voi.ExpandedPublicKey {
	c.mu.RLock()
	k, ok := c.m[string(pub)]
	c.mu.RUnlock()
	if ok {
		return k
	}
	k, err := voi.NewExpandedPublicKey(voi.PublicKey(pub))
	if err != nil {
		return nil // invalid keys are not cached; Add reports them invalid
	}
	max := c.MaxKeys
	if max <= 0 {
		max = 16384
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= max {
		c.m = make(map[string]*voi.ExpandedPublicKey)
	}
	c.m[string(pub)] = k
	c.mu.Unlock()
	return k
}

// AddCached appends an entry like Add, using c's expanded form of pub. It
// accepts exactly the signatures Add accepts.
func (b *Batch) AddCached(c *KeyCache, pub ed25519.PublicKey, msg, sig []byte) {
	if c == nil || len(pub) != ed25519.PublicKeySize {
		b.Add(pub, msg, sig)
		return
	}
	k := c.get(pub)
	if k == nil {
		b.Add(pub, msg, sig)
		return
	}
	if b.v == nil {
		b.v = voi.NewBatchVerifier()
	}
	b.v.AddExpandedWithOptions(k, msg, sig, zip215)
	b.n++
}
