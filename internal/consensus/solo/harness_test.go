package solo

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
	"github.com/medledger/medledger/internal/ledger/verify"
	"github.com/medledger/medledger/internal/policy"
)

// The harness runs a real sequencer: a Pebble store in a temporary
// directory initialised from a genesis built here, the production contract
// machine (members and notary with CEL policies), and transactions signed
// with client.Sign as any client would. Only the commit seam
// (Sequencer.commit) is ever replaced, to delay, hold or fail commits.
//
// This package cannot import internal/node (node imports solo), so the
// machine and genesis state are assembled the way node.NewMachine and
// node.GenesisState do it, and verification calls verify.Run as
// node.VerifyDir does.

const (
	testChain = "solo-test"
	testOrg   = "hosp"
	adminID   = testOrg + "/admin"
)

// env is one sequencer over its own ledger.
type env struct {
	t       testing.TB
	dir     string // the ledger directory
	doc     *genesis.Doc
	changes []ledger.Change // genesis state
	st      *store.Store
	m       *contract.Machine
	admin   *identity.Key
	seq     *Sequencer

	seqClosed, stClosed bool
}

// member is an enrolled (or to be enrolled) member and its current key.
type member struct {
	id  string
	key *identity.Key
}

var memberSeq atomic.Int64

// newMember returns a fresh member id with a new key; it is not enrolled.
func newMember(t testing.TB, name string) member {
	return member{id: fmt.Sprintf("%s/%s-%d", testOrg, name, memberSeq.Add(1)), key: newKey(t)}
}

