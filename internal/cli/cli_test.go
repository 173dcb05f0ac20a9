package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// run executes the CLI in process and returns exit code, stdout, stderr.
func run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := RunContext(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInitTwiceRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "h")
	if code, _, stderr := run(t, "init", "--home", dir); code != 0 {
		t.Fatalf("init: exit %d: %s", code, stderr)
	}
	code, _, stderr := run(t, "init", "--home", dir)
	if code == 0 || !strings.Contains(stderr, "already holds a genesis") {
		t.Fatalf("second init: exit %d, stderr %q", code, stderr)
	}
	for _, f := range []string{"master.key", "keys/node.key", "keys/members/general-hospital~admin.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

func TestHomeRequired(t *testing.T) {
	t.Setenv("MEDLEDGER_HOME", "")
	for _, cmd := range []string{"serve", "verify", "backup"} {
		code, _, stderr := run(t, cmd)
		if code == 0 || !strings.Contains(stderr, "--home DIR is required") {
			t.Errorf("%s without --home: exit %d, stderr %q", cmd, code, stderr)
		}
	}
	code, _, stderr := run(t, "verify", "--home", t.TempDir())
	if code == 0 || !strings.Contains(stderr, "medledger init") {
		t.Errorf("verify of an empty dir: exit %d, stderr %q", code, stderr)
	}
}

// TestDemoVerifyBackupRestore runs the newcomer's path and the operator's.
func TestDemoVerifyBackupRestore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "h")
	code, out, stderr := run(t, "demo", "--home", dir, "--load-only", "--documents", "50", "--patients", "3", "--json")
	if code != 0 {
		t.Fatalf("demo: exit %d: %s", code, stderr)
	}
	var demo struct {
		Height uint64 `json:"height"`
		Txs    uint64 `json:"txs"`
		Loaded struct {
			SampleTx string `json:"sample_tx"`
		} `json:"loaded"`
	}
	if err := json.Unmarshal([]byte(out), &demo); err != nil {
		t.Fatalf("demo --json: %v\n%s", err, out)
	}
	if demo.Txs < 60 || demo.Height == 0 || len(demo.Loaded.SampleTx) != 64 {
		t.Fatalf("demo loaded %+v", demo)
	}

	code, out, stderr = run(t, "verify", "--home", dir, "--json")
	if code != 0 {
		t.Fatalf("verify: exit %d: %s %s", code, out, stderr)
	}
	var rep struct {
		OK  bool   `json:"ok"`
		Txs uint64 `json:"txs"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.OK || rep.Txs != demo.Txs {
		t.Fatalf("verify report %s (%v)", out, err)
	}

	snap := filepath.Join(t.TempDir(), "snap.tgz")
	if code, _, stderr := run(t, "backup", "--home", dir, "--out", snap); code != 0 {
		t.Fatalf("backup: exit %d: %s", code, stderr)
	}
	// Restoring over the existing ledger needs --force.
	if code, _, stderr := run(t, "restore", "--home", dir, "--in", snap); code == 0 || !strings.Contains(stderr, "--force") {
		t.Fatalf("restore without --force: exit %d, %s", code, stderr)
	}
	fresh := filepath.Join(t.TempDir(), "fresh")
	if code, _, stderr := run(t, "restore", "--home", fresh, "--in", snap); code != 0 {
		t.Fatalf("restore: exit %d: %s", code, stderr)
	}
	if code, out, _ := run(t, "verify", "--home", fresh, "--json"); code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("verify of the restored home: exit %d: %s", code, out)
	}
	// A damaged snapshot is refused and changes nothing.
	b, _ := os.ReadFile(snap)
	bad := filepath.Join(t.TempDir(), "bad.tgz")
	os.WriteFile(bad, b[:len(b)/2], 0o600)
	other := filepath.Join(t.TempDir(), "other")
	if code, _, _ := run(t, "restore", "--home", other, "--in", bad); code == 0 {
		t.Fatal("restore of a truncated snapshot succeeded")
	}
	if _, err := os.Stat(filepath.Join(other, "data", "ledger")); err == nil {
		t.Fatal("a refused restore left a ledger behind")
	}
}

func TestInvalidConfigListsEveryProblem(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "h")
	if code, _, stderr := run(t, "init", "--home", dir); code != 0 {
		t.Fatal(stderr)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"solo": {"max_txs": -5}, "api": {"max_batch": -1}}`), 0o600)
	t.Setenv("MEDLEDGER_QUEUE_SIZE", "lots")
	code, _, stderr := run(t, "serve", "--home", dir, "--addr", "nonsense")
	if code == 0 {
		t.Fatal("serve with invalid configuration started")
	}
	for _, want := range []string{"MEDLEDGER_QUEUE_SIZE", "solo.max_txs", "api.max_batch", "addr"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error does not mention %s:\n%s", want, stderr)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "h")
	if code, _, stderr := run(t, "init", "--home", dir); code != 0 {
		t.Fatal(stderr)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"addr": "127.0.0.1:1", "solo": {"max_txs": 10, "queue_size": 20}}`), 0o600)
	t.Setenv("MEDLEDGER_MAX_TXS", "30")
	t.Setenv("MEDLEDGER_ADDR", "127.0.0.1:2")
	c := newServeCmd(&globals{})
	c.Flags().Parse([]string{"--addr", "127.0.0.1:3"})
	cfg, err := loadConfig(c, dir, &nodeFlags{addr: "127.0.0.1:3"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:3" || cfg.Solo.MaxTxs != 30 || cfg.Solo.QueueSize != 20 {
		t.Errorf("config = addr %s, max_txs %d, queue %d; want flag, env, file", cfg.Addr, cfg.Solo.MaxTxs, cfg.Solo.QueueSize)
	}
}

// TestServeAndProof serves a demo home and checks a proof with the CLI.
func TestServeAndProof(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "h")
	code, out, stderr := run(t, "demo", "--home", dir, "--load-only", "--documents", "10", "--patients", "3", "--json")
	if code != 0 {
		t.Fatal(stderr)
	}
	var demo struct {
		Loaded struct {
			SampleTx string `json:"sample_tx"`
		} `json:"loaded"`
	}
	json.Unmarshal([]byte(out), &demo)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		var o, e bytes.Buffer
		done <- RunContext(ctx, []string{"serve", "--home", dir, "--addr", addr, "--log-level", "error"}, &o, &e)
	}()
	url := "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node did not become ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	sth := filepath.Join(t.TempDir(), "sth.json")
	for i := range 2 {
		code, out, stderr := run(t, "proof", "--home", dir, "--node", url, "--tx", demo.Loaded.SampleTx, "--save-sth", sth, "--json")
		if code != 0 || !strings.Contains(out, `"verified": true`) {
			t.Fatalf("proof run %d: exit %d: %s %s", i, code, out, stderr)
		}
	}
	code, _, stderr = run(t, "proof", "--home", dir, "--node", url, "--tx", strings.Repeat("ab", 32))
	if code == 0 || !strings.Contains(stderr, "not_found") {
		t.Errorf("proof of an unknown tx: exit %d, %s", code, stderr)
	}
	// verify works while the node serves (through its admin socket), and
	// with the saved tree head.
	if code, out, stderr := run(t, "verify", "--home", dir, "--sth", sth, "--json"); code != 0 {
		t.Errorf("verify while serving: exit %d: %s %s", code, out, stderr)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after cancel", code)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}

func TestBenchLedgerJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("benchmark smoke test")
	}
	code, out, stderr := run(t, "bench", "ledger", "--txs", "600", "--clients", "6", "--json")
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"txs", "clients", "tx_per_s", "p50_ms", "p99_ms", "fsync_per_block", "verify_tx_per_s"} {
		if _, ok := m[k]; !ok {
			t.Errorf("bench --json lacks %q: %s", k, out)
		}
	}
	if m["txs"] != float64(600) || m["verify_ok"] != true || m["failed"] != float64(0) {
		t.Errorf("bench result %s", out)
	}
	_ = fmt.Sprint
}

func TestKeyNewAndShow(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "pass")
	os.WriteFile(pf, []byte("correct horse battery staple\n"), 0o600)
	kf := filepath.Join(dir, "me.key")
	code, out, stderr := run(t, "key", "new", "--out", kf, "--passphrase-file", pf, "--json")
	if code != 0 {
		t.Fatalf("key new: exit %d: %s", code, stderr)
	}
	var made map[string]string
	json.Unmarshal([]byte(out), &made)
	fi, err := os.Stat(kf)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi, err)
	}
	code, out, _ = run(t, "key", "show", "--in", kf, "--passphrase-file", pf)
	if code != 0 || !strings.Contains(out, made["public_key"]) {
		t.Fatalf("key show: exit %d: %s", code, out)
	}
	os.WriteFile(pf, []byte("a wrong passphrase here\n"), 0o600)
	if code, _, stderr := run(t, "key", "show", "--in", kf, "--passphrase-file", pf); code == 0 || strings.Contains(stderr, "wrong passphrase here") {
		t.Errorf("key show with a wrong passphrase: exit %d, %s", code, stderr)
	}
	if code, _, _ := run(t, "key", "new", "--out", kf, "--passphrase-file", pf); code == 0 {
		t.Error("key new overwrote an existing file")
	}
	t.Setenv("MEDLEDGER_PASSPHRASE", "short")
	if code, _, stderr := run(t, "key", "new", "--out", filepath.Join(dir, "x.key")); code == 0 || !strings.Contains(stderr, "at least 12") {
		t.Errorf("short passphrase accepted: %s", stderr)
	}
}

func TestSynthPatientsDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, dir := range []string{a, b} {
		if code, _, stderr := run(t, "synth", "patients", "--n", "3", "--seed", "42", "--out", dir, "--json"); code != 0 {
			t.Fatalf("synth: exit %d: %s", code, stderr)
		}
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("patient-%06d.json", i)
		x, err1 := os.ReadFile(filepath.Join(a, name))
		y, err2 := os.ReadFile(filepath.Join(b, name))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs between runs with the same seed (%v %v)", name, err1, err2)
		}
		var bundle struct {
			ResourceType, Type string
		}
		if err := json.Unmarshal(x, &bundle); err != nil || bundle.ResourceType != "Bundle" || bundle.Type != "transaction" {
			t.Fatalf("%s is not a transaction Bundle: %v", name, err)
		}
	}
	if code, _, _ := run(t, "synth", "patients", "--n", "-1", "--out", a); code == 0 {
		t.Error("synth with --n -1 succeeded")
	}
}
