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
	"github.com/medledger/medledger/internal/contract/contracttest"
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
	f := contracttest.NewFixture(t)
	if got, want := f.Machine.Contracts(), []string{"members", "notary", "policy"}; !slices.Equal(got, want) {
		t.Errorf("Contracts() = %q; want %q", got, want)
	}
	var names []string
	for _, p := range f.Machine.Policies() {
		names = append(names, p.Name)
		if rule, err := f.Machine.Rule(f.State, p.Name); err != nil || rule != p.Default {
			t.Errorf("Rule(%q) = %q, %v; want the default %q", p.Name, rule, err, p.Default)
		}
	}
	if want := []string{"members.enrol", "members.manage", "members.org_key", "members.validators", "notary.anchor", "policy.set"}; !slices.Equal(names, want) {
		t.Errorf("Policies() = %q; want %q", names, want)
	}
	if _, err := f.Machine.Rule(f.State, "notary.nope"); err == nil {
		t.Errorf("Rule(notary.nope) = nil error")
	}
	if f.Machine.ChainID() != contracttest.ChainID || !f.Machine.HasContract("notary") || f.Machine.HasContract("nope") {
		t.Errorf("ChainID() = %q, HasContract(notary) = %v, HasContract(nope) = %v", f.Machine.ChainID(), f.Machine.HasContract("notary"), f.Machine.HasContract("nope"))
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
		if _, err := contract.NewMachine(contracttest.ChainID, policy.NewEngine(policy.Options{}), tc.cs...); err == nil {
			t.Errorf("NewMachine(%s) = nil error", tc.name)
		}
	}
}

// TestAdmission covers the checks Apply makes before a contract runs.
func TestAdmission(t *testing.T) {
	anchor := notary.Anchor{Hash: strings.Repeat("ab", 32), Kind: "k"}
	tests := []struct {
		name string
		mod  func(f *contracttest.Fixture, tx *ledger.Tx) // applied after signing
		c    contracttest.Call
		want ledger.Code
	}{
		{"ok", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeOK},
		{"wrong chain", func(f *contracttest.Fixture, tx *ledger.Tx) {
			tx.ChainID = "other"
			contracttest.Sign(t, tx, tx.Signer)
		},
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeWrongChain},
		{"wrong chain beats unknown signer", func(f *contracttest.Fixture, tx *ledger.Tx) { tx.ChainID = "other" },
			contracttest.Call{Signer: "nobody/x", Key: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeWrongChain},
		{"unknown signer", nil, contracttest.Call{Signer: "st-mary/nobody", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeUnknownSigner},
		{"signer of another chain's org", nil, contracttest.Call{Signer: "other/admin", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeUnknownSigner},
		{"signed by another member's key", nil, contracttest.Call{Signer: "st-mary/dr-who", Key: "st-mary/admin", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"zero signature", func(f *contracttest.Fixture, tx *ledger.Tx) { tx.Signature = make([]byte, ledger.SignatureSize) },
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"short signature", func(f *contracttest.Fixture, tx *ledger.Tx) { tx.Signature = tx.Signature[:10] },
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"payload changed after signing", func(f *contracttest.Fixture, tx *ledger.Tx) {
			tx.Payload = bytes.Replace(tx.Payload, []byte("ab"), []byte("cd"), 1)
		},
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"signer changed after signing", func(f *contracttest.Fixture, tx *ledger.Tx) { tx.Signer = "st-mary/admin" },
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"nonce changed after signing", func(f *contracttest.Fixture, tx *ledger.Tx) { tx.Nonce++ },
			contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: anchor}, ledger.CodeBadSignature},
		{"unknown contract", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "records", Method: "put", Payload: anchor}, ledger.CodeUnknownContract},
		{"unknown notary method", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchr", Payload: anchor}, ledger.CodeUnknownMethod},
		{"unknown members method", nil, contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "delete", Payload: "{}"}, ledger.CodeUnknownMethod},
		{"unknown policy method", nil, contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "get", Payload: "{}"}, ledger.CodeUnknownMethod},
		{"payload not json", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: "not json " + contracttest.PHI}, ledger.CodeContract},
		{"empty payload", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: ""}, ledger.CodeContract},
		{"unknown payload field named like personal data", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor",
			Payload: `{"hash":"` + strings.Repeat("ab", 32) + `","kind":"k","` + contracttest.PHI + `":1}`}, ledger.CodeContract},
		{"payload with trailing brace", nil, contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor",
			Payload: `{"hash":"` + strings.Repeat("ab", 32) + `","kind":"k"}}`}, ledger.CodeContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := contracttest.NewFixture(t)
			tx := f.Tx(tc.c)
			if tc.mod != nil {
				tc.mod(f, tx)
			}
			b := f.Begin()
			r := f.Apply(b, tx)
			if r.Code != tc.want {
				t.Errorf("Apply(%v) = %s %q; want %s", tx, r.Code, r.Message, tc.want)
			}
			if (r.Code == ledger.CodeOK) != (len(b.Changes()) > 0) {
				t.Errorf("Apply(%v) = %s with changes %s", tx, r.Code, contracttest.FmtChanges(b.Changes()))
			}
		})
	}
}

