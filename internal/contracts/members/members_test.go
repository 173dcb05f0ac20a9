package members_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

func enrol(signer string, e members.Enrol, want ledger.Code) step {
	return step{call{signer: signer, contract: "members", method: "enrol", payload: e}, want}
}

func manage(signer, method string, payload any, want ledger.Code) step {
	return step{call{signer: signer, contract: "members", method: method, payload: payload}, want}
}

// anchor is any transaction by signer (signed with key, default signer's).
var anchorN byte

func anchor(signer, key string, want ledger.Code) step {
	anchorN++
	return step{call{signer: signer, key: key, contract: "notary", method: "anchor",
		payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[anchorN%16]), 63) + string("0123456789abcdef"[anchorN/16%16]), Kind: "k"}}, want}
}

// smallOrderKey is the encoding of the identity point, a key anyone can
// forge signatures for.
var smallOrderKey = base64.StdEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))

func TestEnrol(t *testing.T) {
	nurse := func(mod func(*members.Enrol)) members.Enrol {
		e := members.Enrol{ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"practitioner"}, PublicKey: pub(t, "st-mary/nurse")}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	relaxEnrol := step{call{signer: "st-mary/admin", contract: "policy", method: "set",
		payload: contract.PolicySet{Name: "members.enrol", Rule: `"admin" in signer.roles`}}, ledger.CodeOK}
	tests := []struct {
		name  string
		steps []step
	}{
		{"ok", []step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK)}},
		{"ok and signs in the same block", []step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK), anchor("st-mary/nurse", "", ledger.CodeOK)}},
		{"ok as admin", []step{enrol("acme/admin", members.Enrol{ID: "acme/boss", Org: "acme", Roles: []string{"admin"}, PublicKey: pub(t, "acme/boss")}, ledger.CodeOK),
			enrol("acme/boss", members.Enrol{ID: "acme/clerk", Org: "acme", Roles: []string{"payer"}, PublicKey: pub(t, "acme/clerk")}, ledger.CodeOK)}},
		{"unenrolled signs", []step{anchor("st-mary/nurse", "", ledger.CodeUnknownSigner)}},
		{"duplicate of a genesis member", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "st-mary/dr-who" }), ledger.CodeContract)}},
		{"duplicate in the same block", []step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK), enrol("st-mary/admin", nurse(nil), ledger.CodeContract)}},
		{"unknown org is denied by default", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "nowhere" }), ledger.CodeDenied)}},
		{"unknown org", []step{relaxEnrol, enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "nowhere" }), ledger.CodeContract)}},
		{"empty org", []step{relaxEnrol, enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "" }), ledger.CodeContract)}},
		{"unknown role", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{"practitioner", "surgeon"} }), ledger.CodeContract)}},
		{"role with wrong case", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{"Admin"} }), ledger.CodeContract)}},
		{"no roles", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = nil }), ledger.CodeContract)}},
		{"role is personal data", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{phi} }), ledger.CodeContract)}},
		{"key not base64", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = "not a key!" }), ledger.CodeContract)}},
		{"key url-safe base64", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) {
			e.PublicKey = base64.URLEncoding.EncodeToString(key(t, "st-mary/nurse").Public())
			if !strings.ContainsAny(e.PublicKey, "-_") {
				e.PublicKey = "-" + e.PublicKey[1:]
			}
		}), ledger.CodeContract)}},
		{"key 31 bytes", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) {
			e.PublicKey = base64.StdEncoding.EncodeToString(key(t, "st-mary/nurse").Public()[:31])
		}), ledger.CodeContract)}},
		{"key small order", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = smallOrderKey }), ledger.CodeContract)}},
		{"key empty", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = "" }), ledger.CodeContract)}},
		{"id with space", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = phi }), ledger.CodeContract)}},
		{"id empty", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "" }), ledger.CodeContract)}},
		{"id leading slash", []step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "/nurse" }), ledger.CodeContract)}},
		{"non-admin signer", []step{enrol("st-mary/dr-who", nurse(nil), ledger.CodeDenied)}},
		{"admin of another org", []step{enrol("acme/admin", nurse(nil), ledger.CodeDenied)}},
		{"admin of another org, existing id", []step{enrol("acme/admin", nurse(func(e *members.Enrol) { e.ID = "st-mary/dr-who" }), ledger.CodeDenied)}},
		{"suspended admin", []step{
			manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/admin", Reason: "left_organisation"}, ledger.CodeOK),
			enrol("st-mary/admin", nurse(nil), ledger.CodeSuspendedSigner),
		}},
		{"unknown field", []step{{call{signer: "st-mary/admin", contract: "members", method: "enrol",
			payload: `{"id":"st-mary/nurse","org":"st-mary","roles":["practitioner"],"public_key":"` + pub(t, "st-mary/nurse") + `","name":"` + phi + `"}`}, ledger.CodeContract}}},
		{"roles not a list", []step{{call{signer: "st-mary/admin", contract: "members", method: "enrol",
			payload: `{"id":"st-mary/nurse","org":"st-mary","roles":"practitioner","public_key":"` + pub(t, "st-mary/nurse") + `"}`}, ledger.CodeContract}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.run(tc.steps)
		})
	}
}

