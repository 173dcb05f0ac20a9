package cometbft

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/consensus/admit"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// Observer receives events for metrics. Methods are called concurrently
// and must not block.
type Observer interface {
	BlockCommitted(txs int, commit time.Duration)
	Rejected(code ledger.Code)
	TxCommitted(code ledger.Code, latency time.Duration)
}

// Deps are the application's collaborators.
type Deps struct {
	Doc     *genesis.Doc
	Store   *store.Store // initialised with the genesis state
	Machine *contract.Machine
	// Signer is the node key: CometBFT's validator key, and the key that
	// signs each stored header.
	Signer  identity.Signer
	Genesis chain.Parent // hash and app hash before block 1
	Logger  *slog.Logger
	// Observer may be nil.
	Observer Observer
	// BeforeCommit, if set, runs before each block is written (the node
	// makes record contents durable there, as in solo mode).
	BeforeCommit func() error
}

// Outcome is the answer to one submitted transaction: its receipt once
// committed, or why it was not.
type Outcome struct {
	Receipt ledger.Receipt
	Err     error
}

// App is medledger's state machine as a CometBFT ABCI application. CheckTx
// runs solo mode's admission checks; FinalizeBlock executes the decided
// block through chain.Execute, as the solo sequencer and verify do, and
// returns its app hash; Commit writes the block with one fsynced batch and
// only then answers the block's waiting submitters.
//
// CometBFT calls each connection's methods one at a time; App is safe for
// the connections' concurrent use and for Submit callers.
type App struct {
	abci.BaseApplication

	deps      Deps
	check     admit.Checker
	members   *admit.MemberCache
	keys      identity.KeyCache
	verified  verifiedCache
	proposers map[string]string // CometBFT validator address → medledger key id

	// closing is set when the node starts to stop: from then on the
	// peer filter (Query) refuses every new connection.
	closing atomic.Bool
	// voters is the validator set of the last commit CometBFT decided
	// (key id → power), for Node.Validators.
	voters atomic.Pointer[map[string]int64]

	// Owned by the consensus connection (FinalizeBlock, Commit).
	log     *txlog.Log
	pending *built

	mu      sync.Mutex
	parent  chain.Parent                     // guarded by mu: the last committed block
	waiters map[ledger.Hash][]chan<- Outcome // guarded by mu
	since   map[ledger.Hash]time.Time        // guarded by mu: when a waited-for tx was submitted
	failed  error                            // guarded by mu: set when the app stopped on an error
	onFail  func(error)                      // called once, outside mu, when failed is set
}

// built is a block executed by FinalizeBlock, awaiting Commit.
type built struct {
	out   *chain.Output
	start time.Time
}

// NewApp returns the application over an open, genesis-initialised store.
func NewApp(deps Deps) (*App, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	last := deps.Store.Last()
	log, err := txlog.Open(last.Header.TxLogSize, deps.Store)
	if err != nil {
		return nil, fmt.Errorf("cometbft: %w", err)
	}
	if last.Header.Height > 0 && log.Root() != last.Header.TxLogRoot {
		return nil, fmt.Errorf("cometbft: stored tx log root does not match header %d: run medledger verify", last.Header.Height)
	}
	a := &App{
		deps:      deps,
		check:     admit.Checker{ChainID: deps.Doc.ChainID, Machine: deps.Machine},
		members:   admit.NewMemberCache(deps.Store),
		proposers: map[string]string{},
		log:       log,
		waiters:   map[ledger.Hash][]chan<- Outcome{},
		since:     map[ledger.Hash]time.Time{},
		parent:    deps.Genesis,
	}
	a.verified.max = 200000
	if last.Header.Height > 0 {
		a.parent = chain.Parent{Hash: last.Header.Hash(), AppHash: last.Header.AppHash, Height: last.Header.Height, Time: last.Header.Time}
	}
	for _, v := range deps.Doc.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("cometbft: validator %s: %w", v.Name, err)
		}
		a.proposers[string(validatorAddress(pub))] = identity.KeyIDOf(pub)
	}
	// Validators added since the genesis (members.propose_validator).
	var bad error
	err = deps.Store.Scan(validatorPrefix, ^uint64(0), func(_, v []byte) bool {
		var rec contract.Validator
		if bad = json.Unmarshal(v, &rec); bad == nil && len(rec.PublicKey) == ed25519.PublicKeySize {
			a.proposers[string(validatorAddress(rec.PublicKey))] = rec.KeyID
		}
		return bad == nil
	})
	if err = errors.Join(err, bad); err != nil {
		return nil, fmt.Errorf("cometbft: reading the validator records: %w", err)
	}
	return a, nil
}

