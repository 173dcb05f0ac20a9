package notary_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contract"
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
		m["k00"] = phi
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

func anchor(signer string, a any, want ledger.Code) step {
	return step{call{signer: signer, contract: "notary", method: "anchor", payload: a}, want}
}

func TestAnchor(t *testing.T) {
	tests := []struct {
		name   string
		blocks [][]step
	}{
		{"ok", [][]step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)}}},
		{"ok without metadata", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = nil }), ledger.CodeOK)}}},
		{"ok by any active member", [][]step{{anchor("acme/claims", with(nil), ledger.CodeOK)}}},
		{"duplicate in the same block", [][]step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK), anchor("acme/admin", with(nil), ledger.CodeContract)}}},
		{"duplicate in a later block", [][]step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)}, {anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "other" }), ledger.CodeContract)}}},
		{"distinct hashes", [][]step{{anchor("st-mary/dr-who", with(nil), ledger.CodeOK), anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = strings.Repeat("b", 64) }), ledger.CodeOK)}}},
		{"hash 63 digits", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = hashA[:63] }), ledger.CodeContract)}}},
		{"hash 65 digits", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = hashA + "a" }), ledger.CodeContract)}}},
		{"hash upper case", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = strings.ToUpper(hashA) }), ledger.CodeContract)}}},
		{"hash mixed case", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "A" + hashA[1:] }), ledger.CodeContract)}}},
		{"hash not hex", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "g" + hashA[1:] }), ledger.CodeContract)}}},
		{"hash with 0x", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "0x" + hashA[2:] }), ledger.CodeContract)}}},
		{"hash empty", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = "" }), ledger.CodeContract)}}},
		{"hash is personal data", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Hash = phi + hashA[len(phi):] }), ledger.CodeContract)}}},
		{"kind max", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "0" + strings.Repeat("a._-", 15) + "xyz" }), ledger.CodeOK)}}},
		{"kind empty", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "" }), ledger.CodeContract)}}},
		{"kind too long", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = strings.Repeat("k", 65) }), ledger.CodeContract)}}},
		{"kind upper case", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "Lab" }), ledger.CodeContract)}}},
		{"kind leading dash", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "-lab" }), ledger.CodeContract)}}},
		{"kind with slash", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "lab/x" }), ledger.CodeContract)}}},
		{"kind is personal data", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = phi }), ledger.CodeContract)}}},
		{"metadata at entry limit", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = meta(notary.MaxMetadata) }), ledger.CodeOK)}}},
		{"metadata over entry limit", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata = meta(notary.MaxMetadata + 1) }), ledger.CodeContract)}}},
		{"metadata key empty", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[""] = "v" }), ledger.CodeContract)}}},
		{"metadata key at limit", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[strings.Repeat("k", notary.MaxMetaKeyLen)] = "v" }), ledger.CodeOK)}}},
		{"metadata key too long", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[strings.Repeat("k", notary.MaxMetaKeyLen+1)] = "v" }), ledger.CodeContract)}}},
		{"metadata key is personal data", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata[phi+strings.Repeat(" x", 30)] = "v" }), ledger.CodeContract)}}},
		{"metadata value empty", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = "" }), ledger.CodeOK)}}},
		{"metadata value at limit", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = strings.Repeat("v", notary.MaxMetaValueLen) }), ledger.CodeOK)}}},
		{"metadata value too long", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k00"] = phi + strings.Repeat(".", notary.MaxMetaValueLen) }), ledger.CodeContract)}}},
		{"metadata value multibyte over limit", [][]step{{anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Metadata["k01"] = strings.Repeat("é", notary.MaxMetaValueLen/2+1) }), ledger.CodeContract)}}},
		{"metadata value not a string", [][]step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","metadata":{"name":"`+phi+`","n":1}}`, ledger.CodeContract)}}},
		{"unknown field", [][]step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","metadata":{"name":"`+phi+`"},"patient":"`+phi+`"}`, ledger.CodeContract)}}},
		{"field named like personal data", [][]step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x","`+phi+`":1}`, ledger.CodeContract)}}},
		{"trailing data", [][]step{{anchor("st-mary/dr-who", `{"hash":"`+hashA+`","kind":"x"}}`, ledger.CodeContract)}}},
		{"payload not an object", [][]step{{anchor("st-mary/dr-who", `["`+phi+`"]`, ledger.CodeContract)}}},
		{"unknown method", [][]step{{step{call{signer: "st-mary/dr-who", contract: "notary", method: "revoke", payload: with(nil)}, ledger.CodeUnknownMethod}}}},
		{"suspended signer", [][]step{{
			step{call{signer: "st-mary/admin", contract: "members", method: "suspend", payload: map[string]string{"id": "st-mary/dr-who", "reason": "other"}}, ledger.CodeOK},
			anchor("st-mary/dr-who", with(nil), ledger.CodeSuspendedSigner),
		}}},
		{"policy tightened", [][]step{
			{step{call{signer: "st-mary/admin", contract: "policy", method: "set",
				payload: contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles && request.kind != "x"`}}, ledger.CodeOK}},
			{
				anchor("st-mary/clerk", with(nil), ledger.CodeDenied),
				anchor("st-mary/dr-who", with(func(a *notary.Anchor) { a.Kind = "x" }), ledger.CodeDenied),
				anchor("st-mary/dr-who", with(nil), ledger.CodeOK),
			},
		}},
		{"denied before revealing a duplicate", [][]step{
			{anchor("st-mary/dr-who", with(nil), ledger.CodeOK)},
			{step{call{signer: "st-mary/admin", contract: "policy", method: "set",
				payload: contract.PolicySet{Name: "notary.anchor", Rule: `"practitioner" in signer.roles`}}, ledger.CodeOK}},
			{anchor("st-mary/clerk", with(nil), ledger.CodeDenied)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.run(tc.blocks...)
		})
	}
}

func TestAnchorRecord(t *testing.T) {
	f := newFixture(t)
	a := with(nil)
	b := f.begin()
	tx := f.tx(call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: a})
	r := f.apply(b, tx)
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
		t.Fatalf("Changes() = %s; want one write of notary/%s", fmtChanges(cs), notary.Key(hashA))
	}
	var rec notary.Record
	if err := json.Unmarshal(cs[0].Value, &rec); err != nil {
		t.Fatal(err)
	}
	want := notary.Record{Hash: hashA, Kind: a.Kind, Metadata: a.Metadata, Signer: "st-mary/dr-who", Org: "st-mary",
		Height: 1, Time: genesisTime.Add(time.Second), Tx: tx.ID()}
	if !reflect.DeepEqual(rec, want) {
		t.Errorf("stored record = %+v; want %+v", rec, want)
	}
	f.commit(b)

	// The duplicate's message names the height of the first anchoring.
	b = f.begin()
	r = f.apply(b, f.tx(call{signer: "acme/claims", contract: "notary", method: "anchor", payload: a}))
	if r.Code != ledger.CodeContract || !strings.Contains(r.Message, "height 1") {
		t.Errorf("duplicate anchor = %s %q; want contract_error naming height 1", r.Code, r.Message)
	}
}

// BenchmarkApplyNotary measures Block.Apply of one notary anchor by a
// signer whose key the caller already verified (the sequencer's path).
func BenchmarkApplyNotary(b *testing.B) {
	f := newFixture(b)
	const batch = 1024
	txs := make([]*ledger.Tx, batch)
	for i := range txs {
		txs[i] = f.tx(call{signer: "st-mary/dr-who", contract: "notary", method: "anchor", payload: notary.Anchor{
			Hash: fmt.Sprintf("%064x", i), Kind: "lab-result", Metadata: map[string]string{"ward": "3", "system": "lis"}}})
	}
	ids := make([]ledger.Hash, batch)
	for i, tx := range txs {
		ids[i] = tx.ID()
	}
	verified := key(b, "st-mary/dr-who").Public()
	var blk *contract.Block
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%batch == 0 {
			blk = f.begin() // a fresh block: the hashes are new again
		}
		r, err := blk.Apply(txs[i%batch], ids[i%batch], verified)
		if err != nil || r.Code != ledger.CodeOK {
			b.Fatalf("Apply = %+v, %v", r, err)
		}
		i++
	}
}
