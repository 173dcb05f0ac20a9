package api_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
)

// marker is synthetic PHI. Tests put it in request bodies; no response may
// ever contain it.
const marker = "Jane Q. Testpatient"

// testNode is a real node (its own home, Pebble store and solo sequencer)
// served over loopback HTTP.
type testNode struct {
	n       *node.Node
	url     string
	hc      *http.Client
	home    home.Home
	doc     *genesis.Doc
	adminID string
	admin   *identity.Key
	closed  bool
}

// startNode initialises a fresh home and serves a node from it; cfg.Home is
// set by startNode. Everything is torn down when the test ends.
func startNode(t testing.TB, cfg node.Config) *testNode {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatalf("home.Init: %v", err)
	}
	h := home.Home{Dir: dir}
	cfg.Home = dir
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatalf("node.Open: %v", err)
	}
	tn := &testNode{n: n, hc: &http.Client{Timeout: 30 * time.Second}, home: h, doc: doc}
	t.Cleanup(func() {
		if !tn.closed {
			tn.close(t)
		}
	})
	n.Start()
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)
	tn.url = srv.URL

	adminID := doc.Members[0].ID
	mk, err := h.MasterKeyValue("")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := identity.ReadKeyFile(h.MemberKey(adminID), identity.MasterKey(mk))
	if err != nil {
		t.Fatalf("admin key: %v", err)
	}
	tn.adminID, tn.admin = adminID, admin
	return tn
}

// close stops the sequencer and closes the store; the HTTP server keeps
// serving until the test ends.
func (tn *testNode) close(t testing.TB) {
	t.Helper()
	tn.closed = true
	if err := tn.n.Close(); err != nil {
		t.Errorf("node.Close: %v", err)
	}
}

// response is one HTTP answer, read completely.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of a JSON error body, or "".
func (r response) errorCode() string {
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(r.body, &b) != nil {
		return ""
	}
	return b.Error.Code
}

// do sends a request and fails the test if the answer contains the marker.
func (tn *testNode) do(t testing.TB, method, path, ctype string, body []byte) response {
	t.Helper()
	r := tn.doUnchecked(t, method, path, ctype, body)
	checkNoMarker(t, method+" "+path, r)
	return r
}

// doUnchecked is do without the marker check.
func (tn *testNode) doUnchecked(t testing.TB, method, path, ctype string, body []byte) response {
	t.Helper()
	r, err := tn.try(method, path, ctype, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try sends a request; unlike do it may be called from any goroutine.
func (tn *testNode) try(method, path, ctype string, body []byte) (response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, tn.url+path, rd)
	if err != nil {
		return response{}, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := tn.hc.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: reading body: %w", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

func checkNoMarker(t testing.TB, what string, r response) {
	t.Helper()
	if bytes.Contains(r.body, []byte(marker)) {
		t.Errorf("%s: answer echoes the request's PHI marker: %s", what, r.body)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			if strings.Contains(v, marker) {
				t.Errorf("%s: header %s echoes the PHI marker", what, k)
			}
		}
	}
}

func (tn *testNode) get(t testing.TB, path string) response {
	t.Helper()
	return tn.do(t, http.MethodGet, path, "", nil)
}

// getJSON GETs path, requires 200 and decodes the body into v.
func (tn *testNode) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	r := tn.get(t, path)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s = %d %s; want 200", path, r.status, r.body)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// postRaw POSTs an envelope to /v1/tx as application/octet-stream.
func (tn *testNode) postRaw(t testing.TB, raw []byte) response {
	t.Helper()
	return tn.do(t, http.MethodPost, "/v1/tx", "application/octet-stream", raw)
}

// ledgerState is what must not move when a submit is rejected.
type ledgerState struct {
	Height    uint64      `json:"height"`
	TxLogSize uint64      `json:"txlog_size"`
	AppHash   ledger.Hash `json:"app_hash"`
}

func (tn *testNode) state(t testing.TB) ledgerState {
	t.Helper()
	var s ledgerState
	tn.getJSON(t, "/v1/status", &s)
	return s
}

// signTx signs tx with k, filling in the chain id if it is empty.
func (tn *testNode) signTx(t testing.TB, tx client.Tx, k client.Signer) ([]byte, ledger.Hash) {
	t.Helper()
	if tx.ChainID == "" {
		tx.ChainID = tn.doc.ChainID
	}
	raw, id, err := client.Sign(tx, k)
	if err != nil {
		t.Fatalf("client.Sign(%s.%s): %v", tx.Contract, tx.Method, err)
	}
	return raw, id
}

// sign JSON-encodes payload and signs it as signer with k.
func (tn *testNode) sign(t testing.TB, k client.Signer, signer, contractName, method string, payload any) ([]byte, ledger.Hash) {
	t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	return tn.signTx(t, client.Tx{Contract: contractName, Method: method, Payload: p, Signer: signer}, k)
}

// commit submits raw and requires it to commit with result code ok.
func (tn *testNode) commit(t testing.TB, raw []byte) client.Receipt {
	t.Helper()
	r := tn.postRaw(t, raw)
	var rc client.Receipt
	if err := json.Unmarshal(r.body, &rc); err != nil || r.status != http.StatusOK || rc.Result.Code != ledger.CodeOK {
		t.Fatalf("POST /v1/tx = %d %s; want 200 and code ok", r.status, r.body)
	}
	return rc
}

// enrol enrols a new member of the admin's organisation with a fresh key.
func (tn *testNode) enrol(t testing.TB, name string, roles ...string) (string, *identity.Key) {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	org := tn.doc.Orgs[0].ID
	id := org + "/" + name
	raw, _ := tn.sign(t, tn.admin, tn.adminID, "members", "enrol",
		members.Enrol{ID: id, Org: org, Roles: roles, PublicKey: identity.EncodePublicKey(k.Public())})
	tn.commit(t, raw)
	return id, k
}

// anchor returns a notary.anchor payload for a fresh random document hash.
func anchor() notary.Anchor {
	doc := make([]byte, 32)
	rand.Read(doc)
	h := sha256.Sum256(doc)
	return notary.Anchor{Hash: hex.EncodeToString(h[:]), Kind: "lab-report"}
}

// markedAnchor is anchor with the marker in its metadata, for transactions
// that must be rejected (a committed one would rightly be served back).
func markedAnchor() notary.Anchor {
	a := anchor()
	a.Metadata = map[string]string{"patient": marker}
	return a
}
