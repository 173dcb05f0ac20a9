package consent_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contract"
	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/policy"
)

const (
	node  = "st-mary/node"  // system
	admin = "st-mary/admin" // admin
	pt    = "pt_0123456789abcdef0123"
	pt2   = "pt_fedcba9876543210fedc"
)

// sealed stands for a reason sealed to the patient's key.
var sealed = base64.StdEncoding.EncodeToString([]byte("\x01ciphertext of the reason\x02"))

func call(signer, method string, payload any, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "consent", Method: method, Payload: payload}, Want: want}
}

// cons returns a valid consent: one permit for a practitioner with a
// nested deny of corrections; mod changes it.
func cons(mod func(c *consent.Consent)) consent.Consent {
	c := consent.Consent{ID: "c1", Version: 1, Patient: pt, Status: "active", Provisions: []consent.Provision{{
		Type:     consent.Permit,
		Actors:   []consent.Actor{{Kind: consent.ActorPractitioner, Value: "Practitioner/123"}, {Kind: consent.ActorMember, Value: "st-mary/dr-who"}},
		Purposes: []string{"TREAT"},
		Classes:  []string{"Observation", "Condition"},
		Actions:  []string{consent.ActionAccess},
		Start:    1000, End: 2000,
		Except: []consent.Provision{{Type: consent.Deny, Actions: []string{consent.ActionCorrect}}},
	}}}
	if mod != nil {
		mod(&c)
	}
	return c
}

func set(signer string, c any, want ledger.Code) ct.Step {
	return call(signer, consent.MethodSet, c, want)
}

func care(mod func(c *consent.Care)) consent.Care {
	c := consent.Care{Source: "Encounter/e1", Patient: pt, Active: true, Practitioners: []string{"Practitioner/123"}, Start: 10, End: 20}
	if mod != nil {
		mod(&c)
	}
	return c
}

func bg(mod func(b *consent.BreakGlass)) consent.BreakGlass {
	b := consent.BreakGlass{Patient: pt, Member: "st-mary/dr-who", Reason: sealed, Minutes: 30}
	if mod != nil {
		mod(&b)
	}
	return b
}

func erase(mod func(e *consent.Erase)) consent.Erase {
	e := consent.Erase{Patient: pt, By: admin, Reason: "patient-request"}
	if mod != nil {
		mod(&e)
	}
	return e
}

func prov(mod func(p *consent.Provision)) func(c *consent.Consent) {
	return func(c *consent.Consent) { mod(&c.Provisions[0]) }
}

