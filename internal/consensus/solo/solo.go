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
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/consensus/admit"
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

// Observer receives events for metrics. Methods are called concurrently,
// from the sequencer's goroutines and from submitters' (Rejected), and
// must not block.
type Observer interface {
	BlockCommitted(txs int, commit time.Duration)
	Rejected(code ledger.Code)
	TxCommitted(code ledger.Code, latency time.Duration)
}

// Receipt is the answer to a committed transaction.
type Receipt = ledger.Receipt

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
	// BeforeCommit, if set, runs before each block is written: the node
	// uses it to make record contents durable before the block that
	// anchors them (one fsync per block instead of one per record).
	BeforeCommit func() error
}

type item struct {
	tx       *ledger.Tx
	raw      []byte
	id       ledger.Hash
	key      ed25519.PublicKey
	admitted time.Time
	done     chan outcome
	// signerErr is set, in a batch, for a transaction whose signer the
	// committed state does not know, knows as suspended, or knows by a
	// key its signature does not verify with; key is then nil. settle
	// decides it.
	signerErr *ledger.Error
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
	// inBlocks counts the queued transactions already in a built block
	// awaiting its commit; freed is signalled (without blocking) each
	// time the committer finishes a block. The sequencer builds at once
	// when nothing else is on its way and the committer is idle, and
	// while the committer is busy collects until it is free: the block
	// could not be written earlier anyway, and is bigger for the wait.
	inBlocks atomic.Int64
	freed    chan struct{}

	// alive is held (read) by every admission until its transactions are
	// queued; Close takes it (write) after marking the sequencer failed,
	// so no admission touches the store, or queues anything, after Close
	// drained the queues.
	alive sync.RWMutex

	mu      sync.Mutex
	pending map[ledger.Hash]struct{} // guarded by mu: admitted, not yet committed
	failed  error                    // guarded by mu: set when the sequencer stopped on an error
	started bool                     // guarded by mu: Start ran its goroutines

	members *admit.MemberCache
	check   admit.Checker
	keys    identity.KeyCache
	log     *txlog.Log    // owned by the sequencer goroutine: the log after the last built block
	parent  chain.Parent  // owned by the sequencer goroutine: the last built block
	flight  *inflight     // built blocks not yet durable, newest last
	commitQ chan *built   // built blocks for the committer, in order
	commitD chan struct{} // closed when the committer exits

	// commit writes one block durably. It is Deps.Store.Commit; tests
	// replace it, before Start, to delay or fail commits (Deps.Store is a
	// concrete *store.Store, so a failing store cannot be injected there).
	// Nothing else sets it.
	commit func(*store.Block) error

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
		members: admit.NewMemberCache(deps.Store),
		check:   admit.Checker{ChainID: deps.ChainID, Machine: deps.Machine, MaxTxBytes: cfg.MaxTxBytes},
		log:     log,
		parent:  parentOf(deps),
		flight:  &inflight{base: deps.Store},
		commitQ: make(chan *built, 1),
		freed:   make(chan struct{}, 1),
		commitD: make(chan struct{}),
		commit:  deps.Store.Commit,
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}, nil
}

// Start launches the verification workers and the sequencer goroutine.
// It does nothing after Close or a previous Start.
func (s *Sequencer) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.failed != nil {
		return
	}
	s.started = true
	for range s.cfg.VerifyWorkers {
		s.wg.Add(1)
		go s.verifier()
	}
	go s.run()
	go s.committer()
}

func parentOf(d Deps) chain.Parent {
	last := d.Store.Last()
	if last.Header.Height == 0 {
		return d.Genesis
	}
	return chain.Parent{Hash: last.Header.Hash(), AppHash: last.Header.AppHash, Height: last.Header.Height, Time: last.Header.Time}
}

