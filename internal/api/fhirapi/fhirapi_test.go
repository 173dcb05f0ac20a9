package fhirapi_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/validate"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

// server runs a real node with its FHIR API on loopback.
type server struct {
	t    *testing.T
	url  string
	dir  string
	logs *bytes.Buffer
	doc  *genesis.Doc
	n    *node.Node
}

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	n, err := node.Open(node.Config{Home: dir, Auth: node.AuthConfig{Mode: node.AuthOff}}, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	ts := httptest.NewServer(n.Handler())
	t.Cleanup(func() { ts.Close(); n.Close() })
	return &server{t: t, url: ts.URL + "/fhir", dir: dir, logs: logs, doc: doc, n: n}
}

func (s *server) do(method, path, body string, hdr ...string) (*http.Response, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &m); err != nil {
			s.t.Fatalf("%s %s: body is not JSON: %s", method, path, b)
		}
	}
	if ct := resp.Header.Get("Content-Type"); len(b) > 0 && !strings.HasPrefix(ct, "application/fhir+json") {
		s.t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return resp, m
}

const phiName, phiMRN, phiBirth = "Testpatient", "MRN-99887766", "1971-07-13"

var patient = `{"resourceType":"Patient","identifier":[{"system":"urn:oid:1.2.36.146.595.217.0.1","value":"` + phiMRN + `"}],` +
	`"name":[{"family":"` + phiName + `","given":["Jane","Q."]}],"gender":"female","birthDate":"` + phiBirth + `"}`