func TestSet(t *testing.T) {
	tests := []struct {
		name   string
		blocks [][]ct.Step
	}{
		{"ok by system", [][]ct.Step{{set(node, cons(nil), ledger.CodeOK)}}},
		{"ok by admin", [][]ct.Step{{set(admin, cons(nil), ledger.CodeOK)}}},
		{"ok without provisions", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Provisions = nil }), ledger.CodeOK)}}},
		{"ok inactive", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Status = "inactive" }), ledger.CodeOK)}}},
		{"ok every actor kind", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Actors = []consent.Actor{{Kind: "member", Value: "acme/claims"}, {Kind: "practitioner", Value: "Practitioner/a-1.b"}, {Kind: "role", Value: "practitioner"}, {Kind: "org", Value: "acme"}}
		})), ledger.CodeOK)}}},
		{"ok open period", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start, p.End = 0, 0 })), ledger.CodeOK)}}},
		{"ok end without start", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start, p.End = 0, 5 })), ledger.CodeOK)}}},
		{"ok empty period", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start, p.End = 5, 5 })), ledger.CodeOK)}}},
		{"ok at provision limit", [][]ct.Step{{set(node, cons(func(c *consent.Consent) {
			c.Provisions = slices.Repeat(c.Provisions[:1], consent.MaxProvisions)
		}), ledger.CodeOK)}}},
		{"ok at list limit", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Classes = slices.Repeat([]string{"Observation"}, consent.MaxList)
		})), ledger.CodeOK)}}},
		{"ok two patients same id", [][]ct.Step{{set(node, cons(nil), ledger.CodeOK), set(node, cons(func(c *consent.Consent) { c.Patient = pt2 }), ledger.CodeOK)}}},

		{"version increases", [][]ct.Step{
			{set(node, cons(nil), ledger.CodeOK)},
			{set(node, cons(func(c *consent.Consent) { c.Version = 2; c.Status = "inactive" }), ledger.CodeOK)},
			{set(node, cons(func(c *consent.Consent) { c.Version = 7 }), ledger.CodeOK)},
		}},
		{"same version again", [][]ct.Step{
			{set(node, cons(nil), ledger.CodeOK)},
			{set(node, cons(func(c *consent.Consent) { c.Status = "inactive" }), ledger.CodeContract)},
		}},
		{"same version in one block", [][]ct.Step{{set(node, cons(nil), ledger.CodeOK), set(node, cons(nil), ledger.CodeContract)}}},
		{"older version", [][]ct.Step{
			{set(node, cons(func(c *consent.Consent) { c.Version = 3 }), ledger.CodeOK)},
			{set(node, cons(func(c *consent.Consent) { c.Version = 2 }), ledger.CodeContract)},
		}},
		{"version 0", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Version = 0 }), ledger.CodeContract)}}},

		{"id empty", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.ID = "" }), ledger.CodeContract)}}},
		{"id with slash", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.ID = "Consent/c1" }), ledger.CodeContract)}}},
		{"id too long", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.ID = strings.Repeat("a", 65) }), ledger.CodeContract)}}},
		{"id is personal data", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.ID = ct.PHI }), ledger.CodeContract)}}},

		{"patient is a reference", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = "Patient/123" }), ledger.CodeContract)}}},
		{"patient pseudonym too short", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = "pt_0123456789abcde" }), ledger.CodeContract)}}},
		{"patient pseudonym too long", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = "pt_" + strings.Repeat("a", 65) }), ledger.CodeContract)}}},
		{"patient pseudonym upper case", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = strings.ToUpper(pt) }), ledger.CodeContract)}}},
		{"patient pseudonym with slash", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = pt + "/x" }), ledger.CodeContract)}}},
		{"patient empty", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = "" }), ledger.CodeContract)}}},
		{"patient is personal data", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Patient = ct.PHI }), ledger.CodeContract)}}},

		{"status empty", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Status = "" }), ledger.CodeContract)}}},
		{"status free text", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Status = ct.PHI }), ledger.CodeContract)}}},

		{"height set by caller", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Height = 9 }), ledger.CodeContract)}}},
		{"tx set by caller", [][]ct.Step{{set(node, cons(func(c *consent.Consent) { c.Tx = "ab" }), ledger.CodeContract)}}},
		{"too many provisions", [][]ct.Step{{set(node, cons(func(c *consent.Consent) {
			c.Provisions = slices.Repeat(c.Provisions[:1], consent.MaxProvisions+1)
		}), ledger.CodeContract)}}},

		{"provision type empty", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Type = "" })), ledger.CodeContract)}}},
		{"provision type allow", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Type = "allow" })), ledger.CodeContract)}}},
		{"provision type upper case", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Type = "Permit" })), ledger.CodeContract)}}},
		{"nested provision type", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Except[0].Type = "maybe" })), ledger.CodeContract)}}},

		{"actor kind unknown", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0].Kind = "user" })), ledger.CodeContract)}}},
		{"actor kind empty", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0].Kind = "" })), ledger.CodeContract)}}},
		{"actor member invalid", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[1].Value = ct.PHI })), ledger.CodeContract)}}},
		{"actor practitioner not a reference", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0].Value = "123" })), ledger.CodeContract)}}},
		{"actor practitioner is personal data", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0].Value = "Practitioner/" + ct.PHI })), ledger.CodeContract)}}},
		{"actor role empty", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0] = consent.Actor{Kind: "role"} })), ledger.CodeContract)}}},
		{"actor org with space", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actors[0] = consent.Actor{Kind: "org", Value: "st mary"} })), ledger.CodeContract)}}},
		{"nested actor invalid", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Except[0].Actors = []consent.Actor{{Kind: "patient", Value: pt}}
		})), ledger.CodeContract)}}},
		{"too many actors", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Actors = slices.Repeat(p.Actors[:1], consent.MaxList+1)
		})), ledger.CodeContract)}}},

		{"purpose free text", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Purposes = []string{ct.PHI} })), ledger.CodeContract)}}},
		{"class free text", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Classes = []string{"Observation", "lab results"} })), ledger.CodeContract)}}},
		{"too many classes", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Classes = slices.Repeat([]string{"Observation"}, consent.MaxList+1)
		})), ledger.CodeContract)}}},

		{"action read", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actions = []string{"read"} })), ledger.CodeContract)}}},
		{"action empty string", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Actions = []string{""} })), ledger.CodeContract)}}},
		{"nested action", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Except[0].Actions = []string{"use"} })), ledger.CodeContract)}}},

		{"period end before start", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start, p.End = 2000, 1999 })), ledger.CodeContract)}}},
		{"period negative start", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start = -1 })), ledger.CodeContract)}}},
		{"period negative end", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Start, p.End = 0, -1 })), ledger.CodeContract)}}},
		{"nested period", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) { p.Except[0].Start, p.Except[0].End = 9, 8 })), ledger.CodeContract)}}},

		{"nested two levels", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Except[0].Except = []consent.Provision{{Type: consent.Permit}}
		})), ledger.CodeContract)}}},
		{"too many nested", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Except = slices.Repeat(p.Except[:1], consent.MaxProvisions+1)
		})), ledger.CodeContract)}}},
		{"nested at limit", [][]ct.Step{{set(node, cons(prov(func(p *consent.Provision) {
			p.Except = slices.Repeat(p.Except[:1], consent.MaxProvisions)
		})), ledger.CodeOK)}}},

		{"practitioner denied", [][]ct.Step{{set("st-mary/dr-who", cons(nil), ledger.CodeDenied)}}},
		{"auditor denied", [][]ct.Step{{set("st-mary/clerk", cons(nil), ledger.CodeDenied)}}},
		{"payer denied", [][]ct.Step{{set("acme/claims", cons(nil), ledger.CodeDenied)}}},
		{"suspended system member", [][]ct.Step{{
			ct.Step{Call: ct.Call{Signer: admin, Contract: "members", Method: "suspend", Payload: map[string]string{"id": node, "reason": "other"}}, Want: ledger.CodeOK},
			set(node, cons(nil), ledger.CodeSuspendedSigner),
		}}},
		{"denied before revealing a recorded version", [][]ct.Step{
			{set(node, cons(nil), ledger.CodeOK)},
			{set("st-mary/dr-who", cons(nil), ledger.CodeDenied)},
		}},

		{"unknown field", [][]ct.Step{{set(node, `{"id":"c1","version":1,"patient":"`+pt+`","status":"active","provisions":[],"name":"`+ct.PHI+`"}`, ledger.CodeContract)}}},
		{"unknown nested field", [][]ct.Step{{set(node, `{"id":"c1","version":1,"patient":"`+pt+`","status":"active","provisions":[{"type":"permit","note":"`+ct.PHI+`"}]}`, ledger.CodeContract)}}},
		{"field named like personal data", [][]ct.Step{{set(node, `{"id":"c1","version":1,"`+ct.PHI+`":1}`, ledger.CodeContract)}}},
		{"wrong type", [][]ct.Step{{set(node, `{"id":"c1","version":"1","patient":"`+pt+`","status":"active"}`, ledger.CodeContract)}}},
		{"trailing data", [][]ct.Step{{set(node, `{"id":"c1","version":1,"patient":"`+pt+`","status":"active"}{}`, ledger.CodeContract)}}},
		{"not an object", [][]ct.Step{{set(node, `["`+ct.PHI+`"]`, ledger.CodeContract)}}},
		{"unknown method", [][]ct.Step{{call(node, "revoke", cons(nil), ledger.CodeUnknownMethod)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run(tc.blocks...)
		})
	}
}