// validatorPrefix is the state prefix of validator records.
var validatorPrefix = contract.ValidatorKey("")

// validatorUpdates turns the validator records a block changed
// (members.approve_validator applied a change) into CometBFT validator
// updates, and learns the new validators' addresses as proposers. A
// removed validator keeps its record with power 0, and stays a known
// proposer: blocks it proposed before the change took effect are valid.
func (a *App) validatorUpdates(changes []ledger.Change) ([]abci.ValidatorUpdate, error) {
	var ups []abci.ValidatorUpdate
	for _, c := range changes {
		if !bytes.HasPrefix(c.Key, validatorPrefix) || c.Delete {
			continue
		}
		var rec contract.Validator
		if err := json.Unmarshal(c.Value, &rec); err != nil || len(rec.PublicKey) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("cometbft: validator record %q is malformed", c.Key)
		}
		a.proposers[string(validatorAddress(rec.PublicKey))] = rec.KeyID
		ups = append(ups, abci.Ed25519ValidatorUpdate(rec.PublicKey, rec.Power))
	}
	return ups, nil
}

var _ abci.Application = (*App)(nil)

// Err returns why the application stopped, or nil while it runs.
func (a *App) Err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failed
}

// fail stops the application on err: it answers every waiting submitter
// CodeUnavailable, refuses everything later and reports err once.
func (a *App) fail(err error) {
	a.mu.Lock()
	if a.failed != nil {
		a.mu.Unlock()
		return
	}
	a.failed = err
	ws := a.waiters
	a.waiters = map[ledger.Hash][]chan<- Outcome{}
	clear(a.since)
	onFail := a.onFail
	a.mu.Unlock()
	for _, cs := range ws {
		for _, c := range cs {
			deliver(c, Outcome{Err: errNotCommitted})
		}
	}
	if errors.Is(err, errShutdown) {
		a.deps.Logger.Info("consensus stopped: node is shutting down")
	} else {
		a.deps.Logger.Error("consensus stopped", "err", err)
	}
	if onFail != nil {
		onFail(err)
	}
}

// errShutdown is the failure Close records.
var errShutdown = errors.New("node is shutting down")

// Public errors for internal failures: their causes go to the log only.
var (
	errNotAccepting = ledger.Errorf(ledger.CodeUnavailable, "the node is not accepting transactions (shutting down or stopped on an error; see its log)")
	errStorage      = ledger.Errorf(ledger.CodeUnavailable, "the node cannot read its ledger right now; see its log")
	errNotCommitted = ledger.Errorf(ledger.CodeUnavailable, "the node stopped before this transaction was committed (see its log); it may still be committed by the network: look it up by hash later")
)

// Info implements abci.Application: the last committed height and app hash
// tell CometBFT which blocks to replay at start.
func (a *App) Info(context.Context, *abci.RequestInfo) (*abci.ResponseInfo, error) {
	last := a.deps.Store.Last()
	res := &abci.ResponseInfo{Data: "medledger", AppVersion: appVersion, LastBlockHeight: int64(last.Header.Height)}
	if last.Header.Height > 0 {
		res.LastBlockAppHash = bytes.Clone(last.Header.AppHash[:])
	}
	return res, nil
}

