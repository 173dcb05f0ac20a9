package solo

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/ledger"
)

// BenchmarkSubmit measures in-process throughput: concurrent Submit calls
// of pre-signed notary anchors by a few members, through admission, batch
// verification, execution and one fsynced commit per block, with the
// default Config. Each sub-benchmark runs a fixed number of closed-loop
// submitters (each waits for its receipt before sending the next), from
// an interactive client or two to a busy API; tx/s is the throughput,
// ms/tx the mean time to a receipt and tx/block the mean block size.
func BenchmarkSubmit(b *testing.B) {
	for _, n := range []int{1, 4, 32, 256} {
		b.Run(fmt.Sprintf("submitters=%d", n), func(b *testing.B) { benchSubmit(b, n) })
	}
}

func benchSubmit(b *testing.B, submitters int) {
	e := newEnv(b, Config{})
	ms := e.enrolMembers("bench", 8)
	raws := make([][]byte, b.N)
	for i := range raws {
		m := ms[i%len(ms)]
		raws[i] = e.anchor(m, m.key)
	}
	h0 := e.st.Height()
	var next atomic.Int64
	var latency atomic.Int64 // summed, ns
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range submitters {
		wg.Go(func() {
			ctx := b.Context()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(raws) {
					return
				}
				t0 := time.Now()
				r, err := e.seq.Submit(ctx, raws[i])
				latency.Add(int64(time.Since(t0)))
				if err != nil {
					b.Errorf("Submit: %v", err)
					return
				}
				if r.Result.Code != ledger.CodeOK {
					b.Errorf("Submit: committed %s", r.Result.Code)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(latency.Load())/float64(b.N)/1e6, "ms/tx")
	b.ReportMetric(float64(b.N)/float64(max(1, e.st.Height()-h0)), "tx/block")
}
