// Package contracttest is a test helper for the contract packages
// (contract, members, notary): a small world for executing transactions.
// A Fixture is a genesis document with two organisations, a real
// contract.Machine with the members and notary contracts, and a
// contract.MemState; it builds and signs transactions, applies them and
// checks what every result must satisfy.
//
// It must only be imported by tests: it imports package testing, and it
// imports members and notary, which themselves import contract.
package contracttest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/policy"
)

// ChainID is the chain of the test genesis document.
const ChainID = "medledger-test-1"

// PHI is a synthetic patient name. Payloads carry it where a careless
// contract might echo it; no result may contain it.
const PHI = "Jane Q. Testpatient"

// GenesisTime is the time of the test genesis document. Block h of a
// Fixture has time GenesisTime + h seconds.
var GenesisTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	keysMu sync.Mutex
	keys   = map[string]*identity.Key{}
)

// Key returns the test key called name, generating it on first use.
func Key(t testing.TB, name string) *identity.Key {
	t.Helper()
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[name]; ok {
		return k
	}
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keys[name] = k
	return k
}

// Pub returns the text form of key name's public key.
func Pub(t testing.TB, name string) string { return identity.EncodePublicKey(Key(t, name).Public()) }

// Doc returns a fresh test genesis document: organisations st-mary and
// acme, five members whose keys are named by their ids, and validator node0.
func Doc(t testing.TB) *genesis.Doc {
	m := func(id, org string, roles ...string) genesis.Member {
		return genesis.Member{ID: id, Org: org, Roles: roles, PublicKey: Pub(t, id)}
	}
	return &genesis.Doc{
		ChainID:     ChainID,
		GenesisTime: GenesisTime,
		Orgs: []genesis.Org{
			{ID: "st-mary", Name: "St Mary's", Kind: "hospital"},
			{ID: "acme", Name: "Acme Health", Kind: "payer"},
		},
		Members: []genesis.Member{
			m("st-mary/admin", "st-mary", "admin"),
			m("st-mary/dr-who", "st-mary", "practitioner"),
			m("st-mary/clerk", "st-mary", "auditor"),
			m("st-mary/node", "st-mary", "system"),
			m("acme/admin", "acme", "payer", "admin"),
			m("acme/claims", "acme", "payer"),
		},
		Validators: []genesis.Validator{{Name: "node0", Org: "st-mary", PublicKey: Pub(t, "node0"), Power: 1}},
	}
}

// A Fixture executes transactions against the committed state of the
// test genesis document, one block at a time.
type Fixture struct {
	Machine *contract.Machine
	State   *contract.MemState // the committed state

	t      testing.TB
	height uint64 // of the last committed block
	nonce  uint64
}