// Query implements abci.Application. Only CometBFT's peer filters call it
// (FilterPeers is on): a new connection is accepted unless the node is
// stopping. CometBFT 0.38's switch, when a dial or an accept completes
// after it stopped, neither starts nor closes the connection; the peer on
// the other end then keeps it as a live peer (until its ping times out,
// up to 105s) and refuses this node's ID as a duplicate when it comes
// back. Refusing here makes the switch close such a connection at once.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	switch {
	case !strings.HasPrefix(req.Path, "/p2p/filter/"):
		return &abci.ResponseQuery{Code: 1, Log: "medledger answers queries over its HTTP API, not ABCI"}, nil
	case a.closing.Load():
		return &abci.ResponseQuery{Code: 1, Log: "node is stopping"}, nil
	}
	return &abci.ResponseQuery{}, nil
}

// appVersion is the application protocol version CometBFT records in
// block headers.
const appVersion = 1

// InitChain implements abci.Application. It checks that CometBFT's genesis
// is the one derived from the medledger genesis and answers the genesis
// app hash; the genesis state itself is already in the store.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	if req.ChainId != a.deps.Doc.ChainID {
		return nil, fmt.Errorf("cometbft: CometBFT chain %q, genesis says %q", req.ChainId, a.deps.Doc.ChainID)
	}
	if len(req.Validators) != len(a.deps.Doc.Validators) {
		return nil, fmt.Errorf("cometbft: CometBFT genesis has %d validators, the medledger genesis %d", len(req.Validators), len(a.deps.Doc.Validators))
	}
	// CometBFT orders validators by power, then address.
	got := map[string]int64{}
	for _, v := range req.Validators {
		got[string(v.PubKey.GetEd25519())] = v.Power
	}
	for i, v := range a.deps.Doc.Validators {
		pub, _ := identity.ParsePublicKey(v.PublicKey)
		if p, ok := got[string(pub)]; !ok || p != v.Power {
			return nil, fmt.Errorf("cometbft: CometBFT's genesis validators differ from validators[%d] (%s) of the medledger genesis", i, v.Name)
		}
	}
	return &abci.ResponseInitChain{AppHash: bytes.Clone(a.deps.Genesis.AppHash[:])}, nil
}

// CheckTx implements abci.Application with solo mode's admission checks
// against committed state: decoding, chain, contract, not yet committed,
// signer enrolled and active, signature. CometBFT's mempool calls it
// through CheckTxAsync (see batchClient), which checks many at once.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	if err := a.admitBatch([][]byte{req.Tx})[0]; err != nil {
		return &abci.ResponseCheckTx{Code: codeNum(ledger.CodeOf(err)), Codespace: codespace, Log: err.Error()}, nil
	}
	return &abci.ResponseCheckTx{Code: abci.CodeTypeOK}, nil
}

func (a *App) reject(err error) {
	if a.deps.Observer != nil {
		a.deps.Observer.Rejected(ledger.CodeOf(err))
	}
}

// admitBatch runs the admission checks on each of raws and returns nil
// or its rejection (a *ledger.Error) per index. Signatures not already
// verified (see verified) are batch-verified on every core, and those
// that verify are remembered until their block commits, so FinalizeBlock
// need not verify them again.
func (a *App) admitBatch(raws [][]byte) []error {
	errs := make([]error, len(raws))
	if a.Err() != nil {
		for i := range errs {
			errs[i] = errNotAccepting
		}
		return errs
	}
	txs := make([]*ledger.Tx, len(raws))
	ids := make([]ledger.Hash, len(raws))
	keys := make([]ed25519.PublicKey, len(raws))
	todo := 0
	for i, raw := range raws {
		tx, err := a.admitOne(raw)
		if err != nil {
			errs[i] = err
			continue
		}
		id := tx.ID()
		m, err := a.members.Get(tx.Signer) // cached by admitOne
		if err != nil {
			errs[i] = errStorage
			continue
		}
		if k, ok := a.verified.get(id); ok && bytes.Equal(k, m.PublicKey) {
			continue
		}
		txs[i], ids[i], keys[i] = tx, id, m.PublicKey
		todo++
	}
	if todo > 0 {
		ok := make([]bool, len(raws))
		a.verifyInto(txs, keys, ok)
		for i, tx := range txs {
			switch {
			case tx == nil:
			case ok[i]:
				a.verified.put(ids[i], keys[i])
			default:
				errs[i] = admit.BadSignature(tx)
			}
		}
	}
	for _, err := range errs {
		if err != nil {
			a.reject(err)
		}
	}
	return errs
}

