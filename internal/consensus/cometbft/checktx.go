package cometbft

import (
	"context"
	"sync"

	abcicli "github.com/cometbft/cometbft/abci/client"
	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/proxy"

	"github.com/medledger/medledger/internal/ledger"
)

// clientCreator gives CometBFT in-process ABCI clients of the App: each
// connection has its own mutex (as proxy.NewConnSyncLocalClientCreator),
// and CheckTxAsync, which only the mempool uses, is answered by a batching
// checker instead of one call at a time.
type clientCreator struct{ app *App }

var _ proxy.ClientCreator = clientCreator{}

func (c clientCreator) NewABCIClient() (abcicli.Client, error) {
	b := &batchClient{Client: abcicli.NewLocalClient(nil, c.app), app: c.app, stop: make(chan struct{}), done: make(chan struct{}), kick: make(chan struct{}, 1)}
	b.idle = sync.NewCond(&b.mu)
	go b.run()
	return b, nil
}

// batchClient answers CheckTxAsync asynchronously, like CometBFT's socket
// client: requests queue up while the previous batch is checked, and each
// batch is admitted together, its signatures batch-verified on every core.
// Transactions arrive one by one (from each peer and from local
// submitters), so this turns roughly 45µs per signature into 15 to 20µs.
type batchClient struct {
	abcicli.Client
	app  *App
	stop chan struct{}
	done chan struct{} // closed when run returns
	kick chan struct{} // a request was queued

	mu     sync.Mutex
	idle   *sync.Cond        // signalled when queue and inflight drain
	queue  []*abcicli.ReqRes // guarded by mu
	busy   int               // guarded by mu: requests taken but not yet answered
	cb     abcicli.Callback  // guarded by mu: the connection's global callback
	closed bool              // guarded by mu
}

func (b *batchClient) SetResponseCallback(cb abcicli.Callback) {
	b.mu.Lock()
	b.cb = cb
	b.mu.Unlock()
	b.Client.SetResponseCallback(cb)
}

// CheckTxAsync queues req and returns at once; the response and callbacks
// follow from the checker goroutine.
func (b *batchClient) CheckTxAsync(_ context.Context, req *abci.RequestCheckTx) (*abcicli.ReqRes, error) {
	rr := abcicli.NewReqRes(abci.ToRequestCheckTx(req))
	b.mu.Lock()
	b.queue = append(b.queue, rr)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	return rr, nil
}

// Flush waits until every queued CheckTx is answered (CometBFT flushes the
// mempool connection before each Commit).
func (b *batchClient) Flush(ctx context.Context) error {
	b.mu.Lock()
	for (len(b.queue) > 0 || b.busy > 0) && !b.closed {
		b.idle.Wait()
	}
	b.mu.Unlock()
	return b.Client.Flush(ctx)
}

// Stop stops the checker and waits for a batch in progress: the node
// closes its ledger right after CometBFT stops.
func (b *batchClient) Stop() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
		b.idle.Broadcast()
	}
	b.mu.Unlock()
	<-b.done
	return b.Client.Stop()
}

func (b *batchClient) run() {
	defer close(b.done)
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			return
		}
		for {
			b.mu.Lock()
			batch := b.queue
			b.queue = nil
			b.busy = len(batch)
			cb := b.cb
			b.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			raws := make([][]byte, len(batch))
			for i, rr := range batch {
				raws[i] = rr.Request.GetCheckTx().Tx
			}
			errs := b.app.admitBatch(raws)
			for i, rr := range batch {
				res := &abci.ResponseCheckTx{Code: abci.CodeTypeOK}
				if err := errs[i]; err != nil {
					res = &abci.ResponseCheckTx{Code: codeNum(ledger.CodeOf(err)), Codespace: codespace, Log: err.Error()}
				}
				rr.Response = abci.ToResponseCheckTx(res)
				rr.Done()
				if cb != nil {
					cb(rr.Request, rr.Response)
				}
				rr.InvokeCallback()
			}
			b.mu.Lock()
			b.busy = 0
			if len(b.queue) == 0 {
				b.idle.Broadcast()
			}
			b.mu.Unlock()
		}
	}
}