// stored reads and decodes a record of the consent contract.
func stored[T any](t *testing.T, f *ct.Fixture, key string) (T, bool) {
	t.Helper()
	var v T
	raw, ok, err := f.State.Get([]byte("consent/" + key))
	if err != nil {
		t.Fatalf("Get(consent/%s): %v", key, err)
	}
	if !ok {
		return v, false
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("stored consent/%s: %v", key, err)
	}
	return v, true
}

// apply runs one transaction in its own block and returns it with its result.
func apply(t *testing.T, f *ct.Fixture, c ct.Call) (*ledger.Tx, ledger.Result) {
	t.Helper()
	b := f.Begin()
	tx := f.Tx(c)
	r := f.Apply(b, tx)
	f.Commit(b)
	return tx, r
}

func TestSetRecord(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	in := cons(nil)
	tx, r := apply(t, f, ct.Call{Signer: node, Contract: "consent", Method: consent.MethodSet, Payload: in})
	if r.Code != ledger.CodeOK {
		t.Fatalf("set = %s %q", r.Code, r.Message)
	}
	wantEv := []ledger.Event{{Type: "consent.set", Attrs: []ledger.Attr{{Key: "patient", Value: pt}, {Key: "consent", Value: "c1"}, {Key: "status", Value: "active"}}}}
	if !reflect.DeepEqual(r.Events, wantEv) {
		t.Errorf("events = %+v; want %+v", r.Events, wantEv)
	}
	got, ok := stored[consent.Consent](t, f, consent.ConsentPrefix(pt)+"c1")
	want := in
	want.Height, want.Tx = 1, tx.ID().String()
	if !ok || !reflect.DeepEqual(got, want) {
		t.Errorf("stored consent = %+v, %v; want %+v", got, ok, want)
	}

	// A later version replaces it in place.
	in.Version, in.Status = 2, "inactive"
	tx, r = apply(t, f, ct.Call{Signer: admin, Contract: "consent", Method: consent.MethodSet, Payload: in})
	if r.Code != ledger.CodeOK {
		t.Fatalf("set v2 = %s %q", r.Code, r.Message)
	}
	got, _ = stored[consent.Consent](t, f, consent.ConsentPrefix(pt)+"c1")
	if got.Version != 2 || got.Status != "inactive" || got.Height != 2 || got.Tx != tx.ID().String() {
		t.Errorf("stored consent after v2 = %+v", got)
	}
	n := 0
	f.State.Scan([]byte("consent/"+consent.ConsentPrefix(pt)), func(k, v []byte) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d consents stored for %s; want 1", n, pt)
	}
}