// admitOne runs the checks on raw that need no signature verification.
func (a *App) admitOne(raw []byte) (*ledger.Tx, error) {
	tx, err := a.check.Decode(raw)
	if err != nil {
		return nil, err
	}
	id := tx.ID()
	if done, err := a.deps.Store.Has(id); err != nil || done {
		if err != nil {
			a.deps.Logger.Error("admission: reading the tx index", "err", err)
			return nil, errStorage
		}
		return nil, ledger.Errorf(ledger.CodeReplay, "transaction %s is already committed", id)
	}
	m, err := a.members.Get(tx.Signer)
	if err != nil {
		a.deps.Logger.Error("admission: reading member records", "err", err)
		return nil, errStorage
	}
	if e := admit.SignerError(tx, m); e != nil {
		return nil, e
	}
	return tx, nil
}

// verifyInto batch-verifies txs[i] against keys[i] where keys[i] is set,
// splitting the work across cores, and sets ok[i].
func (a *App) verifyInto(txs []*ledger.Tx, keys []ed25519.PublicKey, ok []bool) {
	chunks := min(runtime.GOMAXPROCS(0), max(1, len(txs)/64))
	per := (len(txs) + chunks - 1) / chunks
	var wg sync.WaitGroup
	for lo := 0; lo < len(txs); lo += per {
		hi := min(lo+per, len(txs))
		wg.Go(func() {
			bv := identity.NewBatch(hi - lo)
			idx := make([]int, 0, hi-lo)
			for i := lo; i < hi; i++ {
				if txs[i] != nil && keys[i] != nil {
					bv.AddCached(&a.keys, keys[i], txs[i].SigningBytes(), txs[i].Signature)
					idx = append(idx, i)
				}
			}
			for k, v := range bv.Verify() {
				ok[idx[k]] = v
			}
		})
	}
	wg.Wait()
}