func TestCRUDAndHistory(t *testing.T) {
	s := newServer(t)
	resp, p := s.do("POST", "/Patient", patient)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, p)
	}
	id, _ := p["id"].(string)
	for _, h := range []string{"Location", "ETag", "Last-Modified", "X-Ledger-Tx"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("create: no %s header", h)
		}
	}
	if resp.Header.Get("ETag") != `W/"1"` {
		t.Errorf("ETag = %q", resp.Header.Get("ETag"))
	}
	// Read back JSON-equal apart from meta and id.
	_, got := s.do("GET", "/Patient/"+id, "")
	var want map[string]any
	json.Unmarshal([]byte(patient), &want)
	delete(got, "meta")
	delete(got, "id")
	if g, w := mustJSON(got), mustJSON(want); g != w {
		t.Errorf("read back %s; want %s", g, w)
	}
	// Update with the right and a stale If-Match.
	upd := strings.Replace(patient, `"resourceType":"Patient",`, `"resourceType":"Patient","id":"`+id+`",`, 1)
	upd = strings.Replace(upd, `"female"`, `"other"`, 1)
	if resp, b := s.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`); resp.StatusCode != 200 || resp.Header.Get("ETag") != `W/"2"` {
		t.Fatalf("update: %d %v", resp.StatusCode, b)
	}
	if resp, _ := s.do("PUT", "/Patient/"+id, upd, "If-Match", `W/"1"`); resp.StatusCode != 412 {
		t.Errorf("stale If-Match: %d; want 412", resp.StatusCode)
	}
	if resp, v1 := s.do("GET", "/Patient/"+id+"/_history/1", ""); resp.StatusCode != 200 || v1["gender"] != "female" {
		t.Errorf("vread 1: %d %v", resp.StatusCode, v1["gender"])
	}
	if resp, _ := s.do("DELETE", "/Patient/"+id, ""); resp.StatusCode != 204 {
		t.Errorf("delete: %d", resp.StatusCode)
	}
	if resp, _ := s.do("GET", "/Patient/"+id, ""); resp.StatusCode != 410 {
		t.Errorf("read after delete: %d; want 410", resp.StatusCode)
	}
	resp, h := s.do("GET", "/Patient/"+id+"/_history", "")
	if resp.StatusCode != 200 || h["type"] != "history" || h["total"] != float64(3) {
		t.Fatalf("history: %d %v", resp.StatusCode, h)
	}
	// Re-creating with PUT after delete gives version 4.
	if resp, _ := s.do("PUT", "/Patient/"+id, upd); resp.StatusCode != 201 && resp.StatusCode != 200 {
		t.Errorf("put after delete: %d", resp.StatusCode)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestErrors(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		code                     string
	}{
		{"malformed JSON", "POST", "/Patient", `{"resourceType":`, nil, 400, "structure"},
		{"not an object", "POST", "/Patient", `[]`, nil, 400, "structure"},
		{"type mismatch", "POST", "/Patient", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, nil, 400, "invalid"},
		{"invalid resource", "POST", "/Observation", `{"resourceType":"Observation","code":{"text":"x"}}`, nil, 422, "required"},
		{"impossible date", "POST", "/Patient", `{"resourceType":"Patient","birthDate":"2023-02-30"}`, nil, 422, ""},
		{"unsupported type", "GET", "/Basic/x", "", nil, 404, "not-supported"},
		{"missing", "GET", "/Patient/nope", "", nil, 404, "not-found"},
		{"bad version", "GET", "/Patient/nope/_history/x", "", nil, 404, "not-found"},
		{"xml wanted", "GET", "/metadata", "", []string{"Accept", "application/fhir+xml"}, 406, "not-supported"},
		{"xml sent", "POST", "/Patient", `<Patient/>`, []string{"Content-Type", "application/fhir+xml"}, 415, "not-supported"},
		{"update id mismatch", "PUT", "/Patient/a", `{"resourceType":"Patient","id":"b"}`, nil, 400, "invalid"},
		{"delete missing", "DELETE", "/Patient/nope", "", nil, 404, "not-found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, oo := s.do(tt.method, tt.path, tt.body, tt.hdr...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d; want %d (%v)", resp.StatusCode, tt.status, oo)
			}
			if oo["resourceType"] != "OperationOutcome" {
				t.Fatalf("not an OperationOutcome: %v", oo)
			}
			issues, _ := oo["issue"].([]any)
			if tt.code != "" && (len(issues) == 0 || issues[0].(map[string]any)["code"] != tt.code) {
				t.Errorf("issues %v; want code %s", issues, tt.code)
			}
		})
	}
}

func TestVerifyProof(t *testing.T) {
	s := newServer(t)
	_, p := s.do("POST", "/Patient", patient)
	id := p["id"].(string)
	resp, params := s.do("GET", "/Patient/"+id+"/_history/1/$verify", "")
	if resp.StatusCode != 200 {
		t.Fatalf("$verify: %d %v", resp.StatusCode, params)
	}
	vals := map[string]any{}
	for _, x := range params["parameter"].([]any) {
		m := x.(map[string]any)
		for k, v := range m {
			if k != "name" {
				vals[m["name"].(string)] = v
			}
		}
	}
	if vals["verified"] != true || vals["anchoredHash"] != vals["storedHash"] {
		t.Fatalf("$verify = %v", vals)
	}
	var ans client.TxAnswer
	if err := json.Unmarshal([]byte(vals["proof"].(string)), &ans); err != nil {
		t.Fatal(err)
	}
	keys := map[string]ed25519.PublicKey{}
	for _, v := range s.doc.Validators {
		pub, _ := identity.ParsePublicKey(v.PublicKey)
		keys[identity.KeyIDOf(pub)] = pub
	}
	txh, _ := client.ParseHash(vals["transaction"].(string))
	if _, err := client.VerifyTx(ans, txh, s.doc.ChainID, keys); err != nil {
		t.Fatalf("the anchoring transaction's proof does not verify: %v", err)
	}
}

// TestNoPHIAtRest writes a synthetic patient and scans every file of the
// node (ledger, records, keys), the logs and the metrics for the patient's
// name, identifier and birth date.
func TestNoPHIAtRest(t *testing.T) {
	s := newServer(t)
	resp, p := s.do("POST", "/Patient", patient)
	if resp.StatusCode != 201 {
		t.Fatal(p)
	}
	id := p["id"].(string)
	obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},` +
		`"subject":{"reference":"Patient/` + id + `","display":"Jane Q. ` + phiName + `"},"valueQuantity":{"value":70,"unit":"kg","system":"http://unitsofmeasure.org","code":"kg"}}`
	if resp, b := s.do("POST", "/Observation", obs); resp.StatusCode != 201 {
		t.Fatal(b)
	}
	s.do("POST", "/Observation", `{"resourceType":"Observation","code":{"text":"`+phiName+`"}}`) // rejected: its diagnostics must not echo it
	mresp, _ := http.Get(strings.TrimSuffix(s.url, "/fhir") + "/metrics")
	metrics, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	s.n.Close()                                    // flush everything to files
	needles := []string{phiName, phiMRN, phiBirth} // ids are server-assigned UUIDs, not personal data
	check := func(where string, b []byte) {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s contains %q in clear", where, n)
			}
		}
	}
	check("logs", s.logs.Bytes())
	check("metrics", metrics)
	filepath.WalkDir(s.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err == nil {
			check(path, b)
		}
		return nil
	})
}

