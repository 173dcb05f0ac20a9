package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// BenchOptions configures Bench.
type BenchOptions struct {
	Txs     int           // transactions (pre-signed); default 200000
	Clients int           // concurrent clients; default 1000
	HTTP    bool          // submit over loopback HTTP instead of in process
	Batch   int           // transactions per HTTP request (HTTP only); default 50
	Dir     string        // home directory; default a temporary one, removed after
	Verify  bool          // run verify on the result and report its speed
	Solo    SoloConfig    // sequencer tuning
	Sample  time.Duration // memory sampling interval; default 10s
	// Duration, if set, runs a sustained load for this long instead of
	// Txs transactions; clients then sign as they go.
	Duration time.Duration
	Progress func(done, total int)
	// AtEnd, if set, runs when the load ends, before the node closes (for
	// heap profiles).
	AtEnd func() error
}

// BenchResult is what Bench measured.
type BenchResult struct {
	Txs           int       `json:"txs"`
	Clients       int       `json:"clients"`
	TxPerS        float64   `json:"tx_per_s"`
	P50ms         float64   `json:"p50_ms"`
	P99ms         float64   `json:"p99_ms"`
	MaxMs         float64   `json:"max_ms"`
	FsyncPerBlock bool      `json:"fsync_per_block"`
	SigVerified   bool      `json:"signatures_verified"`
	Blocks        uint64    `json:"blocks"`
	AvgBlockTxs   float64   `json:"avg_block_txs"`
	Transport     string    `json:"transport"`
	Batch         int       `json:"batch,omitempty"`
	PreSigned     bool      `json:"pre_signed"`
	Cores         int       `json:"cores"`
	Seconds       float64   `json:"seconds"`
	Failed        int       `json:"failed"`
	VerifyTxPerS  float64   `json:"verify_tx_per_s,omitempty"`
	VerifyOK      *bool     `json:"verify_ok,omitempty"`
	HeapMB        []float64 `json:"heap_mb_samples,omitempty"`
	RSSMB         []float64 `json:"rss_mb_samples,omitempty"`
}

