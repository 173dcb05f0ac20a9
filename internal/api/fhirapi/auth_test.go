package fhirapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/api/fhirapi"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

// authServer is a node with authentication, decisions and audit on.
type authServer struct {
	t        *testing.T
	base     string // http://host
	dir      string
	n        *node.Node
	org      string
	admin    string
	adminKey *identity.Key
	chain    string
	logs     *bytes.Buffer
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	n, err := node.Open(node.Config{Home: dir}, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(func() { ts.Close(); n.Close() })
	h := home.Home{Dir: dir}
	k, err := h.LoadSigner(h.MemberKey(doc.Members[0].ID), "")
	if err != nil {
		t.Fatal(err)
	}
	return &authServer{t: t, base: ts.URL, dir: dir, n: n, org: doc.Orgs[0].ID, admin: doc.Members[0].ID, adminKey: k, chain: doc.ChainID, logs: logs}
}

type answer struct {
	status int
	hdr    http.Header
	body   map[string]any
	raw    []byte
}

func (s *authServer) req(method, path, token, body string) answer {
	s.t.Helper()
	r, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, hdr: resp.Header, raw: b}
	json.Unmarshal(b, &a.body)
	return a
}

func (s *authServer) token(member, scope string) string {
	s.t.Helper()
	tok, err := s.n.Token(member, scope, "")
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// enrol enrols a member with a fresh key.
func (s *authServer) enrol(name, role, fhirUser string) string {
	s.t.Helper()
	k, _ := identity.GenerateKey()
	id := s.org + "/" + name
	p, _ := json.Marshal(members.Enrol{ID: id, Org: s.org, Roles: []string{role}, PublicKey: identity.EncodePublicKey(k.Public()), FHIRUser: fhirUser})
	raw, _, err := client.Sign(client.Tx{ChainID: s.chain, Contract: "members", Method: "enrol", Payload: p, Signer: s.admin}, s.adminKey)
	if err != nil {
		s.t.Fatal(err)
	}
	resp, err := http.Post(s.base+"/v1/tx", "application/octet-stream", bytes.NewReader(raw))
	if err != nil {
		s.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"code":"ok"`) {
		s.t.Fatalf("enrol %s: %d %s", id, resp.StatusCode, b)
	}
	return id
}

// create creates a resource as the service and returns its id.
func (s *authServer) create(tok, typ, body string) string {
	s.t.Helper()
	a := s.req("POST", "/fhir/"+typ, tok, body)
	if a.status != 201 {
		s.t.Fatalf("create %s: %d %s", typ, a.status, a.raw)
	}
	return a.body["id"].(string)
}

func total(a answer) int {
	f, _ := a.body["total"].(float64)
	return int(f)
}

func TestAuthorizationEndToEnd(t *testing.T) {
	s := newAuthServer(t)
	sys := s.token(s.admin, "system/*.cruds")

	p1 := s.create(sys, "Patient", `{"resourceType":"Patient","name":[{"family":"`+phiName+`","given":["Ann"]}],"birthDate":"`+phiBirth+`","identifier":[{"system":"urn:mrn","value":"`+phiMRN+`"}]}`)
	p2 := s.create(sys, "Patient", `{"resourceType":"Patient","name":[{"family":"Other"}]}`)
	obs := func(p string) string {
		return s.create(sys, "Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"subject":{"reference":"Patient/`+p+`"},"valueQuantity":{"value":70,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`)
	}
	o1, o2 := obs(p1), obs(p2)
	pr := s.create(sys, "Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Jones"}]}`)

	drA := s.enrol("dr-a", "practitioner", "Practitioner/"+pr)
	drB := s.enrol("dr-b", "practitioner", "")
	pat := s.enrol("pat1", "patient", "Patient/"+p1)
	aud := s.enrol("audit", "auditor", "")
	tokA, tokB := s.token(drA, "user/*.cruds"), s.token(drB, "user/*.rs")

	// No token, a forged one.
	if a := s.req("GET", "/fhir/Observation/"+o1, "", ""); a.status != 401 || !strings.HasPrefix(a.hdr.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %q", a.status, a.hdr.Get("WWW-Authenticate"))
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, tokA[:len(tokA)-4]+"AAAA", ""); a.status != 401 || !strings.Contains(a.hdr.Get("WWW-Authenticate"), "invalid_token") {
		t.Errorf("forged token: %d %q", a.status, a.hdr.Get("WWW-Authenticate"))
	}
	if a := s.req("GET", "/fhir/metadata", "", ""); a.status != 200 {
		t.Errorf("metadata needs no token: %d", a.status)
	}

	// No relationship: the same 404 as for a record that does not exist.
	denied := s.req("GET", "/fhir/Observation/"+o1, tokA, "")
	absent := s.req("GET", "/fhir/Observation/no-such-id", tokA, "")
	if denied.status != 404 || absent.status != 404 || string(denied.raw) != string(absent.raw) {
		t.Errorf("denied read %d %s; absent read %d %s: want the same 404", denied.status, denied.raw, absent.status, absent.raw)
	}
	if a := s.req("GET", "/fhir/Observation", tokA, ""); a.status != 200 || total(a) != 0 {
		t.Errorf("search without relationship: %d total %d; want 200 total 0", a.status, total(a))
	}

	// An encounter naming dr-a opens the patient's record to dr-a only.
	s.create(sys, "Encounter", `{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/`+p1+`"},"participant":[{"individual":{"reference":"Practitioner/`+pr+`"}}]}`)
	heightCare := s.n.Height()
	if a := s.req("GET", "/fhir/Observation/"+o1, tokA, ""); a.status != 200 || a.hdr.Get("X-Ledger-Tx") == "" {
		t.Fatalf("read with a care relationship: %d %s", a.status, a.raw)
	}
	if a := s.req("GET", "/fhir/Observation/"+o2, tokA, ""); a.status != 404 {
		t.Errorf("read of another patient: %d", a.status)
	}
	if a := s.req("GET", "/fhir/Observation?_include=Observation:subject", tokA, ""); a.status != 200 || total(a) != 1 {
		t.Errorf("search with relationship: %d total %d; want 1 (the other patient's hidden): %s", a.status, total(a), a.raw)
	} else if n := len(a.body["entry"].([]any)); n != 2 {
		t.Errorf("search with _include: %d entries; want the observation and its patient", n)
	}
	if a := s.req("GET", "/fhir/Patient/"+p2+"/$everything", tokA, ""); a.status != 404 {
		t.Errorf("$everything of an unrelated patient: %d", a.status)
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, tokB, ""); a.status != 404 {
		t.Errorf("dr-b without relationship: %d", a.status)
	}

	// A practitioner cannot make themselves a care relationship with a
	// patient they have no access to, nor write a patient's Consent
	// even with one (security review findings).
	tokZ := s.token(drB, "user/*.cruds")
	enc := `{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/` + p2 + `"},"participant":[{"individual":{"reference":"Practitioner/` + pr + `"}}]}`
	if a := s.req("POST", "/fhir/Encounter", tokZ, enc); a.status == 201 {
		t.Errorf("a practitioner without access created an Encounter granting care: %d", a.status)
	}
	if a := s.req("POST", "/fhir/Consent", tokA, `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},`+
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/`+p1+`"},"provision":{"type":"permit"}}`); a.status == 201 {
		t.Errorf("a practitioner with care access wrote the patient's Consent: %d", a.status)
	}
	// Another organisation's backend service reaches nothing here.
	other := access.Request{Actor: access.Actor{ID: "acme/svc", Org: "acme", Roles: []string{"system"}, Context: "system"},
		Interaction: access.Read, Type: "Observation", Patient: s.pseudonym(p1), Time: time.Now(), Custodian: s.org}
	if d, err := s.n.DecideAt(s.n.Height(), other); err != nil || d.Allow {
		t.Errorf("another organisation's system service: %+v %v; want denied", d, err)
	}

	// Insufficient scope is 403, not 404.
	onlyPatients := s.token(drA, "user/Patient.rs")
	if a := s.req("GET", "/fhir/Observation/"+o1, onlyPatients, ""); a.status != 403 || !strings.Contains(a.hdr.Get("WWW-Authenticate"), "insufficient_scope") {
		t.Errorf("insufficient scope: %d %q", a.status, a.hdr.Get("WWW-Authenticate"))
	}

	// Break-glass: reason required, then time-boxed access.
	if a := s.req("POST", "/fhir/Patient/"+p1+"/$break-glass", tokB, `{"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"x"}]}`); a.status != 400 {
		t.Errorf("break-glass with a short reason: %d", a.status)
	}
	if a := s.req("POST", "/fhir/Patient/"+p1+"/$break-glass", tokB, `{"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"unconscious in the emergency department, allergies unknown"},{"name":"minutes","valueInteger":30}]}`); a.status != 200 {
		t.Fatalf("break-glass: %d %s", a.status, a.raw)
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, tokB, ""); a.status != 200 {
		t.Errorf("read after break-glass: %d", a.status)
	}

	// The patient sees their own record, not another's.
	tokP, err := s.n.Token(pat, "patient/*.rs", "")
	if err != nil {
		t.Fatal(err)
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, tokP, ""); a.status != 200 {
		t.Errorf("patient reads own: %d", a.status)
	}
	if a := s.req("GET", "/fhir/Observation/"+o2, tokP, ""); a.status != 404 {
		t.Errorf("patient reads another's: %d", a.status)
	}

	// A consent denying dr-a takes effect from its block; revoking it
	// restores the care relationship's access.
	consent := func(status string) string {
		return `{"resourceType":"Consent","status":"` + status + `","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
			`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/` + p1 + `"},` +
			`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},` +
			`"provision":{"type":"deny","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PRCP"}]},"reference":{"reference":"Practitioner/` + pr + `"}}]}}`
	}
	cid := s.create(sys, "Consent", consent("active"))
	heightDeny := s.n.Height()
	if a := s.req("GET", "/fhir/Observation/"+o1, tokA, ""); a.status != 404 {
		t.Errorf("read after a deny consent: %d", a.status)
	}
	if a := s.req("PUT", "/fhir/Consent/"+cid, sys, strings.Replace(consent("inactive"), `{"resourceType":"Consent",`, `{"resourceType":"Consent","id":"`+cid+`",`, 1)); a.status != 200 {
		t.Fatalf("revoke consent: %d %s", a.status, a.raw)
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, tokA, ""); a.status != 200 {
		t.Errorf("read after revoking the deny: %d", a.status)
	}

	// Decisions are reproducible as of a past block.
	req := access.Request{Actor: access.Actor{ID: drA, Org: s.org, Roles: []string{"practitioner"}, Context: "user", FHIRUser: "Practitioner/" + pr},
		Interaction: access.Read, Type: "Observation", Patient: s.pseudonym(p1), Custodian: s.org}
	for _, tc := range []struct {
		h    uint64
		want bool
	}{{heightCare, true}, {heightDeny, false}, {s.n.Height(), true}} {
		req.Time = time.Now()
		d, err := s.n.DecideAt(tc.h, req)
		if err != nil || d.Allow != tc.want {
			t.Errorf("decision as of height %d: %+v, %v; want allow=%v", tc.h, d, err, tc.want)
		}
	}

	// A search touching both patients is in both trails, but each
	// patient sees only themself in it.
	if a := s.req("GET", "/fhir/Observation", sys, ""); a.status != 200 || total(a) < 2 {
		t.Fatalf("system search: %d total %d", a.status, total(a))
	}
	// The patient lists who looked at their record, with proofs.
	a := s.req("GET", "/fhir/AuditEvent?patient="+p1, tokP, "")
	if strings.Contains(string(a.raw), p2) || strings.Contains(string(a.raw), s.pseudonym(p2)) || strings.Contains(string(a.raw), o2) {
		t.Errorf("patient 1's audit trail names patient 2 or their records")
	}
	if a.status != 200 || total(a) == 0 {
		t.Fatalf("patient's audit list: %d %s", a.status, a.raw)
	}
	sawDrA, sawDenied, sawBreakGlass := false, false, false
	for _, e := range a.body["entry"].([]any) {
		ev := e.(map[string]any)["resource"].(map[string]any)
		raw, _ := json.Marshal(ev)
		if strings.Contains(string(raw), drA) {
			sawDrA = true
		}
		if ev["outcome"] == "4" {
			sawDenied = true
		}
		if strings.Contains(string(raw), "ETREAT") {
			sawBreakGlass = true
		}
		s.checkProof(ev)
	}
	if !sawDrA || !sawDenied || !sawBreakGlass {
		t.Errorf("patient's audit list: dr-a %v, denied %v, break-glass %v; want all", sawDrA, sawDenied, sawBreakGlass)
	}
	if a := s.req("GET", "/fhir/AuditEvent?patient="+p2, tokP, ""); a.status != 403 {
		t.Errorf("patient lists another patient's audit: %d", a.status)
	}
	if a := s.req("GET", "/fhir/AuditEvent", s.token(aud, "user/AuditEvent.rs"), ""); a.status != 200 || total(a) < 10 {
		t.Errorf("auditor lists all: %d total %d", a.status, total(a))
	}
	if a := s.req("GET", "/fhir/AuditEvent", tokA, ""); a.status != 403 {
		t.Errorf("practitioner lists all audit events: %d", a.status)
	}

	// A bulk export by the backend service reaches each exported
	// patient's audit trail.
	kick, _ := http.NewRequest("GET", s.base+"/fhir/Patient/$export?_type=Observation", nil)
	kick.Header.Set("Authorization", "Bearer "+sys)
	kick.Header.Set("Prefer", "respond-async")
	kick.Header.Set("Accept", "application/fhir+json")
	resp, err := http.DefaultClient.Do(kick)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("export kick-off: %v %v", err, resp)
	}
	resp.Body.Close()
	status := resp.Header.Get("Content-Location")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, _ := http.NewRequest("GET", status, nil)
		st.Header.Set("Authorization", "Bearer "+sys)
		r2, err := http.DefaultClient.Do(st)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(r2.Body)
		r2.Body.Close()
		if r2.StatusCode == 200 {
			var manifest struct {
				Output []struct{ URL string } `json:"output"`
			}
			json.Unmarshal(body, &manifest)
			if len(manifest.Output) == 0 {
				t.Fatalf("export manifest without files: %s", body)
			}
			dl, _ := http.NewRequest("GET", manifest.Output[0].URL, nil)
			dl.Header.Set("Authorization", "Bearer "+sys)
			dl.Header.Set("Accept", "application/fhir+ndjson")
			r3, err := http.DefaultClient.Do(dl)
			if err != nil || r3.StatusCode != 200 {
				t.Fatalf("export file download: %v %v", err, r3)
			}
			r3.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("export did not complete: %d", r2.StatusCode)
		}
	}
	exported := false
	for _, e := range s.req("GET", "/fhir/AuditEvent?patient="+p1, tokP, "").body["entry"].([]any) {
		raw, _ := json.Marshal(e)
		if strings.Contains(string(raw), `"code":"export"`) {
			exported = true
		}
	}
	if !exported {
		t.Error("the bulk export is not in the exported patient's audit trail")
	}
	if a := s.req("GET", "/fhir/AuditEvent", s.token(aud, "user/AuditEvent.rs"), ""); !strings.Contains(string(a.raw), "download of a bulk export file") {
		t.Error("the export file download is not in the audit trail")
	}

	// Erasure: the data cannot be decrypted any more, the ledger verifies.
	if a := s.req("POST", "/fhir/Patient/"+p1+"/$erase", tokA, `{"resourceType":"Parameters","parameter":[{"name":"reason","valueCode":"patient-request"}]}`); a.status != 403 {
		t.Errorf("erase by a practitioner: %d", a.status)
	}
	adm := s.token(s.admin, "user/*.cruds")
	if a := s.req("POST", "/fhir/Patient/"+p1+"/$erase", adm, `{"resourceType":"Parameters","parameter":[{"name":"reason","valueCode":"patient-request"}]}`); a.status != 200 {
		t.Fatalf("erase: %d %s", a.status, a.raw)
	}
	if a := s.req("GET", "/fhir/Observation/"+o1, sys, ""); a.status == 200 {
		t.Errorf("read after erasure: %d %s", a.status, a.raw)
	}
	if a := s.req("GET", "/fhir/Observation?subject=Patient/"+p1, sys, ""); total(a) != 0 {
		t.Errorf("search after erasure: total %d", total(a))
	}
	if strings.Contains(s.logs.String(), phiName) || strings.Contains(s.logs.String(), phiMRN) {
		t.Error("the node log holds the patient's name or MRN")
	}
	s.n.Close()
	if rep, err := node.VerifyHome(context.Background(), home.Home{Dir: s.dir}, node.VerifyOptions{}); err != nil || !rep.OK {
		t.Errorf("verify after erasure: %v %+v", err, rep)
	}
}

