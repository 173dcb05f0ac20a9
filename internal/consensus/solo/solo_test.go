package solo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/consensus/admit"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

// dependentBatch is a batch whose later transactions depend on earlier
// ones: the admin enrols m, m anchors a document, the admin re-keys m, and
// m anchors another document with the new key.
func (e *env) dependentBatch(m member) (raws [][]byte, names []string) {
	k2 := newKey(e.t)
	raws = [][]byte{e.enrol(m), e.anchor(m, m.key), e.rekey(m.id, k2), e.anchor(m, k2)}
	return raws, []string{"enrol", "anchor (first key)", "rekey", "anchor (new key)"}
}

// checkBatchInOrder checks that every transaction of a batch committed OK,
// in batch order.
func checkBatchInOrder(t *testing.T, names []string, res []Result) []Receipt {
	t.Helper()
	var out []Receipt
	for i, r := range res {
		if r.Err != nil {
			t.Errorf("batch[%d] %s: rejected: %v", i, names[i], r.Err)
			continue
		}
		if r.Receipt.Result.Code != ledger.CodeOK {
			t.Errorf("batch[%d] %s: committed %s (%s); want ok", i, names[i], r.Receipt.Result.Code, r.Receipt.Result.Message)
		}
		if i > 0 && res[i-1].Err == nil && !before(res[i-1].Receipt, r.Receipt) {
			t.Errorf("batch[%d] %s at %d/%d is not after batch[%d] at %d/%d",
				i, names[i], r.Receipt.Height, r.Receipt.Index, i-1, res[i-1].Receipt.Height, res[i-1].Receipt.Index)
		}
		out = append(out, r.Receipt)
	}
	return out
}

// A batch may carry transactions that only become valid through earlier
// ones in it: an enrolment followed by the new member's first transaction,
// a re-key followed by a transaction signed with the new key.
func TestSubmitBatchDependentOrder(t *testing.T) {
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond})
	var rec recorder

	t.Run("single", func(t *testing.T) {
		raws, names := e.dependentBatch(newMember(t, "dep"))
		for _, r := range checkBatchInOrder(t, names, e.seq.SubmitBatch(ctxT(t, 20*time.Second), raws)) {
			rec.add(r)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		const batches = 20
		var wg sync.WaitGroup
		results := make([][]Result, batches)
		names := make([][]string, batches)
		raws := make([][][]byte, batches)
		for i := range batches {
			raws[i], names[i] = e.dependentBatch(newMember(t, "dep"))
		}
		ctx := ctxT(t, 30*time.Second)
		for i := range batches {
			wg.Go(func() { results[i] = e.seq.SubmitBatch(ctx, raws[i]) })
		}
		wg.Wait()
		for i := range batches {
			for _, r := range checkBatchInOrder(t, names[i], results[i]) {
				rec.add(r)
			}
		}
	})

	// What an earlier transaction cannot vouch for is still refused at
	// admission, not committed as a failure.
	t.Run("refused", func(t *testing.T) {
		a, c, stranger, notEnrolled := newMember(t, "dep"), newMember(t, "dep"), newMember(t, "stranger"), newMember(t, "nobody")
		wrong := newKey(t)
		tests := []struct {
			name string
			raws [][]byte
			want []ledger.Code // per tx: the committed code, or the admission error's code
		}{
			{"unknown signer alone", [][]byte{e.anchor(stranger, stranger.key)},
				[]ledger.Code{ledger.CodeUnknownSigner}},
			{"someone else enrolled", [][]byte{e.enrol(a), e.anchor(stranger, stranger.key)},
				[]ledger.Code{ledger.CodeOK, ledger.CodeUnknownSigner}},
			{"wrong key after enrol", [][]byte{e.enrol(notEnrolled), e.anchor(notEnrolled, wrong)},
				[]ledger.Code{ledger.CodeOK, ledger.CodeBadSignature}},
			{"enrol refused by policy", [][]byte{e.sign(a.key, a.id, "members", "enrol", enrolPayload(stranger)), e.anchor(stranger, stranger.key)},
				[]ledger.Code{ledger.CodeDenied, ledger.CodeUnknownSigner}},
			{"suspended earlier in batch", [][]byte{e.suspend(a.id), e.anchor(a, a.key)},
				[]ledger.Code{ledger.CodeOK, ledger.CodeSuspendedSigner}},
			{"reinstated earlier in batch", [][]byte{e.sign(e.admin, adminID, "members", "reinstate", members.Reinstate{ID: a.id}), e.anchor(a, a.key)},
				[]ledger.Code{ledger.CodeOK, ledger.CodeOK}},
			{"stranger before an enrolment", [][]byte{e.anchor(stranger, stranger.key), e.enrol(c), e.anchor(c, c.key)},
				[]ledger.Code{ledger.CodeUnknownSigner, ledger.CodeOK, ledger.CodeOK}},
		}
		for _, tt := range tests {
			res := e.seq.SubmitBatch(ctxT(t, 20*time.Second), tt.raws)
			for i, r := range res {
				got := ledger.CodeOf(r.Err)
				if r.Err == nil {
					got = r.Receipt.Result.Code
					rec.add(r.Receipt)
				}
				if got != tt.want[i] {
					t.Errorf("%s: tx %d = %s (receipt %+v, err %v); want %s", tt.name, i, got, r.Receipt.Result, r.Err, tt.want[i])
				}
			}
		}
	})

	e.checkLedger(rec.all())
}