// Close stops accepting transactions, builds no further block (blocks
// already built are still committed and acknowledged), answers the other
// waiting submitters CodeUnavailable and waits for the goroutines to exit.
// It may be called more than once, and without Start.
func (s *Sequencer) Close() {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = errors.New("node is shutting down")
	}
	started := s.started
	s.mu.Unlock()
	s.alive.Lock() // wait for admissions in progress; later ones see failed
	defer s.alive.Unlock()
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	if started {
		<-s.stopped
		<-s.commitD
		s.wg.Wait()
	}
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
	s.alive.RLock()
	it, err := s.admit(raw, false)
	s.alive.RUnlock()
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
// Each succeeds or fails on its own (the batch is not atomic), but those
// admitted are ordered in the order given, and admission judges each
// transaction's signer as the batch's earlier transactions leave it: a
// batch may enrol a member and then carry that member's first transaction,
// or re-key a member and carry a transaction signed with the new key.
// Signatures are batch-verified on the calling goroutine(s).
func (s *Sequencer) SubmitBatch(ctx context.Context, raws [][]byte) []Result {
	out := make([]Result, len(raws))
	items := s.admitBatch(raws, out)
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

// admitBatch admits, verifies and queues raws in order, setting out[i].Err
// for each one refused, and returns the queued items (nil where refused).
// It holds s.alive until everything admitted is queued: Close must not
// drain the queues between an admission and its queueing.
func (s *Sequencer) admitBatch(raws [][]byte, out []Result) []*item {
	s.alive.RLock()
	defer s.alive.RUnlock()
	items := make([]*item, len(raws))
	unsettled := false
	for i, raw := range raws {
		it, err := s.admit(raw, true)
		if err != nil {
			s.reject(err)
			out[i].Err = err
			continue
		}
		items[i] = it
		unsettled = unsettled || it.signerErr != nil
	}
	ok := s.verifyAll(items)
	for i, it := range items {
		if it != nil && it.signerErr == nil && !ok[i] {
			it.key, it.signerErr = nil, admit.BadSignature(it.tx)
			unsettled = true
		}
	}
	if unsettled {
		if err := s.settle(items); err != nil {
			s.deps.Logger.Error("admission: settling a batch", "err", err)
			for _, it := range items {
				if it != nil && it.signerErr != nil {
					it.signerErr = errStorage
				}
			}
		}
	}
	for i, it := range items {
		if it == nil {
			continue
		}
		if it.signerErr != nil {
			s.unpend(it.id)
			s.reject(it.signerErr)
			out[i].Err = it.signerErr
			items[i] = nil
			continue
		}
		s.blockQ <- it // cannot block: at most QueueSize items are queued
	}
	return items
}

// settle decides the transactions of a batch that admission could not
// (item.signerErr set): an earlier transaction of the batch may have
// enrolled, reinstated or re-keyed their signer. It executes the batch's
// admitted transactions in order in a scratch block over the state the
// next block will be built on (committed and in-flight blocks), and
// admits an unsettled transaction if its signer, as the transactions
// before it leave it, is active and its signature verifies with the
// signer's key then; otherwise its signerErr is what that state says.
// The scratch block is discarded: the real block decides every result,
// and an admitted transaction that fails there is committed with its
// failure code like any other. Transactions that nothing earlier in the
// batch vouches for are still refused, so a batch cannot carry a
// stranger's transactions onto the ledger. An error means state could not
// be read.
func (s *Sequencer) settle(items []*item) error {
	last := -1
	for i, it := range items {
		if it != nil && it.signerErr != nil {
			last = i
		}
	}
	// Only the members contract writes member records: without one of its
	// transactions before the last unsettled one, admission's verdicts
	// stand.
	if !slices.ContainsFunc(items[:max(last, 0)], func(it *item) bool { return it != nil && it.tx.Contract == admit.MemberContract }) {
		return nil
	}
	scratch := s.deps.Machine.Begin(s.flight, s.deps.Store.Height()+1, s.deps.Clock())
	for i, it := range items[:last+1] {
		if it == nil {
			continue
		}
		if it.signerErr != nil {
			m, found, err := contract.LookupMember(scratch.State(), it.tx.Signer)
			if err != nil {
				return err
			}
			switch {
			case !found:
				it.signerErr = admit.UnknownSigner(it.tx)
			case !m.Active():
				it.signerErr = admit.SuspendedSigner(it.tx)
			case !identity.Verify(m.PublicKey, ledger.SigningMessage(it.id), it.tx.Signature):
				it.signerErr = admit.BadSignature(it.tx)
			default:
				it.key, it.signerErr = m.PublicKey, nil
			}
			if it.signerErr != nil {
				continue // refused: it changes nothing
			}
		}
		if i == last {
			break // nothing after it needs settling
		}
		if _, err := scratch.Apply(it.tx, it.id, it.key); err != nil {
			return err
		}
	}
	return nil
}

// verifyAll batch-verifies the non-nil items, splitting large batches
// across cores, and reports validity per index.
func (s *Sequencer) verifyAll(items []*item) []bool {
	ok := make([]bool, len(items))
	chunks := min(s.cfg.VerifyWorkers, max(1, len(items)/64))
	per := (len(items) + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := 0; lo < len(items); lo += per {
		hi := min(lo+per, len(items))
		wg.Add(1)
		go func() {
			defer wg.Done()
			bv := identity.NewBatch(hi - lo)
			idx := make([]int, 0, hi-lo)
			for i := lo; i < hi; i++ {
				if it := items[i]; it != nil && it.key != nil {
					bv.AddCached(&s.keys, it.key, ledger.SigningMessage(it.id), it.tx.Signature)
					idx = append(idx, i)
				}
			}
			for k, v := range bv.Verify() {
				ok[idx[k]] = v
			}
		}()
	}
	wg.Wait()
	return ok
}

func (s *Sequencer) reject(err error) {
	if s.deps.Observer != nil {
		s.deps.Observer.Rejected(ledger.CodeOf(err))
	}
}

// admit runs the cheap checks and reserves the transaction; unless batch,
// it queues it for signature verification. The caller holds s.alive
// (read). With batch set, a signer problem (unknown or suspended in the
// committed state) does not refuse the transaction: it is returned with
// signerErr set, for SubmitBatch to settle.
func (s *Sequencer) admit(raw []byte, batch bool) (*item, error) {
	if err := s.Err(); err != nil {
		return nil, errNotAccepting
	}
	tx, err := s.check.Decode(raw)
	if err != nil {
		return nil, err
	}
	m, err := s.members.Get(tx.Signer)
	if err != nil {
		s.deps.Logger.Error("admission: reading member records", "err", err)
		return nil, errStorage
	}
	it := &item{tx: tx, raw: raw, id: tx.ID(), admitted: time.Now(), done: make(chan outcome, 1)}
	if it.signerErr = admit.SignerError(tx, m); it.signerErr == nil {
		it.key = m.PublicKey
	}
	if it.signerErr != nil && !batch {
		return nil, it.signerErr
	}

	s.mu.Lock()
	if s.failed != nil {
		s.mu.Unlock()
		return nil, errNotAccepting
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
			s.deps.Logger.Error("admission: reading the tx index", "err", err)
			return nil, errStorage
		}
		return nil, ledger.Errorf(ledger.CodeReplay, "transaction %s is already committed", it.id)
	}
	if !batch {
		s.verifyQ <- it // cannot block: at most QueueSize items are queued
	}
	return it, nil
}

// Public errors for internal failures: their causes go to the log only.
var (
	errNotAccepting = ledger.Errorf(ledger.CodeUnavailable, "the node is not accepting transactions (shutting down or stopped on an error; see its log)")
	errStorage      = ledger.Errorf(ledger.CodeUnavailable, "the node cannot read its ledger right now; see its log")
	errNotCommitted = ledger.Errorf(ledger.CodeUnavailable, "the block holding this transaction was not committed; the node stopped (see its log)")
)

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
			bv.AddCached(&s.keys, it.key, ledger.SigningMessage(it.id), it.tx.Signature)
		}
		ok := bv.Verify()
		for i, it := range batch {
			if ok[i] {
				s.blockQ <- it
				continue
			}
			s.unpend(it.id)
			err := admit.BadSignature(it.tx)
			s.reject(err)
			it.done <- outcome{err: err}
		}
	}
}

