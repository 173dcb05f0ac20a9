package node_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/crypt"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
)

// TestConsentSharesDataKey checks HPKE sharing driven by consent: a
// Consent granting another organisation wraps the patient's data key to
// that organisation's published key, on the ledger; the organisation
// imports it with its own key (the custodian's keyring is not involved)
// and reads the custodian's ciphertext; revoking removes the share and
// rotates the data key, so what is written afterwards stays closed.
func TestConsentSharesDataKey(t *testing.T) {
	th := newHome(t)
	// A second organisation in the genesis, with its admin.
	bAdmin, _ := identity.GenerateKey()
	th.doc.Orgs = append(th.doc.Orgs, genesis.Org{ID: "clinic-b", Name: "Clinic B", Kind: th.doc.Orgs[0].Kind})
	th.doc.Members = append(th.doc.Members, genesis.Member{ID: "clinic-b/admin", Org: "clinic-b", Roles: []string{"admin"}, PublicKey: identity.EncodePublicKey(bAdmin.Public())})
	if err := th.doc.Save(th.home.Genesis()); err != nil {
		t.Fatal(err)
	}
	n, _ := th.open(t)
	ctx := context.Background()
	if err := n.PublishOrgKey(ctx); err != nil {
		t.Fatal(err)
	}
	bKey, err := crypt.GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := json.Marshal(members.SetOrgKey{Org: "clinic-b", EncryptionKey: base64.StdEncoding.EncodeToString(bKey.PublicKey())})
	raw, _ := th.sign(t, client.Tx{ChainID: th.doc.ChainID, Contract: "members", Method: "set_org_key", Payload: p, Signer: "clinic-b/admin"}, bAdmin)
	if rc, err := n.Submit(ctx, raw); err != nil || rc.Result.Code != "ok" {
		t.Fatalf("clinic-b publishes its key: %v %+v", err, rc.Result)
	}

	sys, _ := n.Token(th.adminID, "system/*.cruds", "")
	st, b := fhirReq(t, n.Handler(), "POST", "/fhir/Patient", sys, `{"resourceType":"Patient","gender":"female"}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	var pat struct{ ID string }
	json.Unmarshal(b, &pat)
	pt, _ := n.Pseudonym(pat.ID)
	consentJSON := func(status string) string {
		return `{"resourceType":"Consent","status":"` + status + `","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
			`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/` + pat.ID + `"},` +
			`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},` +
			`"provision":{"type":"permit","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"IRCP"}]},"reference":{"reference":"Organization/clinic-b"}}]}}`
	}
	st, b = fhirReq(t, n.Handler(), "POST", "/fhir/Consent", sys, consentJSON("active"))
	if st != 201 {
		t.Fatalf("consent: %d %s", st, b)
	}
	var c struct{ ID string }
	json.Unmarshal(b, &c)

	share := func() (consent.Share, bool) {
		v, ok, err := n.Store().Get([]byte("consent/" + consent.SharePrefix(pt) + "clinic-b"))
		if err != nil {
			t.Fatal(err)
		}
		var s consent.Share
		json.Unmarshal(v, &s)
		return s, ok
	}
	s, ok := share()
	if !ok || s.Consent != c.ID || s.KeyID != bKey.KeyID() {
		t.Fatalf("share on the ledger: %+v %v", s, ok)
	}
	// Clinic B's own keyring (another master key) imports the wrap.
	bRing, err := crypt.New([32]byte{9}, &crypt.MemKeyStore{}, crypt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := base64.StdEncoding.DecodeString(s.Wrapped)
	if err := bRing.ImportWrapped(pt, w, bKey, []byte(th.doc.ChainID+"\x00"+c.ID+"\x00clinic-b")); err != nil {
		t.Fatal(err)
	}
	aad := []byte("Observation/1/_history/1")
	ct, err := n.Keyring().Seal(pt, aad, []byte("glucose 5.4 mmol/L"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := bRing.Open(pt, aad, ct); err != nil || !bytes.Equal(got, []byte("glucose 5.4 mmol/L")) {
		t.Fatalf("clinic B opens the custodian's ciphertext: %q %v", got, err)
	}
	// The wrap is useless to anyone else.
	other, _ := crypt.GenerateOrgKey()
	cRing, _ := crypt.New([32]byte{7}, &crypt.MemKeyStore{}, crypt.Options{})
	if err := cRing.ImportWrapped(pt, w, other, []byte(th.doc.ChainID+"\x00"+c.ID+"\x00clinic-b")); !errors.Is(err, crypt.ErrDecrypt) {
		t.Errorf("a third organisation imports the wrap: %v", err)
	}

	// Revoke: the share goes, the data key rotates.
	st, b = fhirReq(t, n.Handler(), "PUT", "/fhir/Consent/"+c.ID, sys, `{"resourceType":"Consent","id":"`+c.ID+`",`+consentJSON("inactive")[len(`{"resourceType":"Consent",`):])
	if st != 200 {
		t.Fatalf("revoke: %d %s", st, b)
	}
	if s, ok := share(); ok {
		t.Fatalf("share still on the ledger after revocation: %+v", s)
	}
	ct2, err := n.Keyring().Seal(pt, aad, []byte("written after revocation"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bRing.Open(pt, aad, ct2); err == nil {
		t.Error("clinic B reads what was written after the revocation")
	}
	if got, err := bRing.Open(pt, aad, ct); err != nil || string(got) != "glucose 5.4 mmol/L" {
		t.Errorf("what clinic B legitimately received before the revocation: %q %v", got, err)
	}
}
