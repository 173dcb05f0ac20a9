package contract_test

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/policy"
)

// probe is a contract for testing the runtime itself.
type probe struct {
	name     string
	policies []contract.Policy
	seen     *contract.Context // the last context Exec saw
}

func (p *probe) Name() string                { return p.name }
func (p *probe) Policies() []contract.Policy { return p.policies }

var errStorage = errors.New("disk on fire")

func (p *probe) Exec(c *contract.Context, method string, payload []byte) error {
	p.seen = c
	switch method {
	case "write":
		c.Set("k", payload)
		c.Set("z", nil)
		c.Delete("gone")
		c.Emit("probe.wrote", "n", "1", "odd")
		return nil
	case "write_then_refuse":
		c.Set("k", payload)
		c.Emit("probe.never")
		return ledger.Errorf(ledger.CodeContract, "refused")
	case "write_then_break":
		c.Set("k", payload)
		return errStorage
	case "long_message":
		// An odd prefix puts a 2-byte rune across the truncation point.
		return ledger.Errorf(ledger.CodeContract, "x%s", strings.Repeat("é", ledger.MaxMessageLen))
	case "read":
		v, ok, err := c.Get("k")
		if err != nil || !ok || string(v) != string(payload) {
			return ledger.Errorf(ledger.CodeContract, "Get(k) = %q, %v, %v", v, ok, err)
		}
		if _, ok, _ := c.Read("members", "m/st-mary/admin"); !ok {
			return ledger.Errorf(ledger.CodeContract, "Read(members, admin) found nothing")
		}
		return nil
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "no %s", method)
}

func TestNewMachine(t *testing.T) {
	f := newFixture(t)
	if got, want := f.m.Contracts(), []string{"members", "notary", "policy"}; !slices.Equal(got, want) {
		t.Errorf("Contracts() = %q; want %q", got, want)
	}
	var names []string
	for _, p := range f.m.Policies() {
		names = append(names, p.Name)
		if rule, err := f.m.Rule(f.state, p.Name); err != nil || rule != p.Default {
			t.Errorf("Rule(%q) = %q, %v; want the default %q", p.Name, rule, err, p.Default)
		}
	}
	if want := []string{"members.enrol", "members.manage", "notary.anchor", "policy.set"}; !slices.Equal(names, want) {
		t.Errorf("Policies() = %q; want %q", names, want)
	}
	if _, err := f.m.Rule(f.state, "notary.nope"); err == nil {
		t.Errorf("Rule(notary.nope) = nil error")
	}
	if f.m.ChainID() != chainID || !f.m.HasContract("notary") || f.m.HasContract("nope") {
		t.Errorf("ChainID() = %q, HasContract(notary) = %v, HasContract(nope) = %v", f.m.ChainID(), f.m.HasContract("notary"), f.m.HasContract("nope"))
	}

	tests := []struct {
		name string
		cs   []contract.Contract
	}{
		{"invalid name", []contract.Contract{&probe{name: "Probe"}}},
		{"empty name", []contract.Contract{&probe{name: ""}}},
		{"registered twice", []contract.Contract{members.Contract{}, members.Contract{}}},
		{"clashes with the built-in policy contract", []contract.Contract{&probe{name: "policy"}}},
		{"policy outside its namespace", []contract.Contract{&probe{name: "probe", policies: []contract.Policy{{Name: "notary.x", Default: "true"}}}}},
		{"policy named like the contract", []contract.Contract{&probe{name: "probe", policies: []contract.Policy{{Name: "probe", Default: "true"}}}}},
		{"default does not parse", []contract.Contract{&probe{name: "probe", policies: []contract.Policy{{Name: "probe.x", Default: "signer.active &&"}}}}},
		{"default reads an unknown variable", []contract.Contract{&probe{name: "probe", policies: []contract.Policy{{Name: "probe.x", Default: "patient.name == 'x'"}}}}},
		{"default is not bool", []contract.Contract{&probe{name: "probe", policies: []contract.Policy{{Name: "probe.x", Default: "1 + 1"}}}}},
	}
	for _, tc := range tests {
		if _, err := contract.NewMachine(chainID, policy.NewEngine(policy.Options{}), tc.cs...); err == nil {
			t.Errorf("NewMachine(%s) = nil error", tc.name)
		}
	}
}