// TestVerifiedKey covers Apply's verified argument: a key the caller
// checked the signature against is trusted only if it is the signer's
// current key.
func TestVerifiedKey(t *testing.T) {
	f := contracttest.NewFixture(t)
	b := f.Begin()
	tx := f.Tx(contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: notary.Anchor{Hash: strings.Repeat("01", 32), Kind: "k"}})
	tx.Signature = make([]byte, ledger.SignatureSize) // would not verify

	if r, _ := b.Apply(tx, tx.ID(), contracttest.Key(t, "st-mary/admin").Public()); r.Code != ledger.CodeBadSignature {
		t.Errorf("Apply with another member's verified key = %s; want %s", r.Code, ledger.CodeBadSignature)
	}
	if r, _ := b.Apply(tx, tx.ID(), contracttest.Key(t, "st-mary/dr-who").Public()); r.Code != ledger.CodeOK {
		t.Errorf("Apply with the signer's verified key = %s %q; want ok (no second check)", r.Code, r.Message)
	}
}

func TestReplay(t *testing.T) {
	anchor := func(i byte) contracttest.Call {
		return contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor",
			Payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[i]), 64), Kind: "k"}}
	}
	t.Run("within a block", func(t *testing.T) {
		f := contracttest.NewFixture(t)
		b := f.Begin()
		tx := f.Tx(anchor(1))
		if r := f.Apply(b, tx); r.Code != ledger.CodeOK {
			t.Fatalf("first Apply = %s %q", r.Code, r.Message)
		}
		if r := f.Apply(b, tx); r.Code != ledger.CodeReplay {
			t.Errorf("second Apply of the same tx = %s; want %s", r.Code, ledger.CodeReplay)
		}
		// The signature is not part of the ID: a copy with another
		// (invalid) signature is a replay too.
		cp := *tx
		cp.Signature = make([]byte, ledger.SignatureSize)
		if r := f.Apply(b, &cp); r.Code != ledger.CodeReplay {
			t.Errorf("Apply of a re-signed copy = %s; want %s", r.Code, ledger.CodeReplay)
		}
	})
	t.Run("failed execution still counts", func(t *testing.T) {
		f := contracttest.NewFixture(t)
		b := f.Begin()
		f.Apply(b, f.Tx(anchor(2)))
		dup := f.Tx(anchor(2)) // same hash, new nonce: contract error
		if r := f.Apply(b, dup); r.Code != ledger.CodeContract {
			t.Fatalf("duplicate anchor = %s; want %s", r.Code, ledger.CodeContract)
		}
		if r := f.Apply(b, dup); r.Code != ledger.CodeReplay {
			t.Errorf("re-applying a committed failure = %s; want %s", r.Code, ledger.CodeReplay)
		}
	})
	t.Run("admission failure does not count", func(t *testing.T) {
		// Someone who copies a pending tx and breaks its signature must
		// not be able to block the original.
		f := contracttest.NewFixture(t)
		b := f.Begin()
		tx := f.Tx(anchor(3))
		forged := *tx
		forged.Signature = make([]byte, ledger.SignatureSize)
		if r := f.Apply(b, &forged); r.Code != ledger.CodeBadSignature {
			t.Fatalf("forged copy = %s; want %s", r.Code, ledger.CodeBadSignature)
		}
		if r := f.Apply(b, tx); r.Code != ledger.CodeOK {
			t.Errorf("original after a forged copy = %s %q; want ok", r.Code, r.Message)
		}
	})
	t.Run("committed callback", func(t *testing.T) {
		f := contracttest.NewFixture(t)
		old, fresh := f.Tx(anchor(4)), f.Tx(anchor(5))
		var asked []ledger.Hash
		b := f.Begin()
		b.Committed = func(id ledger.Hash) (bool, error) {
			asked = append(asked, id)
			return id == old.ID(), nil
		}
		if r := f.Apply(b, old); r.Code != ledger.CodeReplay {
			t.Errorf("Apply of a committed tx = %s; want %s", r.Code, ledger.CodeReplay)
		}
		if r := f.Apply(b, fresh); r.Code != ledger.CodeOK {
			t.Errorf("Apply of a new tx = %s %q; want ok", r.Code, r.Message)
		}
		if want := []ledger.Hash{old.ID(), fresh.ID()}; !slices.Equal(asked, want) {
			t.Errorf("Committed asked about %v; want %v", asked, want)
		}
	})
	t.Run("committed callback fails", func(t *testing.T) {
		f := contracttest.NewFixture(t)
		b := f.Begin()
		b.Committed = func(ledger.Hash) (bool, error) { return false, errStorage }
		tx := f.Tx(anchor(6))
		if _, err := b.Apply(tx, tx.ID(), nil); !errors.Is(err, errStorage) {
			t.Errorf("Apply with a failing Committed = %v; want %v", err, errStorage)
		}
		if cs := b.Changes(); len(cs) != 0 {
			t.Errorf("Changes() after a halted Apply = %s; want none", contracttest.FmtChanges(cs))
		}
	})
}