// run is the sequencer goroutine. Once the sequencer stops on an error it
// keeps answering whatever admissions that raced with the failure still
// queue (admission refuses everything after it), until Close.
func (s *Sequencer) run() {
	defer close(s.stopped)
	s.sequence()
	for {
		select {
		case it := <-s.blockQ:
			s.unpend(it.id)
			it.done <- outcome{err: errNotAccepting}
		case <-s.stop:
			return
		}
	}
}

// sequence collects, builds and hands blocks to the committer until Close
// or a failure.
func (s *Sequencer) sequence() {
	defer close(s.commitQ)
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
				if len(s.blockQ) == 0 && len(s.verifyQ) == 0 && s.inBlocks.Load() == 0 && s.Queued() <= len(batch) {
					break collect // nothing else is on its way, and the committer is idle
				}
				select {
				case it := <-s.blockQ:
					batch = append(batch, it)
				case <-s.freed:
					// the committer finished a block: look again
				case <-timer.C:
					break collect
				case <-s.stop:
					s.fail(batch, errors.New("node is shutting down"))
					return
				}
			}
		}
		timer.Stop()
		if err := s.Err(); err != nil { // the committer failed
			s.fail(batch, err)
			return
		}
		b, err := s.build(batch)
		if err != nil {
			s.deps.Logger.Error("sequencer stopped: block not built", "err", err)
			s.fail(batch, err)
			return
		}
		s.inBlocks.Add(int64(len(batch)))
		select {
		case s.commitQ <- b:
		case <-s.stop:
			s.inBlocks.Add(-int64(len(batch)))
			s.fail(batch, errors.New("node is shutting down"))
			return
		}
		batch = make([]*item, 0, s.cfg.MaxTxs)
	}
}

