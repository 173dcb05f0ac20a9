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
	"github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

func enrol(signer string, e members.Enrol, want ledger.Code) contracttest.Step {
	return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "members", Method: "enrol", Payload: e}, Want: want}
}

func manage(signer, method string, payload any, want ledger.Code) contracttest.Step {
	return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "members", Method: method, Payload: payload}, Want: want}
}

// anchor is any transaction by signer (signed with key, default signer's).
var anchorN byte

func anchor(signer, key string, want ledger.Code) contracttest.Step {
	anchorN++
	return contracttest.Step{Call: contracttest.Call{Signer: signer, Key: key, Contract: "notary", Method: "anchor",
		Payload: notary.Anchor{Hash: strings.Repeat(string("0123456789abcdef"[anchorN%16]), 63) + string("0123456789abcdef"[anchorN/16%16]), Kind: "k"}}, Want: want}
}

// smallOrderKey is the encoding of the identity point, a key anyone can
// forge signatures for.
var smallOrderKey = base64.StdEncoding.EncodeToString(append([]byte{1}, make([]byte, 31)...))

func TestEnrol(t *testing.T) {
	nurse := func(mod func(*members.Enrol)) members.Enrol {
		e := members.Enrol{ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"practitioner"}, PublicKey: contracttest.Pub(t, "st-mary/nurse")}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	relaxEnrol := contracttest.Step{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
		Payload: contract.PolicySet{Name: "members.enrol", Rule: `"admin" in signer.roles`}}, Want: ledger.CodeOK}
	tests := []struct {
		name  string
		steps []contracttest.Step
	}{
		{"ok", []contracttest.Step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK)}},
		{"ok and signs in the same block", []contracttest.Step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK), anchor("st-mary/nurse", "", ledger.CodeOK)}},
		{"ok as admin", []contracttest.Step{enrol("acme/admin", members.Enrol{ID: "acme/boss", Org: "acme", Roles: []string{"admin"}, PublicKey: contracttest.Pub(t, "acme/boss")}, ledger.CodeOK),
			enrol("acme/boss", members.Enrol{ID: "acme/clerk", Org: "acme", Roles: []string{"payer"}, PublicKey: contracttest.Pub(t, "acme/clerk")}, ledger.CodeOK)}},
		{"unenrolled signs", []contracttest.Step{anchor("st-mary/nurse", "", ledger.CodeUnknownSigner)}},
		{"duplicate of a genesis member", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "st-mary/dr-who" }), ledger.CodeContract)}},
		{"duplicate in the same block", []contracttest.Step{enrol("st-mary/admin", nurse(nil), ledger.CodeOK), enrol("st-mary/admin", nurse(nil), ledger.CodeContract)}},
		{"unknown org is denied by default", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "nowhere" }), ledger.CodeDenied)}},
		{"unknown org", []contracttest.Step{relaxEnrol, enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "nowhere" }), ledger.CodeContract)}},
		{"empty org", []contracttest.Step{relaxEnrol, enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Org = "" }), ledger.CodeContract)}},
		{"unknown role", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{"practitioner", "surgeon"} }), ledger.CodeContract)}},
		{"role with wrong case", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{"Admin"} }), ledger.CodeContract)}},
		{"no roles", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = nil }), ledger.CodeContract)}},
		{"role is personal data", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.Roles = []string{contracttest.PHI} }), ledger.CodeContract)}},
		{"key not base64", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = "not a key!" }), ledger.CodeContract)}},
		{"key url-safe base64", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) {
			e.PublicKey = base64.URLEncoding.EncodeToString(contracttest.Key(t, "st-mary/nurse").Public())
			if !strings.ContainsAny(e.PublicKey, "-_") {
				e.PublicKey = "-" + e.PublicKey[1:]
			}
		}), ledger.CodeContract)}},
		{"key 31 bytes", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) {
			e.PublicKey = base64.StdEncoding.EncodeToString(contracttest.Key(t, "st-mary/nurse").Public()[:31])
		}), ledger.CodeContract)}},
		{"key small order", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = smallOrderKey }), ledger.CodeContract)}},
		{"key empty", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.PublicKey = "" }), ledger.CodeContract)}},
		{"id with space", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = contracttest.PHI }), ledger.CodeContract)}},
		{"id empty", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "" }), ledger.CodeContract)}},
		{"id leading slash", []contracttest.Step{enrol("st-mary/admin", nurse(func(e *members.Enrol) { e.ID = "/nurse" }), ledger.CodeContract)}},
		{"non-admin signer", []contracttest.Step{enrol("st-mary/dr-who", nurse(nil), ledger.CodeDenied)}},
		{"admin of another org", []contracttest.Step{enrol("acme/admin", nurse(nil), ledger.CodeDenied)}},
		{"admin of another org, existing id", []contracttest.Step{enrol("acme/admin", nurse(func(e *members.Enrol) { e.ID = "st-mary/dr-who" }), ledger.CodeDenied)}},
		{"suspended admin", []contracttest.Step{
			manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/admin", Reason: "left_organisation"}, ledger.CodeOK),
			enrol("st-mary/admin", nurse(nil), ledger.CodeSuspendedSigner),
		}},
		{"unknown field", []contracttest.Step{{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "enrol",
			Payload: `{"id":"st-mary/nurse","org":"st-mary","roles":["practitioner"],"public_key":"` + contracttest.Pub(t, "st-mary/nurse") + `","name":"` + contracttest.PHI + `"}`}, Want: ledger.CodeContract}}},
		{"roles not a list", []contracttest.Step{{Call: contracttest.Call{Signer: "st-mary/admin", Contract: "members", Method: "enrol",
			Payload: `{"id":"st-mary/nurse","org":"st-mary","roles":"practitioner","public_key":"` + contracttest.Pub(t, "st-mary/nurse") + `"}`}, Want: ledger.CodeContract}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := contracttest.NewFixture(t)
			f.Run(tc.steps)
		})
	}
}