func enrolPayload(m member) any {
	return map[string]any{"id": m.id, "org": testOrg, "roles": []string{"practitioner"}, "public_key": identity.EncodePublicKey(m.key.Public())}
}

// Many concurrent submitters over many small blocks, with every commit
// slowed so that block N+1 is built over N's changes while N is being
// written. Some members are suspended mid-stream while their own anchors
// keep arriving: nothing of theirs may succeed after the suspension.
func TestPipelineManyBlocks(t *testing.T) {
	var overlapped atomic.Int64
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond}, func(e *env) {
		e.wrapCommit(func(b *store.Block, next func(*store.Block) error) error {
			// Longer than MaxDelay: the sequencer stops waiting for
			// more and builds the next block while this one commits.
			time.Sleep(1500 * time.Microsecond)
			err := next(b)
			if e.seq.flightDepth() > 1 { // b is popped after this returns
				overlapped.Add(1) // a later block was built before b was durable
			}
			return err
		})
	})
	ms := e.enrolMembers("pipe", 8)
	victims, steady := ms[:4], ms[4:]

	var rec recorder
	ctx := ctxT(t, 30*time.Second)
	var wg sync.WaitGroup

	// Steady members: 8 goroutines × 30 anchors, all must succeed.
	for g := range 8 {
		m := steady[g%len(steady)]
		wg.Go(func() {
			for range 30 {
				r, err := e.seq.Submit(ctx, e.anchor(m, m.key))
				if err != nil || r.Result.Code != ledger.CodeOK {
					t.Errorf("anchor by %s: %v %+v; want ok", m.id, err, r.Result)
					return
				}
				rec.add(r)
			}
		})
	}

	// Victims: each is suspended while two goroutines keep submitting its
	// anchors; they stop 10 submissions after the suspension commits.
	type victimLog struct {
		mu       sync.Mutex
		anchors  []Receipt
		refused  int
		suspend  Receipt
		suspDone atomic.Bool
	}
	logs := make([]*victimLog, len(victims))
	for vi, v := range victims {
		vl := &victimLog{}
		logs[vi] = vl
		for range 2 {
			wg.Go(func() {
				after := 0
				for after < 10 {
					if vl.suspDone.Load() {
						after++
					}
					r, err := e.seq.Submit(ctx, e.anchor(v, v.key))
					vl.mu.Lock()
					switch {
					case err == nil:
						vl.anchors = append(vl.anchors, r)
						rec.add(r)
					case ledger.CodeOf(err) == ledger.CodeSuspendedSigner:
						vl.refused++
					default:
						t.Errorf("anchor by victim %s: %v", v.id, err)
						vl.mu.Unlock()
						return
					}
					vl.mu.Unlock()
				}
			})
		}
		wg.Go(func() {
			time.Sleep(time.Duration(5+5*vi) * time.Millisecond)
			r, err := e.seq.Submit(ctx, e.suspend(v.id))
			if err != nil || r.Result.Code != ledger.CodeOK {
				t.Errorf("suspend %s: %v %+v", v.id, err, r.Result)
			}
			vl.mu.Lock()
			vl.suspend = r
			vl.mu.Unlock()
			vl.suspDone.Store(true)
			rec.add(r)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	committedAfter, refused := 0, 0
	for vi, vl := range logs {
		refused += vl.refused
		for _, a := range vl.anchors {
			switch {
			case before(a, vl.suspend) && a.Result.Code != ledger.CodeOK:
				t.Errorf("victim %s: anchor at %d/%d before its suspension (%d/%d) = %s; want ok",
					victims[vi].id, a.Height, a.Index, vl.suspend.Height, vl.suspend.Index, a.Result.Code)
			case !before(a, vl.suspend) && a.Result.Code != ledger.CodeSuspendedSigner:
				t.Errorf("victim %s: anchor at %d/%d after its suspension (%d/%d) = %s; want suspended_signer",
					victims[vi].id, a.Height, a.Index, vl.suspend.Height, vl.suspend.Index, a.Result.Code)
			case !before(a, vl.suspend):
				committedAfter++
			}
		}
	}
	receipts := rec.all()
	t.Logf("%d receipts in %d blocks; %d commits overlapped a later build; victims' anchors after their suspension: %d committed as suspended_signer, %d refused at admission",
		len(receipts), e.st.Height(), overlapped.Load(), committedAfter, refused)
	if overlapped.Load() == 0 {
		t.Errorf("no block was built while its predecessor was committing; the pipeline was not exercised")
	}
	for h := uint64(1); h <= e.st.Height(); h++ {
		if sh, err := e.st.Header(h); err != nil || sh.Header.TxCount > 7 {
			t.Errorf("block %d: %d txs (err %v); MaxTxs is 7", h, sh.Header.TxCount, err)
		}
	}
	e.checkLedger(receipts)
}

// holder holds the commit of the block containing a chosen transaction.
type holder struct {
	id      ledger.Hash
	entered chan struct{} // closed when the block reaches the committer
	release chan struct{} // closed by the test to let it commit
}

// Deterministic pipeline windows: while the block that suspends (or
// re-keys) a member is held in the committer, that member's transactions
// are admitted against the committed state and built into the next block
// over the held block's changes.
func TestPipelineInflightMemberChanges(t *testing.T) {
	var held atomic.Pointer[holder]
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond}, func(e *env) {
		e.wrapCommit(func(b *store.Block, next func(*store.Block) error) error {
			if h := held.Load(); h != nil && slices.Contains(b.IDs, h.id) {
				close(h.entered)
				<-h.release
			}
			return next(b)
		})
	})
	var rec recorder
	ms := e.enrolMembers("fl", 2)
	v, w := ms[0], ms[1]

	// hold submits raw, waits until its block is held in the committer and
	// returns a function that waits for its receipt.
	var release chan struct{}
	hold := func(raw []byte) func() Receipt {
		h := &holder{id: txID(t, raw), entered: make(chan struct{}), release: make(chan struct{})}
		release = h.release
		held.Store(h)
		done := make(chan Receipt, 1)
		go func() {
			r, err := e.seq.Submit(ctxT(t, 20*time.Second), raw)
			if err != nil {
				t.Errorf("held tx: %v", err)
			}
			done <- r
		}()
		select {
		case <-h.entered:
		case <-time.After(10 * time.Second):
			t.Fatal("held block never reached the committer")
		}
		return func() Receipt { return <-done }
	}
	submitAsync := func(raw []byte) chan Result {
		c := make(chan Result, 1)
		go func() {
			r, err := e.seq.Submit(ctxT(t, 20*time.Second), raw)
			c <- Result{r, err}
		}()
		return c
	}

	t.Run("suspension", func(t *testing.T) {
		waitSusp := hold(e.suspend(v.id))
		depth := e.seq.flightDepth()
		c := submitAsync(e.anchor(v, v.key)) // committed state: v is active
		waitFor(t, 10*time.Second, "the anchor to be built on the held block", func() bool { return e.seq.flightDepth() > depth })
		close(release)
		susp, r := waitSusp(), <-c
		mustOK(t, "suspend", susp, nil)
		if r.Err != nil {
			t.Fatalf("anchor admitted before the suspension was durable: %v", r.Err)
		}
		if r.Receipt.Result.Code != ledger.CodeSuspendedSigner || !before(susp, r.Receipt) {
			t.Errorf("anchor = %s at %d/%d (suspension at %d/%d); want suspended_signer after it",
				r.Receipt.Result.Code, r.Receipt.Height, r.Receipt.Index, susp.Height, susp.Index)
		}
		rec.add(susp)
		rec.add(r.Receipt)
		// Now durable: refused at admission.
		if _, err := e.seq.Submit(ctxT(t, 20*time.Second), e.anchor(v, v.key)); ledger.CodeOf(err) != ledger.CodeSuspendedSigner {
			t.Errorf("anchor after the suspension committed: err = %v; want suspended_signer", err)
		}
	})

	t.Run("rekey", func(t *testing.T) {
		k2 := newKey(t)
		waitRekey := hold(e.rekey(w.id, k2))
		depth := e.seq.flightDepth()
		old := submitAsync(e.anchor(w, w.key)) // verifies with the committed key
		waitFor(t, 10*time.Second, "the old-key anchor to be built on the held block", func() bool { return e.seq.flightDepth() > depth })
		// Signed with the key the held block installs: admission checks
		// the committed key, so it may be refused; it must never commit
		// as anything but ok.
		newer := submitAsync(e.anchor(w, k2))
		time.Sleep(5 * time.Millisecond)
		close(release)
		rk := waitRekey()
		mustOK(t, "rekey", rk, nil)
		rec.add(rk)
		ro := <-old
		if ro.Err != nil {
			t.Fatalf("old-key anchor: %v", ro.Err)
		}
		if ro.Receipt.Result.Code != ledger.CodeBadSignature || !before(rk, ro.Receipt) {
			t.Errorf("old-key anchor = %s at %d/%d (rekey at %d/%d); want bad_signature after it",
				ro.Receipt.Result.Code, ro.Receipt.Height, ro.Receipt.Index, rk.Height, rk.Index)
		}
		rec.add(ro.Receipt)
		rn := <-newer
		switch {
		case rn.Err != nil && ledger.CodeOf(rn.Err) != ledger.CodeBadSignature:
			t.Errorf("new-key anchor during the rekey's commit: %v; want ok or bad_signature at admission", rn.Err)
		case rn.Err == nil && rn.Receipt.Result.Code != ledger.CodeOK:
			t.Errorf("new-key anchor committed %s; want ok", rn.Receipt.Result.Code)
		case rn.Err == nil:
			rec.add(rn.Receipt)
		}
		r, err := e.seq.Submit(ctxT(t, 20*time.Second), e.anchor(w, k2))
		mustOK(t, "new-key anchor after the rekey committed", r, err)
		rec.add(r)
	})
	held.Store(nil)
	e.checkLedger(rec.all())
}

