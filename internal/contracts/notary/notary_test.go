package notary_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/ledger"
)

var hashA = strings.Repeat("a", 64)

// meta returns n metadata entries, one of them holding the PHI marker, so
// that every failing case below also checks the marker is not echoed.
func meta(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[fmt.Sprintf("k%02d", i)] = "v"
	}
	if n > 0 {
		m["k00"] = contracttest.PHI
	}
	return m
}

func with(mod func(a *notary.Anchor)) notary.Anchor {
	a := notary.Anchor{Hash: hashA, Kind: "discharge-summary", Metadata: meta(2)}
	if mod != nil {
		mod(&a)
	}
	return a
}

func anchor(signer string, a any, want ledger.Code) contracttest.Step {
	return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "notary", Method: "anchor", Payload: a}, Want: want}
}

func TestAnchor(t *testing.T) {
	tests := []struct {
		name   string
		blocks [][]contracttest.Step
	}{
		{"ok", [][]contracttest.Step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)}}},
		{"ok without metadata", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = nil }), ledger.CodeOK)}}},
		{"ok by any active member", [][]contracttest.Step{{anchor("acme/claims", with(nil), ledger.CodeOK)}}},
		{"duplicate in the same block", [][]contracttest.Step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK), anchor("acme/admin", with(nil), ledger.CodeContract)}}},
		{"duplicate in a later block", [][]contracttest.Step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)}, {anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "other" }), ledger.CodeContract)}}},
		{"distinct hashes", [][]contracttest.Step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK), anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = strings.Repeat("b", 64) }), ledger.CodeOK)}}},
		{"hash 63 digits", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = hashA[:63] }), ledger.CodeContract)}}},
		{"hash 65 digits", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = hashA + "a" }), ledger.CodeContract)}}},
		{"hash upper case", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = strings.ToUpper(hashA) }), ledger.CodeContract)}}},
		{"hash mixed case", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "A" + hashA[1:] }), ledger.CodeContract)}}},
		{"hash not hex", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "g" + hashA[1:] }), ledger.CodeContract)}}},
		{"hash with 0x", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "0x" + hashA[2:] }), ledger.CodeContract)}}},
		{"hash empty", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "" }), ledger.CodeContract)}}},
		{"hash is personal data", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = contracttest.PHI + hashA[len(contracttest.PHI):] }), ledger.CodeContract)}}},
		{"kind max", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "0" + strings.Repeat("a._-", 15) + "xyz" }), ledger.CodeOK)}}},
		{"kind empty", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "" }), ledger.CodeContract)}}},
		{"kind too long", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = strings.Repeat("k", 65) }), ledger.CodeContract)}}},
		{"kind upper case", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "Lab" }), ledger.CodeContract)}}},
		{"kind leading dash", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "-lab" }), ledger.CodeContract)}}},
		{"kind with slash", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "lab/x" }), ledger.CodeContract)}}},
		{"kind is personal data", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = contracttest.PHI }), ledger.CodeContract)}}},
		{"metadata at entry limit", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = meta(notary.MaxMetadata) }), ledger.CodeOK)}}},
		{"metadata over entry limit", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = meta(notary.MaxMetadata + 1) }), ledger.CodeContract)}}},
		{"metadata key empty", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[""] = "v" }), ledger.CodeContract)}}},
		{"metadata key at limit", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[strings.Repeat("k", notary.MaxMetaKeyLen)] = "v" }), ledger.CodeOK)}}},
		{"metadata key too long", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[strings.Repeat("k", notary.MaxMetaKeyLen+1)] = "v" }), ledger.CodeContract)}}},
		{"metadata key is personal data", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[contracttest.PHI+strings.Repeat(" x", 30)] = "v" }), ledger.CodeContract)}}},
		{"metadata value empty", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = "" }), ledger.CodeOK)}}},
		{"metadata value at limit", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = strings.Repeat("v", notary.MaxMetaValueLen) }), ledger.CodeOK)}}},
		{"metadata value too long", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) {
			a.Metadata["k00"] = contracttest.PHI + strings.Repeat(".", notary.MaxMetaValueLen)
		}), ledger.CodeContract)}}},
		{"metadata value multibyte over limit", [][]contracttest.Step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = strings.Repeat("é", notary.MaxMetaValueLen/2+1) }), ledger.CodeContract)}}},
		{"metadata value not a string", [][]contracttest.Step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","metadata":{"name":"`+contracttest.PHI+`","n":1}}`, ledger.CodeContract)}}},
		{"unknown field", [][]contracttest.Step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","metadata":{"name":"`+contracttest.PHI+`"},"patient":"`+contracttest.PHI+`"}`, ledger.CodeContract)}}},
		{"field named like personal data", [][]contracttest.Step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","`+contracttest.PHI+`":1}`, ledger.CodeContract)}}},
		{"trailing data", [][]contracttest.Step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x"}}`, ledger.CodeContract)}}},
		{"payload not an object", [][]contracttest.Step{{anchor("st-mary/dr-who", `["`+contracttest.PHI+`"]`, ledger.CodeContract)}}},
		{"unknown method", [][]contracttest.Step{{contracttest.Step{Call: contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "revoke", Payload: with(nil)}, Want: ledger.CodeUnknownMethod}}}},
		{"suspended signer", [][]contracttest.Step{{
			contracttest.Step{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "suspend", Payload: map[string]string{"id": "st-mary/dr-who", "reason": "other"}}, Want: ledger.CodeOK},
			anchor("st-mary/dr-who", with(nil), ledger.CodeSuspendedSigner),
		}}},
		{"policy tightened", [][]contracttest.Step{
			{contracttest.Step{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
				Payload: contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles && request.kind != "x"`}}, Want: ledger.CodeOK}},
			{
				anchor("st-mary/clerk", with(nil), ledger.CodeDenied),
				anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "x" }), ledger.CodeDenied),
				anchor("st-mary/dr-who", with(nil), ledger.CodeOK),
			},
		}},
		{"denied before revealing a duplicate", [][]contracttest.Step{
			{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)},
			{contracttest.Step{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
				Payload: contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles`}}, Want: ledger.CodeOK}},
			{anchor("st-mary/clerk", with(nil), ledger.CodeDenied)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := contracttest.NewFixture(t)
			f.Run(tc.blocks...)
		})
	}
}