func TestCare(t *testing.T) {
	carep := func(signer string, c any, want ledger.Code) ct.Step {
		return call(signer, consent.MethodCare, c, want)
	}
	tests := []struct {
		name   string
		blocks [][]ct.Step
	}{
		{"ok", [][]ct.Step{{carep(node, care(nil), ledger.CodeOK)}}},
		{"ok care team", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Source = "CareTeam/7" }), ledger.CodeOK)}}},
		{"ok finished", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Active = false }), ledger.CodeOK)}}},
		{"ok nobody named", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Practitioners = nil }), ledger.CodeOK)}}},
		{"ok open period", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Start, c.End = 0, 0 }), ledger.CodeOK)}}},
		{"ok replaced", [][]ct.Step{{carep(node, care(nil), ledger.CodeOK)}, {carep(admin, care(func(c *consent.Care) { c.Active = false }), ledger.CodeOK)}}},
		{"source not a reference", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Source = "e1" }), ledger.CodeContract)}}},
		{"source is personal data", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Source = "Encounter/" + ct.PHI }), ledger.CodeContract)}}},
		{"bad pseudonym", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Patient = "Patient/1" }), ledger.CodeContract)}}},
		{"practitioner not a reference", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Practitioners = []string{ct.PHI} }), ledger.CodeContract)}}},
		{"too many practitioners", [][]ct.Step{{carep(node, care(func(c *consent.Care) {
			c.Practitioners = slices.Repeat([]string{"Practitioner/1"}, consent.MaxList+1)
		}), ledger.CodeContract)}}},
		{"period end before start", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Start, c.End = 20, 10 }), ledger.CodeContract)}}},
		{"period negative", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Start = -5 }), ledger.CodeContract)}}},
		{"height set by caller", [][]ct.Step{{carep(node, care(func(c *consent.Care) { c.Height = 1 }), ledger.CodeContract)}}},
		{"practitioner denied", [][]ct.Step{{carep("st-mary/dr-who", care(nil), ledger.CodeDenied)}}},
		{"unknown field", [][]ct.Step{{carep(node, `{"source":"Encounter/1","patient":"`+pt+`","active":true,"reason":"`+ct.PHI+`"}`, ledger.CodeContract)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run(tc.blocks...)
		})
	}

	t.Run("record", func(t *testing.T) {
		f := ct.NewFixture(t, consent.Contract{})
		in := care(nil)
		_, r := apply(t, f, ct.Call{Signer: node, Contract: "consent", Method: consent.MethodCare, Payload: in})
		if r.Code != ledger.CodeOK {
			t.Fatalf("care = %s %q", r.Code, r.Message)
		}
		want := in
		want.Height = 1
		if got, ok := stored[consent.Care](t, f, consent.CarePrefix(pt)+in.Source); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("stored care = %+v, %v; want %+v", got, ok, want)
		}
		wantEv := []ledger.Event{{Type: "consent.care", Attrs: []ledger.Attr{{Key: "patient", Value: pt}, {Key: "source", Value: "Encounter/e1"}, {Key: "active", Value: "true"}}}}
		if !reflect.DeepEqual(r.Events, wantEv) {
			t.Errorf("events = %+v; want %+v", r.Events, wantEv)
		}
	})
}

