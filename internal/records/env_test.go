package records

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/medledger/medledger/client"
	ct "github.com/medledger/medledger/internal/contract/contracttest"
	recordsc "github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/crypt"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/fhir/validate"
	"github.com/medledger/medledger/internal/ledger"
)

// The test world: a records Store in real Pebble (on disk in t.TempDir(),
// or on a crashable in-memory vfs), a real crypt.Keyring kept in the store
// as the node keeps it, the real records contract executed by a real
// contract.Machine (contracttest's fixture) as the ledger, the real FHIR
// validator and the real search index. Only the block production of the
// node is replaced, by testLedger: one block per submission, the records
// store synced before each commit as node.Open's BeforeCommit does.

// org is the organisation of the test node (contracttest's genesis).
const org = "st-mary"

// serviceMember signs anchors, as the node's system member does.
const serviceMember = "st-mary/node"

// phiName is a synthetic patient's family name: it must never be found at
// rest in the records database.
const phiName = "Zyxwvutsrq-Testpatient"

var (
	masterKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}
	otherKey  = [32]byte{31: 9}
)

// validator is built once: compiling the FHIR schemas takes a while.
var validator = sync.OnceValues(validate.New)

// t0 is the start of every test clock.
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

// clock is a settable clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fate is what testLedger does with one submitted transaction.
type fate int

const (
	commit     fate = iota // execute and commit it, report the receipt
	commitLost             // execute and commit it, but report a timeout
	late                   // report a timeout, commit it before the next one
	drop                   // never execute it, report CodeUnavailable
)

// testLedger implements Ledger over the real records contract. Each
// transaction is one block. Safe for concurrent use.
type testLedger struct {
	mu     sync.Mutex
	f      *ct.Fixture // guarded by mu
	height uint64      // guarded by mu; of the last committed block
	// beforeCommit runs after a block executed and before it commits.
	beforeCommit func() error // guarded by mu
	// fates, if not empty, decide the next submissions, in order.
	fates []fate // guarded by mu
	// held are transactions submitted with fate late, not yet executed.
	held []*ledger.Tx // guarded by mu
	// before, if set, runs (without mu) before the next submission is
	// executed, then is cleared: a hook to race another writer.
	before func() // guarded by mu
}

func newTestLedger(t testing.TB) *testLedger {
	t.Helper()
	ct.Key(t, serviceMember) // generate it now, not in a goroutine
	return &testLedger{f: ct.NewFixture(t, recordsc.Contract{})}
}

func (l *testLedger) setFates(fs ...fate) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fates = fs
}

func (l *testLedger) setBefore(fn func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.before = fn
}

func (l *testLedger) setBeforeCommit(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.beforeCommit = fn
}

// Submit implements Ledger.
func (l *testLedger) Submit(ctx context.Context, raw []byte) (ledger.Receipt, error) {
	l.mu.Lock()
	before := l.before
	l.before = nil
	l.mu.Unlock()
	if before != nil {
		before()
	}
	tx, err := ledger.DecodeTx(raw, 0)
	if err != nil {
		return ledger.Receipt{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ft := commit
	if len(l.fates) > 0 {
		ft, l.fates = l.fates[0], l.fates[1:]
	}
	switch ft {
	case drop:
		return ledger.Receipt{}, ledger.Errorf(ledger.CodeUnavailable, "the node is stopping")
	case late:
		l.held = append(l.held, tx)
		return ledger.Receipt{}, context.DeadlineExceeded
	}
	if err := l.commitHeldLocked(); err != nil {
		return ledger.Receipt{}, err
	}
	r, err := l.execLocked(tx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	if ft == commitLost {
		return ledger.Receipt{}, context.DeadlineExceeded
	}
	return ledger.Receipt{TxHash: tx.ID(), Height: l.height, Result: r}, nil
}

// commitHeld executes and commits the transactions held back by fate late.
func (l *testLedger) commitHeld() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.commitHeldLocked()
}

func (l *testLedger) commitHeldLocked() error {
	for len(l.held) > 0 {
		tx := l.held[0]
		l.held = l.held[1:]
		if _, err := l.execLocked(tx); err != nil {
			return err
		}
	}
	return nil
}

// execLocked executes tx in a block of its own and commits the block.
func (l *testLedger) execLocked(tx *ledger.Tx) (ledger.Result, error) {
	b := l.f.Begin()
	r, err := b.Apply(tx, tx.ID(), nil)
	if err != nil {
		return r, err
	}
	if l.beforeCommit != nil {
		if err := l.beforeCommit(); err != nil {
			return r, fmt.Errorf("before commit: %w", err)
		}
	}
	l.f.Commit(b)
	l.height++
	return r, nil
}

// setHead overwrites a resource's head in the ledger state, bypassing
// the contract: for decoding tests.
func (l *testLedger) setHead(typ, id string, raw []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.State.Apply([]ledger.Change{{Key: []byte("records/" + recordsc.HeadKey(typ, id)), Value: raw}})
}

// Get implements Ledger.
func (l *testLedger) Get(key []byte) ([]byte, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.State.Get(key)
}

// anchor signs a records.write for the service member, as the node does.
func anchor(t testing.TB) Anchorer {
	key := ct.Key(t, serviceMember)
	return func(w recordsc.Write) ([]byte, error) {
		p, err := json.Marshal(w)
		if err != nil {
			return nil, err
		}
		raw, _, err := client.Sign(client.Tx{ChainID: ct.ChainID, Contract: "records", Method: "write", Payload: p, Signer: serviceMember}, key)
		return raw, err
	}
}

// env is one node's records side.
type env struct {
	t      testing.TB
	dir    string
	fs     vfs.FS // nil: the disk, through Open
	store  *Store
	keys   *crypt.Keyring
	ledger *testLedger
	index  *search.Index
	svc    *Service
	clock  *clock
}

// newEnv opens a records store on disk in a temporary directory.
func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), ledger: newTestLedger(t), clock: &clock{t: t0}}
	e.open()
	return e
}