func TestAnchorRecord(t *testing.T) {
	f := contracttest.NewFixture(t)
	a := with(nil)
	b := f.Begin()
	tx := f.Tx(contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: a})
	r := f.Apply(b, tx)
	if r.Code != ledger.CodeOK {
		t.Fatalf("anchor = %s %q", r.Code, r.Message)
	}
	wantEv := []ledger.Event{{Type: "notary.anchored", Attrs: []ledger.Attr{
		{Key: "hash", Value: hashA}, {Key: "kind", Value: a.Kind}, {Key: "height", Value: "1"}}}}
	if !reflect.DeepEqual(r.Events, wantEv) {
		t.Errorf("events = %+v; want %+v", r.Events, wantEv)
	}
	cs := b.Changes()
	if len(cs) != 1 || string(cs[0].Key) != "notary/"+notary.Key(hashA) || cs[0].Delete {
		t.Fatalf("Changes() = %s; want one write of notary/%s", contracttest.FmtChanges(cs), notary.Key(hashA))
	}
	var rec notary.Record
	if err := json.Unmarshal(cs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	want := notary.Record{Hash: hashA, Kind: a.Kind, Metadata: a.Metadata, Signer: "st-mary/dr-who", Org: "st-mary",
		Height: 1, Time: contracttest.GenesisTime.Add(time.Second), Tx: tx.ID()}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("stored record = %+v; want %+v", rec, want)
	}
	f.Commit(b)

	// The duplicate's message names the height of the first anchoring.
	b = f.Begin()
	r = f.Apply(b, f.Tx(contracttest.Call{Signer: "acme/claims", Contract: "notary", Method: "anchor", Payload: a}))
	if r.Code != ledger.CodeContract || !strings.Contains(r.Message, "height 1") {
		t.Errorf("duplicate anchor = %s %q; want contract_error naming height 1", r.Code, r.Message)
	}
}

// BenchmarkApplyNotary measures Block.Apply of one notary anchor by a
// signer whose key the caller already verified (the sequencer's path).
func BenchmarkApplyNotary(b *testing.B) {
	f := contracttest.NewFixture(b)
	const batch = 1024
	txs := make([]*ledger.Tx, batch)
	for i := range txs {
		txs[i] = f.Tx(contracttest.Call{Signer: "st-mary/dr-who", Contract: "notary", Method: "anchor", Payload: notary.Anchor{
			Hash: fmt.Sprintf("%064x", i), Kind: "lab-result", Metadata: map[string]string{"ward": "3", "system": "lis"}}})
	}
	ids := make([]ledger.Hash, batch)
	for i, tx := range txs {
		ids[i] = tx.ID()
	}
	verified := contracttest.Key(b, "st-mary/dr-who").Public()
	var blk *contract.Block
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%batch == 0 {
			blk = f.Begin() // a fresh block: the hashes are new again
		}
		r, err := blk.Apply(txs[i%batch], ids[i%batch], verified)
		if err != nil || r.Code != ledger.CodeOK {
			b.Fatalf("Apply = %+v, %v", r, err)
		}
		i++
	}
}