// Bench measures the ledger: signed notary transactions submitted by
// concurrent clients, each answered only after its block is fsynced.
func Bench(ctx context.Context, o BenchOptions) (*BenchResult, error) {
	if o.Txs <= 0 {
		o.Txs = 200000
	}
	if o.Clients <= 0 {
		o.Clients = 1000
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	if o.Sample <= 0 {
		o.Sample = 10 * time.Second
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "medledger-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	h := home.Home{Dir: dir}
	doc, err := home.Init(dir, home.InitOptions{ChainID: "medledger-bench"})
	if err != nil {
		return nil, err
	}
	n, err := Open(Config{Home: dir, Solo: o.Solo}, nil)
	if err != nil {
		return nil, err
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	n.Start()

	// Enrol one member per client.
	mk, err := h.MasterKeyValue("")
	if err != nil {
		return nil, err
	}
	adminID := doc.Members[0].ID
	admin, err := identity.ReadKeyFile(h.MemberKey(adminID), identity.MasterKey(mk))
	if err != nil {
		return nil, err
	}
	keys := make([]*identity.Key, o.Clients)
	ids := make([]string, o.Clients)
	var enrol [][]byte
	for i := range keys {
		if keys[i], err = identity.GenerateKey(); err != nil {
			return nil, err
		}
		ids[i] = doc.Orgs[0].ID + "/client-" + strconv.Itoa(i)
		p, _ := json.Marshal(members.Enrol{ID: ids[i], Org: doc.Orgs[0].ID, Roles: []string{"practitioner"}, PublicKey: identity.EncodePublicKey(keys[i].Public())})
		raw, _, err := client.Sign(client.Tx{ChainID: doc.ChainID, Contract: "members", Method: "enrol", Payload: p, Signer: adminID}, admin)
		if err != nil {
			return nil, err
		}
		enrol = append(enrol, raw)
	}
	for lo := 0; lo < len(enrol); lo += 1000 {
		for _, r := range n.SubmitBatch(ctx, enrol[lo:min(lo+1000, len(enrol))]) {
			if r.Err != nil || r.Receipt.Result.Code != ledger.CodeOK {
				return nil, fmt.Errorf("enrolling bench clients: %v %v", r.Err, r.Receipt.Result.Code)
			}
		}
	}
	sign := func(i int) ([]byte, error) {
		var hb [32]byte
		rand.Read(hb[:])
		p, _ := json.Marshal(notary.Anchor{Hash: fmt.Sprintf("%x", hb), Kind: "bench"})
		raw, _, err := client.Sign(client.Tx{ChainID: doc.ChainID, Contract: "notary", Method: "anchor", Payload: p, Signer: ids[i%o.Clients]}, keys[i%o.Clients])
		return raw, err
	}

	// Pre-sign, as clients sign on their own machines, before the clock.
	var txs [][]byte
	if o.Duration == 0 {
		txs = make([][]byte, o.Txs)
		var wg sync.WaitGroup
		errc := make(chan error, runtime.GOMAXPROCS(0))
		per := (o.Txs + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0)
		for lo := 0; lo < o.Txs; lo += per {
			wg.Add(1)
			go func(lo, hi int) {
				defer wg.Done()
				for i := lo; i < hi; i++ {
					raw, err := sign(i)
					if err != nil {
						errc <- err
						return
					}
					txs[i] = raw
				}
			}(lo, min(lo+per, o.Txs))
		}
		wg.Wait()
		close(errc)
		if err := <-errc; err != nil {
			return nil, err
		}
	}

	var submitOne func(ctx context.Context, raws [][]byte) (int, error)
	transport := "in-process"
	if o.HTTP {
		transport = "http"
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		sctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go n.Serve(sctx, ln)
		cl := client.New("http://"+ln.Addr().String(), nil)
		submitOne = func(ctx context.Context, raws [][]byte) (int, error) {
			if len(raws) == 1 {
				_, err := cl.Submit(ctx, raws[0])
				if err != nil {
					return 1, nil
				}
				return 0, nil
			}
			res, err := cl.SubmitBatch(ctx, raws)
			if err != nil {
				return 0, err
			}
			bad := 0
			for _, r := range res {
				if r.Status != 200 {
					bad++
				}
			}
			return bad, nil
		}
	} else {
		submitOne = func(ctx context.Context, raws [][]byte) (int, error) {
			bad := 0
			if len(raws) == 1 {
				r, err := n.Submit(ctx, raws[0])
				if err != nil || r.Result.Code != ledger.CodeOK {
					bad++
				}
				return bad, nil
			}
			for _, r := range n.SubmitBatch(ctx, raws) {
				if r.Err != nil || r.Receipt.Result.Code != ledger.CodeOK {
					bad++
				}
			}
			return bad, nil
		}
	}
	batch := 1
	if o.HTTP {
		batch = o.Batch
	}

	res := &BenchResult{Clients: o.Clients, FsyncPerBlock: true, SigVerified: true, Transport: transport, Cores: runtime.NumCPU(), PreSigned: o.Duration == 0}
	if o.HTTP {
		res.Batch = batch
	}
	startHeight := n.Store().Height()
	runtime.GC()

	var (
		mu        sync.Mutex
		latencies latencyHist
		failed    atomic.Int64
		done      atomic.Int64
		next      atomic.Int64
	)
	stopSampling := make(chan struct{})
	var sampler sync.WaitGroup
	sampler.Add(1)
	go func() {
		defer sampler.Done()
		t := time.NewTicker(o.Sample)
		defer t.Stop()
		sample := func() {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			res.HeapMB = append(res.HeapMB, float64(ms.HeapInuse)/(1<<20))
			if rss := rssMB(); rss > 0 {
				res.RSSMB = append(res.RSSMB, rss)
			}
			mu.Unlock()
		}
		sample()
		for {
			select {
			case <-t.C:
				sample()
				if o.Progress != nil && o.Duration > 0 {
					o.Progress(int(done.Load()), 0)
				}
			case <-stopSampling:
				sample()
				return
			}
		}
	}()
	var deadline time.Time
	start := time.Now()
	if o.Duration > 0 {
		deadline = start.Add(o.Duration)
	}
	var wg sync.WaitGroup
	var runErr atomic.Value
	for c := 0; c < o.Clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var local latencyHist
			for {
				var raws [][]byte
				if o.Duration > 0 {
					if time.Now().After(deadline) || ctx.Err() != nil {
						break
					}
					for range batch {
						raw, err := sign(c)
						if err != nil {
							runErr.Store(err)
							return
						}
						raws = append(raws, raw)
					}
				} else {
					i := int(next.Add(int64(batch))) - batch
					if i >= len(txs) || ctx.Err() != nil {
						break
					}
					raws = txs[i:min(i+batch, len(txs))]
				}
				t0 := time.Now()
				bad, err := submitOne(ctx, raws)
				if err != nil {
					runErr.Store(err)
					return
				}
				d := time.Since(t0)
				local.add(d, len(raws))
				failed.Add(int64(bad))
				if nd := done.Add(int64(len(raws))); o.Progress != nil && o.Duration == 0 && nd%5000 < int64(len(raws)) {
					o.Progress(int(nd), len(txs))
				}
			}
			mu.Lock()
			latencies.merge(&local)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	sampler.Wait()
	if o.AtEnd != nil {
		if err := o.AtEnd(); err != nil {
			return nil, err
		}
	}
	if err, _ := runErr.Load().(error); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pct := func(p float64) float64 { return latencies.quantile(p).Seconds() * 1000 }
	res.Txs = int(latencies.n)
	res.Seconds = elapsed.Seconds()
	res.TxPerS = float64(res.Txs) / elapsed.Seconds()
	res.P50ms, res.P99ms, res.MaxMs = pct(0.50), pct(0.99), pct(1)
	res.Failed = int(failed.Load())
	res.Blocks = n.Store().Height() - startHeight
	if res.Blocks > 0 {
		res.AvgBlockTxs = float64(res.Txs) / float64(res.Blocks)
	}
	if o.Verify {
		closed = true
		if err := n.Close(); err != nil {
			return nil, err
		}
		rep, err := VerifyDir(ctx, h.Ledger(), doc, VerifyOptions{})
		if err != nil {
			return nil, err
		}
		ok := rep.OK
		res.VerifyOK = &ok
		res.VerifyTxPerS = rep.TxPerSec
		if !ok {
			return res, fmt.Errorf("verify failed after the benchmark: %v", rep.Problem)
		}
	}
	return res, nil
}

// latencyHist is a fixed-size log-scale histogram of latencies (buckets 2%
// apart from 10 µs to over a minute), so that a long benchmark measures
// the node's memory, not its own.
type latencyHist struct {
	b [800]uint64
	n uint64
}

const histBase = 1.02

func (h *latencyHist) add(d time.Duration, count int) {
	us := max(float64(d.Microseconds()), 10)
	i := min(int(math.Log(us/10)/math.Log(histBase)), len(h.b)-1)
	h.b[i] += uint64(count)
	h.n += uint64(count)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, c := range o.b {
		h.b[i] += c
	}
	h.n += o.n
}

// quantile returns the upper bound of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	target := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.b {
		seen += c
		if seen >= max(target, 1) {
			return time.Duration(10*math.Pow(histBase, float64(i+1))) * time.Microsecond
		}
	}
	return time.Duration(10*math.Pow(histBase, float64(len(h.b)))) * time.Microsecond
}

// rssMB reads the resident set size from /proc (Linux); 0 elsewhere.
func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