func (s *Sequencer) fail(batch []*item, err error) {
	s.mu.Lock()
	if s.failed == nil {
		s.failed = err
	}
	s.mu.Unlock()
	e := errNotCommitted
	for _, it := range batch {
		s.unpend(it.id)
		it.done <- outcome{err: e}
	}
}

// drain answers everything still queued after the goroutines stopped.
func (s *Sequencer) drain() {
	e := errNotAccepting
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

// built is a block built and signed, awaiting its durable commit.
type built struct {
	items []*item
	out   *chain.Output
	start time.Time
}

// build executes and signs the next block on top of the last built one;
// its changes stay visible to later blocks until it is committed.
func (s *Sequencer) build(batch []*item) (*built, error) {
	start := time.Now()
	parent := s.parent
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
		State:    s.flight,
		Log:      s.log,
	})
	if err != nil {
		return nil, err
	}
	if err := chain.Sign(out, s.deps.Signer.Sign); err != nil {
		return nil, err
	}
	hdr := &out.Block.Header.Header
	s.flight.push(out.Block.Changes)
	s.log = out.Log
	s.parent = chain.Parent{Hash: hdr.Hash(), AppHash: hdr.AppHash, Height: hdr.Height, Time: hdr.Time}
	return &built{items: batch, out: out, start: start}, nil
}

// committer writes built blocks in order, durably, and only then answers
// their submitters. After a failure it fails every later block too: they
// were built on the one that did not commit.
func (s *Sequencer) committer() {
	defer close(s.commitD)
	var failed error
	for b := range s.commitQ {
		if failed == nil && s.deps.BeforeCommit != nil {
			if err := s.deps.BeforeCommit(); err != nil {
				failed = err
				s.deps.Logger.Error("sequencer stopped: pre-commit hook failed", "height", b.out.Block.Header.Header.Height, "err", err)
			}
		}
		if failed == nil {
			if err := s.commit(&b.out.Block); err != nil {
				failed = err
				s.deps.Logger.Error("sequencer stopped: block not committed", "height", b.out.Block.Header.Header.Height, "err", err)
			}
		}
		if failed != nil {
			s.inBlocks.Add(-int64(len(b.items)))
			s.fail(b.items, failed)
			continue
		}
		s.flight.pop()
		s.members.Invalidate(b.out.Block.Changes)
		hdr := &b.out.Block.Header.Header
		bh := hdr.Hash()
		now := time.Now()
		firstLeaf := hdr.TxLogSize - uint64(len(b.items))
		for i, it := range b.items {
			r := Receipt{TxHash: it.id, Height: hdr.Height, Index: uint32(i), Leaf: firstLeaf + uint64(i), BlockHash: bh, Result: b.out.Results[i]}
			s.unpend(it.id)
			if s.deps.Observer != nil {
				s.deps.Observer.TxCommitted(r.Result.Code, now.Sub(it.admitted))
			}
			it.done <- outcome{r: r}
		}
		s.inBlocks.Add(-int64(len(b.items)))
		select {
		case s.freed <- struct{}{}:
		default:
		}
		if s.deps.Observer != nil {
			s.deps.Observer.BlockCommitted(len(b.items), time.Since(b.start))
		}
	}
}
