package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/api"
	"github.com/medledger/medledger/internal/consensus/solo"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

var crashSeed = flag.Uint64("crash.seed", 20261124, "seed of TestCrashRecovery's kill moments (printed by the test, to replay a failure)")

const (
	crashCycles  = 6
	crashWorkers = 8
	crashBudget  = 55 * time.Second
)

// ack is a transaction the node acknowledged: a 2xx answer with its
// receipt.
type ack struct {
	id     ledger.Hash
	height uint64
	index  uint32
}

// TestCrashRecovery runs `medledger serve` in a child process, drives
// signed transactions at it over HTTP from several clients, SIGKILLs it at
// a random moment and restarts it, several times. Every acknowledged
// transaction must be there after each restart, at the place its receipt
// named, and the ledger must verify at the end. Transactions that were not
// acknowledged may or may not have been committed.
func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped with -short")
	}
	deadline := time.Now().Add(crashBudget)
	if d, ok := t.Deadline(); ok && d.Before(deadline) {
		deadline = d.Add(-2 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	seed := *crashSeed
	t.Logf("kill moments from seed %d (replay with -crash.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	th := newHome(t)
	addr := freeAddr(t)
	base := "http://" + addr
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: crashWorkers}, Timeout: 20 * time.Second}
	defer hc.CloseIdleConnections()
	out := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("child output:\n%s", out.String())
		}
	})

	var acks, unchecked []ack
	var unacked int
	for cycle := 1; cycle <= crashCycles; cycle++ {
		c := startChild(t, ctx, th.home.Dir, addr, out)
		checkAcked(t, ctx, hc, base, unchecked)
		kill := 200*time.Millisecond + time.Duration(rng.Int64N(int64(1300*time.Millisecond)))
		got, failed := drive(ctx, t, hc, base, th, kill, c)
		acks, unchecked = append(acks, got...), got
		unacked += failed
		t.Logf("cycle %d: killed after %v of load: %d acknowledged, %d not", cycle, kill, len(got), failed)
		if len(got) == 0 {
			t.Errorf("cycle %d: no transaction was acknowledged in %v", cycle, kill)
		}
		if ctx.Err() != nil {
			t.Fatalf("cycle %d: out of time (%v budget)", cycle, crashBudget)
		}
	}

	// Restart once more, check the last cycle's acknowledgements, then stop
	// the node properly.
	c := startChild(t, ctx, th.home.Dir, addr, out)
	checkAcked(t, ctx, hc, base, unchecked)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		t.Fatal("the node did not stop on SIGTERM")
	}
	if code := c.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the node exited with code %d after SIGTERM", code)
	}
	if s := out.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		t.Errorf("the node reported a data race or panic")
	}

	rep := verifyHome(t, th)
	t.Logf("verified %d blocks, %d txs; %d acknowledged, %d submitted without acknowledgement", rep.Height, rep.Txs, len(acks), unacked)
	if rep.Txs < uint64(len(acks)) {
		t.Errorf("ledger holds %d txs, fewer than the %d acknowledged", rep.Txs, len(acks))
	}
	// Every acknowledgement, from every cycle, offline.
	st, err := store.Open(store.Options{Dir: th.home.Ledger(), ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range acks {
		loc, err := st.Locate(a.id)
		if err != nil {
			t.Errorf("acknowledged tx %s (height %d) is not in the ledger: %v", a.id, a.height, err)
			continue
		}
		if loc.Height != a.height || loc.Index != a.index {
			t.Errorf("acknowledged tx %s: receipt said %d/%d, ledger has it at %d/%d", a.id, a.height, a.index, loc.Height, loc.Index)
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// child is a node running in a re-executed test binary.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
}

// startChild starts `medledger serve` on the home and waits until it is
// ready.
func startChild(t *testing.T, ctx context.Context, dir, addr string, out io.Writer) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MEDLEDGER_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childHomeEnv+"="+dir, childAddrEnv+"="+addr)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-c.done
	})
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return c
			}
		}
		select {
		case <-c.done:
			t.Fatalf("the node exited before it was ready: %v", cmd.ProcessState)
		case <-ctx.Done():
			t.Fatal("the node did not become ready in time")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// drive submits anchors from crashWorkers clients until the child is
// SIGKILLed after kill, and returns what was acknowledged and how many
// submissions were not.
func drive(ctx context.Context, t *testing.T, hc *http.Client, base string, th *testHome, kill time.Duration, c *child) ([]ack, int) {
	lctx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var acks []ack
	failed := 0
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for lctx.Err() == nil {
				raw, id, err := th.anchorTx()
				if err != nil {
					panic(err) // cannot happen: a well-formed anchor always signs
				}
				rc, err := submit(lctx, hc, base, raw)
				mu.Lock()
				if err == nil && rc.TxHash == id {
					acks = append(acks, ack{id: id, height: rc.Height, index: rc.Index})
				} else {
					failed++
				}
				mu.Unlock()
				if err != nil && lctx.Err() == nil {
					time.Sleep(5 * time.Millisecond) // the node is down: do not spin
				}
			}
		}()
	}
	select {
	case <-time.After(kill):
	case <-ctx.Done():
	case <-c.done:
		t.Errorf("the node exited under load")
	}
	c.cmd.Process.Kill()
	<-c.done
	stop()
	wg.Wait()
	return acks, failed
}

// submit posts one transaction; it succeeds only with a 2xx answer
// carrying a receipt.
func submit(ctx context.Context, hc *http.Client, base string, raw []byte) (solo.Receipt, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/tx", bytes.NewReader(raw))
	if err != nil {
		return solo.Receipt{}, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return solo.Receipt{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return solo.Receipt{}, err
	}
	if resp.StatusCode/100 != 2 {
		return solo.Receipt{}, fmt.Errorf("%s: %s", resp.Status, b)
	}
	var rc solo.Receipt
	if err := json.Unmarshal(b, &rc); err != nil {
		return solo.Receipt{}, err
	}
	if rc.Result.Code != ledger.CodeOK {
		return solo.Receipt{}, fmt.Errorf("result %q", rc.Result.Code)
	}
	return rc, nil
}

// checkAcked fetches every acknowledged transaction from the restarted
// node: each must be there, where its receipt said.
func checkAcked(t *testing.T, ctx context.Context, hc *http.Client, base string, acks []ack) {
	t.Helper()
	work := make(chan ack)
	var mu sync.Mutex
	var errs []string
	var wg sync.WaitGroup
	for range crashWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for a := range work {
				if err := fetchTx(ctx, hc, base, a); err != nil {
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
				}
			}
		}()
	}
	for _, a := range acks {
		work <- a
	}
	close(work)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d acknowledged txs lost after a crash; first: %s", len(errs), len(acks), errs[0])
	}
}

func fetchTx(ctx context.Context, hc *http.Client, base string, a ack) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/tx/"+a.id.String(), nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/tx/%s (acknowledged at height %d): %s: %s", a.id, a.height, resp.Status, b)
	}
	var ans api.TxAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return err
	}
	if ans.Receipt.Height != a.height || ans.Receipt.Index != a.index {
		return fmt.Errorf("tx %s: acknowledged at %d/%d, now at %d/%d", a.id, a.height, a.index, ans.Receipt.Height, ans.Receipt.Index)
	}
	return nil
}

// syncBuffer collects the child's output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
