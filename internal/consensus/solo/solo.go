// Package solo orders transactions on a single node: the embedded default
// mode. Submitted transactions pass admission checks, have their signatures
// batch-verified on every core, and are group-committed by one sequencer
// goroutine into blocks (up to MaxTxs, waiting at most MaxDelay for more).
// Each block is executed through package chain, signed with the node key and
// written with one fsynced commit; only then are its submitters answered.
//
// A storage failure stops the sequencer: it answers every waiting and later
// submitter CodeUnavailable rather than acknowledging what it cannot prove
// durable.
package solo

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// Config tunes the sequencer. Zero fields take the documented defaults.
type Config struct {
	// MaxTxs is the most transactions in one block. Default 2000.
	MaxTxs int
	// MaxDelay is how long the sequencer waits, after the first pending
	// transaction, for more to fill a block. Default 2ms. Under load blocks
	// fill while the previous one commits, so this only matters when idle.
	MaxDelay time.Duration
	// QueueSize bounds transactions admitted but not yet committed; beyond
	// it Submit answers CodeOverloaded at once. Default 50000.
	QueueSize int
	// VerifyWorkers is the number of signature-verification goroutines.
	// Default GOMAXPROCS.
	VerifyWorkers int
	// MaxTxBytes bounds one encoded transaction. Default ledger.MaxTxBytes.
	MaxTxBytes int
}

func (c *Config) setDefaults() {
	if c.MaxTxs <= 0 {
		c.MaxTxs = 2000
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = 2 * time.Millisecond
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 50000
	}
	if c.VerifyWorkers <= 0 {
		c.VerifyWorkers = runtime.GOMAXPROCS(0)
	}
	if c.MaxTxBytes <= 0 || c.MaxTxBytes > ledger.MaxTxBytes {
		c.MaxTxBytes = ledger.MaxTxBytes
	}
}

// Observer receives events for metrics. Methods are called from the
// sequencer goroutine and must not block.
type Observer interface {
	BlockCommitted(txs int, commit time.Duration)
	Rejected(code ledger.Code)
	TxCommitted(code ledger.Code, latency time.Duration)
}

// Receipt is the answer to a committed transaction.
type Receipt struct {
	TxHash    ledger.Hash   `json:"tx_hash"`
	Height    uint64        `json:"height"`
	Index     uint32        `json:"index"`
	Leaf      uint64        `json:"leaf_index"`
	BlockHash ledger.Hash   `json:"block_hash"`
	Result    ledger.Result `json:"result"`
}

// Deps are the sequencer's collaborators.
type Deps struct {
	ChainID  string
	Store    *store.Store
	Machine  *contract.Machine
	Signer   identity.Signer // the node key; signs every block header
	Genesis  chain.Parent    // hash and app hash before block 1
	Clock    func() time.Time
	Logger   *slog.Logger
	Observer Observer // may be nil
}

type item struct {
	tx       *ledger.Tx
	raw      []byte
	id       ledger.Hash
	key      ed25519.PublicKey
	admitted time.Time
	done     chan outcome
}

type outcome struct {
	r   Receipt
	err error
}

// Sequencer orders, executes and commits transactions. Its methods are safe
// for concurrent use.
type Sequencer struct {
	cfg  Config
	deps Deps

	verifyQ chan *item
	blockQ  chan *item
	queued  atomic.Int64 // admitted, not yet answered

	mu      sync.Mutex
	pending map[ledger.Hash]struct{} // guarded by mu: admitted, not yet committed
	failed  error                    // guarded by mu: set when the sequencer stopped on an error

	members *memberCache
	log     *txlog.Log // owned by the sequencer goroutine

	stop    chan struct{}
	stopped chan struct{}
	wg      sync.WaitGroup
}

