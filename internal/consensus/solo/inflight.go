package solo

import (
	"sync"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// inflight is the state as the next block must see it: the changes of
// blocks built but not yet durable, over the committed store. The
// sequencer pushes a block's changes when it builds it; the committer pops
// them once the store holds them.
type inflight struct {
	base contract.StateReader

	mu     sync.RWMutex
	blocks []map[string]ledger.Change // guarded by mu: oldest first
}

var _ contract.StateReader = (*inflight)(nil)

func (f *inflight) push(cs []ledger.Change) {
	m := make(map[string]ledger.Change, len(cs))
	for _, c := range cs {
		m[string(c.Key)] = c
	}
	f.mu.Lock()
	f.blocks = append(f.blocks, m)
	f.mu.Unlock()
}

func (f *inflight) pop() {
	f.mu.Lock()
	f.blocks[0] = nil
	f.blocks = f.blocks[1:]
	f.mu.Unlock()
}

// Get implements contract.StateReader.
func (f *inflight) Get(k []byte) ([]byte, bool, error) {
	f.mu.RLock()
	for i := len(f.blocks) - 1; i >= 0; i-- {
		if c, ok := f.blocks[i][string(k)]; ok {
			f.mu.RUnlock()
			if c.Delete {
				return nil, false, nil
			}
			return c.Value, true, nil
		}
	}
	f.mu.RUnlock()
	return f.base.Get(k)
}