// FinalizeBlock implements abci.Application: it executes the decided block
// through chain.Execute and answers its app hash. The medledger header is
// built from what CometBFT decided: height, block time (raised to one
// nanosecond after the parent's when CometBFT's is not later, as for
// block 1, whose CometBFT time is the genesis time) and proposer (the
// validator's key id). Transactions that do not decode are left out of
// the medledger block (a correct proposer never includes one: CheckTx
// refuses them); every other transaction is executed, and one that fails
// is committed with its failure code, as in solo mode.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	if err := a.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	a.mu.Lock()
	parent := a.parent
	a.mu.Unlock()
	if uint64(req.Height) != parent.Height+1 {
		err := fmt.Errorf("cometbft: asked to finalize block %d after block %d", req.Height, parent.Height)
		a.fail(err)
		return nil, err
	}
	proposer, ok := a.proposers[string(req.ProposerAddress)]
	if !ok {
		err := fmt.Errorf("cometbft: block %d proposer %X is not a validator in the genesis or the ledger", req.Height, req.ProposerAddress)
		a.fail(err)
		return nil, err
	}
	voters := make(map[string]int64, len(req.DecidedLastCommit.Votes))
	for _, v := range req.DecidedLastCommit.Votes {
		voters[a.proposers[string(v.Validator.Address)]] = v.Validator.Power
	}
	a.voters.Store(&voters)
	t := req.Time.UnixNano()
	if t <= parent.Time {
		t = parent.Time + 1
	}
	res := &abci.ResponseFinalizeBlock{TxResults: make([]*abci.ExecTxResult, len(req.Txs))}
	txs := make([]chain.Tx, 0, len(req.Txs))
	where := make([]int, 0, len(req.Txs)) // txs[k] is req.Txs[where[k]]
	for i, raw := range req.Txs {
		tx, err := ledger.DecodeTx(raw, ledger.MaxTxBytes)
		if err != nil {
			res.TxResults[i] = &abci.ExecTxResult{Code: codeNum(ledger.CodeMalformed), Codespace: codespace, Log: "not a canonical medledger transaction; left out of the block"}
			continue
		}
		txs = append(txs, chain.Tx{Tx: tx, Raw: raw, ID: tx.ID()})
		where = append(where, i)
	}
	if err := a.verifyBlock(txs); err != nil {
		a.fail(err)
		return nil, err
	}
	out, err := chain.Execute(a.deps.Machine, chain.Input{
		ChainID:   a.deps.Doc.ChainID,
		Parent:    parent,
		Time:      t,
		Proposer:  proposer,
		Txs:       txs,
		State:     a.deps.Store,
		Log:       a.log,
		Committed: a.deps.Store.Has,
	})
	if err != nil {
		err = fmt.Errorf("cometbft: executing block %d: %w", req.Height, err)
		a.fail(err)
		return nil, err
	}
	if err := chain.Sign(out, a.deps.Signer.Sign); err != nil {
		a.fail(err)
		return nil, err
	}
	if id := a.deps.Signer.KeyID(); id != proposer {
		out.Block.Header.Signer = id
	}
	for k, r := range out.Results {
		res.TxResults[where[k]] = &abci.ExecTxResult{Code: codeNum(r.Code), Codespace: codespaceOf(r.Code), Log: r.Message}
	}
	if res.ValidatorUpdates, err = a.validatorUpdates(out.Block.Changes); err != nil {
		a.fail(err)
		return nil, err
	}
	hdr := &out.Block.Header.Header
	res.AppHash = bytes.Clone(hdr.AppHash[:])
	a.pending = &built{out: out, start: start}
	return res, nil
}

// verifyBlock sets each transaction's Verified key: the key it was
// already verified with (CheckTx, SubmitBatch) or, for those this node had
// not seen, the key a batch verification against the committed state
// accepted. Execution verifies again whatever is left, or whatever a key
// change earlier in the block made stale.
func (a *App) verifyBlock(txs []chain.Tx) error {
	var todo []*ledger.Tx
	var at []int
	var keys []ed25519.PublicKey
	for i := range txs {
		if k, ok := a.verified.get(txs[i].ID); ok {
			txs[i].Verified = k
			continue
		}
		m, err := a.members.Get(txs[i].Tx.Signer)
		if err != nil {
			return fmt.Errorf("cometbft: reading member records: %w", err)
		}
		if m == nil || !m.Active() {
			continue // execution refuses it
		}
		todo = append(todo, txs[i].Tx)
		at = append(at, i)
		keys = append(keys, m.PublicKey)
	}
	if len(todo) == 0 {
		return nil
	}
	ok := make([]bool, len(todo))
	a.verifyInto(todo, keys, ok)
	for k, i := range at {
		if ok[k] {
			txs[i].Verified = keys[k]
		}
	}
	return nil
}