func TestBreakGlass(t *testing.T) {
	bgp := func(signer string, b any, want ledger.Code) ct.Step {
		return call(signer, consent.MethodBreakGlass, b, want)
	}
	tests := []struct {
		name string
		in   any
		want ledger.Code
	}{
		{"ok", bg(nil), ledger.CodeOK},
		{"1 minute", bg(func(b *consent.BreakGlass) { b.Minutes = 1 }), ledger.CodeOK},
		{"max minutes", bg(func(b *consent.BreakGlass) { b.Minutes = consent.MaxBreakGlassMinutes }), ledger.CodeOK},
		{"0 minutes", bg(func(b *consent.BreakGlass) { b.Minutes = 0 }), ledger.CodeContract},
		{"negative minutes", bg(func(b *consent.BreakGlass) { b.Minutes = -60 }), ledger.CodeContract},
		{"over max minutes", bg(func(b *consent.BreakGlass) { b.Minutes = consent.MaxBreakGlassMinutes + 1 }), ledger.CodeContract},
		{"huge minutes", bg(func(b *consent.BreakGlass) { b.Minutes = 1 << 62 }), ledger.CodeContract},
		{"no reason", bg(func(b *consent.BreakGlass) { b.Reason = "" }), ledger.CodeContract},
		{"reason at limit", bg(func(b *consent.BreakGlass) { b.Reason = strings.Repeat("A", consent.MaxReason) }), ledger.CodeOK},
		{"reason over limit", bg(func(b *consent.BreakGlass) { b.Reason = strings.Repeat("A", consent.MaxReason+4) }), ledger.CodeContract},
		// The ledger never holds a reason in clear: one that is not even
		// base64 cannot be the sealed form.
		{"reason in clear", bg(func(b *consent.BreakGlass) { b.Reason = ct.PHI + " collapsed in the waiting room" }), ledger.CodeContract},
		{"bad pseudonym", bg(func(b *consent.BreakGlass) { b.Patient = ct.PHI }), ledger.CodeContract},
		{"bad member", bg(func(b *consent.BreakGlass) { b.Member = "dr who" }), ledger.CodeContract},
		{"no member", bg(func(b *consent.BreakGlass) { b.Member = "" }), ledger.CodeContract},
		{"unknown field", `{"patient":"` + pt + `","member":"st-mary/dr-who","reason":"` + sealed + `","minutes":5,"until":1}`, ledger.CodeContract},
		{"minutes not an integer", `{"patient":"` + pt + `","member":"st-mary/dr-who","reason":"` + sealed + `","minutes":1.5}`, ledger.CodeContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run([]ct.Step{bgp(node, tc.in, tc.want)})
		})
	}
	for _, signer := range []string{"st-mary/dr-who", "st-mary/clerk", "acme/claims"} {
		t.Run("denied "+signer, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run([]ct.Step{bgp(signer, bg(nil), ledger.CodeDenied)})
		})
	}
}

func TestBreakGlassRecord(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	f.Run([]ct.Step{}, []ct.Step{}) // the declaration is at height 3
	for _, minutes := range []int64{1, 30, consent.MaxBreakGlassMinutes} {
		in := bg(func(b *consent.BreakGlass) { b.Minutes = minutes })
		tx, r := apply(t, f, ct.Call{Signer: node, Contract: "consent", Method: consent.MethodBreakGlass, Payload: in})
		if r.Code != ledger.CodeOK {
			t.Fatalf("break_glass %d minutes = %s %q", minutes, r.Code, r.Message)
		}
		e, ok := stored[consent.Emergency](t, f, consent.EmergencyKey(pt, in.Member))
		if !ok {
			t.Fatalf("no emergency stored under %s", consent.EmergencyKey(pt, in.Member))
		}
		height := e.Height
		from := ct.GenesisTime.Add(time.Duration(height) * time.Second).Unix()
		want := consent.Emergency{BreakGlass: in, From: from, Until: from + minutes*60, Height: height, Tx: tx.ID().String()}
		if !reflect.DeepEqual(e, want) {
			t.Errorf("%d minutes: stored emergency = %+v; want %+v", minutes, e, want)
		}
		wantEv := []ledger.Event{{Type: "consent.break_glass", Attrs: []ledger.Attr{
			{Key: "patient", Value: pt}, {Key: "member", Value: in.Member}, {Key: "until", Value: strconv.FormatInt(want.Until, 10)}}}}
		if !reflect.DeepEqual(r.Events, wantEv) {
			t.Errorf("%d minutes: events = %+v; want %+v", minutes, r.Events, wantEv)
		}
	}
}