// TestAdmission covers the checks Apply makes before a contract runs.
func TestAdmission(t *testing.T) {
	anchor := notary.Anchor{Hash: strings.Repeat("ab", 32), Kind: "k"}
	tests := []struct {
		name string
		mod  func(f *fixture, tx *ledger.Tx) // applied after signing
		c    call
		want ledger.Code
	}{
		{"ok", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeOK},
		{"wrong chain", func(f *fixture, tx *ledger.Tx) { tx.ChainID = "other"; sign(t, tx, tx.Signer) },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeWrongChain},
		{"wrong chain beats unknown signer", func(f *fixture, tx *ledger.Tx) { tx.ChainID = "other" },
			call{signer: "nobody/x", key: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeWrongChain},
		{"unknown signer", nil, call{signer: "st-mary/nobody", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeUnknownSigner},
		{"signer of another chain's org", nil, call{signer: "other/admin", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeUnknownSigner},
		{"signed by another member's key", nil, call{signer: "st-mary/dr-who", key: "st-mary/admin", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"zero signature", func(f *fixture, tx *ledger.Tx) { tx.Signature = make([]byte, ledger.SignatureSize) },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"short signature", func(f *fixture, tx *ledger.Tx) { tx.Signature = tx.Signature[:10] },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"payload changed after signing", func(f *fixture, tx *ledger.Tx) { tx.Payload = bytes.Replace(tx.Payload, []byte("ab"), []byte("cd"), 1) },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"signer changed after signing", func(f *fixture, tx *ledger.Tx) { tx.Signer = "st-mary/admin" },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"nonce changed after signing", func(f *fixture, tx *ledger.Tx) { tx.Nonce++ },
			call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: anchor}, ledger.CodeBadSignature},
		{"unknown contract", nil, call{signer: "st-mary/dr-who", contract: "records", method: "put", payload: anchor}, ledger.CodeUnknownContract},
		{"unknown notary method", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchr", payload: anchor}, ledger.CodeUnknownMethod},
		{"unknown members method", nil, call{signer: "st-mary/admin", contract: "members", method: "delete", payload: "{}"}, ledger.CodeUnknownMethod},
		{"unknown policy method", nil, call{signer: "st-mary/admin", contract: "policy", method: "get", payload: "{}"}, ledger.CodeUnknownMethod},
		{"payload not json", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: "not json " + phi}, ledger.CodeContract},
		{"empty payload", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: ""}, ledger.CodeContract},
		{"unknown payload field named like personal data", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchor",
			payload: `{"hash":"` + strings.Repeat("ab", 32) + `","kind":"k","` + phi + `":1}`}, ledger.CodeContract},
		{"payload with trailing brace", nil, call{signer: "st-mary/dr-who", contract: "notary", method: "anchor",
			payload: `{"hash":"` + strings.Repeat("ab", 32) + `","kind":"k"}}`}, ledger.CodeContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tx := f.tx(tc.c)
			if tc.mod != nil {
				tc.mod(f, tx)
			}
			b := f.begin()
			r := f.apply(b, tx)
			if r.Code != tc.want {
				t.Errorf("Apply(%v) = %s %q; want %s", tx, r.Code, r.Message, tc.want)
			}
			if (r.Code == ledger.CodeOK) != (len(b.Changes()) > 0) {
				t.Errorf("Apply(%v) = %s with changes %s", tx, r.Code, fmtChanges(b.Changes()))
			}
		})
	}
}

// TestVerifiedKey covers Apply's verified argument: a key the caller
// checked the signature against is trusted only if it is the signer's
// current key.
func TestVerifiedKey(t *testing.T) {
	f := newFixture(t)
	b := f.begin()
	tx := f.tx(call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: notary.Anchor{Hash: strings.Repeat("01", 32), Kind: "k"}})
	tx.Signature = make([]byte, ledger.SignatureSize) // would not verify

	if r, _ := b.Apply(tx, tx.ID(), key(t, "st-mary/admin").Public()); r.Code != ledger.CodeBadSignature {
		t.Errorf("Apply with another member's verified key = %s; want %s", r.Code, ledger.CodeBadSignature)
	}
	if r, _ := b.Apply(tx, tx.ID(), key(t, "st-mary/dr-who").Public()); r.Code != ledger.CodeOK {
		t.Errorf("Apply with the signer's verified key = %s %q; want ok (no second check)", r.Code, r.Message)
	}
}