// newMemEnv opens a records store on a crashable in-memory file system.
func newMemEnv(t testing.TB) (*env, *vfs.MemFS) {
	t.Helper()
	mfs := vfs.NewCrashableMem()
	e := &env{t: t, dir: "records", fs: mfs, ledger: newTestLedger(t), clock: &clock{t: t0}}
	e.open()
	return e, mfs
}

// open opens the store, the keyring and the service as node.openFHIR does.
func (e *env) open() {
	e.t.Helper()
	st, err := openStore(e.fs, e.dir)
	if err != nil {
		e.t.Fatal(err)
	}
	kr, err := crypt.New(masterKey, st.Keys(), crypt.Options{})
	if err != nil {
		st.Close()
		e.t.Fatalf("crypt.New: %v", err)
	}
	st.SetSealer(kr)
	v, err := validator()
	if err != nil {
		e.t.Fatal(err)
	}
	e.store, e.keys, e.index = st, kr, new(search.Index)
	e.svc = NewService(Config{
		Store:     st,
		Ledger:    e.ledger,
		Anchor:    anchor(e.t),
		Pseudonym: kr.Pseudonym,
		Validate:  func(r *fhir.Resource) []fhir.Issue { return v.Validate(r) },
		Org:       org,
		Now:       e.clock.Now,
		Index:     e.index,
	})
	e.ledger.setBeforeCommit(st.Sync)
	e.t.Cleanup(func() {
		if e.store == st {
			st.Close()
			e.store = nil
		}
	})
}

// openStore opens a Store with Open on the disk, or with the same write
// path on fs.
func openStore(fs vfs.FS, dir string) (*Store, error) {
	if fs == nil {
		return Open(Options{Dir: dir})
	}
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, FormatMajorVersion: pebble.FormatNewest, Logger: quiet{}})
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// close closes the store cleanly.
func (e *env) close() {
	e.t.Helper()
	e.ledger.setBeforeCommit(nil)
	if err := e.store.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	e.store = nil
}

// reopen closes the store cleanly and opens it again, with a new keyring,
// service and (empty) index: a node restart.
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

// crash abandons the store and opens what a crash would have left on the
// disk: only what was synced. The abandoned database is closed on the old
// file system afterwards, which the clone no longer shares.
func (e *env) crash(mfs *vfs.MemFS) *vfs.MemFS {
	e.t.Helper()
	e.ledger.setBeforeCommit(nil)
	clone := mfs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	old := e.store
	e.store = nil
	if err := old.Close(); err != nil {
		e.t.Fatalf("Close of the crashed store: %v", err)
	}
	e.fs = clone
	e.open()
	return clone
}

// apply runs one Apply by "st-mary/dr-who" and fails the test on error.
func (e *env) apply(ops ...Op) []Written {
	e.t.Helper()
	ws, err := e.svc.Apply(context.Background(), "st-mary/dr-who", ops)
	if err != nil {
		e.t.Fatalf("Apply(%s): %v", describe(ops), err)
	}
	return ws
}

func describe(ops []Op) string {
	var b strings.Builder
	for i, op := range ops {
		if i > 0 {
			b.WriteString(", ")
		}
		typ, id := op.Type, op.ID
		if op.Resource != nil {
			typ, id = op.Resource.Type, op.Resource.ID
		}
		fmt.Fprintf(&b, "%s %s/%s", op.Kind, typ, id)
	}
	return b.String()
}

// Resources of the tests. Each call returns a fresh tree (Apply stamps
// meta into it).

func patient(id, family string) *fhir.Resource {
	return mustParse(`{"resourceType":"Patient","id":"` + id + `","active":true,` +
		`"name":[{"family":"` + family + `","given":["Jane"]}],"gender":"female","birthDate":"1971-07-13"}`)
}

func observation(id, patientID string, value int) *fhir.Resource {
	return mustParse(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final",`+
		`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}],"text":"Heart rate"},`+
		`"subject":{"reference":"Patient/%s"},"valueQuantity":{"value":%d,"unit":"/min"}}`, id, patientID, value))
}

func practitioner(id, family string) *fhir.Resource {
	return mustParse(`{"resourceType":"Practitioner","id":"` + id + `","name":[{"family":"` + family + `"}]}`)
}

func mustParse(s string) *fhir.Resource {
	r, err := fhir.Parse([]byte(s))
	if err != nil {
		panic(fmt.Sprintf("test resource %s: %v", s, err))
	}
	return r
}

func create(r *fhir.Resource) Op { return Op{Kind: recordsc.OpCreate, Resource: r} }
func update(r *fhir.Resource) Op { return Op{Kind: recordsc.OpUpdate, Resource: r} }
func del(typ, id string) Op      { return Op{Kind: recordsc.OpDelete, Type: typ, ID: id} }

// family returns name[0].family of stored JSON.
func family(t testing.TB, js []byte) string {
	t.Helper()
	r, err := fhir.Parse(js)
	if err != nil {
		t.Fatalf("stored JSON does not parse: %v", err)
	}
	ns, _ := r.Tree["name"].([]any)
	if len(ns) == 0 {
		return ""
	}
	f, _ := ns[0].(map[string]any)["family"].(string)
	return f
}

// filesContaining returns the names of the files under dir whose bytes
// contain needle.
func filesContaining(t testing.TB, dir string, needle []byte) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			out = append(out, filepath.Base(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