func TestErase(t *testing.T) {
	ep := func(signer string, e any, want ledger.Code) ct.Step {
		return call(signer, consent.MethodErase, e, want)
	}
	tests := []struct {
		name   string
		blocks [][]ct.Step
	}{
		{"unknown reason", [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.Reason = "because" }), ledger.CodeContract)}}},
		{"reason free text", [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.Reason = ct.PHI + " asked" }), ledger.CodeContract)}}},
		{"no reason", [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.Reason = "" }), ledger.CodeContract)}}},
		{"bad pseudonym", [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.Patient = ct.PHI }), ledger.CodeContract)}}},
		{"bad by", [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.By = "" }), ledger.CodeContract)}}},
		{"erase twice", [][]ct.Step{
			{ep(admin, erase(nil), ledger.CodeOK)},
			{ep(node, erase(func(e *consent.Erase) { e.Reason = "legal-order" }), ledger.CodeContract)},
		}},
		{"erase twice in one block", [][]ct.Step{{ep(admin, erase(nil), ledger.CodeOK), ep(admin, erase(nil), ledger.CodeContract)}}},
		{"another patient after", [][]ct.Step{{ep(admin, erase(nil), ledger.CodeOK)}, {ep(admin, erase(func(e *consent.Erase) { e.Patient = pt2 }), ledger.CodeOK)}}},
		{"practitioner denied", [][]ct.Step{{ep("st-mary/dr-who", erase(nil), ledger.CodeDenied)}}},
		{"denied before revealing an erasure", [][]ct.Step{{ep(admin, erase(nil), ledger.CodeOK)}, {ep("st-mary/clerk", erase(nil), ledger.CodeDenied)}}},
		{"unknown field", [][]ct.Step{{ep(admin, `{"patient":"`+pt+`","by":"st-mary/admin","reason":"legal-order","name":"`+ct.PHI+`"}`, ledger.CodeContract)}}},
	}
	for _, r := range consent.EraseReasons {
		tests = append(tests, struct {
			name   string
			blocks [][]ct.Step
		}{"reason " + r, [][]ct.Step{{ep(admin, erase(func(e *consent.Erase) { e.Reason = r }), ledger.CodeOK)}}})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run(tc.blocks...)
		})
	}

	t.Run("record", func(t *testing.T) {
		f := ct.NewFixture(t, consent.Contract{})
		in := erase(nil)
		tx, r := apply(t, f, ct.Call{Signer: node, Contract: "consent", Method: consent.MethodErase, Payload: in})
		if r.Code != ledger.CodeOK {
			t.Fatalf("erase = %s %q", r.Code, r.Message)
		}
		want := consent.Erasure{Erase: in, Height: 1, Time: ct.GenesisTime.Add(time.Second), Tx: tx.ID().String()}
		if got, ok := stored[consent.Erasure](t, f, consent.ErasureKey(pt)); !ok || !reflect.DeepEqual(got, want) {
			t.Errorf("stored erasure = %+v, %v; want %+v", got, ok, want)
		}
		wantEv := []ledger.Event{{Type: "consent.erased", Attrs: []ledger.Attr{{Key: "patient", Value: pt}, {Key: "by", Value: admin}}}}
		if !reflect.DeepEqual(r.Events, wantEv) {
			t.Errorf("events = %+v; want %+v", r.Events, wantEv)
		}
	})
}

// TestPolicyRequests sets, for each method's policy, a rule that reads
// every request field its documentation names: the documented fields must
// be there, or the rule fails to evaluate and denies.
func TestPolicyRequests(t *testing.T) {
	tests := []struct {
		policy string
		rule   string
		method string
		in     any
	}{
		{"consent.set", `request.patient != "" && request.status == "active"`, consent.MethodSet, cons(nil)},
		{"consent.care", `request.patient != "" && request.source == "Encounter/e1" && request.active`, consent.MethodCare, care(nil)},
		{"consent.break_glass", `request.patient != "" && request.member == "st-mary/dr-who" && request.minutes == 30`, consent.MethodBreakGlass, bg(nil)},
		{"consent.erase", `request.patient != "" && request.by == "st-mary/admin"`, consent.MethodErase, erase(nil)},
	}
	for _, tc := range tests {
		t.Run(tc.policy, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			var doc string
			for _, p := range f.Machine.Policies() {
				if p.Name == tc.policy {
					doc = p.Doc
				}
			}
			for _, field := range []string{"patient", "status", "source", "active", "member", "minutes", "by"} {
				if strings.Contains(tc.rule, "request."+field) && !strings.Contains(doc, field) {
					t.Errorf("policy %s documents %q; the test reads request.%s", tc.policy, doc, field)
				}
			}
			f.Run(
				[]ct.Step{{Call: ct.Call{Signer: admin, Contract: "policy", Method: "set", Payload: contract.PolicySet{Name: tc.policy, Rule: tc.rule}}, Want: ledger.CodeOK}},
				[]ct.Step{call("st-mary/clerk", tc.method, tc.in, ledger.CodeOK)},
			)
		})
	}
}