func TestEnrolRecord(t *testing.T) {
	f := contracttest.NewFixture(t)
	rs := f.Run(nil, []contracttest.Step{enrol("st-mary/admin", members.Enrol{ID: "st-mary/nurse", Org: "st-mary",
		Roles: []string{"practitioner", "auditor", "practitioner"}, PublicKey: contracttest.Pub(t, "st-mary/nurse")}, ledger.CodeOK)})
	m := f.Member("st-mary/nurse")
	want := &contract.Member{ID: "st-mary/nurse", Org: "st-mary", Roles: []string{"auditor", "practitioner"},
		PublicKey: contracttest.Key(t, "st-mary/nurse").Public(), Status: contract.StatusActive, EnrolledAt: 2, UpdatedAt: 2}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("enrolled member = %+v; want %+v", m, want)
	}
	wantEv := []ledger.Event{{Type: "members.enrolled", Attrs: []ledger.Attr{
		{Key: "id", Value: "st-mary/nurse"}, {Key: "org", Value: "st-mary"},
		{Key: "roles", Value: `["auditor","practitioner"]`}, {Key: "key_id", Value: contracttest.Key(t, "st-mary/nurse").KeyID()},
	}}}
	if got := rs[1][0].Events; !reflect.DeepEqual(got, wantEv) {
		t.Errorf("enrol events = %+v; want %+v", got, wantEv)
	}
}