func TestTransactionBundle(t *testing.T) {
	s := newServer(t)
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[
	 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":` + patient + `,"request":{"method":"POST","url":"Patient"}},
	 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","resource":{"resourceType":"Observation","status":"final",
	   "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"urn:uuid:11111111-1111-4111-8111-111111111111"},
	   "valueQuantity":{"value":72,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}},"request":{"method":"POST","url":"Observation"}}]}`
	resp, b := s.do("POST", "", bundle)
	if resp.StatusCode != 200 || b["type"] != "transaction-response" {
		t.Fatalf("transaction: %d %v", resp.StatusCode, b)
	}
	entries := b["entry"].([]any)
	loc0 := entries[0].(map[string]any)["response"].(map[string]any)["location"].(string)
	loc1 := entries[1].(map[string]any)["response"].(map[string]any)["location"].(string)
	pid := strings.Split(loc0, "/")[1]
	_, obs := s.do("GET", "/"+strings.Join(strings.Split(loc1, "/")[:2], "/"), "")
	if ref := obs["subject"].(map[string]any)["reference"]; ref != "Patient/"+pid {
		t.Errorf("urn:uuid reference resolved to %v; want Patient/%s", ref, pid)
	}
	// All or nothing: an invalid entry rejects the whole transaction.
	bad := strings.Replace(bundle, `"status":"final",`, ``, 1)
	before := s.n.Store().Height()
	if resp, b := s.do("POST", "", bad); resp.StatusCode != 422 {
		t.Fatalf("invalid transaction: %d %v", resp.StatusCode, b)
	}
	if s.n.Store().Height() != before {
		t.Error("a rejected transaction changed the ledger")
	}
	// Batch: each entry on its own.
	batch := strings.Replace(bad, `"type":"transaction"`, `"type":"batch"`, 1)
	resp, b = s.do("POST", "", batch)
	if resp.StatusCode != 200 || b["type"] != "batch-response" {
		t.Fatalf("batch: %d %v", resp.StatusCode, b)
	}
	es := b["entry"].([]any)
	st0 := es[0].(map[string]any)["response"].(map[string]any)["status"]
	st1 := es[1].(map[string]any)["response"].(map[string]any)["status"]
	if st0 != "201 Created" || st1 != "422" {
		t.Errorf("batch statuses %v, %v; want 201 Created, 422", st0, st1)
	}
}

func TestSearchAndConditional(t *testing.T) {
	s := newServer(t)
	_, p := s.do("POST", "/Patient", patient)
	pid := p["id"].(string)
	for i, code := range []string{"8867-4", "8867-4", "29463-7"} {
		obs := `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},` +
			`"subject":{"reference":"Patient/` + pid + `"},"effectiveDateTime":"2024-0` + string(rune('1'+i)) + `-15T10:00:00Z"}`
		if resp, b := s.do("POST", "/Observation", obs); resp.StatusCode != 201 {
			t.Fatal(b)
		}
	}
	tests := []struct {
		query string
		total float64
	}{
		{"/Observation?patient=" + pid, 3},
		{"/Observation?subject=Patient/" + pid + "&code=http://loinc.org|8867-4", 2},
		{"/Observation?date=ge2024-02-01", 2},
		{"/Observation?date=lt2024-02", 1},
		{"/Patient?name=testpat", 1},
		{"/Patient?family=Testpatient&birthdate=" + phiBirth, 1},
		{"/Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|" + phiMRN, 1},
		{"/Patient?gender=male", 0},
	}
	for _, tt := range tests {
		resp, b := s.do("GET", tt.query, "")
		if resp.StatusCode != 200 || b["type"] != "searchset" || b["total"] != tt.total {
			t.Errorf("GET %s: %d total %v; want %v", tt.query, resp.StatusCode, b["total"], tt.total)
		}
	}
	// Paging with next links, and _include of the patient.
	resp, b := s.do("GET", "/Observation?patient="+pid+"&_count=2&_include=Observation:patient", "")
	var next string
	for _, l := range b["link"].([]any) {
		if l.(map[string]any)["relation"] == "next" {
			next = l.(map[string]any)["url"].(string)
		}
	}
	modes := map[string]int{}
	for _, e := range b["entry"].([]any) {
		modes[e.(map[string]any)["search"].(map[string]any)["mode"].(string)]++
	}
	if resp.StatusCode != 200 || next == "" || modes["match"] != 2 || modes["include"] != 1 {
		t.Errorf("paged search: next %q modes %v", next, modes)
	}
	// Unknown parameters: reported leniently, refused strictly.
	_, b = s.do("GET", "/Patient?colour=blue", "")
	es, _ := b["entry"].([]any)
	if len(es) == 0 || es[len(es)-1].(map[string]any)["search"].(map[string]any)["mode"] != "outcome" {
		t.Errorf("unknown parameter not reported in an outcome entry: %v", b)
	}
	if resp, _ := s.do("GET", "/Patient?colour=blue", "", "Prefer", "handling=strict"); resp.StatusCode != 400 {
		t.Errorf("strict unknown parameter: %d; want 400", resp.StatusCode)
	}
	if resp, _ := s.do("GET", "/Observation?date=notadate", ""); resp.StatusCode != 400 {
		t.Errorf("bad date: %d; want 400", resp.StatusCode)
	}
	// Conditional create and update in a transaction.
	cond := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":` + patient + `,"request":{"method":"POST","url":"Patient","ifNoneExist":"identifier=urn:oid:1.2.36.146.595.217.0.1|` + phiMRN + `"}}]}`
	_, b = s.do("POST", "", cond)
	loc := b["entry"].([]any)[0].(map[string]any)["response"].(map[string]any)["location"].(string)
	if !strings.HasPrefix(loc, "Patient/"+pid+"/") {
		t.Errorf("conditional create made %s; want the existing Patient/%s", loc, pid)
	}
	upd := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Patient","gender":"other"},"request":{"method":"PUT","url":"Patient?identifier=urn:oid:9.9|nobody"}}]}`
	if resp, b := s.do("POST", "", upd); resp.StatusCode != 200 {
		t.Errorf("conditional update (no match → create): %d %v", resp.StatusCode, b)
	}
}