func newKey(t testing.TB) *identity.Key {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newMachine is node.NewMachine.
func newMachine(t testing.TB) *contract.Machine {
	t.Helper()
	m, err := contract.NewMachine(testChain, policy.NewEngine(policy.Options{}), members.Contract{}, notary.Contract{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// newEnv creates a ledger and a sequencer over it. Each hook runs after
// New and before Start (to replace the commit seam); the sequencer and
// store are closed when the test ends.
func newEnv(t testing.TB, cfg Config, hooks ...func(*env)) *env {
	t.Helper()
	nodeKey, admin := newKey(t), newKey(t)
	doc := &genesis.Doc{
		ChainID:     testChain,
		GenesisTime: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		Orgs:        []genesis.Org{{ID: testOrg, Name: "Test Hospital", Kind: "hospital"}},
		Members: []genesis.Member{{
			ID: adminID, Org: testOrg, Roles: []string{string(identity.RoleAdmin)},
			PublicKey: identity.EncodePublicKey(admin.Public()),
		}},
		Validators: []genesis.Validator{{
			Name: "node0", Org: testOrg, PublicKey: identity.EncodePublicKey(nodeKey.Public()), Power: 10,
		}},
	}
	if err := doc.Validate(); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	changes, err := members.GenesisChanges(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "ledger")
	st, err := store.Open(store.Options{Dir: dir, HotPrefixes: [][]byte{[]byte("members/"), []byte("policy/")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InitGenesis(doc.Canonical(), changes); err != nil {
		t.Fatal(err)
	}
	gh := doc.Hash()
	parent := chain.Parent{Hash: gh, AppHash: chain.GenesisAppHash(gh, changes), Time: doc.GenesisTime.UnixNano()}
	e := &env{t: t, dir: dir, doc: doc, changes: changes, st: st, m: newMachine(t), admin: admin}
	e.seq, err = New(cfg, Deps{ChainID: testChain, Store: st, Machine: e.m, Signer: nodeKey, Genesis: parent})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	t.Cleanup(e.shutdown)
	for _, h := range hooks {
		h(e)
	}
	e.seq.Start()
	return e
}

// closeSeq closes the sequencer, failing the test if Close hangs.
func (e *env) closeSeq() {
	e.t.Helper()
	if e.seqClosed {
		return
	}
	e.seqClosed = true
	done := make(chan struct{})
	go func() { e.seq.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		e.t.Fatal("Sequencer.Close did not return within 20s")
	}
}

func (e *env) shutdown() {
	e.closeSeq()
	if !e.stClosed {
		e.stClosed = true
		if err := e.st.Close(); err != nil {
			e.t.Errorf("store.Close: %v", err)
		}
	}
}

// wrapCommit makes f run around every commit; f calls next to commit.
func (e *env) wrapCommit(f func(b *store.Block, next func(*store.Block) error) error) {
	next := e.seq.commit
	e.seq.commit = func(b *store.Block) error { return f(b, next) }
}

// sign signs a transaction as signer with k.
func (e *env) sign(k *identity.Key, signer, contractName, method string, payload any) []byte {
	e.t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _, err := client.Sign(client.Tx{ChainID: testChain, Contract: contractName, Method: method, Payload: p, Signer: signer}, k)
	if err != nil {
		e.t.Fatal(err)
	}
	return raw
}

func (e *env) enrol(m member) []byte {
	return e.sign(e.admin, adminID, "members", "enrol", members.Enrol{
		ID: m.id, Org: testOrg, Roles: []string{"practitioner"}, PublicKey: identity.EncodePublicKey(m.key.Public()),
	})
}

func (e *env) rekey(id string, k *identity.Key) []byte {
	return e.sign(e.admin, adminID, "members", "rekey", members.Rekey{ID: id, PublicKey: identity.EncodePublicKey(k.Public())})
}

func (e *env) suspend(id string) []byte {
	return e.sign(e.admin, adminID, "members", "suspend", members.Suspend{ID: id, Reason: "left_organisation"})
}

func (e *env) setRoles(id string, roles ...string) []byte {
	return e.sign(e.admin, adminID, "members", "set_roles", members.SetRoles{ID: id, Roles: roles})
}

// anchor is a notary anchor of a random document, signed by m with k.
func (e *env) anchor(m member, k *identity.Key) []byte {
	var h [32]byte
	rand.Read(h[:])
	return e.sign(k, m.id, "notary", "anchor", notary.Anchor{Hash: hex.EncodeToString(h[:]), Kind: "lab-report"})
}

// enrolMembers enrols n new members in one batch.
func (e *env) enrolMembers(name string, n int) []member {
	e.t.Helper()
	ms := make([]member, n)
	raws := make([][]byte, n)
	for i := range ms {
		ms[i] = newMember(e.t, name)
		raws[i] = e.enrol(ms[i])
	}
	for i, r := range e.seq.SubmitBatch(ctxT(e.t, 20*time.Second), raws) {
		mustOK(e.t, fmt.Sprintf("enrol %s", ms[i].id), r.Receipt, r.Err)
	}
	return ms
}

// ctxT is a context bounded by d (so that a hang fails instead of timing
// out the whole test binary) and by the test.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func mustOK(t testing.TB, what string, r Receipt, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: error %v; want a receipt", what, err)
	}
	if r.Result.Code != ledger.CodeOK {
		t.Fatalf("%s: committed with %s (%s); want ok", what, r.Result.Code, r.Result.Message)
	}
}

func txID(t testing.TB, raw []byte) ledger.Hash {
	t.Helper()
	tx, err := ledger.DecodeTx(raw, ledger.MaxTxBytes)
	if err != nil {
		t.Fatal(err)
	}
	return tx.ID()
}

// before reports whether receipt a is ordered before b on the ledger.
func before(a, b Receipt) bool {
	return a.Height < b.Height || a.Height == b.Height && a.Index < b.Index
}

// flightDepth is the number of built blocks not yet popped by the
// committer (read under the inflight lock).
func (s *Sequencer) flightDepth() int {
	s.flight.mu.RLock()
	defer s.flight.mu.RUnlock()
	return len(s.flight.blocks)
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// recorder collects receipts from many goroutines.
type recorder struct {
	mu       sync.Mutex
	receipts []Receipt
}

func (r *recorder) add(rc Receipt) {
	r.mu.Lock()
	r.receipts = append(r.receipts, rc)
	r.mu.Unlock()
}

func (r *recorder) all() []Receipt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Receipt(nil), r.receipts...)
}

// checkLedger closes the sequencer and checks the ledger against the
// receipts it gave: each receipt's transaction is where the index says
// with the result the receipt reported, in a block whose hash the receipt
// names; heights are contiguous and every header links to its parent; the
// tx log rebuilt from every stored transaction has the last header's size
// and root; and offline verification (verify.Run, as node.VerifyDir runs
// it, on the database reopened read-only) reports the ledger OK.
func (e *env) checkLedger(receipts []Receipt) {
	t := e.t
	t.Helper()
	e.closeSeq()
	st := e.st
	last := st.Height()
	if lh := st.Last().Header.Height; lh != last {
		t.Errorf("store.Last().Height = %d; Height() = %d", lh, last)
	}
	hashes := make([]ledger.Hash, last+1)
	hashes[0] = e.doc.Hash()
	log := txlog.New()
	prevTime := e.doc.GenesisTime.UnixNano()
	for h := uint64(1); h <= last; h++ {
		sh, err := st.Header(h)
		if err != nil {
			t.Fatalf("header %d of %d: %v", h, last, err)
		}
		hdr := sh.Header
		if hdr.Height != h {
			t.Fatalf("header at %d has height %d", h, hdr.Height)
		}
		if hdr.PrevHash != hashes[h-1] {
			t.Fatalf("header %d: PrevHash = %s; want %s (hash of header %d)", h, hdr.PrevHash, hashes[h-1], h-1)
		}
		if hdr.Time <= prevTime {
			t.Errorf("header %d: time %d not after %d", h, hdr.Time, prevTime)
		}
		prevTime = hdr.Time
		for i := uint64(0); i < hdr.TxCount; i++ {
			raw, err := st.Tx(h, uint32(i))
			if err != nil {
				t.Fatalf("tx %d/%d: %v", h, i, err)
			}
			log.Append(ledger.LeafHash(raw), nil)
		}
		if log.Size() != hdr.TxLogSize {
			t.Fatalf("header %d: TxLogSize = %d; rebuilt log has %d", h, hdr.TxLogSize, log.Size())
		}
		hashes[h] = hdr.Hash()
	}
	if _, err := st.Header(last + 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("header %d (after the last): err = %v; want ErrNotFound", last+1, err)
	}
	if last > 0 {
		if root := st.Last().Header.TxLogRoot; log.Root() != root {
			t.Errorf("last header TxLogRoot = %s; tx log rebuilt from all %d stored txs = %s", root, log.Size(), log.Root())
		}
	}

	seen := make(map[ledger.Hash]bool, len(receipts))
	for _, r := range receipts {
		if seen[r.TxHash] {
			t.Errorf("two receipts for tx %s", r.TxHash)
		}
		seen[r.TxHash] = true
		if r.Height == 0 || r.Height > last {
			t.Errorf("receipt for %s at height %d; ledger has 1..%d", r.TxHash, r.Height, last)
			continue
		}
		loc, err := st.Locate(r.TxHash)
		if err != nil {
			t.Errorf("Locate(%s): %v", r.TxHash, err)
			continue
		}
		if want := (store.Loc{Height: r.Height, Index: r.Index, Leaf: r.Leaf}); loc != want {
			t.Errorf("Locate(%s) = %+v; receipt says %+v", r.TxHash, loc, want)
		}
		if r.BlockHash != hashes[r.Height] {
			t.Errorf("receipt for %s: block hash %s; header %d hashes to %s", r.TxHash, r.BlockHash, r.Height, hashes[r.Height])
		}
		raw, err := st.Tx(r.Height, r.Index)
		if err != nil {
			t.Errorf("tx %d/%d: %v", r.Height, r.Index, err)
		} else if id := txID(t, raw); id != r.TxHash {
			t.Errorf("tx at %d/%d is %s; receipt is for %s", r.Height, r.Index, id, r.TxHash)
		}
		res, err := st.Result(r.Height, r.Index)
		if err != nil {
			t.Errorf("result %d/%d: %v", r.Height, r.Index, err)
		} else if !bytes.Equal(res, r.Result.Encode()) {
			got, _ := ledger.DecodeResult(res)
			t.Errorf("result of %s: stored %+v; receipt %+v", r.TxHash, got, r.Result)
		}
	}

	e.stClosed = true
	if err := st.Close(); err != nil {
		t.Fatalf("store.Close: %v", err)
	}
	ro, err := store.Open(store.Options{Dir: e.dir, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	rep, err := verify.Run(ctxT(t, 30*time.Second), ro, e.doc, newMachine(t), e.changes, verify.Options{})
	if err != nil {
		t.Fatalf("verify.Run: %v", err)
	}
	if !rep.OK {
		t.Fatalf("verify.Run: ledger not OK: %v", rep.Problem)
	}
	if rep.Height != last {
		t.Errorf("verify.Run checked height %d; ledger has %d", rep.Height, last)
	}
}