func (s *authServer) pseudonym(id string) string {
	s.t.Helper()
	p, err := s.n.Pseudonym(id)
	if err != nil {
		s.t.Fatal(err)
	}
	return p
}

// checkProof verifies an AuditEvent's inclusion proof against its tree
// head with the public client package.
func (s *authServer) checkProof(ev map[string]any) {
	s.t.Helper()
	meta, _ := ev["meta"].(map[string]any)
	exts, _ := meta["extension"].([]any)
	for _, e := range exts {
		em := e.(map[string]any)
		if em["url"] != fhirapi.ProofExtension {
			continue
		}
		var ans apitype.TxAnswer
		if err := json.Unmarshal([]byte(em["valueString"].(string)), &ans); err != nil {
			s.t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(ans.Raw)
		if err := client.VerifyInclusion(raw, ans.Proof.LeafIndex, ans.Proof.TreeSize, ans.Proof.Hashes, ans.TreeHead.RootHash); err != nil {
			s.t.Errorf("AuditEvent %v: inclusion proof: %v", ev["id"], err)
		}
		return
	}
	s.t.Errorf("AuditEvent %v has no inclusion proof", ev["id"])
}

// TestConditionalMatchAudited checks that the search behind a conditional
// create in a transaction Bundle, and behind a conditional update, is
// audited with what it matched: it tells the caller that a record exists.
func TestConditionalMatchAudited(t *testing.T) {
	s := newAuthServer(t)
	sys := s.token(s.admin, "system/*.cruds")
	aud := s.token(s.enrol("audit", "auditor", ""), "user/*.rs")
	p := s.create(sys, "Patient", `{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"cond-1"}],"name":[{"family":"Cond"}]}`)
	events := func() int {
		a := s.req("GET", "/fhir/AuditEvent?patient="+p+"&_count=200", aud, "")
		if a.status != 200 {
			t.Fatalf("listing audit events: %d %s", a.status, a.raw)
		}
		return total(a)
	}
	for _, tc := range []struct{ name, entry string }{
		{"conditional create", `{"resource":{"resourceType":"Patient","name":[{"family":"Cond"}]},"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:mrn|cond-1"}}`},
		{"conditional update", `{"resource":{"resourceType":"Patient","identifier":[{"system":"urn:mrn","value":"cond-1"}],"name":[{"family":"Cond"}]},"request":{"method":"PUT","url":"Patient?identifier=urn:mrn|cond-1"}}`},
	} {
		before := events()
		a := s.req("POST", "/fhir", sys, `{"resourceType":"Bundle","type":"transaction","entry":[`+tc.entry+`]}`)
		if a.status != 200 || !strings.Contains(string(a.raw), "Patient/"+p+"/_history/") {
			t.Fatalf("%s: %d %s", tc.name, a.status, a.raw)
		}
		// The listing itself is audited too (after its answer is made),
		// so the search shows as one more event than the listing before.
		after := s.req("GET", "/fhir/AuditEvent?patient="+p+"&_count=200", aud, "")
		found := false
		for _, e := range after.body["entry"].([]any) {
			ev := e.(map[string]any)["resource"].(map[string]any)
			sub, _ := json.Marshal(ev["subtype"])
			ent, _ := json.Marshal(ev["entity"])
			if strings.Contains(string(sub), `"search-type"`) && strings.Contains(string(ent), `"Patient/`+p+`"`) {
				found = true
			}
		}
		if total(after) < before+2 || !found {
			t.Errorf("%s: audit events %d → %d; want the conditional search (subtype search-type, entity Patient/%s) among them", tc.name, before, total(after), p)
		}
	}
}