// Commit implements abci.Application: it writes the block FinalizeBlock
// built, durably, and then answers the submitters waiting for its
// transactions. CometBFT has finalised the block before FinalizeBlock.
func (a *App) Commit(context.Context, *abci.RequestCommit) (*abci.ResponseCommit, error) {
	b := a.pending
	a.pending = nil
	if b == nil {
		err := errors.New("cometbft: Commit without a finalized block")
		a.fail(err)
		return nil, err
	}
	if err := a.Err(); err != nil {
		return nil, err
	}
	blk := &b.out.Block
	hdr := &blk.Header.Header
	if a.deps.BeforeCommit != nil {
		if err := a.deps.BeforeCommit(); err != nil {
			err = fmt.Errorf("cometbft: pre-commit hook at height %d: %w", hdr.Height, err)
			a.fail(err)
			return nil, err
		}
	}
	if err := a.deps.Store.Commit(blk); err != nil {
		err = fmt.Errorf("cometbft: committing block %d: %w", hdr.Height, err)
		a.fail(err)
		return nil, err
	}
	a.log = b.out.Log
	a.members.Invalidate(blk.Changes)
	a.verified.drop(blk.IDs)
	bh := hdr.Hash()
	now := time.Now()
	firstLeaf := hdr.TxLogSize - hdr.TxCount

	a.mu.Lock()
	a.parent = chain.Parent{Hash: bh, AppHash: hdr.AppHash, Height: hdr.Height, Time: hdr.Time}
	type answer struct {
		cs  []chan<- Outcome
		r   ledger.Receipt
		lat time.Duration
	}
	var answers []answer
	for i, id := range blk.IDs {
		cs, ok := a.waiters[id]
		if !ok {
			continue
		}
		delete(a.waiters, id)
		lat := now.Sub(a.since[id])
		delete(a.since, id)
		answers = append(answers, answer{cs: cs, lat: lat, r: ledger.Receipt{
			TxHash: id, Height: hdr.Height, Index: uint32(i), Leaf: firstLeaf + uint64(i), BlockHash: bh, Result: b.out.Results[i],
		}})
	}
	a.mu.Unlock()

	for _, ans := range answers {
		if a.deps.Observer != nil {
			a.deps.Observer.TxCommitted(ans.r.Result.Code, ans.lat)
		}
		for _, c := range ans.cs {
			deliver(c, Outcome{Receipt: ans.r})
		}
	}
	if a.deps.Observer != nil {
		a.deps.Observer.BlockCommitted(len(blk.IDs), time.Since(b.start))
	}
	return &abci.ResponseCommit{}, nil
}

// wait registers c to receive the outcome of transaction id once a block
// commits it. It returns false if the application has stopped. c should
// have room for one value: deliveries never block.
func (a *App) wait(id ledger.Hash, c chan<- Outcome) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failed != nil {
		return false
	}
	a.waiters[id] = append(a.waiters[id], c)
	if _, ok := a.since[id]; !ok {
		a.since[id] = time.Now()
	}
	return true
}

// deliver gives o to c unless c already holds an outcome: the first
// outcome of a submission (a rejection, or its commit) is its answer, and
// Commit must never block on a submitter.
func deliver(c chan<- Outcome, o Outcome) {
	select {
	case c <- o:
	default:
	}
}

// unwait removes c from the waiters of id (after a rejection or when its
// submitter gave up).
func (a *App) unwait(id ledger.Hash, c chan<- Outcome) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cs := a.waiters[id]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(a.waiters, id)
		delete(a.since, id)
	} else {
		a.waiters[id] = cs
	}
}

// verifiedCache remembers which key each transaction's signature was
// verified with, until its block commits. It is bounded: when full it
// starts afresh (a miss only costs a re-verification).
type verifiedCache struct {
	max int

	mu sync.Mutex
	m  map[ledger.Hash]ed25519.PublicKey // guarded by mu
}

func (c *verifiedCache) get(id ledger.Hash) (ed25519.PublicKey, bool) {
	c.mu.Lock()
	k, ok := c.m[id]
	c.mu.Unlock()
	return k, ok
}

func (c *verifiedCache) put(id ledger.Hash, k ed25519.PublicKey) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[ledger.Hash]ed25519.PublicKey)
	}
	c.m[id] = k
	c.mu.Unlock()
}

func (c *verifiedCache) drop(ids []ledger.Hash) {
	c.mu.Lock()
	for _, id := range ids {
		delete(c.m, id)
	}
	c.mu.Unlock()
}