func TestReplay(t *testing.T) {
	anchor := func(i byte) call {
		return call{signer: "st-mary/dr-who", contract: "notary", method: "anchor",
			payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[i]), 64), Kind: "k"}}
	}
	t.Run("within a block", func(t *testing.T) {
		f := newFixture(t)
		b := f.begin()
		tx := f.tx(anchor(1))
		if r := f.apply(b, tx); r.Code != ledger.CodeOK {
			t.Fatalf("first Apply = %s %q", r.Code, r.Message)
		}
		if r := f.apply(b, tx); r.Code != ledger.CodeReplay {
			t.Errorf("second Apply of the same tx = %s; want %s", r.Code, ledger.CodeReplay)
		}
		// The signature is not part of the ID: a copy with another
		// (invalid) signature is a replay too.
		cp := *tx
		cp.Signature = make([]byte, ledger.SignatureSize)
		if r := f.apply(b, &cp); r.Code != ledger.CodeReplay {
			t.Errorf("Apply of a re-signed copy = %s; want %s", r.Code, ledger.CodeReplay)
		}
	})
	t.Run("failed execution still counts", func(t *testing.T) {
		f := newFixture(t)
		b := f.begin()
		f.apply(b, f.tx(anchor(2)))
		dup := f.tx(anchor(2)) // same hash, new nonce: contract error
		if r := f.apply(b, dup); r.Code != ledger.CodeContract {
			t.Fatalf("duplicate anchor = %s; want %s", r.Code, ledger.CodeContract)
		}
		if r := f.apply(b, dup); r.Code != ledger.CodeReplay {
			t.Errorf("re-applying a committed failure = %s; want %s", r.Code, ledger.CodeReplay)
		}
	})
	t.Run("admission failure does not count", func(t *testing.T) {
		// Someone who copies a pending tx and breaks its signature must
		// not be able to block the original.
		f := newFixture(t)
		b := f.begin()
		tx := f.tx(anchor(3))
		forged := *tx
		forged.Signature = make([]byte, ledger.SignatureSize)
		if r := f.apply(b, &forged); r.Code != ledger.CodeBadSignature {
			t.Fatalf("forged copy = %s; want %s", r.Code, ledger.CodeBadSignature)
		}
		if r := f.apply(b, tx); r.Code != ledger.CodeOK {
			t.Errorf("original after a forged copy = %s %q; want ok", r.Code, r.Message)
		}
	})
	t.Run("committed callback", func(t *testing.T) {
		f := newFixture(t)
		old, fresh := f.tx(anchor(4)), f.tx(anchor(5))
		var asked []ledger.Hash
		b := f.begin()
		b.Committed = func(id ledger.Hash) (bool, error) {
			asked = append(asked, id)
			return id == old.ID(), nil
		}
		if r := f.apply(b, old); r.Code != ledger.CodeReplay {
			t.Errorf("Apply of a committed tx = %s; want %s", r.Code, ledger.CodeReplay)
		}
		if r := f.apply(b, fresh); r.Code != ledger.CodeOK {
			t.Errorf("Apply of a new tx = %s %q; want ok", r.Code, r.Message)
		}
		if want := []ledger.Hash{old.ID(), fresh.ID()}; !slices.Equal(asked, want) {
			t.Errorf("Committed asked about %v; want %v", asked, want)
		}
	})
	t.Run("committed callback fails", func(t *testing.T) {
		f := newFixture(t)
		b := f.begin()
		b.Committed = func(ledger.Hash) (bool, error) { return false, errStorage }
		tx := f.tx(anchor(6))
		if _, err := b.Apply(tx, tx.ID(), nil); !errors.Is(err, errStorage) {
			t.Errorf("Apply with a failing Committed = %v; want %v", err, errStorage)
		}
		if cs := b.Changes(); len(cs) != 0 {
			t.Errorf("Changes() after a halted Apply = %s; want none", fmtChanges(cs))
		}
	})
}