// TestAccessRules checks the access rules' declarations: every default
// type-checks against AccessEnv (NewMachine refuses one that does not).
func TestAccessRules(t *testing.T) {
	eng := policy.NewEngine(policy.Options{})
	m, err := contract.NewMachine(ct.ChainID, eng, consent.Contract{})
	if err != nil {
		t.Fatalf("NewMachine(consent) = %v", err)
	}
	declared := map[string]contract.Policy{}
	for _, p := range m.Policies() {
		declared[p.Name] = p
	}
	seen := map[string]bool{}
	for _, r := range consent.AccessRules {
		if seen[r.Name] {
			t.Errorf("access rule %s declared twice", r.Name)
		}
		seen[r.Name] = true
		if r.Effect != consent.EffectDeny && r.Effect != consent.EffectPermit {
			t.Errorf("access rule %s has effect %q", r.Name, r.Effect)
		}
		if !strings.HasPrefix(r.Name, "consent."+r.Effect+".") {
			t.Errorf("access rule %s is not named consent.%s.*", r.Name, r.Effect)
		}
		if r.Doc == "" {
			t.Errorf("access rule %s has no doc", r.Name)
		}
		if err := eng.Check(consent.AccessEnv, r.Default); err != nil {
			t.Errorf("default of %s does not check against AccessEnv: %v", r.Name, err)
		}
		// They are not action policies: signer is not in their environment.
		if err := eng.Check(contract.ActionEnv, r.Default); err == nil && r.Default != "false" {
			t.Errorf("default of %s checks against ActionEnv too; want only AccessEnv", r.Name)
		}
		p, ok := declared[r.Name]
		if !ok || p.Env != consent.AccessEnv || p.Default != r.Default || p.Doc != r.Doc {
			t.Errorf("machine policy %s = %+v, %v; want the access rule with Env AccessEnv", r.Name, p, ok)
		}
	}
	for _, name := range []string{"consent.set", "consent.care", "consent.break_glass", "consent.erase"} {
		if p, ok := declared[name]; !ok || p.Env != nil {
			t.Errorf("machine policy %s = %+v, %v; want an action policy", name, p, ok)
		}
	}
}

// TestSetAccessRule checks that a rule set on an access rule through the
// policy contract is type-checked against AccessEnv, not ActionEnv.
func TestSetAccessRule(t *testing.T) {
	policySet := func(name, rule string, want ledger.Code) ct.Step {
		return ct.Step{Call: ct.Call{Signer: admin, Contract: "policy", Method: "set", Payload: contract.PolicySet{Name: name, Rule: rule}}, Want: want}
	}
	tests := []struct {
		name, policy, rule string
		want               ledger.Code
	}{
		{"access rule on actor", "consent.permit.custom", `"auditor" in actor.roles && request.type == "Observation"`, ledger.CodeOK},
		{"access rule on time", "consent.deny.custom", `now > timestamp("2030-01-01T00:00:00Z") && patient.erased`, ledger.CodeOK},
		{"access rule on signer", "consent.permit.custom", `"admin" in signer.roles`, ledger.CodeContract},
		{"access rule on block", "consent.deny.custom", `block.height > 3`, ledger.CodeContract},
		{"access rule not bool", "consent.permit.self", `size(actor.roles)`, ledger.CodeContract},
		{"access rule dyn", "consent.permit.self", `actor.id`, ledger.CodeOK}, // checked for bool at run time
		{"access rule syntax", "consent.permit.care", `care.active &&`, ledger.CodeContract},
		{"action rule on actor", "consent.set", `"admin" in actor.roles`, ledger.CodeContract},
		{"action rule on signer", "consent.set", `"admin" in signer.roles`, ledger.CodeOK},
		{"no such rule", "consent.permit.everyone", `true`, ledger.CodeContract},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := ct.NewFixture(t, consent.Contract{})
			f.Run([]ct.Step{policySet(tc.policy, tc.rule, tc.want)})
			if tc.policy == "consent.permit.everyone" {
				return
			}
			got, err := f.Machine.Rule(f.State, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if (got == tc.rule) != (tc.want == ledger.CodeOK) {
				t.Errorf("Rule(%s) = %q after set = %s", tc.policy, got, tc.want)
			}
		})
	}

	t.Run("not evaluated as an action policy", func(t *testing.T) {
		// An access rule reset to true must not let anybody record facts.
		f := ct.NewFixture(t, consent.Contract{})
		f.Run(
			[]ct.Step{policySet("consent.permit.custom", "true", ledger.CodeOK)},
			[]ct.Step{set("st-mary/dr-who", cons(nil), ledger.CodeDenied)},
		)
	})
}