func TestConditionalCreateHeaderAndTypeHistory(t *testing.T) {
	s := newServer(t)
	ine := "identifier=urn:oid:1.2.36.146.595.217.0.1|" + phiMRN
	resp, first := s.do("POST", "/Patient", patient, "If-None-Exist", ine)
	if resp.StatusCode != 201 {
		t.Fatalf("first conditional create: %d", resp.StatusCode)
	}
	resp, again := s.do("POST", "/Patient", patient, "If-None-Exist", ine)
	if resp.StatusCode != 200 || again["id"] != first["id"] {
		t.Fatalf("second conditional create: %d, id %v; want 200 with %v", resp.StatusCode, again["id"], first["id"])
	}
	s.do("POST", "/Patient", `{"resourceType":"Patient","gender":"male"}`)
	resp, h := s.do("GET", "/Patient/_history?_count=1", "")
	if resp.StatusCode != 200 || h["type"] != "history" || h["total"] != float64(2) || len(h["entry"].([]any)) != 1 {
		t.Fatalf("type history: %d total %v entries %d", resp.StatusCode, h["total"], len(h["entry"].([]any)))
	}
	if resp, h := s.do("GET", "/Patient/_history?_count=0", ""); resp.StatusCode != 200 || h["total"] != float64(2) || len(h["entry"].([]any)) != 0 {
		t.Errorf("type history _count=0: %d total %v; want the total only", resp.StatusCode, h["total"])
	}
	if resp, _ := s.do("GET", "/Patient/_history?_since=yesterday", ""); resp.StatusCode != 400 {
		t.Errorf("bad _since: %d; want 400", resp.StatusCode)
	}
}

func TestProvenanceFromAnchor(t *testing.T) {
	s := newServer(t)
	_, p := s.do("POST", "/Patient", patient)
	id := p["id"].(string)
	resp, prov := s.do("GET", "/Patient/"+id+"/_history/1/$provenance", "")
	if resp.StatusCode != 200 || prov["resourceType"] != "Provenance" {
		t.Fatalf("$provenance: %d %v", resp.StatusCode, prov)
	}
	if tg := prov["target"].([]any)[0].(map[string]any)["reference"]; tg != "Patient/"+id+"/_history/1" {
		t.Errorf("target = %v", tg)
	}
	b, _ := json.Marshal(prov)
	r, err := fhir.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.New()
	if err != nil {
		t.Fatal(err)
	}
	v, _ = v.WithTypes("Provenance")
	if issues := v.Validate(r); len(issues) > 0 {
		t.Errorf("the rendered Provenance is not valid FHIR R4: %v", issues)
	}
	if resp, _ := s.do("GET", "/Patient/"+id+"/_history/9/$provenance", ""); resp.StatusCode != 404 {
		t.Errorf("$provenance of a missing version: %d; want 404", resp.StatusCode)
	}
}
