package contract_test

import (
	"bytes"
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

// This file is a small world for executing transactions: a genesis
// document with two organisations, a real Machine with the members and
// notary contracts, and a MemState. The packages contract, members and
// notary each carry a copy of this file (keep them in step): test helpers
// cannot be shared without a package.

const chainID = "medledger-test-1"

// phi is a synthetic patient name. Payloads carry it where a careless
// contract might echo it; no result may contain it.
const phi = "Jane Q. Testpatient"

var genesisTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	keysMu sync.Mutex
	keys   = map[string]*identity.Key{}
)

// key returns the test key called name, generating it on first use.
func key(t testing.TB, name string) *identity.Key {
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

// pub returns the text form of key name's public key.
func pub(t testing.TB, name string) string { return identity.EncodePublicKey(key(t, name).Public()) }

func testDoc(t testing.TB) *genesis.Doc {
	m := func(id, org string, roles ...string) genesis.Member {
		return genesis.Member{ID: id, Org: org, Roles: roles, PublicKey: pub(t, id)}
	}
	return &genesis.Doc{
		ChainID:     chainID,
		GenesisTime: genesisTime,
		Orgs: []genesis.Org{
			{ID: "st-mary", Name: "St Mary's", Kind: "hospital"},
			{ID: "acme", Name: "Acme Health", Kind: "payer"},
		},
		Members: []genesis.Member{
			m("st-mary/admin", "st-mary", "admin"),
			m("st-mary/dr-who", "st-mary", "practitioner"),
			m("st-mary/clerk", "st-mary", "auditor"),
			m("acme/admin", "acme", "payer", "admin"),
			m("acme/claims", "acme", "payer"),
		},
		Validators: []genesis.Validator{{Name: "node0", Org: "st-mary", PublicKey: pub(t, "node0"), Power: 1}},
	}
}

type fixture struct {
	t      testing.TB
	m      *contract.Machine
	state  *contract.MemState
	height uint64
	nonce  uint64
}

func newFixture(t testing.TB, extra ...contract.Contract) *fixture {
	t.Helper()
	doc := testDoc(t)
	if err := doc.Validate(); err != nil {
		t.Fatalf("test genesis: %v", err)
	}
	cs, err := members.GenesisChanges(doc)
	if err != nil {
		t.Fatal(err)
	}
	state := contract.NewMemState()
	state.Apply(cs)
	m, err := contract.NewMachine(chainID, policy.NewEngine(policy.Options{}),
		append([]contract.Contract{members.Contract{}, notary.Contract{}}, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, m: m, state: state}
}

// call describes a transaction to build.
type call struct {
	signer   string // member id
	key      string // name of the signing key; default signer
	contract string
	method   string
	payload  any // JSON-encoded unless string or []byte
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

// tx builds and signs the transaction c describes, with a fresh nonce.
func (f *fixture) tx(c call) *ledger.Tx {
	f.t.Helper()
	f.nonce++
	tx := &ledger.Tx{ChainID: chainID, Contract: c.contract, Method: c.method,
		Payload: payloadBytes(f.t, c.payload), Signer: c.signer, Nonce: f.nonce}
	sign(f.t, tx, cmpOr(c.key, c.signer))
	return tx
}

func sign(t testing.TB, tx *ledger.Tx, keyName string) {
	t.Helper()
	sig, err := key(t, keyName).Sign(tx.SigningBytes())
	if err != nil {
		t.Fatal(err)
	}
	tx.Signature = sig
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func (f *fixture) begin() *contract.Block {
	return f.m.Begin(f.state, f.height+1, genesisTime.Add(time.Duration(f.height+1)*time.Second))
}

func (f *fixture) commit(b *contract.Block) {
	f.state.Apply(b.Changes())
	f.height++
}

// apply runs tx in b and checks what every result must satisfy: it
// encodes canonically, carries no PHI, and a failure changes nothing.
func (f *fixture) apply(b *contract.Block, tx *ledger.Tx) ledger.Result {
	f.t.Helper()
	before := b.Changes()
	r, err := b.Apply(tx, tx.ID(), nil)
	if err != nil {
		f.t.Fatalf("Apply(%v): %v", tx, err)
	}
	checkResult(f.t, tx, r)
	after := b.Changes()
	if r.Code != ledger.CodeOK && !reflect.DeepEqual(before, after) {
		f.t.Errorf("Apply(%v) failed with %s but changed the state:\nbefore %s\nafter  %s", tx, r.Code, fmtChanges(before), fmtChanges(after))
	}
	checkSorted(f.t, after)
	return r
}

// checkResult checks the invariants of any result.
func checkResult(t testing.TB, tx *ledger.Tx, r ledger.Result) {
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
	if bytes.Contains(enc, []byte(phi)) || strings.Contains(r.Message, "Testpatient") {
		t.Errorf("result of %v contains the payload's personal data: %+v", tx, r)
	}
	if r.Code != ledger.CodeOK && (r.Message == "" || len(r.Events) > 0) {
		t.Errorf("failed result of %v = %+v; want a message and no events", tx, r)
	}
}

func checkSorted(t testing.TB, cs []ledger.Change) {
	t.Helper()
	for i := 1; i < len(cs); i++ {
		if bytes.Compare(cs[i-1].Key, cs[i].Key) >= 0 {
			t.Errorf("Changes() not strictly sorted: %q before %q", cs[i-1].Key, cs[i].Key)
		}
	}
}

// step is one transaction of a scenario and its expected code.
type step struct {
	call
	want ledger.Code
}

// run executes blocks of steps, committing after each block, checks every
// code and returns the results.
func (f *fixture) run(blocks ...[]step) [][]ledger.Result {
	f.t.Helper()
	var out [][]ledger.Result
	for bi, steps := range blocks {
		b := f.begin()
		var rs []ledger.Result
		for si, s := range steps {
			tx := f.tx(s.call)
			r := f.apply(b, tx)
			if r.Code != s.want {
				f.t.Errorf("block %d step %d: Apply(%v %s) = %s %q; want %s", bi, si, tx, tx.Payload, r.Code, r.Message, s.want)
			}
			rs = append(rs, r)
		}
		f.commit(b)
		out = append(out, rs)
	}
	return out
}

// member reads a member record from the committed state.
func (f *fixture) member(id string) *contract.Member {
	f.t.Helper()
	m, ok, err := contract.LookupMember(f.state, id)
	if err != nil || !ok {
		f.t.Fatalf("LookupMember(%q) = %v, %v, %v", id, m, ok, err)
	}
	return m
}

// fmtChanges formats changes for failure messages.
func fmtChanges(cs []ledger.Change) string {
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
