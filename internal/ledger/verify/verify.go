// Package verify checks a ledger database offline, trusting nothing in it
// but the genesis document it is given: it re-hashes every block, checks
// the header chain and the proposers' signatures, decodes every transaction
// and checks its signature, re-executes every transaction from genesis and
// compares results and app hashes, and then checks that the stored state,
// transaction index and tx-log nodes are exactly what the blocks imply.
// The first problem is reported with the height where it is, and what is
// wrong.
//
// It reads the store and writes nothing.
package verify

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// Problem kinds: stable names for what verification found wrong.
const (
	KindGenesis   = "genesis"          // stored genesis differs from the given one
	KindMissing   = "missing"          // a header, tx or result is missing (gap or truncation)
	KindExtra     = "extra"            // records exist beyond the last block
	KindDecode    = "decode"           // stored bytes are not canonical
	KindHeader    = "header"           // header fields inconsistent (height, chain, time, link)
	KindSignature = "header_signature" // block signature invalid or proposer unknown
	KindTxRoot    = "tx_root"          // txs do not hash to the header's root
	KindTx        = "tx"               // a transaction is invalid (duplicate, bad signature where the block says ok)
	KindResult    = "result"           // re-execution gives a different result
	KindAppHash   = "app_hash"         // re-execution gives different changes or app hash
	KindTxLog     = "txlog"            // tx-log size, root or stored nodes differ
	KindState     = "state"            // stored state does not match the blocks
	KindIndex     = "index"            // tx index does not match the blocks
	KindTruncated = "truncated"        // the ledger is shorter than a trusted tree head
	KindStore     = "store"            // the database could not be read
)