// New returns a sequencer over an open store. Call Start to run it.
func New(cfg Config, deps Deps) (*Sequencer, error) {
	cfg.setDefaults()
	if deps.Clock == nil {
		deps.Clock = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	last := deps.Store.Last()
	log, err := txlog.Open(last.Header.TxLogSize, deps.Store)
	if err != nil {
		return nil, fmt.Errorf("solo: %w", err)
	}
	if last.Header.Height > 0 && log.Root() != last.Header.TxLogRoot {
		return nil, fmt.Errorf("solo: stored tx log root does not match header %d: run medledger verify", last.Header.Height)
	}
	return &Sequencer{
		cfg:     cfg,
		deps:    deps,
		verifyQ: make(chan *item, cfg.QueueSize),
		blockQ:  make(chan *item, cfg.QueueSize),
		pending: make(map[ledger.Hash]struct{}),
		members: newMemberCache(deps.Store),
		log:     log,
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// Start launches the verification workers and the sequencer goroutine.
func (s *Sequencer) Start() {
	for range s.cfg.VerifyWorkers {
		s.wg.Add(1)
		go s.verifier()
	}
	go s.run()
}

// Close stops accepting transactions, commits nothing further, answers
// waiting submitters CodeUnavailable and waits for the goroutines to exit.
func (s *Sequencer) Close() {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = errors.New("node is shutting down")
	}
	s.mu.Unlock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.stopped
	s.wg.Wait()
	s.drain()
}

// Err returns why the sequencer stopped, or nil while it runs.
func (s *Sequencer) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.failed
}

// Queued returns the number of admitted transactions awaiting commit.
func (s *Sequencer) Queued() int { return int(s.queued.Load()) }

// Submit admits one encoded transaction and waits until it is committed
// (durably) or rejected. Rejections are *ledger.Error values. If ctx ends
// first, Submit returns ctx's error: the transaction may still commit, and
// its hash can be looked up later.
func (s *Sequencer) Submit(ctx context.Context, raw []byte) (Receipt, error) {
	it, err := s.admit(raw)
	if err != nil {
		s.reject(err)
		return Receipt{}, err
	}
	select {
	case o := <-it.done:
		return o.r, o.err
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

// Result is one outcome of SubmitBatch.
type Result struct {
	Receipt Receipt
	Err     error
}

// SubmitBatch admits many transactions at once and waits for all of them.
// Each succeeds or fails on its own; the batch is not atomic.
func (s *Sequencer) SubmitBatch(ctx context.Context, raws [][]byte) []Result {
	out := make([]Result, len(raws))
	items := make([]*item, len(raws))
	for i, raw := range raws {
		it, err := s.admit(raw)
		if err != nil {
			s.reject(err)
			out[i].Err = err
			continue
		}
		items[i] = it
	}
	for i, it := range items {
		if it == nil {
			continue
		}
		select {
		case o := <-it.done:
			out[i] = Result{Receipt: o.r, Err: o.err}
		case <-ctx.Done():
			out[i].Err = ctx.Err()
		}
	}
	return out
}

func (s *Sequencer) reject(err error) {
	if s.deps.Observer != nil {
		s.deps.Observer.Rejected(ledger.CodeOf(err))
	}
}

// admit runs the cheap checks and queues the transaction for verification.
func (s *Sequencer) admit(raw []byte) (*item, error) {
	if len(raw) > s.cfg.MaxTxBytes {
		return nil, ledger.Errorf(ledger.CodeTooLarge, "transaction is %d bytes, limit %d", len(raw), s.cfg.MaxTxBytes)
	}
	tx, err := ledger.DecodeTx(raw, s.cfg.MaxTxBytes)
	if err != nil {
		return nil, err
	}
	if tx.ChainID != s.deps.ChainID {
		return nil, ledger.Errorf(ledger.CodeWrongChain, "transaction is for chain %q, this node serves %q", tx.ChainID, s.deps.ChainID)
	}
	if !s.deps.Machine.HasContract(tx.Contract) {
		return nil, ledger.Errorf(ledger.CodeUnknownContract, "no contract %q on this chain (have %v)", tx.Contract, s.deps.Machine.Contracts())
	}
	m, err := s.members.get(tx.Signer)
	if err != nil {
		return nil, ledger.Errorf(ledger.CodeUnavailable, "cannot read member records: %v", err)
	}
	if m == nil {
		return nil, ledger.Errorf(ledger.CodeUnknownSigner, "signer %q is not an enrolled member", tx.Signer)
	}
	if !m.Active() {
		return nil, ledger.Errorf(ledger.CodeSuspendedSigner, "signer %q is suspended", tx.Signer)
	}
	it := &item{tx: tx, raw: raw, id: tx.ID(), key: m.PublicKey, admitted: time.Now(), done: make(chan outcome, 1)}

	s.mu.Lock()
	if s.failed != nil {
		err := s.failed
		s.mu.Unlock()
		return nil, ledger.Errorf(ledger.CodeUnavailable, "%v", err)
	}
	if _, dup := s.pending[it.id]; dup {
		s.mu.Unlock()
		return nil, ledger.Errorf(ledger.CodeReplay, "transaction %s is already pending", it.id)
	}
	if int(s.queued.Load()) >= s.cfg.QueueSize {
		s.mu.Unlock()
		return nil, ledger.Errorf(ledger.CodeOverloaded, "%d transactions are queued; retry shortly", s.cfg.QueueSize)
	}
	s.pending[it.id] = struct{}{}
	s.queued.Add(1)
	s.mu.Unlock()

	if done, err := s.deps.Store.Has(it.id); err != nil || done {
		s.unpend(it.id)
		if err != nil {
			return nil, ledger.Errorf(ledger.CodeUnavailable, "cannot read the tx index: %v", err)
		}
		return nil, ledger.Errorf(ledger.CodeReplay, "transaction %s is already committed", it.id)
	}
	s.verifyQ <- it // cannot block: at most QueueSize items are queued
	return it, nil
}

func (s *Sequencer) unpend(id ledger.Hash) {
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
	s.queued.Add(-1)
}

// verifier batch-verifies signatures and forwards valid transactions.
func (s *Sequencer) verifier() {
	defer s.wg.Done()
	const maxBatch = 64
	batch := make([]*item, 0, maxBatch)
	for {
		batch = batch[:0]
		select {
		case it := <-s.verifyQ:
			batch = append(batch, it)
		case <-s.stop:
			return
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case it := <-s.verifyQ:
				batch = append(batch, it)
			default:
				break fill
			}
		}
		bv := identity.NewBatch(len(batch))
		for _, it := range batch {
			bv.Add(it.key, it.tx.SigningBytes(), it.tx.Signature)
		}
		ok := bv.Verify()
		for i, it := range batch {
			if ok[i] {
				s.blockQ <- it
				continue
			}
			s.unpend(it.id)
			err := ledger.Errorf(ledger.CodeBadSignature, "signature does not verify with the key of %q", it.tx.Signer)
			s.reject(err)
			it.done <- outcome{err: err}
		}
	}
}

// run is the sequencer loop.
func (s *Sequencer) run() {
	defer close(s.stopped)
	batch := make([]*item, 0, s.cfg.MaxTxs)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		batch = batch[:0]
		select {
		case it := <-s.blockQ:
			batch = append(batch, it)
		case <-s.stop:
			return
		}
		timer.Reset(s.cfg.MaxDelay)
	collect:
		for len(batch) < s.cfg.MaxTxs {
			select {
			case it := <-s.blockQ:
				batch = append(batch, it)
			default:
				if len(s.blockQ) == 0 && len(s.verifyQ) == 0 && s.Queued() <= len(batch) {
					break collect // nothing else is on its way
				}
				select {
				case it := <-s.blockQ:
					batch = append(batch, it)
				case <-timer.C:
					break collect
				case <-s.stop:
					s.fail(batch, errors.New("node is shutting down"))
					return
				}
			}
		}
		timer.Stop()
		if err := s.commit(batch); err != nil {
			s.deps.Logger.Error("sequencer stopped: block not committed", "err", err)
			s.fail(batch, err)
			return
		}
	}
}

func (s *Sequencer) fail(batch []*item, err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	e := ledger.Errorf(ledger.CodeUnavailable, "block not committed: %v", err)
	for _, it := range batch {
		s.unpend(it.id)
		it.done <- outcome{err: e}
	}
}

// drain answers everything still queued after the goroutines stopped.
func (s *Sequencer) drain() {
	e := ledger.Errorf(ledger.CodeUnavailable, "node is shutting down")
	for {
		select {
		case it := <-s.verifyQ:
			s.unpend(it.id)
			it.done <- outcome{err: e}
		case it := <-s.blockQ:
			s.unpend(it.id)
			it.done <- outcome{err: e}
		default:
			return
		}
	}
}

func (s *Sequencer) commit(batch []*item) error {
	start := time.Now()
	last := s.deps.Store.Last()
	parent := s.deps.Genesis
	if last.Header.Height > 0 {
		parent = chain.Parent{Hash: last.Header.Hash(), AppHash: last.Header.AppHash, Height: last.Header.Height, Time: last.Header.Time}
	}
	t := s.deps.Clock().UnixNano()
	if t <= parent.Time {
		t = parent.Time + 1 // block times strictly increase even if the clock steps back
	}
	txs := make([]chain.Tx, len(batch))
	for i, it := range batch {
		txs[i] = chain.Tx{Tx: it.tx, Raw: it.raw, ID: it.id, Verified: it.key}
	}
	out, err := chain.Execute(s.deps.Machine, chain.Input{
		ChainID:  s.deps.ChainID,
		Parent:   parent,
		Time:     t,
		Proposer: s.deps.Signer.KeyID(),
		Txs:      txs,
		State:    s.deps.Store,
		Log:      s.log,
	})
	if err != nil {
		return err
	}
	if err := chain.Sign(out, s.deps.Signer.Sign); err != nil {
		return err
	}
	if err := s.deps.Store.Commit(&out.Block); err != nil {
		return err
	}
	s.log = out.Log
	s.members.invalidate(out.Block.Changes)
	hdr := &out.Block.Header.Header
	bh := hdr.Hash()
	now := time.Now()
	firstLeaf := hdr.TxLogSize - uint64(len(batch))
	for i, it := range batch {
		r := Receipt{TxHash: it.id, Height: hdr.Height, Index: uint32(i), Leaf: firstLeaf + uint64(i), BlockHash: bh, Result: out.Results[i]}
		s.unpend(it.id)
		if s.deps.Observer != nil {
			s.deps.Observer.TxCommitted(r.Result.Code, now.Sub(it.admitted))
		}
		it.done <- outcome{r: r}
	}
	if s.deps.Observer != nil {
		s.deps.Observer.BlockCommitted(len(batch), time.Since(start))
	}
	return nil
}
