package cli

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/medledger/medledger/internal/ai/model"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/ledger"
)

var (
	accessOnce sync.Once
	accessDir  string
)

// accessData writes a small synthetic scenario once per test binary.
func accessData(t *testing.T) string {
	t.Helper()
	accessOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cli-access")
		if err != nil {
			t.Fatal(err)
		}
		if code, _, stderr := run(t, "synth", "access", "--days", "5", "--users", "40", "--patients", "300", "--seed", "3", "--episodes", "2", "--out", dir); code != 0 {
			t.Fatalf("synth access: %s", stderr)
		}
		accessDir = dir
	})
	return accessDir
}

func TestDetectEvalAccess(t *testing.T) {
	dir := accessData(t)
	events := filepath.Join(dir, "AuditEvent.ndjson")
	code, out, stderr := run(t, "detect", "access", "--in", events, "--context", filepath.Join(dir, "context"), "--json")
	if code != 0 {
		t.Fatalf("detect: exit %d: %s", code, stderr)
	}
	f, _ := os.Open(events)
	n := 0
	for sc := bufio.NewScanner(f); sc.Scan(); n++ {
	}
	f.Close()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != n {
		t.Fatalf("detect wrote %d lines for %d events", len(lines), n)
	}
	for _, l := range lines[:50] {
		var s struct {
			ID      *string   `json:"id"`
			Score   *float64  `json:"score"`
			Reasons *[]string `json:"reasons"`
		}
		if err := json.Unmarshal([]byte(l), &s); err != nil || s.ID == nil || s.Score == nil || s.Reasons == nil || *s.Score < 0 || *s.Score > 1 {
			t.Fatalf("detect line %q: %v", l, err)
		}
	}

	code, out, stderr = run(t, "eval", "access", "--in", events, "--labels", filepath.Join(dir, "labels.ndjson"), "--context", filepath.Join(dir, "context"), "--json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr)
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"precision", "recall", "f1", "roc_auc", "pr_auc", "alert_rate", "per_type"} {
		if _, ok := rep[k]; !ok {
			t.Errorf("eval --json lacks %q: %s", k, out)
		}
	}
	if len(rep["per_type"].(map[string]any)) == 0 {
		t.Error("eval per_type is empty")
	}
	// Human output and --alert-rate.
	if code, out, _ := run(t, "eval", "access", "--in", events, "--labels", filepath.Join(dir, "labels.ndjson"), "--alert-rate", "0.01"); code != 0 || !strings.Contains(out, "ROC-AUC") {
		t.Errorf("eval without context: exit %d, %q", code, out)
	}
	// Wrong labels file.
	if code, _, stderr := run(t, "eval", "access", "--in", events, "--labels", events); code == 0 {
		t.Errorf("eval with the events as labels succeeded: %s", stderr)
	}
}