// Problem is the first thing found wrong.
type Problem struct {
	Height uint64 `json:"height"`
	Kind   string `json:"kind"`
	What   string `json:"what"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("height %d: %s: %s", p.Height, p.Kind, p.What)
}

// TreeHead is a tree head the verifier trusts (from a client or witness):
// the ledger must contain it.
type TreeHead struct {
	Size uint64
	Root ledger.Hash
}

// Options configures Run.
type Options struct {
	// Workers verify signatures in parallel; default GOMAXPROCS.
	Workers int
	// Progress, if set, is called after each block with the height done
	// and the last height.
	Progress func(done, last uint64)
	// Trusted, if set, must be contained in the ledger.
	Trusted *TreeHead
}

// Report is the outcome of a verification.
type Report struct {
	OK            bool          `json:"ok"`
	ChainID       string        `json:"chain_id"`
	GenesisHash   ledger.Hash   `json:"genesis_hash"`
	Height        uint64        `json:"height"`
	Txs           uint64        `json:"txs"`
	StateVersions uint64        `json:"state_versions"`
	AppHash       ledger.Hash   `json:"app_hash"`
	TxLogRoot     ledger.Hash   `json:"txlog_root"`
	Seconds       float64       `json:"seconds"`
	TxPerSec      float64       `json:"tx_per_s"`
	Problem       *Problem      `json:"problem,omitempty"`
	Duration      time.Duration `json:"-"`
}

// Run verifies st against doc. A returned error means verification could
// not run at all (not that the ledger is bad); a bad ledger gives a Report
// with OK false and a Problem.
func Run(ctx context.Context, st *store.Store, doc *genesis.Doc, m *contract.Machine, genesisChanges []ledger.Change, o Options) (*Report, error) {
	start := time.Now()
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	v := &verifier{st: st, doc: doc, m: m, o: o, rep: &Report{ChainID: doc.ChainID, GenesisHash: doc.Hash()}}
	p := v.run(ctx, genesisChanges)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v.rep.Problem = p
	v.rep.OK = p == nil
	v.rep.Duration = time.Since(start)
	v.rep.Seconds = v.rep.Duration.Seconds()
	if v.rep.Seconds > 0 {
		v.rep.TxPerSec = float64(v.rep.Txs) / v.rep.Seconds
	}
	return v.rep, nil
}

type verifier struct {
	st  *store.Store
	doc *genesis.Doc
	m   *contract.Machine
	o   Options
	rep *Report

	state   *contract.MemState
	cur     cursors                // owned by the loader goroutine until it is done
	nodeCur map[uint]*store.Cursor // per tx-log level, owned by the main goroutine
	keys    identity.KeyCache
	seen    map[ledger.Hash]store.Loc // every committed tx ID and where it is
	changes []ledger.Hash             // expected changes hash per height (0 = genesis)
	counts  []uint64                  // tx count per height (0 = genesis)
	nodes   int
	// validators are the keys that may propose and store blocks: the
	// genesis's validators and those added on the ledger
	// (members.approve_validator), by key id. A forged record added to
	// the stored state to pass here fails the state check.
	validators map[string]validator
}

type validator struct {
	name string
	pub  ed25519.PublicKey
}

// loadValidators reads the genesis's validators and the validator
// records in the ledger's latest state.
func (v *verifier) loadValidators() *Problem {
	v.validators = map[string]validator{}
	for _, gv := range v.doc.Validators {
		pub, err := identity.ParsePublicKey(gv.PublicKey)
		if err != nil {
			return problem(0, KindGenesis, "validator %s: %v", gv.Name, err)
		}
		v.validators[identity.KeyIDOf(pub)] = validator{gv.Name, pub}
	}
	var bad bool
	err := v.st.Scan(contract.ValidatorKey(""), ^uint64(0), func(_, val []byte) bool {
		var rec contract.Validator
		if json.Unmarshal(val, &rec) != nil || len(rec.PublicKey) != ed25519.PublicKeySize || identity.KeyIDOf(rec.PublicKey) != rec.KeyID {
			bad = true
			return false
		}
		if _, ok := v.validators[rec.KeyID]; !ok {
			v.validators[rec.KeyID] = validator{rec.Name, bytes.Clone(rec.PublicKey)}
		}
		return true
	})
	switch {
	case err != nil:
		return problem(0, KindState, "reading the validator records: %v", err)
	case bad:
		return problem(0, KindState, "a validator record in the stored state is malformed")
	}
	return nil
}

func problem(h uint64, kind, format string, args ...any) *Problem {
	return &Problem{Height: h, Kind: kind, What: fmt.Sprintf(format, args...)}
}

func (v *verifier) run(ctx context.Context, genesisChanges []ledger.Change) *Problem {
	canon := v.doc.Canonical()
	stored, err := v.st.Genesis()
	if err != nil {
		return problem(0, KindGenesis, "no genesis stored in the ledger: %v", err)
	}
	if !bytes.Equal(stored, canon) {
		return problem(0, KindGenesis, "the genesis stored in the ledger differs from the genesis document given")
	}
	if p := v.loadValidators(); p != nil {
		return p
	}
	heights, p := v.headerHeights()
	if p != nil {
		return p
	}
	last := uint64(len(heights))
	v.rep.Height = last
	v.state = contract.NewMemState()
	v.state.Apply(genesisChanges)
	v.changes = append(v.changes, ledger.ChangesHash(genesisChanges))
	v.counts = append(v.counts, 0)
	v.seen = make(map[ledger.Hash]store.Loc)
	gh := v.doc.Hash()
	parent := chain.Parent{Hash: gh, AppHash: chain.GenesisAppHash(gh, genesisChanges), Time: v.doc.GenesisTime.UnixNano()}
	log := txlog.New()

	// Pipeline: a loader reads and decodes blocks ahead; signatures of the
	// next block are verified in the background while this one executes.
	blocks := make(chan *loaded, 4)
	var err2 error
	if v.cur.tx, err2 = v.st.SpaceCursor(store.SpaceTx); err2 != nil {
		return problem(0, KindStore, "%v", err2)
	}
	defer v.cur.tx.Close()
	if v.cur.res, err2 = v.st.SpaceCursor(store.SpaceResult); err2 != nil {
		return problem(0, KindStore, "%v", err2)
	}
	defer v.cur.res.Close()
	v.nodeCur = map[uint]*store.Cursor{}
	defer func() {
		for _, c := range v.nodeCur {
			c.Close()
		}
	}()
	lctx, cancel := context.WithCancel(ctx)
	loaderDone := make(chan struct{})
	go func() {
		defer close(loaderDone)
		v.load(lctx, last, blocks)
	}()
	// The loader reads the store, which the caller may close as soon as
	// Run returns: stop it and wait, also when a problem ends the run
	// early (it used to read on and panic with "pebble: closed").
	defer func() {
		cancel()
		<-loaderDone
	}()

	var pendingSig *sigJob
	var cur *loaded
	next := func() (*loaded, bool) {
		select {
		case b, ok := <-blocks:
			return b, ok
		case <-ctx.Done():
			return nil, false
		}
	}
	cur, ok := next()
	if ok && cur.problem == nil {
		pendingSig = v.startSigs(cur)
	}
	for h := uint64(1); ok; h++ {
		if cur.problem != nil {
			return cur.problem
		}
		nb, more := next()
		var nextSig *sigJob
		if more && nb.problem == nil {
			nextSig = v.startSigs(nb)
		}
		keys := pendingSig.wait()
		p, np, nlog := v.block(cur, parent, log, keys)
		if p != nil {
			return p
		}
		parent, log = np, nlog
		if v.o.Progress != nil {
			v.o.Progress(h, last)
		}
		cur, ok, pendingSig = nb, more, nextSig
	}
	if ctx.Err() != nil {
		return nil
	}
	v.rep.AppHash, v.rep.TxLogRoot = parent.AppHash, log.Root()
	// Records beyond the last block first: after a truncation they are
	// the finding, whatever else they make inconsistent.
	if p := v.checkExtra(last, log.Size()); p != nil {
		return p
	}
	if p := v.checkState(last); p != nil {
		return p
	}
	if p := v.checkLatest(last); p != nil {
		return p
	}
	if p := v.checkIndex(last); p != nil {
		return p
	}
	if t := v.o.Trusted; t != nil {
		if t.Size > log.Size() {
			// Name the first block that is gone, as for a gap.
			return problem(last+1, KindTruncated, "the ledger ends at block %d with %d transactions, but a trusted tree head has %d: history was removed", last, log.Size(), t.Size)
		}
		o, err := txlog.Open(t.Size, v.st)
		if err != nil {
			return problem(last, KindTxLog, "cannot rebuild the tree at size %d: %v", t.Size, err)
		}
		if o.Root() != t.Root {
			return problem(v.heightOfLeaf(t.Size), KindTruncated, "the tree at size %d has root %s, but the trusted tree head says %s: history was rewritten", t.Size, o.Root(), t.Root)
		}
	}
	return nil
}

func (v *verifier) heightOfLeaf(size uint64) uint64 {
	for id, loc := range v.seen {
		_ = id
		if loc.Leaf == size-1 {
			return loc.Height
		}
	}
	return 0
}

// headerHeights lists stored header heights and checks they are 1..N.
func (v *verifier) headerHeights() ([]uint64, *Problem) {
	var hs []uint64
	var p *Problem
	err := v.st.Raw(store.SpaceHeader, func(k, _ []byte) error {
		if len(k) != 9 {
			p = problem(0, KindDecode, "a header key has %d bytes", len(k))
			return errStop
		}
		h := beUint64(k[1:])
		want := uint64(len(hs)) + 1
		if h != want {
			if h > want {
				p = problem(want, KindMissing, "no header at height %d, but a header at height %d exists", want, h)
			} else {
				p = problem(h, KindHeader, "header at height %d out of order", h)
			}
			return errStop
		}
		hs = append(hs, h)
		return nil
	})
	if p != nil {
		return nil, p
	}
	if err != nil {
		return nil, problem(0, KindStore, "reading headers: %v", err)
	}
	return hs, nil
}

var errStop = errors.New("stop")

func beUint64(b []byte) uint64 {
	var x uint64
	for _, c := range b[:8] {
		x = x<<8 | uint64(c)
	}
	return x
}

// loaded is one block read from the store and decoded.
type loaded struct {
	h       uint64
	sh      ledger.SignedHeader
	raw     [][]byte
	txs     []*ledger.Tx
	ids     []ledger.Hash
	results [][]byte
	problem *Problem
}

func (v *verifier) load(ctx context.Context, last uint64, out chan<- *loaded) {
	defer close(out)
	for h := uint64(1); h <= last; h++ {
		b := v.loadBlock(h)
		select {
		case out <- b:
		case <-ctx.Done():
			return
		}
		if b.problem != nil {
			return
		}
	}
	// Whatever the cursors still hold lies beyond the last block.
	for _, c := range []struct {
		c    *store.Cursor
		what string
	}{{v.cur.tx, "transaction"}, {v.cur.res, "result"}} {
		if k, _, ok := c.c.Peek(); ok {
			h, i, err := store.ParsePos(k)
			if err != nil {
				v.cur.trailing = problem(0, KindDecode, "a %s key is malformed", c.what)
			} else {
				v.cur.trailing = problem(h, KindExtra, "a %s exists at height %d index %d, beyond the last block %d", c.what, h, i, last)
			}
			return
		}
	}
}

// cursors are the loader's sequential readers of the tx and result
// spaces; trailing, set when the loader is done, reports records left
// after the last block.
type cursors struct {
	tx, res  *store.Cursor
	trailing *Problem
}

// next reads record i of block h from c, which must hold exactly that key
// next. Records for earlier positions that no block claims are extra.
func readNext(c *store.Cursor, h uint64, i uint32, key []byte, what string) ([]byte, *Problem) {
	k, val, ok := c.Peek()
	if err := c.Err(); err != nil {
		return nil, problem(h, KindStore, "%s %d: %v", what, i, err)
	}
	if ok && bytes.Compare(k, key) < 0 {
		ph, pi, err := store.ParsePos(k)
		if err != nil {
			return nil, problem(h, KindDecode, "a %s key is malformed", what)
		}
		return nil, problem(ph, KindExtra, "a %s exists at index %d, but block %d has fewer", what, pi, ph)
	}
	if !ok || !bytes.Equal(k, key) {
		return nil, problem(h, KindMissing, "%s %d is missing", what, i)
	}
	out := bytes.Clone(val)
	c.Advance()
	return out, nil
}

func (v *verifier) loadBlock(h uint64) *loaded {
	b := &loaded{h: h}
	sh, err := v.st.Header(h)
	if err != nil {
		kind := KindStore // the database could not be read (I/O, checksum)
		if errors.Is(err, store.ErrCorrupt) {
			kind = KindDecode
		}
		b.problem = problem(h, kind, "header: %v", err)
		return b
	}
	b.sh = sh
	n := sh.Header.TxCount
	if n > 1<<24 {
		b.problem = problem(h, KindHeader, "header claims %d transactions", n)
		return b
	}
	b.raw = make([][]byte, n)
	b.txs = make([]*ledger.Tx, n)
	b.ids = make([]ledger.Hash, n)
	b.results = make([][]byte, n)
	for i := uint32(0); uint64(i) < n; i++ {
		raw, p := readNext(v.cur.tx, h, i, store.TxKey(h, i), "transaction")
		if p != nil {
			b.problem = p
			return b
		}
		tx, err := ledger.DecodeTx(raw, 0)
		if err != nil {
			b.problem = problem(h, KindDecode, "transaction %d: %v", i, err)
			return b
		}
		res, p := readNext(v.cur.res, h, i, store.ResultKey(h, i), "result")
		if p != nil {
			b.problem = p
			return b
		}
		b.raw[i], b.txs[i], b.ids[i], b.results[i] = raw, tx, tx.ID(), res
	}
	return b
}

// sigJob verifies a block's transaction signatures in the background
// against the signers' keys as of when it was started.
type sigJob struct {
	wg   sync.WaitGroup
	keys []ed25519.PublicKey // per tx: the key its signature verified with, or nil
}

func (j *sigJob) wait() []ed25519.PublicKey {
	if j == nil {
		return nil
	}
	j.wg.Wait()
	return j.keys
}

func (v *verifier) startSigs(b *loaded) *sigJob {
	j := &sigJob{keys: make([]ed25519.PublicKey, len(b.txs))}
	cand := make([]ed25519.PublicKey, len(b.txs))
	cache := map[string]ed25519.PublicKey{}
	for i, tx := range b.txs {
		k, ok := cache[tx.Signer]
		if !ok {
			if m, found, err := v.m.Member(v.state, tx.Signer); err == nil && found {
				k = m.PublicKey
			}
			cache[tx.Signer] = k
		}
		cand[i] = k
	}
	chunks := v.o.Workers
	n := len(b.txs)
	per := (n + chunks - 1) / max(chunks, 1)
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		j.wg.Add(1)
		go func(lo, hi int) {
			defer j.wg.Done()
			bv := identity.NewBatch(hi - lo)
			for i := lo; i < hi; i++ {
				bv.AddCached(&v.keys, cand[i], ledger.SigningMessage(b.ids[i]), b.txs[i].Signature)
			}
			for k, ok := range bv.Verify() {
				if ok {
					j.keys[lo+k] = cand[lo+k]
				}
			}
		}(lo, hi)
	}
	return j
}

// block checks and replays one block.
func (v *verifier) block(b *loaded, parent chain.Parent, log *txlog.Log, keys []ed25519.PublicKey) (*Problem, chain.Parent, *txlog.Log) {
	h := b.h
	hdr := &b.sh.Header
	switch {
	case hdr.Height != h:
		return problem(h, KindHeader, "header stored at height %d says height %d", h, hdr.Height), parent, log
	case hdr.ChainID != v.doc.ChainID:
		return problem(h, KindHeader, "header chain id %q, genesis says %q", hdr.ChainID, v.doc.ChainID), parent, log
	case hdr.PrevHash != parent.Hash:
		return problem(h, KindHeader, "previous-header hash %s does not match the hash of block %d (%s)", hdr.PrevHash, h-1, parent.Hash), parent, log
	case hdr.Time <= parent.Time:
		return problem(h, KindHeader, "block time is not after the previous block's"), parent, log
	}
	if _, ok := v.validators[hdr.Proposer]; !ok {
		return problem(h, KindSignature, "proposer %q is not a validator in the genesis or the ledger", hdr.Proposer), parent, log
	}
	// Solo blocks are signed by their proposer; CometBFT blocks by the
	// node that stored them (b.sh.Signer), which must be a validator too.
	signer := b.sh.SignerID()
	val, ok := v.validators[signer]
	if !ok {
		return problem(h, KindSignature, "block signer %q is not a validator in the genesis or the ledger", signer), parent, log
	}
	bh := hdr.Hash()
	if !identity.Verify(val.pub, bh[:], b.sh.Signature) {
		return problem(h, KindSignature, "block signature does not verify with the key of validator %q (%s)", val.name, signer), parent, log
	}
	if root := ledger.MerkleRoot(b.raw); root != hdr.TxRoot {
		return problem(h, KindTxRoot, "transactions hash to %s, header says %s (a transaction was changed, added, removed or reordered)", root, hdr.TxRoot), parent, log
	}
	txs := make([]chain.Tx, len(b.txs))
	for i := range b.txs {
		txs[i] = chain.Tx{Tx: b.txs[i], Raw: b.raw[i], ID: b.ids[i]}
		if keys != nil {
			txs[i].Verified = keys[i]
		}
	}
	out, err := chain.Execute(v.m, chain.Input{
		ChainID: v.doc.ChainID, Parent: parent, Time: hdr.Time, Proposer: hdr.Proposer,
		Txs: txs, State: v.state, Log: log,
		Committed: func(id ledger.Hash) (bool, error) { _, ok := v.seen[id]; return ok, nil },
	})
	if err != nil {
		return problem(h, KindStore, "re-execution failed: %v", err), parent, log
	}
	for i, r := range out.Block.Results {
		if !bytes.Equal(r, b.results[i]) {
			stored, derr := ledger.DecodeResult(b.results[i])
			what := fmt.Sprintf("transaction %d (%s): stored result differs from re-execution (re-executed: %s)", i, b.ids[i], out.Results[i].Code)
			if derr == nil {
				what = fmt.Sprintf("transaction %d (%s): stored result %q, re-execution gives %q", i, b.ids[i], stored.Code, out.Results[i].Code)
				if stored.Code == out.Results[i].Code {
					what = fmt.Sprintf("transaction %d (%s): stored result differs from re-execution in its message or events", i, b.ids[i])
				}
			}
			return problem(h, KindResult, "%s", what), parent, log
		}
	}
	got := &out.Block.Header.Header
	switch {
	case got.ResultsRoot != hdr.ResultsRoot:
		return problem(h, KindResult, "results hash to %s, header says %s", got.ResultsRoot, hdr.ResultsRoot), parent, log
	case got.ChangesHash != hdr.ChangesHash:
		return problem(h, KindAppHash, "re-execution changes state differently (changes hash %s, header says %s)", got.ChangesHash, hdr.ChangesHash), parent, log
	case got.TxLogSize != hdr.TxLogSize:
		return problem(h, KindTxLog, "tx log size %d, header says %d", got.TxLogSize, hdr.TxLogSize), parent, log
	case got.TxLogRoot != hdr.TxLogRoot:
		return problem(h, KindTxLog, "tx log root %s, header says %s", got.TxLogRoot, hdr.TxLogRoot), parent, log
	case got.AppHash != hdr.AppHash:
		return problem(h, KindAppHash, "app hash %s, header says %s", got.AppHash, hdr.AppHash), parent, log
	}
	for _, n := range out.Block.Nodes {
		if p := v.checkNode(h, n.ID.Level, n.ID.Index, n.Hash); p != nil {
			return p, parent, log
		}
		v.nodes++
	}
	first := hdr.TxLogSize - hdr.TxCount
	for i, id := range b.ids {
		if _, dup := v.seen[id]; dup {
			// Execution recorded it as a replay; keep the first location.
			continue
		}
		v.seen[id] = store.Loc{Height: h, Index: uint32(i), Leaf: first + uint64(i)}
	}
	v.state.Apply(out.Block.Changes)
	v.changes = append(v.changes, got.ChangesHash)
	v.counts = append(v.counts, hdr.TxCount)
	v.rep.Txs += hdr.TxCount
	return nil, chain.Parent{Hash: bh, AppHash: hdr.AppHash, Height: h, Time: hdr.Time}, out.Log
}

// checkState re-derives each height's changes hash from the stored state
// versions and compares it with the replayed one.
func (v *verifier) checkState(last uint64) *Problem {
	hashers := make([]*ledger.ChangesHasher, last+1)
	var p *Problem
	err := v.st.Raw(store.SpaceState, func(sk, val []byte) error {
		k, h, err := store.ParseStateKey(sk)
		if err != nil {
			p = problem(0, KindState, "a stored state key is malformed")
			return errStop
		}
		if h > last {
			p = problem(h, KindExtra, "state written at height %d, beyond the last block %d", h, last)
			return errStop
		}
		value, live, err := store.DecodeStateValue(val)
		if err != nil {
			p = problem(h, KindState, "a state value at this height is malformed: %v", err)
			return errStop
		}
		if hashers[h] == nil {
			hashers[h] = ledger.NewChangesHasher()
		}
		hashers[h].Add(k, value, !live)
		v.rep.StateVersions++
		return nil
	})
	if p != nil {
		return p
	}
	if err != nil {
		return problem(0, KindStore, "reading state: %v", err)
	}
	for h := uint64(0); h <= last; h++ {
		got := ledger.ChangesHash(nil)
		if hashers[h] != nil {
			got = hashers[h].Sum()
		}
		if got != v.changes[h] {
			return problem(h, KindState, "the stored state versions written at this height do not match the block's changes (a state record was altered, added or removed)")
		}
	}
	return nil
}

// checkIndex checks that the tx index holds exactly one correct entry per
// committed transaction.
func (v *verifier) checkIndex(last uint64) *Problem {
	var p *Problem
	n := 0
	err := v.st.Raw(store.SpaceIndex, func(k, val []byte) error {
		id, err := ledger.HashFromSlice(k[1:])
		if err != nil {
			p = problem(0, KindIndex, "a tx index key is malformed")
			return errStop
		}
		loc, err := store.DecodeLoc(val)
		if err != nil {
			p = problem(0, KindIndex, "index entry of %s is malformed", id)
			return errStop
		}
		want, ok := v.seen[id]
		if !ok {
			p = problem(loc.Height, KindIndex, "index lists transaction %s, which is in no block", id)
			return errStop
		}
		if want != loc {
			p = problem(want.Height, KindIndex, "index places transaction %s at %d/%d, it is at %d/%d", id, loc.Height, loc.Index, want.Height, want.Index)
			return errStop
		}
		n++
		return nil
	})
	if p != nil {
		return p
	}
	if err != nil {
		return problem(0, KindStore, "reading the tx index: %v", err)
	}
	if n != len(v.seen) {
		// Find the lowest height with a missing entry.
		low := last
		for id, loc := range v.seen {
			if _, err := v.st.Locate(id); err != nil && loc.Height <= low {
				low = loc.Height
			}
		}
		return problem(low, KindIndex, "the tx index has %d entries for %d committed transactions", n, len(v.seen))
	}
	return nil
}

// nodeCursor returns the cursor of one tx-log level, opening it lazily.
func (v *verifier) nodeCursor(level uint) (*store.Cursor, error) {
	c, ok := v.nodeCur[level]
	if !ok {
		var err error
		if c, err = v.st.NodeLevelCursor(level); err != nil {
			return nil, err
		}
		v.nodeCur[level] = c
	}
	return c, nil
}

// checkNode compares the next stored node of a level with the recomputed
// one: replay creates the nodes of each level in index order, exactly as
// they are stored.
func (v *verifier) checkNode(h uint64, level uint, index uint64, want ledger.Hash) *Problem {
	c, err := v.nodeCursor(level)
	if err != nil {
		return problem(h, KindStore, "%v", err)
	}
	key := store.NodeKey(level, index)
	k, val, ok := c.Peek()
	if err := c.Err(); err != nil {
		return problem(h, KindStore, "tx-log node %d/%d: %v", level, index, err)
	}
	switch {
	case ok && bytes.Compare(k, key) < 0:
		return problem(h, KindTxLog, "a stored tx-log node at level %d precedes node %d/%d and no block creates it", level, level, index)
	case !ok || !bytes.Equal(k, key):
		return problem(h, KindTxLog, "tx-log node %d/%d: %v", level, index, store.ErrNotFound)
	case !bytes.Equal(val, want[:]):
		return problem(h, KindTxLog, "stored tx-log node %d/%d differs from the recomputed one", level, index)
	}
	c.Advance()
	return nil
}

// checkExtra finds transactions or results stored beyond their block, and
// tx-log nodes beyond the log's size. Replay has already compared every
// node the blocks create, so these are the only ones left to find.
func (v *verifier) checkExtra(last, size uint64) *Problem {
	if v.cur.trailing != nil {
		return v.cur.trailing
	}
	// Replay consumed every node the blocks create, level by level; any
	// node left on a level lies beyond the log.
	for level := uint(0); level < 64; level++ {
		c, err := v.nodeCursor(level)
		if err != nil {
			return problem(0, KindStore, "reading tx-log nodes: %v", err)
		}
		k, _, ok := c.Peek()
		if err := c.Err(); err != nil {
			return problem(0, KindStore, "reading tx-log nodes: %v", err)
		}
		if ok {
			if len(k) != 10 {
				return problem(0, KindDecode, "a tx-log node key is malformed")
			}
			return problem(last+1, KindExtra, "tx-log node %d/%d covers leaves beyond the %d committed transactions", level, beUint64(k[2:]), size)
		}
	}
	odd, err := v.st.Cursor([]byte{store.SpaceNode, 64}, []byte{store.SpaceNode + 1})
	if err != nil {
		return problem(0, KindStore, "reading tx-log nodes: %v", err)
	}
	defer odd.Close()
	if _, _, ok := odd.Peek(); ok {
		return problem(0, KindDecode, "a tx-log node key is malformed")
	}
	return nil
}