func TestPolicySet(t *testing.T) {
	practitionersOnly := contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles`}
	anchor := func(signer string, i int) step {
		return step{call{signer: signer, contract: "notary", method: "anchor",
			payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[i]), 64), Kind: "k"}}, ledger.CodeOK}
	}
	denied := func(s step) step { s.want = ledger.CodeDenied; return s }
	set := func(signer string, p contract.PolicySet, want ledger.Code) step {
		return step{call{signer: signer, contract: "policy", method: "set", payload: p}, want}
	}
	reset := func(signer, name string, want ledger.Code) step {
		return step{call{signer: signer, contract: "policy", method: "reset", payload: contract.PolicySet{Name: name}}, want}
	}
	tests := []struct {
		name   string
		blocks [][]step
		rule   string // notary.anchor's rule at the end; "" for the default
	}{
		{"tighten takes effect in the same block", [][]step{{
			anchor("st-mary/clerk", 1),
			set("st-mary/admin", practitionersOnly, ledger.CodeOK),
			denied(anchor("st-mary/clerk", 2)),
			anchor("st-mary/dr-who", 3),
		}}, practitionersOnly.Rule},
		{"tighten persists", [][]step{
			{set("st-mary/admin", practitionersOnly, ledger.CodeOK)},
			{denied(anchor("st-mary/clerk", 1)), denied(anchor("acme/admin", 2)), anchor("st-mary/dr-who", 3)},
		}, practitionersOnly.Rule},
		{"reset restores the default", [][]step{
			{set("st-mary/admin", practitionersOnly, ledger.CodeOK)},
			{reset("st-mary/admin", "notary.anchor", ledger.CodeOK), anchor("st-mary/clerk", 1)},
		}, ""},
		{"admin of any org may set", [][]step{{set("acme/admin", practitionersOnly, ledger.CodeOK)}}, practitionersOnly.Rule},
		{"non-admin denied", [][]step{{
			set("st-mary/dr-who", practitionersOnly, ledger.CodeDenied),
			reset("st-mary/dr-who", "notary.anchor", ledger.CodeDenied),
			anchor("st-mary/clerk", 1),
		}}, ""},
		{"rule does not parse", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "signer.active &&"}, ledger.CodeContract)}}, ""},
		{"rule is empty", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor"}, ledger.CodeContract)}}, ""},
		{"rule is not bool", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "block.height + 1"}, ledger.CodeContract)}}, ""},
		{"rule reads an undeclared variable", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `patient.name == "x"`}, ledger.CodeContract)}}, ""},
		{"rule calls an unknown function", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `now() > block.time`}, ledger.CodeContract)}}, ""},
		{"rule too long", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "true" + strings.Repeat(" && true", 1000)}, ledger.CodeContract)}}, ""},
		{"unknown policy", [][]step{{set("st-mary/admin", contract.PolicySet{Name: "notary.nope", Rule: "true"}, ledger.CodeContract)}}, ""},
		{"unknown payload field", [][]step{{{call{signer: "st-mary/admin", contract: "policy", method: "set",
			payload: `{"name":"notary.anchor","rule":"true","why":"x"}`}, ledger.CodeContract}}}, ""},
		{"rule failing at run time denies", [][]step{
			{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `request.missing == "x"`}, ledger.CodeOK)},
			{denied(anchor("st-mary/dr-who", 1))},
		}, `request.missing == "x"`},
		{"lock-out of policy.set itself", [][]step{
			{set("st-mary/admin", contract.PolicySet{Name: "policy.set", Rule: "false"}, ledger.CodeOK)},
			{reset("st-mary/admin", "policy.set", ledger.CodeDenied)},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.run(tc.blocks...)
			want := tc.rule
			if want == "" {
				want = "signer.active"
			}
			if got, err := f.m.Rule(f.state, "notary.anchor"); err != nil || got != want {
				t.Errorf("Rule(notary.anchor) = %q, %v; want %q", got, err, want)
			}
		})
	}
}

// script is a mixed sequence of transactions, most of them failing, for
// the determinism test.
func script(t testing.TB) [][]step {
	anchor := func(signer string, h string, meta map[string]string, want ledger.Code) step {
		return step{call{signer: signer, contract: "notary", method: "anchor",
			payload: notary.Anchor{Hash: strings.Repeat(h, 64), Kind: "lab-result", Metadata: meta}}, want}
	}
	return [][]step{
		{
			{call{signer: "st-mary/admin", contract: "members", method: "enrol", payload: members.Enrol{
				ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"practitioner", "auditor", "practitioner"}, PublicKey: pub(t, "st-mary/nurse")}}, ledger.CodeOK},
			anchor("st-mary/dr-who", "a", map[string]string{"ward": "3", "b": "", "a": "1"}, ledger.CodeOK),
			anchor("st-mary/dr-who", "a", nil, ledger.CodeContract),
			anchor("st-mary/nurse", "b", nil, ledger.CodeOK),
			anchor("acme/claims", "c", map[string]string{"patient": phi, "": "x"}, ledger.CodeContract),
			{call{signer: "st-mary/admin", contract: "members", method: "suspend", payload: members.Suspend{ID: "st-mary/clerk", Reason: "security_review"}}, ledger.CodeOK},
			anchor("st-mary/clerk", "d", nil, ledger.CodeSuspendedSigner),
			{call{signer: "st-mary/admin", contract: "policy", method: "set", payload: contract.PolicySet{Name: "notary.anchor", Rule: `signer.org == "st-mary"`}}, ledger.CodeOK},
			anchor("acme/claims", "e", nil, ledger.CodeDenied),
		},
		{
			{call{signer: "st-mary/admin", contract: "members", method: "reinstate", payload: members.Reinstate{ID: "st-mary/clerk"}}, ledger.CodeOK},
			anchor("st-mary/clerk", "d", nil, ledger.CodeOK),
			{call{signer: "st-mary/admin", contract: "members", method: "rekey", payload: members.Rekey{ID: "st-mary/dr-who", PublicKey: pub(t, "dr-who-2")}}, ledger.CodeOK},
			anchor("st-mary/dr-who", "f", nil, ledger.CodeBadSignature),
			{call{signer: "st-mary/dr-who", key: "dr-who-2", contract: "notary", method: "anchor", payload: notary.Anchor{Hash: strings.Repeat("f", 64), Kind: "x"}}, ledger.CodeOK},
			{call{signer: "st-mary/admin", contract: "policy", method: "reset", payload: contract.PolicySet{Name: "notary.anchor"}}, ledger.CodeOK},
		},
	}
}

// TestDeterminism runs the same transactions on two fresh worlds: results
// and state changes must be identical, and changes sorted.
func TestDeterminism(t *testing.T) {
	type outcome struct {
		results [][]ledger.Result
		changes [][]ledger.Change
	}
	exec := func() outcome {
		f := newFixture(t)
		var o outcome
		for _, steps := range script(t) {
			b := f.begin()
			var rs []ledger.Result
			for _, s := range steps {
				r := f.apply(b, f.tx(s.call))
				if r.Code != s.want {
					t.Errorf("Apply(%s.%s by %s) = %s %q; want %s", s.contract, s.method, s.signer, r.Code, r.Message, s.want)
				}
				rs = append(rs, r)
			}
			cs := b.Changes()
			checkSorted(t, cs)
			if again := b.Changes(); !reflect.DeepEqual(again, cs) {
				t.Errorf("Changes() differs between two calls")
			}
			o.results = append(o.results, rs)
			o.changes = append(o.changes, cs)
			f.commit(b)
		}
		return o
	}
	a, b := exec(), exec()
	if !reflect.DeepEqual(a.results, b.results) {
		t.Errorf("results differ between runs:\n%+v\n%+v", a.results, b.results)
	}
	if !reflect.DeepEqual(a.changes, b.changes) {
		t.Errorf("changes differ between runs:\n%v\n%v", a.changes, b.changes)
	}
	for i := range a.changes {
		if ledger.ChangesHash(a.changes[i]) != ledger.ChangesHash(b.changes[i]) {
			t.Errorf("block %d: changes hash differs", i+1)
		}
	}
}

// TestContext checks what a contract sees and what its writes become.
func TestContext(t *testing.T) {
	p := &probe{name: "probe"}
	f := newFixture(t, p)
	b := f.begin()
	tx := f.tx(call{signer: "st-mary/dr-who", contract: "probe", method: "write", payload: "v1"})
	r := f.apply(b, tx)
	if r.Code != ledger.CodeOK {
		t.Fatalf("probe.write = %s %q", r.Code, r.Message)
	}
	c := p.seen
	if c.Height != 1 || !c.Time.Equal(genesisTime.Add(time.Second)) || c.Time.Location() != time.UTC || c.TxID != tx.ID() || c.Signer.ID != "st-mary/dr-who" {
		t.Errorf("Context = {Height %d, Time %v, TxID %v, Signer %+v}; want 1, %v, %v, st-mary/dr-who",
			c.Height, c.Time, c.TxID, c.Signer, genesisTime.Add(time.Second), tx.ID())
	}
	want := []ledger.Event{{Type: "probe.wrote", Attrs: []ledger.Attr{{Key: "n", Value: "1"}}}}
	if !reflect.DeepEqual(r.Events, want) {
		t.Errorf("events = %+v; want %+v (an odd trailing key is dropped)", r.Events, want)
	}
	wantChanges := []ledger.Change{
		{Key: []byte("probe/gone"), Delete: true},
		{Key: []byte("probe/k"), Value: []byte("v1")},
		{Key: []byte("probe/z")},
	}
	if got := b.Changes(); !reflect.DeepEqual(got, wantChanges) {
		t.Errorf("Changes() = %s; want %s", fmtChanges(got), fmtChanges(wantChanges))
	}
	// Later transactions of the block, and later blocks, read the write.
	if r := f.apply(b, f.tx(call{signer: "st-mary/admin", contract: "probe", method: "read", payload: "v1"})); r.Code != ledger.CodeOK {
		t.Errorf("probe.read in the same block = %s %q", r.Code, r.Message)
	}
	if v, ok, _ := b.State().Get([]byte("probe/k")); !ok || string(v) != "v1" {
		t.Errorf("Block.State().Get(probe/k) = %q, %v", v, ok)
	}
	f.commit(b)
	b = f.begin()
	if r := f.apply(b, f.tx(call{signer: "st-mary/admin", contract: "probe", method: "read", payload: "v1"})); r.Code != ledger.CodeOK {
		t.Errorf("probe.read in the next block = %s %q", r.Code, r.Message)
	}

	// A refusal discards the transaction's writes and events.
	before := b.Changes()
	if r := f.apply(b, f.tx(call{signer: "st-mary/admin", contract: "probe", method: "write_then_refuse", payload: "v2"})); r.Code != ledger.CodeContract || len(r.Events) != 0 {
		t.Errorf("probe.write_then_refuse = %+v; want contract_error without events", r)
	}
	if !reflect.DeepEqual(b.Changes(), before) {
		t.Errorf("a refused transaction's writes were kept: %s", fmtChanges(b.Changes()))
	}
	// Any other error halts the block.
	tx = f.tx(call{signer: "st-mary/admin", contract: "probe", method: "write_then_break", payload: "v3"})
	if _, err := b.Apply(tx, tx.ID(), nil); !errors.Is(err, errStorage) {
		t.Errorf("probe.write_then_break: Apply error = %v; want %v", err, errStorage)
	}
	if !reflect.DeepEqual(b.Changes(), before) {
		t.Errorf("a halted transaction's writes were kept: %s", fmtChanges(b.Changes()))
	}
}

// TestLongMessage checks that a message cut to MaxMessageLen stays valid
// UTF-8, so that the result still encodes to something DecodeResult
// accepts (f.apply checks that).
func TestLongMessage(t *testing.T) {
	f := newFixture(t, &probe{name: "probe"})
	b := f.begin()
	r := f.apply(b, f.tx(call{signer: "st-mary/admin", contract: "probe", method: "long_message"}))
	if r.Code != ledger.CodeContract || len(r.Message) < ledger.MaxMessageLen-3 {
		t.Errorf("long message result = %s with %d bytes; want contract_error with about %d", r.Code, len(r.Message), ledger.MaxMessageLen)
	}
}

func TestDecodePayload(t *testing.T) {
	type payload struct {
		A string `json:"a"`
		N int    `json:"n"`
	}
	tests := []struct {
		in   string
		want payload
		ok   bool
	}{
		{`{"a":"x","n":1}`, payload{"x", 1}, true},
		{` {"a":"x"} `, payload{A: "x"}, true},
		{"{}\n", payload{}, true},
		{``, payload{}, false},
		{`   `, payload{}, false},
		{`{"a":"x","b":1}`, payload{}, false},
		{`{"n":"1"}`, payload{}, false},
		{`{"n":1.5}`, payload{}, false},
		{`{"a":"x"`, payload{}, false},
		{`{}{}`, payload{}, false},
		{`{} {"a":"y"}`, payload{}, false},
		{`{}x`, payload{}, false},
		{`{}}`, payload{}, false},
		{`{}]`, payload{}, false},
		{`{},`, payload{}, false},
		{`[]`, payload{}, false},
		{`"x"`, payload{}, false},
	}
	for _, tc := range tests {
		var got payload
		err := contract.DecodePayload([]byte(tc.in), &got)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("DecodePayload(%q) = %+v, %v; want %+v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && ledger.CodeOf(err) != ledger.CodeContract {
			t.Errorf("DecodePayload(%q) error code = %q; want %q", tc.in, ledger.CodeOf(err), ledger.CodeContract)
		}
	}
}

func TestMemState(t *testing.T) {
	s := contract.NewMemState()
	s.Apply([]ledger.Change{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte{}}})
	s.Apply([]ledger.Change{{Key: []byte("a"), Delete: true}, {Key: []byte("c"), Delete: true}})
	tests := []struct {
		k  string
		v  string
		ok bool
	}{
		{"a", "", false},
		{"b", "", true},
		{"c", "", false},
	}
	for _, tc := range tests {
		if v, ok, err := s.Get([]byte(tc.k)); string(v) != tc.v || ok != tc.ok || err != nil {
			t.Errorf("Get(%q) = %q, %v, %v; want %q, %v", tc.k, v, ok, err, tc.v, tc.ok)
		}
	}
	if s.Len() != 1 {
		t.Errorf("Len() = %d; want 1", s.Len())
	}
}

func TestLookupMember(t *testing.T) {
	s := contract.NewMemState()
	s.Apply([]ledger.Change{
		{Key: contract.MemberKey("bad-json"), Value: []byte("{")},
		{Key: contract.MemberKey("short-key"), Value: []byte(`{"id":"short-key","public_key":"AAAA"}`)},
		{Key: contract.OrgKey("bad"), Value: []byte("[")},
	})
	for _, id := range []string{"bad-json", "short-key"} {
		if _, ok, err := contract.LookupMember(s, id); ok || err == nil {
			t.Errorf("LookupMember(%q) = %v, %v; want an error", id, ok, err)
		}
	}
	if _, ok, err := contract.LookupMember(s, "missing"); ok || err != nil {
		t.Errorf("LookupMember(missing) = %v, %v; want false, nil", ok, err)
	}
	if _, ok, err := contract.LookupOrg(s, "bad"); ok || err == nil {
		t.Errorf("LookupOrg(bad) = %v, %v; want an error", ok, err)
	}
	// A corrupt signer record halts execution rather than failing the tx.
	f := newFixture(t)
	f.state.Apply([]ledger.Change{{Key: contract.MemberKey("st-mary/dr-who"), Value: []byte("{")}})
	b := f.begin()
	tx := f.tx(call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: "{}"})
	if _, err := b.Apply(tx, tx.ID(), nil); err == nil {
		t.Errorf("Apply with a corrupt signer record = nil error")
	}
}

func TestSignerVars(t *testing.T) {
	m := &contract.Member{ID: "x", Org: "o", Roles: []string{"admin"}, Status: contract.StatusSuspended}
	v := contract.SignerVars(m)
	v["roles"].([]string)[0] = "patient"
	if m.Roles[0] != "admin" {
		t.Errorf("SignerVars shares the member's roles slice")
	}
	if v["active"] != false || v["id"] != "x" || v["org"] != "o" {
		t.Errorf("SignerVars(%+v) = %v", m, v)
	}
	if z := contract.SignerVars(nil); z["active"] != false || z["id"] != "" {
		t.Errorf("SignerVars(nil) = %v", z)
	}
}
