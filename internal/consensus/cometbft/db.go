package cometbft

import (
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// guardedDB is a CometBFT database whose reads after Close find nothing
// instead of failing. Some CometBFT 0.38 goroutines (the consensus
// reactor's queryMaj23Routine) outlive Node.Stop for one more iteration
// and panic on a closed database: harmless when the process exits, fatal
// to a process that stops one node and goes on (tests, bench cluster,
// testnet in one process).
type guardedDB struct {
	dbm.DB

	mu     sync.RWMutex
	closed bool // guarded by mu
}

func guardedDBProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &guardedDB{DB: db}, nil
}

func (g *guardedDB) Get(k []byte) ([]byte, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil, nil
	}
	return g.DB.Get(k)
}

func (g *guardedDB) Has(k []byte) (bool, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false, nil
	}
	return g.DB.Has(k)
}

func (g *guardedDB) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.DB.Close()
}
