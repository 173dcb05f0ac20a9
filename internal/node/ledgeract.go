package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/ledger"
)

// ledgerRulesFile is the ledger-activity detector's rule set. Like a
// model file it is registered on the ledger by its SHA-256 (see the
// models contract), and every alert it raises names it. It is rules, not
// a trained model: its training-data hash is that of no data.
var ledgerRulesFile = []byte(`{"format":"medledger.rules/v1","name":"ledger-activity","version":"1","detector":"ledger",` +
	`"rules":{"tx_rate":{"min_per_minute":300,"factor_over_median":5,"history_minutes":30},` +
	`"consent_burst":{"min_per_minute":60,"factor_over_median":5},` +
	`"break_glass":{"max_per_member_per_hour":3},` +
	`"rejected_signatures":{"max_per_minute":20}},` +
	`"training":{"data_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}`)

// Thresholds of ledgerRulesFile.
const (
	rateMin          = 300
	rateFactor       = 5
	historyMinutes   = 30
	consentBurstMin  = 60
	breakGlassPerHr  = 3
	rejectedPerMin   = 20
	realertAfterSecs = 3600
)

// ledgerActivity watches the transactions themselves, as they commit (in
// block time, so it is the same on every replay): a member or node
// suddenly submitting far more than its usual rate, bursts of consent
// changes, a member declaring emergencies again and again, and streams
// of transactions refused for bad or unknown signatures (which never
// reach the ledger: the sequencer reports them).
type ledgerActivity struct {
	minute    int64                  // the block-time minute being counted
	perSigner map[string]int         // transactions per signer this minute
	hist      map[string][]int       // each signer's last completed minutes
	consent   int                    // consent changes this minute
	consentH  []int                  // completed minutes
	lastTx    map[string]ledger.Hash // each signer's latest tx this minute
	breakG    map[string][]int64     // member → declaration times (unix)
	alerted   map[string]int64       // rule/subject → last alert (unix)
	rejected  atomic.Int64           // refused signatures this wall-clock minute
	rejMinute atomic.Int64

	mu sync.Mutex // guards alerted for the rejection path
}

func newLedgerActivity() *ledgerActivity {
	return &ledgerActivity{perSigner: map[string]int{}, hist: map[string][]int{}, lastTx: map[string]ledger.Hash{},
		breakG: map[string][]int64{}, alerted: map[string]int64{}}
}

// reject counts a refused transaction (called by the sequencer's
// observer, concurrently).
func (la *ledgerActivity) reject(c ledger.Code) {
	if c != ledger.CodeBadSignature && c != ledger.CodeUnknownSigner {
		return
	}
	m := time.Now().Unix() / 60
	if la.rejMinute.Swap(m) != m {
		la.rejected.Store(0)
	}
	la.rejected.Add(1)
}

// rejections returns an alert when this minute's refused signatures
// passed the threshold (once an hour).
func (la *ledgerActivity) rejections(now time.Time) []alerts.Open {
	n := la.rejected.Load()
	if n < rejectedPerMin || la.rejMinute.Load() != now.Unix()/60 || !la.due("rejected", now.Unix()) {
		return nil
	}
	return []alerts.Open{{Detector: "ledger", Events: []string{"rejections-" + strconv.FormatInt(now.Unix()/60, 10)},
		Score: 0.9, Reasons: []alerts.Reason{{Code: "rejected_signatures",
			Text: fmt.Sprintf("%d transactions refused for bad or unknown signatures within a minute: someone may be forging or replaying", n)}}}}
}

// due reports whether an alert for key may be raised at t, and if so
// records it.
func (la *ledgerActivity) due(key string, t int64) bool {
	la.mu.Lock()
	defer la.mu.Unlock()
	if last, ok := la.alerted[key]; ok && t-last < realertAfterSecs {
		return false
	}
	la.alerted[key] = t
	return true
}

// roll closes the minutes before t's.
func (la *ledgerActivity) roll(t time.Time) {
	m := t.Unix() / 60
	if la.minute == 0 {
		la.minute = m
	}
	for la.minute < m {
		for s := range la.hist {
			if _, ok := la.perSigner[s]; !ok {
				la.hist[s] = appendHist(la.hist[s], 0)
			}
		}
		for s, n := range la.perSigner {
			la.hist[s] = appendHist(la.hist[s], n)
		}
		la.consentH = appendHist(la.consentH, la.consent)
		clear(la.perSigner)
		clear(la.lastTx)
		la.consent = 0
		la.minute++
		if m-la.minute > historyMinutes { // a long pause: skip the empty minutes
			la.minute = m
		}
	}
}

func appendHist(h []int, n int) []int {
	h = append(h, n)
	if len(h) > historyMinutes {
		h = h[len(h)-historyMinutes:]
	}
	return h
}

func median(h []int) int {
	if len(h) == 0 {
		return 0
	}
	s := slices.Clone(h)
	slices.Sort(s)
	return s[len(s)/2]
}

// observe counts one committed transaction at block time t and returns
// the alerts it raises.
func (la *ledgerActivity) observe(tx *ledger.Tx, id ledger.Hash, t time.Time) []alerts.Open {
	la.roll(t)
	var out []alerts.Open
	la.perSigner[tx.Signer]++
	la.lastTx[tx.Signer] = id
	n := la.perSigner[tx.Signer]
	if med := median(la.hist[tx.Signer]); n >= rateMin && n > rateFactor*(med+1) && la.due("rate/"+tx.Signer, t.Unix()) {
		out = append(out, alerts.Open{Detector: "ledger", Events: []string{id.String()}, Score: 0.8, User: tx.Signer,
			Reasons: []alerts.Reason{{Code: "tx_rate", Text: fmt.Sprintf("%s submitted %d transactions within a minute; its usual rate is about %d a minute", tx.Signer, n, med)}}})
	}
	if tx.Contract == "consent" {
		switch tx.Method {
		case consent.MethodSet, consent.MethodShare, consent.MethodUnshare:
			la.consent++
			if med := median(la.consentH); la.consent >= consentBurstMin && la.consent > rateFactor*(med+1) && la.due("consent", t.Unix()) {
				out = append(out, alerts.Open{Detector: "ledger", Events: []string{id.String()}, Score: 0.7,
					Reasons: []alerts.Reason{{Code: "consent_burst", Text: fmt.Sprintf("%d consent changes within a minute; usually about %d", la.consent, med)}}})
			}
		case consent.MethodBreakGlass:
			var bg consent.BreakGlass
			if json.Unmarshal(tx.Payload, &bg) == nil && ledger.ValidMemberID(bg.Member) {
				ts := append(la.breakG[bg.Member], t.Unix())
				for len(ts) > 0 && t.Unix()-ts[0] > 3600 {
					ts = ts[1:]
				}
				la.breakG[bg.Member] = ts
				if len(ts) > breakGlassPerHr && la.due("breakglass/"+bg.Member, t.Unix()) {
					out = append(out, alerts.Open{Detector: "ledger", Events: []string{id.String()}, Score: 0.85, User: bg.Member,
						Reasons: []alerts.Reason{{Code: "break_glass_repeated", Text: fmt.Sprintf("%s declared %d emergencies within an hour", bg.Member, len(ts))}}})
				}
			}
		}
	}
	return out
}