// A failed commit stops the sequencer: nothing after it is acknowledged,
// every waiting and later submitter gets CodeUnavailable promptly, and
// what the failure said (here, a path) stays in the log.
func TestCommitFailure(t *testing.T) {
	const okBlocks = 5
	const secret = "/var/lib/medledger/secret-dir/000042.log"
	var commits atomic.Int64
	failedAt := make(chan struct{})
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond}, func(e *env) {
		e.wrapCommit(func(b *store.Block, next func(*store.Block) error) error {
			n := commits.Add(1)
			if n == okBlocks+1 {
				close(failedAt)
			}
			if n > okBlocks {
				return fmt.Errorf("store: commit block %d: write %s: input/output error", b.Header.Header.Height, secret)
			}
			time.Sleep(500 * time.Microsecond)
			return next(b)
		})
	})
	ms := e.enrolMembers("cf", 4) // block 1
	var rec recorder
	var unavailable atomic.Int64
	check := func(what string, r Receipt, err error, elapsed time.Duration) bool {
		switch {
		case err == nil:
			rec.add(r)
			return true
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
			t.Errorf("%s: no answer (%v after %s)", what, err, elapsed.Round(time.Millisecond))
		case ledger.CodeOf(err) != ledger.CodeUnavailable:
			t.Errorf("%s: %v; want a receipt or %s", what, err, ledger.CodeUnavailable)
		case strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "/"):
			t.Errorf("%s: error %q reveals a path", what, err)
		default:
			unavailable.Add(1)
		}
		return false
	}
	var wg sync.WaitGroup
	for g := range 24 {
		m := ms[g%len(ms)]
		wg.Go(func() {
			// Submit until refused, then 5 more: each must be refused too.
			refused := 0
			for refused < 6 {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				start := time.Now()
				if g%4 == 0 {
					raws := [][]byte{e.anchor(m, m.key), e.anchor(m, m.key), e.anchor(m, m.key)}
					for i, r := range e.seq.SubmitBatch(ctx, raws) {
						if !check(fmt.Sprintf("batch tx %d", i), r.Receipt, r.Err, time.Since(start)) {
							refused++
						}
					}
				} else {
					r, err := e.seq.Submit(ctx, e.anchor(m, m.key))
					if !check("submit", r, err, time.Since(start)) {
						refused++
					}
				}
				cancel()
				if t.Failed() {
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-failedAt:
	default:
		t.Fatal("the failing commit was never reached")
	}
	if t.Failed() {
		return
	}
	if err := e.seq.Err(); err == nil {
		t.Error("Err() = nil after a failed commit")
	}
	start := time.Now()
	_, err := e.seq.Submit(ctxT(t, 5*time.Second), e.anchor(ms[0], ms[0].key))
	if ledger.CodeOf(err) != ledger.CodeUnavailable || time.Since(start) > time.Second {
		t.Errorf("Submit after the failure: %v after %s; want %s at once", err, time.Since(start), ledger.CodeUnavailable)
	}
	for _, r := range e.seq.SubmitBatch(ctxT(t, 5*time.Second), [][]byte{e.anchor(ms[0], ms[0].key)}) {
		if ledger.CodeOf(r.Err) != ledger.CodeUnavailable {
			t.Errorf("SubmitBatch after the failure: %v; want %s", r.Err, ledger.CodeUnavailable)
		}
	}
	receipts := rec.all()
	for _, r := range receipts {
		if r.Height > okBlocks {
			t.Errorf("receipt at height %d: acknowledged after the commit of block %d failed", r.Height, okBlocks+1)
		}
	}
	if h := e.st.Height(); h != okBlocks {
		t.Errorf("store height %d; want %d (the last commit that succeeded)", h, okBlocks)
	}
	if q := e.seq.Queued(); q != 0 {
		t.Errorf("Queued() = %d after every submitter was answered; want 0", q)
	}
	t.Logf("%d receipts, %d refusals", len(receipts), unavailable.Load())
	e.checkLedger(receipts)
}

// Close while 50 goroutines submit: every submission is answered, Close
// returns, and closing twice is harmless.
func TestCloseUnderLoad(t *testing.T) {
	e := newEnv(t, Config{MaxTxs: 50, MaxDelay: time.Millisecond})
	ms := e.enrolMembers("cl", 10)
	var rec recorder
	var wg sync.WaitGroup
	var committed atomic.Int64
	for g := range 50 {
		m := ms[g%len(ms)]
		wg.Go(func() {
			for {
				ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
				var errs []error
				if g%5 == 0 {
					for _, r := range e.seq.SubmitBatch(ctx, [][]byte{e.anchor(m, m.key), e.anchor(m, m.key), e.anchor(m, m.key)}) {
						if r.Err == nil {
							rec.add(r.Receipt)
							committed.Add(1)
						}
						errs = append(errs, r.Err)
					}
				} else {
					r, err := e.seq.Submit(ctx, e.anchor(m, m.key))
					if err == nil {
						rec.add(r)
						committed.Add(1)
					}
					errs = append(errs, err)
				}
				cancel()
				stop := false
				for _, err := range errs {
					if err == nil {
						continue
					}
					if ledger.CodeOf(err) != ledger.CodeUnavailable {
						t.Errorf("submit during Close: %v; want a receipt or %s", err, ledger.CodeUnavailable)
					}
					stop = true
				}
				if stop {
					return
				}
			}
		})
	}
	waitFor(t, 20*time.Second, "200 commits", func() bool { return committed.Load() >= 200 })
	e.closeSeq()
	e.seq.Close() // a second Close is a no-op
	wg.Wait()
	if _, err := e.seq.Submit(ctxT(t, 5*time.Second), e.anchor(ms[0], ms[0].key)); ledger.CodeOf(err) != ledger.CodeUnavailable {
		t.Errorf("Submit after Close: %v; want %s", err, ledger.CodeUnavailable)
	}
	if e.seq.Err() == nil {
		t.Error("Err() = nil after Close")
	}
	e.checkLedger(rec.all())
}

// Close before Start (the node failed to listen, say) returns at once.
func TestCloseBeforeStart(t *testing.T) {
	e := newEnv(t, Config{}, func(e *env) {
		e.closeSeq()
	})
	_, err := e.seq.Submit(ctxT(t, 5*time.Second), e.anchor(member{id: adminID, key: e.admin}, e.admin))
	if ledger.CodeOf(err) != ledger.CodeUnavailable {
		t.Errorf("Submit after Close: %v; want %s", err, ledger.CodeUnavailable)
	}
}

// Beyond QueueSize, Submit answers CodeOverloaded at once; everything
// admitted commits.
func TestOverload(t *testing.T) {
	const n, queue = 200, 10
	gate := make(chan struct{})
	var gated atomic.Bool
	e := newEnv(t, Config{QueueSize: queue, MaxTxs: 4, MaxDelay: time.Millisecond}, func(e *env) {
		e.wrapCommit(func(b *store.Block, next func(*store.Block) error) error {
			if gated.Load() {
				<-gate
			}
			return next(b)
		})
	})
	ms := e.enrolMembers("ov", 4)
	// From now on hold every commit until all submissions were admitted
	// or refused.
	gated.Store(true)

	raws := make([][]byte, n)
	for i := range raws {
		m := ms[i%len(ms)]
		raws[i] = e.anchor(m, m.key)
	}
	var overloaded atomic.Int64
	var rec recorder
	var wg sync.WaitGroup
	ctx := ctxT(t, 20*time.Second)
	for i := range n {
		wg.Go(func() {
			start := time.Now()
			r, err := e.seq.Submit(ctx, raws[i])
			switch {
			case err == nil:
				if r.Result.Code != ledger.CodeOK {
					t.Errorf("tx %d committed %s; want ok", i, r.Result.Code)
				}
				rec.add(r)
			case ledger.CodeOf(err) == ledger.CodeOverloaded:
				if d := time.Since(start); d > 2*time.Second {
					t.Errorf("tx %d: overloaded only after %s", i, d)
				}
				overloaded.Add(1)
			default:
				t.Errorf("tx %d: %v; want a receipt or %s", i, err, ledger.CodeOverloaded)
			}
		})
	}
	waitFor(t, 15*time.Second, "every submission to be admitted or refused", func() bool {
		return int(overloaded.Load())+e.seq.Queued() == n
	})
	if q := e.seq.Queued(); q > queue {
		t.Errorf("Queued() = %d; QueueSize is %d", q, queue)
	}
	close(gate)
	wg.Wait()
	receipts := rec.all()
	if overloaded.Load() < n-queue || len(receipts) == 0 || len(receipts)+int(overloaded.Load()) != n {
		t.Errorf("%d committed, %d overloaded of %d with QueueSize %d", len(receipts), overloaded.Load(), n, queue)
	}
	e.checkLedger(receipts)
}

// After a re-key commits, the member's transactions signed with the new
// key are admitted, even when admissions of that member's transactions
// read its record while the re-key was being committed (a stale read
// must not be cached past the commit).
func TestMemberCacheFreshAfterRekey(t *testing.T) {
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond}, func(e *env) {
		// Widen the race: an admission that misses the member cache
		// reads the record, then pauses before caching it.
		e.seq.members = admit.NewMemberCache(slowReader{e.st, 300 * time.Microsecond})
	})
	m := e.enrolMembers("rk", 1)[0]
	id := m.id
	var rec recorder
	const iterations = 40
	for i := range iterations {
		k2 := newKey(t)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		cur := m
		// Keep the member's cache entry churning: each committed
		// set_roles invalidates it, so admissions keep missing and
		// reading the record around the re-key's commit.
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := e.seq.Submit(ctxT(t, 20*time.Second), e.setRoles(id, "practitioner"))
				if err != nil {
					t.Errorf("set_roles: %v", err)
					return
				}
				rec.add(r)
			}
		})
		for range 3 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					r, err := e.seq.Submit(ctxT(t, 20*time.Second), e.anchor(cur, cur.key))
					switch {
					case err == nil:
						rec.add(r) // ok before the rekey, bad_signature after
					case ledger.CodeOf(err) == ledger.CodeBadSignature:
					default:
						t.Errorf("old-key anchor: %v", err)
						return
					}
				}
			})
		}
		time.Sleep(time.Millisecond)
		r, err := e.seq.Submit(ctxT(t, 20*time.Second), e.rekey(id, k2))
		mustOK(t, "rekey", r, err)
		rec.add(r)
		m.key = k2
		r, err = e.seq.Submit(ctxT(t, 20*time.Second), e.anchor(m, k2))
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatalf("iteration %d: new-key anchor after the rekey committed: %v", i, err)
		}
		mustOK(t, "new-key anchor", r, err)
		rec.add(r)
	}
	e.checkLedger(rec.all())
}