// TestManage covers suspend, reinstate, rekey and set_roles.
func TestManage(t *testing.T) {
	suspend := func(signer, id string, want ledger.Code) contracttest.Step {
		return manage(signer, "suspend", members.Suspend{ID: id, Reason: "security_review"}, want)
	}
	reinstate := func(signer, id string, want ledger.Code) contracttest.Step {
		return manage(signer, "reinstate", members.Reinstate{ID: id}, want)
	}
	rekey := func(signer, id, keyName string, want ledger.Code) contracttest.Step {
		return manage(signer, "rekey", members.Rekey{ID: id, PublicKey: contracttest.Pub(t, keyName)}, want)
	}
	setRoles := func(signer, id string, roles []string, want ledger.Code) contracttest.Step {
		return manage(signer, "set_roles", members.SetRoles{ID: id, Roles: roles}, want)
	}
	tests := []struct {
		name   string
		blocks [][]contracttest.Step
		check  func(t *testing.T, f *contracttest.Fixture)
	}{
		{"suspend", [][]contracttest.Step{
			{anchor("st-mary/dr-who", "", ledger.CodeOK), suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
			{anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
		}, func(t *testing.T, f *contracttest.Fixture) {
			if m := f.Member("st-mary/dr-who"); m.Status != contract.StatusSuspended || m.UpdatedAt != 1 || m.EnrolledAt != 0 {
				t.Errorf("suspended member = %+v; want suspended, updated at 1", m)
			}
		}},
		{"suspend twice", [][]contracttest.Step{{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"suspend reason empty", [][]contracttest.Step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who"}, ledger.CodeContract)}}, nil},
		{"suspend reason free text", [][]contracttest.Step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: contracttest.PHI}, ledger.CodeContract)}}, nil},
		{"suspend reason empty", [][]contracttest.Step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: ""}, ledger.CodeContract)}}, nil},
		{"suspend reason code", [][]contracttest.Step{{manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: "key_compromise"}, ledger.CodeOK)}}, nil},
		{"suspend by non-admin", [][]contracttest.Step{{suspend("st-mary/dr-who", "st-mary/clerk", ledger.CodeDenied), anchor("st-mary/clerk", "", ledger.CodeOK)}}, nil},
		{"suspend by admin of another org", [][]contracttest.Step{{suspend("acme/admin", "st-mary/dr-who", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"suspend missing member", [][]contracttest.Step{{suspend("st-mary/admin", "st-mary/ghost", ledger.CodeDenied)}}, nil},
		{"suspended admin cannot act", [][]contracttest.Step{
			{suspend("st-mary/admin", "st-mary/admin", ledger.CodeOK)},
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeSuspendedSigner), reinstate("st-mary/admin", "st-mary/admin", ledger.CodeSuspendedSigner)},
		}, nil},
		{"reinstate", [][]contracttest.Step{
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK)},
			{reinstate("st-mary/admin", "st-mary/dr-who", ledger.CodeOK), anchor("st-mary/dr-who", "", ledger.CodeOK)},
		}, func(t *testing.T, f *contracttest.Fixture) {
			if m := f.Member("st-mary/dr-who"); m.Status != contract.StatusActive || m.UpdatedAt != 2 {
				t.Errorf("reinstated member = %+v; want active, updated at 2", m)
			}
		}},
		{"reinstate active member", [][]contracttest.Step{{reinstate("st-mary/admin", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"reinstate by admin of another org", [][]contracttest.Step{
			{suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeOK)},
			{reinstate("acme/admin", "st-mary/dr-who", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeSuspendedSigner)},
		}, nil},
		{"rekey in the same block", [][]contracttest.Step{{
			rekey("st-mary/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeOK),
			anchor("st-mary/dr-who", "", ledger.CodeBadSignature),
			anchor("st-mary/dr-who", "dr-who-2", ledger.CodeOK),
		}}, nil},
		{"rekey across blocks", [][]contracttest.Step{
			{rekey("st-mary/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeOK)},
			{anchor("st-mary/dr-who", "", ledger.CodeBadSignature), anchor("st-mary/dr-who", "dr-who-2", ledger.CodeOK)},
			{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/dr-who", ledger.CodeOK)},
			{anchor("st-mary/dr-who", "dr-who-2", ledger.CodeBadSignature), anchor("st-mary/dr-who", "", ledger.CodeOK)},
		}, func(t *testing.T, f *contracttest.Fixture) {
			if m := f.Member("st-mary/dr-who"); !bytes.Equal(m.PublicKey, contracttest.Key(t, "st-mary/dr-who").Public()) || m.UpdatedAt != 3 {
				t.Errorf("re-keyed member = %+v", m)
			}
		}},
		{"rekey own key", [][]contracttest.Step{
			{rekey("st-mary/admin", "st-mary/admin", "admin-2", ledger.CodeOK), enrol("st-mary/admin", members.Enrol{ID: "st-mary/x", Org: "st-mary", Roles: []string{"patient"}, PublicKey: contracttest.Pub(t, "x")}, ledger.CodeBadSignature)},
			{contracttest.Step{Call: contracttest.Call{Signer: "st-mary/admin", Key: "admin-2", Contract: "members", Method: "suspend", Payload: members.Suspend{ID: "st-mary/clerk", Reason: "other"}}, Want: ledger.CodeOK}},
		}, nil},
		{"rekey to the same key", [][]contracttest.Step{{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/dr-who", ledger.CodeContract)}}, nil},
		{"rekey to another member's key", [][]contracttest.Step{{rekey("st-mary/admin", "st-mary/dr-who", "st-mary/clerk", ledger.CodeOK)}}, nil},
		{"rekey to a bad key", [][]contracttest.Step{{manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: "AAAA"}, ledger.CodeContract)}}, nil},
		{"rekey to a small-order key", [][]contracttest.Step{{manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: smallOrderKey}, ledger.CodeContract), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"rekey by admin of another org", [][]contracttest.Step{{rekey("acme/admin", "st-mary/dr-who", "dr-who-2", ledger.CodeDenied), anchor("st-mary/dr-who", "", ledger.CodeOK)}}, nil},
		{"rekey by the member itself", [][]contracttest.Step{{rekey("st-mary/dr-who", "st-mary/dr-who", "dr-who-2", ledger.CodeDenied)}}, nil},
		{"set roles", [][]contracttest.Step{
			{setRoles("st-mary/admin", "st-mary/dr-who", []string{"admin", "practitioner", "admin"}, ledger.CodeOK)},
			{enrol("st-mary/dr-who", members.Enrol{ID: "st-mary/x", Org: "st-mary", Roles: []string{"patient"}, PublicKey: contracttest.Pub(t, "x")}, ledger.CodeOK)},
		}, func(t *testing.T, f *contracttest.Fixture) {
			if m := f.Member("st-mary/dr-who"); !slices.Equal(m.Roles, []string{"admin", "practitioner"}) {
				t.Errorf("roles after set_roles = %q; want [admin practitioner]", m.Roles)
			}
		}},
		{"set roles takes effect in the same block", [][]contracttest.Step{{
			setRoles("st-mary/admin", "st-mary/admin", []string{"auditor"}, ledger.CodeOK),
			suspend("st-mary/admin", "st-mary/dr-who", ledger.CodeDenied),
		}}, nil},
		{"set roles empty", [][]contracttest.Step{{setRoles("st-mary/admin", "st-mary/dr-who", nil, ledger.CodeContract)}}, nil},
		{"set roles unknown", [][]contracttest.Step{{setRoles("st-mary/admin", "st-mary/dr-who", []string{"practitioner", "god"}, ledger.CodeContract)}}, nil},
		{"set roles by non-admin", [][]contracttest.Step{{setRoles("st-mary/dr-who", "st-mary/dr-who", []string{"admin"}, ledger.CodeDenied)}}, nil},
		{"set roles by admin of another org", [][]contracttest.Step{{setRoles("acme/admin", "st-mary/dr-who", []string{"payer"}, ledger.CodeDenied)}}, nil},
		{"unknown method", [][]contracttest.Step{{manage("st-mary/admin", "remove", members.Reinstate{ID: "st-mary/dr-who"}, ledger.CodeUnknownMethod)}}, nil},
		{"payload for another method", [][]contracttest.Step{{manage("st-mary/admin", "reinstate", members.Suspend{ID: "st-mary/dr-who", Reason: "other"}, ledger.CodeContract)}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := contracttest.NewFixture(t)
			f.Run(tc.blocks...)
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
					return members.Rekey{ID: id, PublicKey: contracttest.Pub(t, "fresh")}
				}
				return members.SetRoles{ID: id, Roles: []string{"patient"}}
			}
			f := contracttest.NewFixture(t)
			rs := f.Run([]contracttest.Step{
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
	f := contracttest.NewFixture(t)
	rs := f.Run([]contracttest.Step{
		manage("st-mary/admin", "suspend", members.Suspend{ID: "st-mary/dr-who", Reason: "left_organisation"}, ledger.CodeOK),
		manage("st-mary/admin", "reinstate", members.Reinstate{ID: "st-mary/dr-who"}, ledger.CodeOK),
		manage("st-mary/admin", "rekey", members.Rekey{ID: "st-mary/dr-who", PublicKey: contracttest.Pub(t, "dr-who-2")}, ledger.CodeOK),
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
		{{Type: "members.rekeyed", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary", "key_id", contracttest.Key(t, "dr-who-2").KeyID())}},
		{{Type: "members.roles_set", Attrs: attrs("id", "st-mary/dr-who", "org", "st-mary", "roles", `["auditor","researcher"]`)}},
	}
	for i, r := range rs[0] {
		if !reflect.DeepEqual(r.Events, want[i]) {
			t.Errorf("step %d events = %+v; want %+v", i, r.Events, want[i])
		}
	}
}

func TestGenesisChanges(t *testing.T) {
	doc := contracttest.Doc(t)
	cs, err := members.GenesisChanges(doc)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(doc.Orgs) + len(doc.Members) + len(doc.Validators) + 1; len(cs) != n { // + the validator set
		t.Errorf("GenesisChanges gave %d changes; want %d", len(cs), n)
	}
	contracttest.CheckSorted(t, cs)
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
		if err != nil || !ok || !reflect.DeepEqual(*got, contract.Org{ID: o.ID, Name: o.Name, Kind: o.Kind}) {
			t.Errorf("LookupOrg(%q) = %+v, %v, %v", o.ID, got, ok, err)
		}
	}
	if _, ok, _ := s.Get(contract.ValidatorKey(contracttest.Key(t, "node0").KeyID())); !ok {
		t.Errorf("validator node0 is not in the genesis state")
	}
	again, _ := members.GenesisChanges(contracttest.Doc(t))
	if !reflect.DeepEqual(cs, again) {
		t.Errorf("GenesisChanges is not deterministic")
	}

	for name, mod := range map[string]func(*genesis.Doc){
		"member key": func(d *genesis.Doc) { d.Members[0].PublicKey = "junk" },
		"validator key": func(d *genesis.Doc) {
			d.Validators[0].PublicKey = base64.StdEncoding.EncodeToString(make([]byte, ed25519.PublicKeySize-1))
		},
	} {
		d := contracttest.Doc(t)
		mod(d)
		if _, err := members.GenesisChanges(d); err == nil {
			t.Errorf("GenesisChanges with a bad %s = nil error", name)
		}
	}
}

func TestSetOrgKey(t *testing.T) {
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	call := func(signer, org, k string, want ledger.Code) contracttest.Step {
		return contracttest.Step{Call: contracttest.Call{Signer: signer, Contract: "members", Method: "set_org_key",
			Payload: members.SetOrgKey{Org: org, EncryptionKey: k}}, Want: want}
	}
	f := contracttest.NewFixture(t)
	f.Run([]contracttest.Step{
		call("st-mary/admin", "st-mary", key, ledger.CodeOK),
		call("st-mary/node", "st-mary", key, ledger.CodeOK),
		call("st-mary/dr-who", "st-mary", key, ledger.CodeDenied),
		call("acme/admin", "st-mary", key, ledger.CodeDenied),
		call("st-mary/admin", "st-mary", "AAAA", ledger.CodeContract),
		call("st-mary/admin", "st-mary", "not base64!", ledger.CodeContract),
	})
	o, ok, err := contract.LookupOrg(f.State, "st-mary")
	if err != nil || !ok || !bytes.Equal(o.EncryptionKey, bytes.Repeat([]byte{7}, 32)) || o.Name == "" {
		t.Errorf("org after set_org_key: %+v %v %v", o, ok, err)
	}
}
