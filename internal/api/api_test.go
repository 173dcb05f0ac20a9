package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/api"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
)

const (
	octet = "application/octet-stream"
	jsonT = "application/json"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func jsonTx(raw []byte) []byte {
	b, err := json.Marshal(api.TxRequest{Tx: b64(raw)})
	if err != nil {
		panic(err)
	}
	return b
}

// checkError requires r to be a JSON error answer with the given status
// and code and a non-empty message.
func checkError(t *testing.T, what string, r response, status int, code string) {
	t.Helper()
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Errorf("%s: body %q is not a JSON error: %v", what, r.body, err)
	}
	if r.status != status || b.Error.Code != code {
		t.Errorf("%s = %d %q; want %d %q (body %s)", what, r.status, b.Error.Code, status, code, r.body)
	}
	if b.Error.Message == "" {
		t.Errorf("%s: error has no message", what)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type = %q; want application/json", what, ct)
	}
}

// TestSubmitRejected covers every way POST /v1/tx refuses a transaction
// without committing it: the answer's status and code, and that the ledger
// did not move.
func TestSubmitRejected(t *testing.T) {
	tn := startNode(t, node.Config{})
	drID, drKey := tn.enrol(t, "dr-who", "practitioner")
	goneID, goneKey := tn.enrol(t, "dr-gone", "practitioner")
	raw, _ := tn.sign(t, tn.admin, tn.adminID, "members", "suspend", members.Suspend{ID: goneID, Reason: "left_organisation"})
	tn.commit(t, raw)
	committed, _ := tn.sign(t, drKey, drID, "notary", "anchor", anchor())
	tn.commit(t, committed)
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	bodyLimit := ledger.MaxTxBytes*4/3 + 1024 // what POST /v1/tx reads at most
	oversized := bytes.Repeat([]byte(marker+" "), bodyLimit/(len(marker)+1)+2)
	overTx := bytes.Repeat([]byte(marker+" "), ledger.MaxTxBytes/(len(marker)+1)+2) // within the body limit
	wrongChain, _ := tn.signTx(t, client.Tx{ChainID: "other-chain", Contract: "notary", Method: "anchor", Payload: mustJSON(markedAnchor()), Signer: drID}, drKey)
	unknownContract, _ := tn.sign(t, drKey, drID, "billing", "charge", markedAnchor())
	unknownSigner, _ := tn.sign(t, stranger, tn.doc.Orgs[0].ID+"/ghost", "notary", "anchor", markedAnchor())
	badSig, _ := tn.sign(t, stranger, drID, "notary", "anchor", markedAnchor())
	suspended, _ := tn.sign(t, goneKey, goneID, "notary", "anchor", markedAnchor())
	valid, _ := tn.sign(t, drKey, drID, "notary", "anchor", markedAnchor())
	trailing := append(bytes.Clone(valid), 0)
	// A valid transaction whose URL-safe base64 is not also standard base64.
	urlSafe := base64.URLEncoding.EncodeToString(valid)
	for urlSafe == b64(valid) {
		valid, _ = tn.sign(t, drKey, drID, "notary", "anchor", markedAnchor())
		urlSafe = base64.URLEncoding.EncodeToString(valid)
	}

	tests := []struct {
		name   string
		ctype  string
		body   []byte
		status int
		code   ledger.Code
	}{
		{"raw garbage", octet, []byte(marker + " is not a transaction"), 400, ledger.CodeMalformed},
		{"raw empty", octet, nil, 400, ledger.CodeMalformed},
		{"raw trailing byte", octet, trailing, 400, ledger.CodeMalformed},
		{"json garbage", jsonT, []byte(`{"tx": ` + marker + `}`), 400, ledger.CodeMalformed},
		{"json truncated", jsonT, []byte(`{"tx": "` + marker), 400, ledger.CodeMalformed},
		{"json unknown field name", jsonT, []byte(`{"tx": "", "` + marker + `": 1}`), 400, ledger.CodeMalformed},
		{"json unknown field value", jsonT, []byte(`{"tx": "", "patient": "` + marker + `"}`), 400, ledger.CodeMalformed},
		{"json wrong type", jsonT, []byte(`{"tx": ["` + marker + `"]}`), 400, ledger.CodeMalformed},
		{"json trailing data", jsonT, []byte(`{"tx": "` + b64(valid) + `"} "` + marker + `"`), 400, ledger.CodeMalformed},
		{"json trailing brace", jsonT, []byte(`{"tx": "` + b64(valid) + `"}}`), 400, ledger.CodeMalformed},
		{"json trailing bracket", jsonT, []byte(`{"tx": "` + b64(valid) + `"}]`), 400, ledger.CodeMalformed},
		{"json bad base64", jsonT, []byte(`{"tx": "` + marker + `"}`), 400, ledger.CodeMalformed},
		{"json url-safe base64", jsonT, []byte(`{"tx": "` + urlSafe + `"}`), 400, ledger.CodeMalformed},
		{"raw oversized body", octet, oversized, 413, ledger.CodeTooLarge},
		{"json oversized body", jsonT, oversized, 413, ledger.CodeTooLarge},
		{"raw over tx limit", octet, overTx, 413, ledger.CodeTooLarge},
		{"wrong chain", octet, wrongChain, 400, ledger.CodeWrongChain},
		{"unknown contract", octet, unknownContract, 422, ledger.CodeUnknownContract},
		{"unknown signer", octet, unknownSigner, 401, ledger.CodeUnknownSigner},
		{"bad signature", octet, badSig, 401, ledger.CodeBadSignature},
		{"bad signature json", jsonT, jsonTx(badSig), 401, ledger.CodeBadSignature},
		{"suspended signer", octet, suspended, 403, ledger.CodeSuspendedSigner},
		{"replay raw", octet, committed, 409, ledger.CodeReplay},
		{"replay json", jsonT, jsonTx(committed), 409, ledger.CodeReplay},
		{"replay json charset", "application/json; charset=utf-8", jsonTx(committed), 409, ledger.CodeReplay},
		{"replay json upper case", "Application/JSON", jsonTx(committed), 409, ledger.CodeReplay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tn.state(t)
			r := tn.do(t, http.MethodPost, "/v1/tx", tt.ctype, tt.body)
			checkError(t, "POST /v1/tx", r, tt.status, string(tt.code))
			if after := tn.state(t); after != before {
				t.Errorf("ledger moved on a rejected submit: %+v -> %+v", before, after)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestSubmitFailed covers transactions that are admitted and committed but
// fail in execution: the answer is the receipt, with the failure's status;
// the block is on the ledger and the world state is unchanged.
func TestSubmitFailed(t *testing.T) {
	tn := startNode(t, node.Config{})
	drID, drKey := tn.enrol(t, "dr-who", "practitioner")
	org := tn.doc.Orgs[0].ID
	eve, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}

	unknownMethod, _ := tn.sign(t, drKey, drID, "notary", "notarise", markedAnchor())
	// A practitioner may not enrol; the payload is otherwise valid.
	denied, _ := tn.sign(t, drKey, drID, "members", "enrol",
		members.Enrol{ID: org + "/eve", Org: org, Roles: []string{"patient"}, PublicKey: identity.EncodePublicKey(eve.Public())})
	bad := markedAnchor()
	bad.Hash = "not a hash"
	contractErr, _ := tn.sign(t, drKey, drID, "notary", "anchor", bad)

	tests := []struct {
		name   string
		raw    []byte
		status int
		code   ledger.Code
	}{
		{"unknown method", unknownMethod, 422, ledger.CodeUnknownMethod},
		{"policy denied", denied, 403, ledger.CodeDenied},
		{"contract error", contractErr, 422, ledger.CodeContract},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tn.state(t)
			r := tn.postRaw(t, tt.raw)
			var rc client.Receipt
			if err := json.Unmarshal(r.body, &rc); err != nil {
				t.Fatalf("POST /v1/tx: body %s is not a receipt: %v", r.body, err)
			}
			if r.status != tt.status || rc.Result.Code != tt.code {
				t.Errorf("POST /v1/tx = %d %q; want %d %q", r.status, rc.Result.Code, tt.status, tt.code)
			}
			after := tn.state(t)
			if after.Height != before.Height+1 || after.TxLogSize != before.TxLogSize+1 || rc.Height != after.Height {
				t.Errorf("failed tx not committed in a block of its own: %+v -> %+v, receipt height %d", before, after, rc.Height)
			}
			var a client.TxAnswer
			tn.getJSON(t, "/v1/tx/"+rc.TxHash.String(), &a)
			if a.Receipt.Result.Code != tt.code {
				t.Errorf("GET /v1/tx: result code %q; want %q", a.Receipt.Result.Code, tt.code)
			}
		})
	}
	if r := tn.get(t, "/v1/members/"+org+"/eve"); r.status != http.StatusNotFound {
		t.Errorf("a denied enrolment left a member record: %d %s", r.status, r.body)
	}
	if r := tn.get(t, "/v1/notary/"+strings.Repeat("ab", 32)); r.status != http.StatusNotFound {
		t.Errorf("GET /v1/notary/unanchored = %d; want 404", r.status)
	}
}

// TestSubmitOverloaded floods a node whose sequencer queue holds one
// transaction: some submits must be refused at once with 503 overloaded,
// and every submit must be answered.
func TestSubmitOverloaded(t *testing.T) {
	tn := startNode(t, node.Config{Solo: node.SoloConfig{QueueSize: 1, MaxDelay: node.Duration(5 * time.Millisecond)}})
	tn.hc.Timeout = 20 * time.Second // a hang fails the test instead of the run

	const clients = 48
	var (
		overloaded int
		fastest    time.Duration = time.Hour
	)
	for round := 0; round < 5 && overloaded == 0; round++ {
		raws := make([][]byte, clients)
		for i := range raws {
			raws[i], _ = tn.sign(t, tn.admin, tn.adminID, "notary", "anchor", anchor())
		}
		type answer struct {
			r   response
			err error
			d   time.Duration
		}
		answers := make([]answer, clients)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range raws {
			wg.Go(func() {
				<-start
				t0 := time.Now()
				r, err := tn.try(http.MethodPost, "/v1/tx", octet, raws[i])
				answers[i] = answer{r, err, time.Since(t0)}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		close(start)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("concurrent submits did not all finish within 30s")
		}
		for _, a := range answers {
			if a.err != nil {
				t.Fatal(a.err)
			}
			checkNoMarker(t, "POST /v1/tx", a.r)
			switch a.r.status {
			case http.StatusOK:
			case http.StatusServiceUnavailable:
				checkError(t, "POST /v1/tx", a.r, 503, string(ledger.CodeOverloaded))
				overloaded++
				fastest = min(fastest, a.d)
			default:
				t.Errorf("POST /v1/tx under load = %d %s; want 200 or 503", a.r.status, a.r.body)
			}
		}
	}
	if overloaded == 0 {
		t.Fatalf("no submit of %d concurrent ones was refused as overloaded with QueueSize 1", clients)
	}
	if fastest > 2*time.Second {
		t.Errorf("fastest overloaded answer took %s; want an immediate refusal", fastest)
	}
	r := tn.get(t, "/metrics")
	if !bytes.Contains(r.body, []byte(`medledger_txs_rejected_total{reason="overloaded"}`)) {
		t.Errorf("/metrics lacks the overloaded rejection counter")
	}
}

// TestReadErrors covers the read endpoints' error answers.
func TestReadErrors(t *testing.T) {
	tn := startNode(t, node.Config{})
	var ids []ledger.Hash
	for range 3 {
		raw, id := tn.sign(t, tn.admin, tn.adminID, "notary", "anchor", anchor())
		tn.commit(t, raw)
		ids = append(ids, id)
	}
	st := tn.state(t)
	known := ids[0].String()
	unknown := strings.Repeat("0f", 32)
	org := tn.doc.Orgs[0].ID

	tests := []struct {
		method, path string
		status       int
		code         string // "" for a success answer
	}{
		{"GET", "/v1/tx/" + known, 200, ""},
		{"GET", "/v1/tx/" + strings.ToUpper(known), 200, ""},
		{"GET", "/v1/tx/" + unknown, 404, "not_found"},
		{"GET", "/v1/tx/xyz", 400, "bad_request"},
		{"GET", "/v1/tx/" + strings.Repeat("zz", 32), 400, "bad_request"},
		{"GET", "/v1/blocks/0", 404, "not_found"},
		{"GET", "/v1/blocks/999", 404, "not_found"},
		{"GET", fmt.Sprintf("/v1/blocks/%d", st.Height+1), 404, "not_found"},
		{"GET", "/v1/blocks/-1", 400, "bad_request"},
		{"GET", "/v1/blocks/one", 400, "bad_request"},
		{"GET", "/v1/blocks/1", 200, ""},
		{"GET", "/v1/blocks/latest", 200, ""},
		{"GET", "/v1/sth", 200, ""},
		{"GET", "/v1/proof/inclusion?hash=" + known, 200, ""},
		{"GET", "/v1/proof/inclusion?hash=" + known + "&tree_size=999", 404, "not_found"},
		{"GET", "/v1/proof/inclusion?hash=" + known + "&tree_size=0", 404, "not_found"},
		{"GET", "/v1/proof/inclusion?hash=" + unknown, 404, "not_found"},
		{"GET", "/v1/proof/inclusion?hash=nope", 400, "bad_request"},
		{"GET", "/v1/proof/inclusion?hash=" + known + "&tree_size=x", 400, "bad_request"},
		{"GET", "/v1/proof/consistency?from=1&to=3", 200, ""},
		{"GET", "/v1/proof/consistency?from=1", 200, ""},
		{"GET", "/v1/proof/consistency?from=3&to=2", 400, "bad_request"},
		{"GET", "/v1/proof/consistency?to=2", 400, "bad_request"},
		{"GET", "/v1/proof/consistency?from=x&to=2", 400, "bad_request"},
		{"GET", "/v1/proof/consistency?from=1&to=999", 404, "not_found"},
		{"GET", "/v1/proof/consistency?from=999", 404, "not_found"},
		{"GET", "/v1/status", 200, ""},
		{"GET", "/v1/members/" + tn.adminID, 200, ""},
		{"GET", "/v1/members/" + tn.adminID + "?height=0", 200, ""},
		{"GET", "/v1/members/" + tn.adminID + "?height=999", 404, "not_found"},
		{"GET", "/v1/members/" + tn.adminID + "?height=x", 400, "bad_request"},
		{"GET", "/v1/members/" + org + "/nobody", 404, "not_found"},
		{"GET", "/v1/members/bad%20id", 400, "bad_request"},
		{"GET", "/v1/orgs/" + org, 200, ""},
		{"GET", "/v1/orgs/nope", 404, "not_found"},
		{"GET", "/v1/notary/" + unknown, 404, "not_found"},
		{"GET", "/v1/notary/short", 400, "bad_request"},
		{"GET", "/v1/policies", 200, ""},
		{"GET", "/nope", 404, "not_found"},
		{"GET", "/v1/nope", 404, "not_found"},
		{"POST", "/v1/nope", 404, "not_found"},
		{"GET", "/v1/tx", 405, "method_not_allowed"},
		{"DELETE", "/v1/tx/" + known, 405, "method_not_allowed"},
		{"POST", "/v1/sth", 405, "method_not_allowed"},
		{"POST", "/healthz", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		r := tn.do(t, tt.method, tt.path, "", nil)
		what := tt.method + " " + tt.path
		if tt.code == "" {
			if r.status != tt.status {
				t.Errorf("%s = %d %s; want %d", what, r.status, r.body, tt.status)
			}
			continue
		}
		checkError(t, what, r, tt.status, tt.code)
		if tt.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
			t.Errorf("%s: 405 without an Allow header", what)
		}
	}
	if after := tn.state(t); after != st {
		t.Errorf("reads moved the ledger: %+v -> %+v", st, after)
	}

	var latest api.BlockAnswer
	tn.getJSON(t, "/v1/blocks/latest", &latest)
	if latest.Header.Height != st.Height || latest.Header.AppHash != st.AppHash {
		t.Errorf("/v1/blocks/latest is height %d app hash %s; status says %d %s", latest.Header.Height, latest.Header.AppHash, st.Height, st.AppHash)
	}
}

// TestEmptyLedger checks the answers of a node that has committed nothing.
func TestEmptyLedger(t *testing.T) {
	tn := startNode(t, node.Config{})
	for _, p := range []string{"/v1/sth", "/v1/blocks/latest", "/v1/blocks/1", "/v1/tx/" + strings.Repeat("00", 32), "/v1/proof/consistency?from=1"} {
		checkError(t, "GET "+p, tn.get(t, p), 404, "not_found")
	}
	var p api.ConsistencyProof
	tn.getJSON(t, "/v1/proof/consistency?from=0", &p)
	if p.From != 0 || p.To != 0 || len(p.Hashes) != 0 {
		t.Errorf("consistency 0..0 on an empty log = %+v", p)
	}
}

// TestBatch covers POST /v1/txs: per-item outcomes and whole-batch errors.
func TestBatch(t *testing.T) {
	tn := startNode(t, node.Config{API: node.APIConfig{MaxBatch: 8, MaxBodyBytes: 64 << 10}})
	drID, drKey := tn.enrol(t, "dr-who", "practitioner")
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	committed, _ := tn.sign(t, drKey, drID, "notary", "anchor", anchor())
	tn.commit(t, committed)

	ok1, id1 := tn.sign(t, drKey, drID, "notary", "anchor", anchor())
	ok2, id2 := tn.sign(t, tn.admin, tn.adminID, "notary", "anchor", anchor())
	badSig, _ := tn.sign(t, stranger, drID, "notary", "anchor", markedAnchor())
	unknownSigner, _ := tn.sign(t, stranger, tn.doc.Orgs[0].ID+"/ghost", "notary", "anchor", markedAnchor())
	unknownMethod, _ := tn.sign(t, drKey, drID, "notary", "notarise", markedAnchor())
	items := []struct {
		raw    []byte
		status int
		code   ledger.Code
		id     ledger.Hash // committed ones
	}{
		{ok1, 200, ledger.CodeOK, id1},
		{badSig, 401, ledger.CodeBadSignature, ledger.Hash{}},
		{unknownSigner, 401, ledger.CodeUnknownSigner, ledger.Hash{}},
		{ok1, 409, ledger.CodeReplay, ledger.Hash{}}, // pending in this very batch
		{unknownMethod, 422, ledger.CodeUnknownMethod, ledger.Hash{}},
		{committed, 409, ledger.CodeReplay, ledger.Hash{}},
		{[]byte(marker), 400, ledger.CodeMalformed, ledger.Hash{}},
		{ok2, 200, ledger.CodeOK, id2},
	}
	req := api.TxsRequest{}
	for _, it := range items {
		req.Txs = append(req.Txs, b64(it.raw))
	}
	before := tn.state(t)
	r := tn.do(t, http.MethodPost, "/v1/txs", jsonT, mustJSON(req))
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/txs = %d %s; want 200", r.status, r.body)
	}
	var out struct{ Results []api.BatchItem }
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Results) != len(items) {
		t.Fatalf("POST /v1/txs: %d results for %d txs", len(out.Results), len(items))
	}
	for i, it := range items {
		res := out.Results[i]
		var code ledger.Code
		switch {
		case res.Receipt != nil && res.Error != nil:
			t.Errorf("results[%d] has both a receipt and an error", i)
		case res.Receipt != nil:
			code = res.Receipt.Result.Code
		case res.Error != nil:
			code = ledger.Code(res.Error.Code)
		}
		if res.Status != it.status || code != it.code {
			t.Errorf("results[%d] = %d %q; want %d %q", i, res.Status, code, it.status, it.code)
		}
		if it.id != (ledger.Hash{}) {
			if res.Receipt == nil || res.Receipt.TxHash != it.id {
				t.Errorf("results[%d]: receipt %+v; want tx %s", i, res.Receipt, it.id)
			}
			tn.getJSON(t, "/v1/tx/"+it.id.String(), new(api.TxAnswer))
		}
	}
	if after := tn.state(t); after.TxLogSize != before.TxLogSize+3 {
		t.Errorf("batch committed %d txs; want 3 (two ok, one failed method)", after.TxLogSize-before.TxLogSize)
	}

	anyTx := b64(ok1)
	nine := make([]string, 9)
	for i := range nine {
		nine[i] = anyTx
	}
	big := strings.Repeat("A", 64<<10)
	rejected := []struct {
		name   string
		body   []byte
		status int
		code   ledger.Code
	}{
		{"more than MaxBatch", mustJSON(api.TxsRequest{Txs: nine}), 413, ledger.CodeTooLarge},
		{"empty list", []byte(`{"txs": []}`), 400, "bad_request"},
		{"no txs field", []byte(`{}`), 400, "bad_request"},
		{"empty body", nil, 400, ledger.CodeMalformed},
		{"unknown field", []byte(`{"txs": ["` + anyTx + `"], "` + marker + `": true}`), 400, ledger.CodeMalformed},
		{"not json", []byte(marker), 400, ledger.CodeMalformed},
		{"trailing bracket", []byte(`{"txs": ["` + b64(ok2) + `"]}]`), 400, ledger.CodeMalformed},
		{"bad base64 item", []byte(`{"txs": ["` + b64(ok2) + `", "` + marker + `"]}`), 400, ledger.CodeMalformed},
		{"body over MaxBodyBytes", []byte(`{"txs": ["` + big + `"]}`), 413, ledger.CodeTooLarge},
	}
	for _, tt := range rejected {
		t.Run(tt.name, func(t *testing.T) {
			before := tn.state(t)
			r := tn.do(t, http.MethodPost, "/v1/txs", jsonT, tt.body)
			checkError(t, "POST /v1/txs", r, tt.status, string(tt.code))
			if after := tn.state(t); after != before {
				t.Errorf("ledger moved on a rejected batch: %+v -> %+v", before, after)
			}
		})
	}
}

// TestOps covers /healthz, /readyz and /metrics.
func TestOps(t *testing.T) {
	tn := startNode(t, node.Config{})
	drID, drKey := tn.enrol(t, "dr-who", "practitioner")
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	badSig, _ := tn.sign(t, stranger, drID, "notary", "anchor", markedAnchor())
	checkError(t, "POST /v1/tx", tn.postRaw(t, badSig), 401, string(ledger.CodeBadSignature))
	raw, _ := tn.sign(t, drKey, drID, "notary", "anchor", anchor())
	tn.commit(t, raw)

	for _, p := range []string{"/healthz", "/readyz"} {
		var b map[string]string
		tn.getJSON(t, p, &b)
		if b["status"] == "" {
			t.Errorf("GET %s = %v; want a status", p, b)
		}
	}
	r := tn.get(t, "/metrics")
	if r.status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", r.status)
	}
	m := string(r.body)
	for _, want := range []string{
		`medledger_txs_committed_total{code="ok"} 2`,
		`medledger_txs_rejected_total{reason="bad_signature"} 1`,
		`medledger_height 2`,
		`medledger_http_request_seconds_count{route="POST /v1/tx",status="401"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, leak := range []string{tn.doc.Orgs[0].ID, drID, tn.adminID, identity.KeyIDOf(drKey.Public()), marker} {
		if strings.Contains(m, leak) {
			t.Errorf("/metrics contains the identifier %q", leak)
		}
	}
}

// TestClosedNode checks that a node whose sequencer stopped reports itself
// not ready. (Submits are not tried: Close also closes the store, which
// the handlers then read; in production Serve stops HTTP first.)
func TestClosedNode(t *testing.T) {
	tn := startNode(t, node.Config{})
	tn.close(t)
	checkError(t, "GET /readyz", tn.get(t, "/readyz"), 503, string(ledger.CodeUnavailable))
	var st struct{ Ready string }
	tn.getJSON(t, "/v1/status", &st)
	if st.Ready == "ready" {
		t.Errorf("/v1/status says ready after Close")
	}
}

// TestNoEchoElsewhere sends the marker through paths whose rejection
// messages come from other packages (the envelope decoder, the payload
// decoder, a contract's checks); two of them are committed to the ledger.
func TestNoEchoElsewhere(t *testing.T) {
	tn := startNode(t, node.Config{})
	drID, drKey := tn.enrol(t, "dr-who", "practitioner")
	badName := (&ledger.Tx{ChainID: tn.doc.ChainID, Contract: marker, Method: "anchor", Payload: []byte("{}"), Signer: drID, Nonce: 1, Signature: make([]byte, 64)}).Encode()
	unknownField, _ := tn.signTx(t, client.Tx{Contract: "notary", Method: "anchor", Signer: drID,
		Payload: []byte(`{"hash": "` + strings.Repeat("ab", 32) + `", "kind": "lab-report", "` + marker + `": 1}`)}, drKey)
	longKey := markedAnchor()
	longKey.Metadata = map[string]string{marker + strings.Repeat(" x", 40): "v"}
	metaKey, _ := tn.sign(t, drKey, drID, "notary", "anchor", longKey)

	tests := []struct {
		name   string
		raw    []byte
		status int
		code   ledger.Code
	}{
		{"invalid contract name", badName, 400, ledger.CodeMalformed},
		{"unknown payload field", unknownField, 422, ledger.CodeContract},
		{"overlong metadata key", metaKey, 422, ledger.CodeContract},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tn.postRaw(t, tt.raw) // fails on an echo of the marker
			var b struct {
				Result struct{ Code ledger.Code }
				Error  struct{ Code ledger.Code }
			}
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatalf("POST /v1/tx: %v", err)
			}
			code := b.Error.Code // a rejection
			if code == "" {
				code = b.Result.Code // a committed failure
			}
			if r.status != tt.status || code != tt.code {
				t.Errorf("POST /v1/tx = %d %q; want %d %q", r.status, code, tt.status, tt.code)
			}
		})
	}
}

// TestCommitTimeout checks the answer when a block takes longer than
// CommitTimeout: 503 unavailable, no acknowledgement, and the transaction
// may still commit, so it can be looked up and is not accepted twice.
func TestCommitTimeout(t *testing.T) {
	tn := startNode(t, node.Config{API: node.APIConfig{CommitTimeout: node.Duration(time.Microsecond)}})
	raw, id := tn.sign(t, tn.admin, tn.adminID, "notary", "anchor", anchor())
	checkError(t, "POST /v1/tx", tn.postRaw(t, raw), 503, string(ledger.CodeUnavailable))

	deadline := time.Now().Add(10 * time.Second)
	for {
		r := tn.get(t, "/v1/tx/"+id.String())
		if r.status == http.StatusOK {
			break
		}
		checkError(t, "GET /v1/tx", r, 404, "not_found")
		if time.Now().After(deadline) {
			t.Fatal("a transaction answered 503 after admission never committed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	checkError(t, "POST /v1/tx again", tn.postRaw(t, raw), 409, string(ledger.CodeReplay))
}