func TestEnrolRecord(t *testing.T) {
	f := newFixture(t)
	rs := f.run(nil, []step{enrol("st-mary/admin", members.Enrol{ID: "st-mary/nurse", Org: "st-mary",
		Roles: []string{"practitioner", "auditor", "practitioner"}, PublicKey: pub(t, "st-mary/nurse")}, ledger.CodeOK)})
	m := f.member("st-mary/nurse")
	want := &contract.Member{ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"auditor", "practitioner"},
		PublicKey: key(t, "st-mary/nurse").Public(), Status: contract.StatusActive, EnrolledAt: 2, UpdatedAt: 2}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("enrolled member = %+v; want %+v", m, want)
	}
	wantEv := []ledger.Event{{Type: "members.enrolled", Attrs: []ledger.Attr{
		{Key: "id", Value: "st-mary/nurse"}, {Key: "org", Value: "st-mary"},
		{Key: "roles", Value: `["auditor","practitioner"]`}, {Key: "key_id", Value: key(t, "st-mary/nurse").KeyID()},
	}}}
	if got := rs[1][0].Events; !reflect.DeepEqual(got, wantEv) {
		t.Errorf("enrol events = %+v; want %+v", got, wantEv)
	}
}

// TestManage covers suspend, reinstate, rekey and set_roles.
func TestManage(t *testing.T) {
	suspend := func(signer, id string, want ledger.Code) step {
		return manage(signer, "suspend", members.Suspend{ID: id, Reason: "security_review"}, want)
	}
	reinstate := func(signer, id string, want ledger.Code) step {
		return manage(signer, "reinstate", members.Reinstate{ID: id}, want)
	}
	rekey := func(signer, id, keyName string, want ledger.Code) step {
		return manage(signer, "rekey", members.Rekey{ID: id, PublicKey: pub(t, keyName)}, want)
	}
	setRoles := func(signer, id string, roles []string, want ledger.Code) step {
		return manage(signer, "set_roles", members.SetRoles{ID: id, Roles: roles}, want)
	}
	tests := []struct {
		name   string
		blocks [][]step
		check  func(t *testing.T, f *fixture)
	}{
		{"suspend", [][]step{
			{anchor("st-mary/dr-who", "", ledger.CodeOK), suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
			{anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
		}, func(t *testing.T, f *fixture) {
			if m := f.member("st-mary/dr-who"); m.Status != contract.StatusSuspended || m.UpdatedAt != 1 || m.EnrolledAt != 0 {
				t.Errorf("suspended member = %+v; want suspended, updated at 1", m)
			}
		}},
		{"suspend twice", [][]step{{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"suspend reason empty", [][]step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who"}, ledger.CodeContract)}}, nil},
		{"suspend reason free text", [][]step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: phi}, ledger.CodeContract)}}, nil},
		{"suspend reason empty", [][]step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: ""}, ledger.CodeContract)}}, nil},
		{"suspend reason code", [][]step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: "key_compromise"}, ledger.CodeOK)}}, nil},
		{"suspend by non-admin", [][]step{{suspend("st-mary/dr-who", "st-mary/clerk", ledger.CodeDenied), anchor("st-mary/clerk", "", ledger.CodeOK)}}, nil},
		{"suspend by admin of another org", [][]step{{suspend("acme/admin", "st-mary/dr-who", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"suspend missing member", [][]step{{suspend("st-mary/admin", "st-mary/ghost", ledger.CodeDenied)}}, nil},
		{"suspended admin cannot act", [][]step{
			{suspend("st-mary/admin", "st-mary/admin", ledger.CodeOK)},
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeSuspendedSigner), reinstate("st-mary/admin", "st-mary/admin", ledger.CodeSuspendedSigner)},
		}, nil},
		{"reinstate", [][]step{
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK)},
			{reinstate("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), anchor("st-mary/dr-who", "", ledger.CodeOK)},
		}, func(t *testing.T, f *fixture) {
			if m := f.member("st-mary/dr-who"); m.Status != contract.StatusActive || m.UpdatedAt != 2 {
				t.Errorf("reinstated member = %+v; want active, updated at 2", m)
			}
		}},
		{"reinstate active member", [][]step{{reinstate("st-mary/admin", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"reinstate by admin of another org", [][]step{
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK)},
			{reinstate("acme/admin", "st-mary/dr-who", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
		}, nil},
		{"rekey in the same block", [][]step{{
			rekey("st-mary/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeOK),
			anchor("st-mary/dr-who", "", ledger.CodeBadSignature),
			anchor("st-mary/dr-who", "dr-who-2", ledger.CodeOK),
		}}, nil},
		{"rekey across blocks", [][]step{
			{rekey("st-mary/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeOK)},
			{anchor("st-mary/dr-who", "", ledger.CodeBadSignature), anchor("st-mary/dr-who", "dr-who-2", ledger.CodeOK)},
			{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/dr-who", ledger.CodeOK)},
			{anchor("st-mary/dr-who", "dr-who-2", ledger.CodeBadSignature), anchor("st-mary/dr-who", "", ledger.CodeOK)},
		}, func(t *testing.T, f *fixture) {
			if m := f.member("st-mary/dr-who"); !bytes.Equal(m.PublicKey, key(t, "st-mary/dr-who").Public()) || m.UpdatedAt != 3 {
				t.Errorf("re-keyed member = %+v", m)
			}
		}},
		{"rekey own key", [][]step{
			{rekey("st-mary/admin", "st-mary/admin", "admin-2", ledger.CodeOK), enrol("st-mary/admin", members.Enrol{ID: "st-mary/x", Org: "st-mary", Roles: []string{"patient"}, PublicKey: pub(t, "x")}, ledger.CodeBadSignature)},
			{step{call{signer: "st-mary/admin", key: "admin-2", contract: "members", method: "suspend", payload: members.Suspend{ID: "st-mary/clerk", Reason: "other"}}, ledger.CodeOK}},
		}, nil},
		{"rekey to the same key", [][]step{{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"rekey to another member's key", [][]step{{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/clerk", ledger.CodeOK)}}, nil},
		{"rekey to a bad key", [][]step{{manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: "AAAA"}, ledger.CodeContract)}}, nil},
		{"rekey to a small-order key", [][]step{{manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: smallOrderKey}, ledger.CodeContract), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"rekey by admin of another org", [][]step{{rekey("acme/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"rekey by the member itself", [][]step{{rekey("st-mary/dr-who", "st-mary/dr-who", "dr-who-2", ledger.CodeDenied)}}, nil},
		{"set roles", [][]step{
			{setRoles("st-mary/admin", "st-mary/dr-who", []string{"admin", "practitioner", "admin"}, ledger.CodeOK)},
			{enrol("st-mary/dr-who", members.Enrol{ID: "st-mary/x", Org: "st-mary", Roles: []string{"patient"}, PublicKey: pub(t, "x")}, ledger.CodeOK)},
		}, func(t *testing.T, f *fixture) {
			if m := f.member("st-mary/dr-who"); !slices.Equal(m.Roles, []string{"admin", "practitioner"}) {
				t.Errorf("roles after set_roles = %q; want [admin practitioner]", m.Roles)
			}
		}},
		{"set roles takes effect in the same block", [][]step{{
			setRoles("st-mary/admin", "st-mary/admin", []string{"auditor"}, ledger.CodeOK),
			suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeDenied),
		}}, nil},
		{"set roles empty", [][]step{{setRoles("st-mary/admin", "st-mary/dr-who", nil, ledger.CodeContract)}}, nil},
		{"set roles unknown", [][]step{{setRoles("st-mary/admin", "st-mary/dr-who", []string{"practitioner", "god"}, ledger.CodeContract)}}, nil},
		{"set roles by non-admin", [][]step{{setRoles("st-mary/dr-who", "st-mary/dr-who", []string{"admin"}, ledger.CodeDenied)}}, nil},
		{"set roles by admin of another org", [][]step{{setRoles("acme/admin", "st-mary/dr-who", []string{"payer"}, ledger.CodeDenied)}}, nil},
		{"unknown method", [][]step{{manage("st-mary/admin", "remove", members.Reinstate{ID: "st-mary/dr-who"}, ledger.CodeUnknownMethod)}}, nil},
		{"payload for another method", [][]step{{manage("st-mary/admin", "reinstate", members.Suspend{ID: "st-mary/dr-who", Reason: "other"}, ledger.CodeContract)}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.run(tc.blocks...)
			if tc.check != nil {
				tc.check(t, f)
			}
		})
	}
}

// TestManageHidesExistence checks that a signer without rights learns
// nothing about whether the member exists: the result is the same.
func TestManageHidesExistence(t *testing.T) {
	for _, signer := range []string{"acme/admin", "st-mary/dr-who"} {
		for _, method := range []string{"suspend", "reinstate", "rekey", "set_roles"} {
			payload := func(id string) any {
				switch method {
				case "suspend":
					return members.Suspend{ID: id, Reason: "other"}
				case "reinstate":
					return members.Reinstate{ID: id}
				case "rekey":
					return members.Rekey{ID: id, PublicKey: pub(t, "fresh")}
				}
				return members.SetRoles{ID: id, Roles: []string{"patient"}}
			}
			f := newFixture(t)
			rs := f.run([]step{
				manage(signer, method, payload("st-mary/clerk"), ledger.CodeDenied),
				manage(signer, method, payload("st-mary/ghost"), ledger.CodeDenied),
			})
			if exists, missing := rs[0][0], rs[0][1]; !reflect.DeepEqual(exists, missing) {
				t.Errorf("%s by %s: result for an existing member %+v differs from a missing one %+v", method, signer, exists, missing)
			}
		}
	}
}

func TestManageEvents(t *testing.T) {
	f := newFixture(t)
	rs := f.run([]step{
		manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: "left_organisation"}, ledger.CodeOK),
		manage("st-mary/admin", "reinstate", members.Reinstate{ID: "st-mary/dr-who"}, ledger.CodeOK),
		manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: pub(t, "dr-who-2")}, ledger.CodeOK),
		manage("st-mary/admin", "set_roles", members.SetRoles{ID: "st-mary/dr-who", Roles: []string{"researcher", "auditor"}}, ledger.CodeOK),
	})
	attrs := func(kv ...string) []ledger.Attr {
		var out []ledger.Attr
		for i := 0; i < len(kv); i += 2 {
			out = append(out, ledger.Attr{Key: kv[i], Value: kv[i+1]})
		}
		return out
	}
	want := [][]ledger.Event{
		{{Type: "members.suspended", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary", "reason", "left_organisation")}},
		{{Type: "members.reinstated", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary")}},
		{{Type: "members.rekeyed", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary", "key_id", key(t, "dr-who-2").KeyID())}},
		{{Type: "members.roles_set", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary", "roles", `["auditor","researcher"]`)}},
	}
	for i, r := range rs[0] {
		if !reflect.DeepEqual(r.Events, want[i]) {
			t.Errorf("step %d events = %+v; want %+v", i, r.Events, want[i])
		}
	}
}

func TestGenesisChanges(t *testing.T) {
	doc := testDoc(t)
	cs, err := members.GenesisChanges(doc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(doc.Orgs) + len(doc.Members) + len(doc.Validators); len(cs) != n {
		t.Errorf("GenesisChanges gave %d changes; want %d", len(cs), n)
	}
	checkSorted(t, cs)
	s := contract.NewMemState()
	s.Apply(cs)
	for _, gm := range doc.Members {
		m, ok, err := contract.LookupMember(s, gm.ID)
		if err != nil || !ok {
			t.Fatalf("LookupMember(%q) = %v, %v", gm.ID, ok, err)
		}
		if m.Org != gm.Org || !m.Active() || m.EnrolledAt != 0 || !slices.IsSorted(m.Roles) || identity.EncodePublicKey(m.PublicKey) != gm.PublicKey {
			t.Errorf("genesis member %q = %+v", gm.ID, m)
		}
	}
	for _, o := range doc.Orgs {
		got, ok, err := contract.LookupOrg(s, o.ID)
		if err != nil || !ok || *got != (contract.Org{ID: o.ID, Name: o.Name, Kind: o.Kind}) {
			t.Errorf("LookupOrg(%q) = %+v, %v, %v", o.ID, got, ok, err)
		}
	}
	if _, ok, _ := s.Get(contract.ValidatorKey(key(t, "node0").KeyID())); !ok {
		t.Errorf("validator node0 is not in the genesis state")
	}
	again, _ := members.GenesisChanges(testDoc(t))
	if !reflect.DeepEqual(cs, again) {
		t.Errorf("GenesisChanges is not deterministic")
	}

	for name, mod := range map[string]func(*genesis.Doc){
		"member key": func(d *genesis.Doc) { d.Members[0].PublicKey = "junk" },
		"validator key": func(d *genesis.Doc) {
			d.Validators[0].PublicKey = base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize-1))
		},
	} {
		d := testDoc(t)
		mod(d)
		if _, err := members.GenesisChanges(d); err == nil {
			t.Errorf("GenesisChanges with a bad %s = nil error", name)
		}
	}
}