// FuzzExec feeds arbitrary payloads to every method, seeded with the
// tables' payloads: every result is valid and carries no personal data, a
// failure is a contract error that changes nothing, and a success writes
// one record of the method's type, in the contract's namespace, that
// decodes strictly, plus the patient's version key. A stored consent is
// accepted again as its next version.
//
// It runs one machine over the test genesis state (a Fixture per input
// would compile every policy again).
func FuzzExec(f *testing.F) {
	methods := []string{consent.MethodSet, consent.MethodCare, consent.MethodBreakGlass, consent.MethodErase}
	seed := func(m int, v any) {
		b, err := json.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(m), b)
	}
	seed(0, cons(nil))
	seed(0, cons(func(c *consent.Consent) { c.Provisions[0].Except[0].Except = []consent.Provision{{Type: "permit"}} }))
	seed(1, care(nil))
	seed(2, bg(nil))
	seed(3, erase(nil))
	f.Add(uint8(0), []byte(`{"id":"c1","version":1,"patient":"`+pt+`","status":"active","provisions":[{"type":"deny","except":[{"type":"permit","actors":[{"kind":"org","value":"acme"}]}]}]}`))
	f.Add(uint8(2), []byte(`{"patient":"`+pt+`","member":"a","reason":"`+ct.PHI+`","minutes":1}`))
	f.Add(uint8(3), []byte(`{"patient":"`+pt+`","by":"a","reason":"legal-order"}`))
	f.Add(uint8(1), []byte(`{"source":"Encounter/1","patient":"`+pt+`","active":true,"practitioners":null}`))

	genesis, err := members.GenesisChanges(ct.Doc(f))
	if err != nil {
		f.Fatal(err)
	}
	base := contract.NewMemState()
	base.Apply(genesis)
	m, err := contract.NewMachine(ct.ChainID, policy.NewEngine(policy.Options{}), members.Contract{}, consent.Contract{})
	if err != nil {
		f.Fatal(err)
	}
	pub := ct.Key(f, node).Public()

	f.Fuzz(func(t *testing.T, mi uint8, payload []byte) {
		method := methods[int(mi)%len(methods)]
		b := m.Begin(base, 1, ct.GenesisTime.Add(time.Second))
		apply := func(payload []byte) ledger.Result {
			tx := &ledger.Tx{ChainID: ct.ChainID, Contract: "consent", Method: method, Payload: payload, Signer: node, Nonce: 1}
			ct.Sign(t, tx, node)
			before := b.Changes()
			r, err := b.Apply(tx, tx.ID(), pub)
			if err != nil {
				t.Fatalf("Apply(%s %q): %v", method, payload, err)
			}
			ct.CheckResult(t, tx, r)
			if r.Code != ledger.CodeOK && !reflect.DeepEqual(before, b.Changes()) {
				t.Fatalf("%s(%q) failed with %s but changed the state", method, payload, r.Code)
			}
			return r
		}
		if r := apply(payload); r.Code != ledger.CodeOK {
			if r.Code != ledger.CodeContract {
				t.Fatalf("%s(%q) = %s %q; want ok or contract_error", method, payload, r.Code, r.Message)
			}
			return
		}
		cs := b.Changes()
		var recs []ledger.Change
		version := false
		for _, c := range cs {
			if !strings.HasPrefix(string(c.Key), "consent/") || c.Delete {
				t.Fatalf("%s wrote %s; want writes in its namespace", method, ct.FmtChanges(cs))
			}
			if strings.HasPrefix(string(c.Key), "consent/"+consent.VersionKey("")) {
				version = string(c.Value) == "1"
				continue
			}
			recs = append(recs, c)
		}
		if len(recs) != 1 || !version {
			t.Fatalf("%s wrote %s; want one record and the patient's version", method, ct.FmtChanges(cs))
		}
		var rec any
		switch method {
		case consent.MethodSet:
			rec = new(consent.Consent)
		case consent.MethodCare:
			rec = new(consent.Care)
		case consent.MethodBreakGlass:
			rec = new(consent.Emergency)
		case consent.MethodErase:
			rec = new(consent.Erasure)
		}
		if err := contract.DecodePayload(recs[0].Value, rec); err != nil {
			t.Fatalf("stored %s record %s does not decode: %v", method, recs[0].Value, err)
		}
		if bytes.Contains(recs[0].Value, []byte(ct.PHI)) {
			t.Fatalf("stored %s record holds the personal data marker: %s", method, recs[0].Value)
		}
		if c, ok := rec.(*consent.Consent); ok {
			c.Version++
			c.Height, c.Tx = 0, ""
			next, _ := json.Marshal(c)
			if r := apply(next); r.Code != ledger.CodeOK {
				t.Fatalf("replaying the stored consent as version %d = %s %q", c.Version, r.Code, r.Message)
			}
		}
	})
}