func TestModelsTrainAndRegister(t *testing.T) {
	dir := accessData(t)
	tmp := t.TempDir()
	mfile := filepath.Join(tmp, "m.json")
	code, out, stderr := run(t, "models", "train", "--in", filepath.Join(dir, "AuditEvent.ndjson"), "--context", filepath.Join(dir, "context"),
		"--labels", filepath.Join(dir, "labels.ndjson"), "--out", mfile, "--trees", "10", "--name", "access-test", "--version", "2", "--json")
	if code != 0 {
		t.Fatalf("models train: exit %d: %s", code, stderr)
	}
	file, err := os.ReadFile(mfile)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Parse(file)
	if err != nil || m.Training.DataSHA256 == "" || m.Metrics["roc_auc"] == 0 || !strings.Contains(out, model.SHA256(file)) {
		t.Fatalf("trained model: %v, %+v, %s", err, m.Training, out)
	}
	events := filepath.Join(dir, "AuditEvent.ndjson")
	// An unregistered file is refused unless explicitly allowed.
	if code, _, stderr := run(t, "detect", "access", "--in", events, "--model", mfile); code == 0 || !strings.Contains(stderr, "--allow-unregistered") {
		t.Errorf("detect with an unchecked model: exit %d, %q", code, stderr)
	}
	if code, _, stderr := run(t, "detect", "access", "--in", events, "--model", mfile, "--allow-unregistered"); code != 0 {
		t.Errorf("detect --allow-unregistered: exit %d, %q", code, stderr)
	}

	// A fake node that commits what it is sent and serves it back.
	home := filepath.Join(tmp, "home")
	if code, _, stderr := run(t, "init", "--home", home, "--chain-id", "test-chain"); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	node := newFakeNode(t)
	code, out, stderr = run(t, "models", "register", "--in", mfile, "--home", home, "--node", node.srv.URL, "--json")
	if code != 0 {
		t.Fatalf("models register: exit %d: %s", code, stderr)
	}
	tx := node.txs[0]
	var reg models.Register
	if err := json.Unmarshal(tx.Payload, &reg); err != nil {
		t.Fatal(err)
	}
	if tx.ChainID != "test-chain" || tx.Contract != "models" || tx.Method != "register" || tx.Signer != "general-hospital/admin" ||
		reg.SHA256 != model.SHA256(file) || reg.Name != "access-test" || reg.TrainingDataSHA256 != m.Training.DataSHA256 || reg.Metrics["roc_auc"] == 0 {
		t.Errorf("submitted %+v with %+v", tx, reg)
	}
	code, out, _ = run(t, "models", "list", "--node", node.srv.URL, "--json")
	if code != 0 || !strings.Contains(out, reg.SHA256) {
		t.Errorf("models list: exit %d, %s", code, out)
	}
	if code, _, stderr := run(t, "detect", "access", "--in", events, "--model", mfile, "--registry", node.srv.URL); code != 0 {
		t.Errorf("detect --registry with the model registered: exit %d, %s", code, stderr)
	}
	builtin := filepath.Join(tmp, "builtin.json")
	if code, _, _ := run(t, "models", "builtin", "--out", builtin); code != 0 {
		t.Fatal("models builtin failed")
	}
	if code, _, stderr := run(t, "detect", "access", "--in", events, "--model", builtin, "--registry", node.srv.URL); code == 0 || !strings.Contains(stderr, "not registered") {
		t.Errorf("detect --registry with an unregistered model: exit %d, %s", code, stderr)
	}
}

type fakeNode struct {
	srv *httptest.Server
	mu  sync.Mutex
	txs []*ledger.Tx
}

// newFakeNode answers POST /v1/tx with an ok receipt at height len(txs),
// one transaction per block, and serves /v1/status, /v1/blocks and /v1/tx.
func newFakeNode(t *testing.T) *fakeNode {
	n := &fakeNode{}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/tx", func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		tx, err := ledger.DecodeTx(raw, ledger.MaxTxBytes)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		n.mu.Lock()
		n.txs = append(n.txs, tx)
		h := uint64(len(n.txs))
		n.mu.Unlock()
		json.NewEncoder(w).Encode(ledger.Receipt{TxHash: tx.ID(), Height: h, Result: ledger.Result{Code: ledger.CodeOK}})
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"chain_id": "test-chain", "height": len(n.txs), "contracts": []string{"models"}})
	})
	mux.HandleFunc("GET /v1/blocks/{height}", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		var h int
		json.Unmarshal([]byte(r.PathValue("height")), &h)
		if h < 1 || h > len(n.txs) {
			http.NotFound(w, r)
			return
		}
		tx := n.txs[h-1]
		json.NewEncoder(w).Encode(apitype.BlockAnswer{Txs: []apitype.BlockTx{{Hash: tx.ID(), Contract: tx.Contract, Method: tx.Method, Signer: tx.Signer, Result: ledger.Result{Code: ledger.CodeOK}}}})
	})
	mux.HandleFunc("GET /v1/tx/{hash}", func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		defer n.mu.Unlock()
		for _, tx := range n.txs {
			if tx.ID().String() == r.PathValue("hash") {
				json.NewEncoder(w).Encode(apitype.TxAnswer{Hash: tx.ID(), Tx: apitype.TxView{Contract: tx.Contract, Method: tx.Method, Signer: tx.Signer,
					Payload: base64.StdEncoding.EncodeToString(tx.Payload)}})
				return
			}
		}
		http.NotFound(w, r)
	})
	n.srv = httptest.NewServer(mux)
	t.Cleanup(n.srv.Close)
	return n
}
