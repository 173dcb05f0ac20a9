package node

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

// metrics are the node's Prometheus metrics, on a registry of its own.
// Labels carry only codes, route patterns and status classes: never ids,
// paths with identifiers, or payload contents.
type metrics struct {
	reg       *prometheus.Registry
	committed *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	blocks    prometheus.Counter
	blockTxs  prometheus.Histogram
	commit    prometheus.Histogram
	latency   prometheus.Histogram
	http      *prometheus.HistogramVec
	queue     func() int
	// onReject, if set, also hears of every refused transaction (the
	// ledger-activity monitor counts refused signatures).
	onReject atomic.Pointer[func(ledger.Code)]
}

func newMetrics(st *store.Store) *metrics {
	m := &metrics{reg: prometheus.NewRegistry()}
	m.committed = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medledger_txs_committed_total", Help: "Transactions committed, by result code.",
	}, []string{"code"})
	m.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "medledger_txs_rejected_total", Help: "Transactions rejected at admission, by reason.",
	}, []string{"reason"})
	m.blocks = prometheus.NewCounter(prometheus.CounterOpts{Name: "medledger_blocks_committed_total", Help: "Blocks committed."})
	m.blockTxs = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "medledger_block_txs", Help: "Transactions per block.", Buckets: prometheus.ExponentialBuckets(1, 2, 14),
	})
	m.commit = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "medledger_block_commit_seconds", Help: "Time to execute, sign and durably write a block.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	})
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "medledger_tx_commit_latency_seconds", Help: "Time from admission to durable commit of a transaction.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	})
	m.http = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "medledger_http_request_seconds", Help: "HTTP requests by route pattern and status.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "status"})
	m.reg.MustRegister(m.committed, m.rejected, m.blocks, m.blockTxs, m.commit, m.latency, m.http,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "medledger_queue_depth", Help: "Transactions admitted and awaiting commit."},
			func() float64 {
				if m.queue == nil {
					return 0
				}
				return float64(m.queue())
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "medledger_height", Help: "Latest committed block height."},
			func() float64 { return float64(st.Height()) }),
	)
	for _, c := range []ledger.Code{ledger.CodeMalformed, ledger.CodeTooLarge, ledger.CodeWrongChain, ledger.CodeBadSignature,
		ledger.CodeUnknownSigner, ledger.CodeSuspendedSigner, ledger.CodeReplay, ledger.CodeUnknownContract, ledger.CodeOverloaded} {
		m.rejected.WithLabelValues(string(c))
	}
	return m
}

func (m *metrics) BlockCommitted(txs int, d time.Duration) {
	m.blocks.Inc()
	m.blockTxs.Observe(float64(txs))
	m.commit.Observe(d.Seconds())
}

func (m *metrics) Rejected(c ledger.Code) {
	if f := m.onReject.Load(); f != nil {
		(*f)(c)
	}
	if !c.Valid() {
		c = "other"
	}
	m.rejected.WithLabelValues(string(c)).Inc()
}

func (m *metrics) TxCommitted(c ledger.Code, d time.Duration) {
	m.committed.WithLabelValues(string(c)).Inc()
	m.latency.Observe(d.Seconds())
}

func (m *metrics) observeHTTP(route string, status int, d time.Duration) {
	m.http.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}