func TestPolicySet(t *testing.T) {
	practitionersOnly := contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles`}
	anchor := func(signer string, i int) contracttest.Step {
		return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "notary", Method: "anchor",
			Payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[i]), 64), Kind: "k"}}, Want: ledger.CodeOK}
	}
	denied := func(s contracttest.Step) contracttest.Step { s.Want = ledger.CodeDenied; return s }
	set := func(signer string, p contract.PolicySet, want ledger.Code) contracttest.Step {
		return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "policy", Method: "set", Payload: p}, Want: want}
	}
	reset := func(signer, name string, want ledger.Code) contracttest.Step {
		return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "policy", Method: "reset", Payload: contract.PolicySet{Name: name}}, Want: want}
	}
	tests := []struct {
		name   string
		blocks [][]contracttest.Step
		rule   string // notary.anchor's rule at the end; "" for the default
	}{
		{"tighten takes effect in the same block", [][]contracttest.Step{{
			anchor("st-mary/clerk", 1),
			set("st-mary/admin", practitionersOnly, ledger.CodeOK),
			denied(anchor("st-mary/clerk", 2)),
			anchor("st-mary/dr-who", 3),
		}}, practitionersOnly.Rule},
		{"tighten persists", [][]contracttest.Step{
			{set("st-mary/admin", practitionersOnly, ledger.CodeOK)},
			{denied(anchor("st-mary/clerk", 1)), denied(anchor("acme/admin", 2)), anchor("st-mary/dr-who", 3)},
		}, practitionersOnly.Rule},
		{"reset restores the default", [][]contracttest.Step{
			{set("st-mary/admin", practitionersOnly, ledger.CodeOK)},
			{reset("st-mary/admin", "notary.anchor", ledger.CodeOK), anchor("st-mary/clerk", 1)},
		}, ""},
		{"admin of any org may set", [][]contracttest.Step{{set("acme/admin", practitionersOnly, ledger.CodeOK)}}, practitionersOnly.Rule},
		{"non-admin denied", [][]contracttest.Step{{
			set("st-mary/dr-who", practitionersOnly, ledger.CodeDenied),
			reset("st-mary/dr-who", "notary.anchor", ledger.CodeDenied),
			anchor("st-mary/clerk", 1),
		}}, ""},
		{"rule does not parse", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "signer.active &&"}, ledger.CodeContract)}}, ""},
		{"rule is empty", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor"}, ledger.CodeContract)}}, ""},
		{"rule is not bool", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "block.height + 1"}, ledger.CodeContract)}}, ""},
		{"rule reads an undeclared variable", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `patient.name == "x"`}, ledger.CodeContract)}}, ""},
		{"rule calls an unknown function", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `now() > block.time`}, ledger.CodeContract)}}, ""},
		{"rule too long", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: "true" + strings.Repeat(" && true", 1000)}, ledger.CodeContract)}}, ""},
		{"unknown policy", [][]contracttest.Step{{set("st-mary/admin", contract.PolicySet{Name: "notary.nope", Rule: "true"}, ledger.CodeContract)}}, ""},
		{"unknown payload field", [][]contracttest.Step{{{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
			Payload: `{"name":"notary.anchor","rule":"true","why":"x"}`}, Want: ledger.CodeContract}}}, ""},
		{"rule failing at run time denies", [][]contracttest.Step{
			{set("st-mary/admin", contract.PolicySet{Name: "notary.anchor", Rule: `request.missing == "x"`}, ledger.CodeOK)},
			{denied(anchor("st-mary/dr-who", 1))},
		}, `request.missing == "x"`},
		{"lock-out of policy.set itself", [][]contracttest.Step{
			{set("st-mary/admin", contract.PolicySet{Name: "policy.set", Rule: "false"}, ledger.CodeOK)},
			{reset("st-mary/admin", "policy.set", ledger.CodeDenied)},
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := contracttest.NewFixture(t)
			f.Run(tc.blocks...)
			want := tc.rule
			if want == "" {
				want = "signer.active"
			}
			if got, err := f.Machine.Rule(f.State, "notary.anchor"); err != nil || got != want {
				t.Errorf("Rule(notary.anchor) = %q, %v; want %q", got, err, want)
			}
		})
	}
}

// script is a mixed sequence of transactions, most of them failing, for
// the determinism test.
func script(t testing.TB) [][]contracttest.Step {
	anchor := func(signer string, h string, meta map[string]string, want ledger.Code) contracttest.Step {
		return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "notary", Method: "anchor",
			Payload: notary.Anchor{Hash: strings.Repeat(h, 64), Kind: "lab-result", Metadata: meta}}, Want: want}
	}
	return [][]contracttest.Step{
		{
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "enrol", Payload: members.Enrol{
				ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"practitioner", "auditor", "practitioner"}, PublicKey: contracttest.Pub(t, "st-mary/nurse")}}, Want: ledger.CodeOK},
			anchor("st-mary/dr-who", "a", map[string]string{"ward": "3", "b": "", "a": "1"}, ledger.CodeOK),
			anchor("st-mary/dr-who", "a", nil, ledger.CodeContract),
			anchor("st-mary/nurse", "b", nil, ledger.CodeOK),
			anchor("acme/claims", "c", map[string]string{"patient": contracttest.PHI, "": "x"}, ledger.CodeContract),
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "suspend", Payload: members.Suspend{ID: "st-mary/clerk", Reason: "security_review"}}, Want: ledger.CodeOK},
			anchor("st-mary/clerk", "d", nil, ledger.CodeSuspendedSigner),
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set", Payload: contract.PolicySet{Name: "notary.anchor", Rule: `signer.org == "st-mary"`}}, Want: ledger.CodeOK},
			anchor("acme/claims", "e", nil, ledger.CodeDenied),
		},
		{
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "reinstate", Payload: members.Reinstate{ID: "st-mary/clerk"}}, Want: ledger.CodeOK},
			anchor("st-mary/clerk", "d", nil, ledger.CodeOK),
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "rekey", Payload: members.Rekey{ID: "st-mary/dr-who", PublicKey: contracttest.Pub(t, "dr-who-2")}}, Want: ledger.CodeOK},
			anchor("st-mary/dr-who", "f", nil, ledger.CodeBadSignature),
			{Call: contracttest.Call{Signer: "st-mary/dr-who", Key: "dr-who-2", Contract: "notary", Method: "anchor", Payload: notary.Anchor{Hash: strings.Repeat("f", 64), Kind: "x"}}, Want: ledger.CodeOK},
			{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "reset", Payload: contract.PolicySet{Name: "notary.anchor"}}, Want: ledger.CodeOK},
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
		f := contracttest.NewFixture(t)
		var o outcome
		for _, steps := range script(t) {
			b := f.Begin()
			var rs []ledger.Result
			for _, s := range steps {
				r := f.Apply(b, f.Tx(s.Call))
				if r.Code != s.Want {
					t.Errorf("Apply(%s.%s by %s) = %s %q; want %s", s.Contract, s.Method, s.Signer, r.Code, r.Message, s.Want)
				}
				rs = append(rs, r)
			}
			cs := b.Changes()
			contracttest.CheckSorted(t, cs)
			if again := b.Changes(); !reflect.DeepEqual(again, cs) {
				t.Errorf("Changes() differs between two calls")
			}
			o.results = append(o.results, rs)
			o.changes = append(o.changes, cs)
			f.Commit(b)
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
	f := contracttest.NewFixture(t, p)
	b := f.Begin()
	tx := f.Tx(contracttest.Call{Signer: "st-mary/dr-who", Contract: "probe", Method: "write", Payload: "v1"})
	r := f.Apply(b, tx)
	if r.Code != ledger.CodeOK {
		t.Fatalf("probe.write = %s %q", r.Code, r.Message)
	}
	c := p.seen
	if c.Height != 1 || !c.Time.Equal(contracttest.GenesisTime.Add(time.Second)) || c.Time.Location() != time.UTC || c.TxID != tx.ID() || c.Signer.ID != "st-mary/dr-who" {
		t.Errorf("Context = {Height %d, Time %v, TxID %v, Signer %+v}; want 1, %v, %v, st-mary/dr-who",
			c.Height, c.Time, c.TxID, c.Signer, contracttest.GenesisTime.Add(time.Second), tx.ID())
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
		t.Errorf("Changes() = %s; want %s", contracttest.FmtChanges(got), contracttest.FmtChanges(wantChanges))
	}
	// Later transactions of the block, and later blocks, read the write.
	if r := f.Apply(b, f.Tx(contracttest.Call{Signer: "st-mary/admin", Contract: "probe", Method: "read", Payload: "v1"})); r.Code != ledger.CodeOK {
		t.Errorf("probe.read in the same block = %s %q", r.Code, r.Message)
	}
	if v, ok, _ := b.State().Get([]byte("probe/k")); !ok || string(v) != "v1" {
		t.Errorf("Block.State().Get(probe/k) = %q, %v", v, ok)
	}
	f.Commit(b)
	b = f.Begin()
	if r := f.Apply(b, f.Tx(contracttest.Call{Signer: "st-mary/admin", Contract: "probe", Method: "read", Payload: "v1"})); r.Code != ledger.CodeOK {
		t.Errorf("probe.read in the next block = %s %q", r.Code, r.Message)
	}

	// A refusal discards the transaction's writes and events.
	before := b.Changes()
	if r := f.Apply(b, f.Tx(contracttest.Call{Signer: "st-mary/admin", Contract: "probe", Method: "write_then_refuse", Payload: "v2"})); r.Code != ledger.CodeContract || len(r.Events) != 0 {
		t.Errorf("probe.write_then_refuse = %+v; want contract_error without events", r)
	}
	if !reflect.DeepEqual(b.Changes(), before) {
		t.Errorf("a refused transaction's writes were kept: %s", contracttest.FmtChanges(b.Changes()))
	}
	// Any other error halts the block.
	tx = f.Tx(contracttest.Call{Signer: "st-mary/admin", Contract: "probe", Method: "write_then_break", Payload: "v3"})
	if _, err := b.Apply(tx, tx.ID(), nil); !errors.Is(err, errStorage) {
		t.Errorf("probe.write_then_break: Apply error = %v; want %v", err, errStorage)
	}
	if !reflect.DeepEqual(b.Changes(), before) {
		t.Errorf("a halted transaction's writes were kept: %s", contracttest.FmtChanges(b.Changes()))
	}
}

// TestLongMessage checks that a message cut to MaxMessageLen stays valid
// UTF-8, so that the result still encodes to something DecodeResult
// accepts (f.apply checks that).
func TestLongMessage(t *testing.T) {
	f := contracttest.NewFixture(t, &probe{name: "probe"})
	b := f.Begin()
	r := f.Apply(b, f.Tx(contracttest.Call{Signer: "st-mary/admin", Contract: "probe", Method: "long_message"}))
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
		{`{"a":"x","a":"y"}`, payload{}, false}, // duplicate name
		{`{"A":"x"}`, payload{}, false},         // names match exactly
		{"{\"a\":\"\xff\"}", payload{}, false},  // invalid UTF-8
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

// TestDecodePayloadMessages checks that errors say where the problem is
// without quoting payload content (an unknown name, a value, a map key).
func TestDecodePayloadMessages(t *testing.T) {
	type inner struct {
		Tags map[string]int `json:"tags"`
	}
	type payload struct {
		A     string  `json:"a"`
		Items []inner `json:"items"`
	}
	const marker = "Jane-Doe-1970"
	tests := []struct {
		in, want string
	}{
		{`{"a":"x","` + marker + `":1}`, "payload: unknown field in the top-level object"},
		{`{"items":[{},{"` + marker + `":1}]}`, "payload: unknown field in /items/1"},
		{`{"a":1}`, "payload: at /a: a JSON number does not fit a string"},
		{`{"items":[{"tags":{"` + marker + `":"` + marker + `"}}]}`, "payload: at /items/0/tags/*: a JSON string does not fit an integer"},
		{`{"items":[{"tags":{"` + marker + `":1,"` + marker + `":2}}]}`, "payload: duplicate field in /items/0/tags"},
		{`{"a":"x"} "` + marker + `"`, "payload: not valid JSON at byte 10"},
		{`{"a":"` + marker, "payload: the JSON value is incomplete"},
	}
	for _, tc := range tests {
		var got payload
		err := contract.DecodePayload([]byte(tc.in), &got)
		if err == nil || err.Error() != tc.want && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("DecodePayload(%s) = %v; want %q", tc.in, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("DecodePayload(%s) error quotes the payload: %v", tc.in, err)
		}
	}
}

// FuzzDecodePayload checks that no input panics and that an error never
// quotes more than the JSON syntax around it.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{`{"a":"x","n":1}`, `{"m":{"k":1}}`, `{"l":[{"a":"b"}]}`, `{`, `{"a":"x","a":"x"}`} {
		f.Add([]byte(s))
	}
	type payload struct {
		A string         `json:"a"`
		N int            `json:"n"`
		M map[string]int `json:"m"`
		L []struct {
			A string `json:"a"`
		} `json:"l"`
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p payload
		if err := contract.DecodePayload(b, &p); err != nil && ledger.CodeOf(err) != ledger.CodeContract {
			t.Fatalf("error code %q: %v", ledger.CodeOf(err), err)
		}
	})
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
	f := contracttest.NewFixture(t)
	f.State.Apply([]ledger.Change{{Key: contract.MemberKey("st-mary/dr-who"), Value: []byte("{")}})
	b := f.Begin()
	tx := f.Tx(contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: "{}"})
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