// NewFixture returns a Fixture at the genesis state whose machine runs
// the members and notary contracts and extra.
func NewFixture(t testing.TB, extra ...contract.Contract) *Fixture {
	t.Helper()
	doc := Doc(t)
	if err := doc.Validate(); err != nil {
		t.Fatalf("test genesis: %v", err)
	}
	cs, err := members.GenesisChanges(doc)
	if err != nil {
		t.Fatal(err)
	}
	state := contract.NewMemState()
	state.Apply(cs)
	m, err := contract.NewMachine(ChainID, policy.NewEngine(policy.Options{}),
		append([]contract.Contract{members.Contract{}, notary.Contract{}}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &Fixture{t: t, Machine: m, State: state}
}

// Call describes a transaction to build.
type Call struct {
	Signer   string // member id
	Key      string // name of the signing key; default Signer
	Contract string
	Method   string
	Payload  any // JSON-encoded unless string or []byte
}

func payloadBytes(t testing.TB, p any) []byte {
	switch p := p.(type) {
	case nil:
		return nil
	case []byte:
		return p
	case string:
		return []byte(p)
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Tx builds and signs the transaction c describes, with a fresh nonce.
func (f *Fixture) Tx(c Call) *ledger.Tx {
	f.t.Helper()
	f.nonce++
	tx := &ledger.Tx{ChainID: ChainID, Contract: c.Contract, Method: c.Method,
		Payload: payloadBytes(f.t, c.Payload), Signer: c.Signer, Nonce: f.nonce}
	Sign(f.t, tx, cmp.Or(c.Key, c.Signer))
	return tx
}

// Sign sets tx's signature to one by the test key called keyName.
func Sign(t testing.TB, tx *ledger.Tx, keyName string) {
	t.Helper()
	sig, err := Key(t, keyName).Sign(tx.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	tx.Signature = sig
}

// Begin starts the block after the last committed one.
func (f *Fixture) Begin() *contract.Block {
	return f.Machine.Begin(f.State, f.height+1, GenesisTime.Add(time.Duration(f.height+1)*time.Second))
}

// Commit applies b's changes to the committed state.
func (f *Fixture) Commit(b *contract.Block) {
	f.State.Apply(b.Changes())
	f.height++
}

// Apply runs tx in b and checks what every result must satisfy: it
// encodes canonically, carries no PHI, and a failure changes nothing.
func (f *Fixture) Apply(b *contract.Block, tx *ledger.Tx) ledger.Result {
	f.t.Helper()
	before := b.Changes()
	r, err := b.Apply(tx, tx.ID(), nil)
	if err != nil {
		f.t.Fatalf("Apply(%v): %v", tx, err)
	}
	CheckResult(f.t, tx, r)
	after := b.Changes()
	if r.Code != ledger.CodeOK && !reflect.DeepEqual(before, after) {
		f.t.Errorf("Apply(%v) failed with %s but changed the state:\nbefore %s\nafter  %s", tx, r.Code, FmtChanges(before), FmtChanges(after))
	}
	CheckSorted(f.t, after)
	return r
}

// CheckResult checks the invariants of any result of tx.
func CheckResult(t testing.TB, tx *ledger.Tx, r ledger.Result) {
	t.Helper()
	if !r.Code.Valid() {
		t.Errorf("Apply(%v) code %q is not valid", tx, r.Code)
	}
	if !utf8.ValidString(r.Message) || len(r.Message) > ledger.MaxMessageLen {
		t.Errorf("Apply(%v) message is not at most %d bytes of UTF-8: %q", tx, ledger.MaxMessageLen, r.Message)
	}
	enc := r.Encode()
	if got, err := ledger.DecodeResult(enc); err != nil || !reflect.DeepEqual(got, r) {
		t.Errorf("DecodeResult(Encode(result of %v)) = %+v, %v; want %+v", tx, got, err, r)
	}
	if bytes.Contains(enc, []byte(PHI)) || strings.Contains(r.Message, "Testpatient") {
		t.Errorf("result of %v contains the payload's personal data: %+v", tx, r)
	}
	if r.Code != ledger.CodeOK && (r.Message == "" || len(r.Events) > 0) {
		t.Errorf("failed result of %v = %+v; want a message and no events", tx, r)
	}
}

// CheckSorted checks that cs is strictly sorted by key.
func CheckSorted(t testing.TB, cs []ledger.Change) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		if bytes.Compare(cs[i-1].Key, cs[i].Key) >= 0 {
			t.Errorf("Changes() not strictly sorted: %q before %q", cs[i-1].Key, cs[i].Key)
		}
	}
}

// Step is one transaction of a scenario and its expected code.
type Step struct {
	Call
	Want ledger.Code
}

// Run executes blocks of steps, committing after each block, checks every
// code and returns the results.
func (f *Fixture) Run(blocks ...[]Step) [][]ledger.Result {
	f.t.Helper()
	var out [][]ledger.Result
	for bi, steps := range blocks {
		b := f.Begin()
		var rs []ledger.Result
		for si, s := range steps {
			tx := f.Tx(s.Call)
			r := f.Apply(b, tx)
			if r.Code != s.Want {
				f.t.Errorf("block %d step %d: Apply(%v %s) = %s %q; want %s", bi, si, tx, tx.Payload, r.Code, r.Message, s.Want)
			}
			rs = append(rs, r)
		}
		f.Commit(b)
		out = append(out, rs)
	}
	return out
}

// Member reads a member record from the committed state.
func (f *Fixture) Member(id string) *contract.Member {
	f.t.Helper()
	m, ok, err := contract.LookupMember(f.State, id)
	if err != nil || !ok {
		f.t.Fatalf("LookupMember(%q) = %v, %v, %v", id, m, ok, err)
	}
	return m
}

// FmtChanges formats changes for failure messages.
func FmtChanges(cs []ledger.Change) string {
	var b strings.Builder
	b.WriteString("[")
	for i, c := range cs {
		if i > 0 {
			b.WriteString(" ")
		}
		if c.Delete {
			fmt.Fprintf(&b, "-%q", c.Key)
		} else {
			fmt.Fprintf(&b, "%q=%q", c.Key, c.Value)
		}
	}
	b.WriteString("]")
	return b.String()
}