// slowReader delays member-record reads after reading them.
type slowReader struct {
	st    *store.Store
	delay time.Duration
}

func (r slowReader) Get(k []byte) ([]byte, bool, error) {
	v, ok, err := r.st.Get(k)
	time.Sleep(r.delay)
	return v, ok, err
}

// The same transaction submitted concurrently commits once; every other
// submission, concurrent or later, is a replay.
func TestReplay(t *testing.T) {
	e := newEnv(t, Config{MaxTxs: 7, MaxDelay: time.Millisecond})
	m := e.enrolMembers("rp", 1)[0]
	var rec recorder
	for round := range 5 {
		raw := e.anchor(m, m.key)
		var wg sync.WaitGroup
		var ok, replays atomic.Int64
		start := make(chan struct{})
		for range 10 {
			wg.Go(func() {
				<-start
				r, err := e.seq.Submit(ctxT(t, 20*time.Second), raw)
				switch {
				case err == nil:
					if r.Result.Code != ledger.CodeOK {
						t.Errorf("committed %s; want ok", r.Result.Code)
					}
					ok.Add(1)
					rec.add(r)
				case ledger.CodeOf(err) == ledger.CodeReplay:
					replays.Add(1)
				default:
					t.Errorf("round %d: %v; want a receipt or replay", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if ok.Load() != 1 || replays.Load() != 9 {
			t.Errorf("round %d: %d receipts, %d replays; want 1 and 9", round, ok.Load(), replays.Load())
		}
		if _, err := e.seq.Submit(ctxT(t, 20*time.Second), raw); ledger.CodeOf(err) != ledger.CodeReplay {
			t.Errorf("round %d: resubmission after commit: %v; want replay", round, err)
		}
		res := e.seq.SubmitBatch(ctxT(t, 20*time.Second), [][]byte{raw})
		if ledger.CodeOf(res[0].Err) != ledger.CodeReplay {
			t.Errorf("round %d: batch resubmission after commit: %v; want replay", round, res[0].Err)
		}
	}
	// Twice in one batch: the second is a replay of the pending first.
	raw := e.anchor(m, m.key)
	res := e.seq.SubmitBatch(ctxT(t, 20*time.Second), [][]byte{raw, raw})
	mustOK(t, "batch[0]", res[0].Receipt, res[0].Err)
	rec.add(res[0].Receipt)
	if ledger.CodeOf(res[1].Err) != ledger.CodeReplay {
		t.Errorf("batch[1] (same tx): %v; want replay", res[1].Err)
	}
	e.checkLedger(rec.all())
}

// Close while a large batch is being verified on its submitter's
// goroutine: the batch is queued before Close drains, or refused, and
// every transaction of it is answered.
func TestCloseDuringBatchVerification(t *testing.T) {
	e := newEnv(t, Config{VerifyWorkers: 1})
	ms := e.enrolMembers("cb", 4)
	const n = 3000
	raws := make([][]byte, n)
	for i := range raws {
		m := ms[i%len(ms)]
		raws[i] = e.anchor(m, m.key)
	}
	done := make(chan []Result, 1)
	go func() { done <- e.seq.SubmitBatch(ctxT(t, 15*time.Second), raws) }()
	waitFor(t, 10*time.Second, "the batch to be admitted", func() bool { return e.seq.Queued() == n })
	e.closeSeq()
	var rec recorder
	for i, r := range <-done {
		switch {
		case r.Err == nil:
			rec.add(r.Receipt)
		case ledger.CodeOf(r.Err) != ledger.CodeUnavailable:
			t.Fatalf("batch[%d]: %v; want a receipt or %s", i, r.Err, ledger.CodeUnavailable)
		}
	}
	if q := e.seq.Queued(); q != 0 {
		t.Errorf("Queued() = %d after Close; want 0", q)
	}
	e.checkLedger(rec.all())
}
