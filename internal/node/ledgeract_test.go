package node

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/ledger"
)

func TestLedgerActivity(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	tx := func(signer, contract, method string, payload any) *ledger.Tx {
		p, _ := json.Marshal(payload)
		return &ledger.Tx{Signer: signer, Contract: contract, Method: method, Payload: p}
	}
	var id ledger.Hash
	codes := func(la *ledgerActivity, x *ledger.Tx, at time.Time) []string {
		var out []string
		for _, o := range la.observe(x, id, at) {
			out = append(out, o.Reasons[0].Code+":"+o.User)
		}
		return out
	}
	t.Run("tx rate against the signer's own history", func(t *testing.T) {
		la := newLedgerActivity()
		// Ten quiet minutes of 20 transactions each.
		for m := range 10 {
			for i := range 20 {
				if got := codes(la, tx("org/lab", "notary", "anchor", nil), t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second)); got != nil {
					t.Fatalf("quiet minute %d raised %v", m, got)
				}
			}
		}
		// Then 400 in one minute.
		var raised []string
		for i := range 400 {
			raised = append(raised, codes(la, tx("org/lab", "notary", "anchor", nil), t0.Add(10*time.Minute+time.Duration(i)*100*time.Millisecond))...)
		}
		if len(raised) != 1 || raised[0] != "tx_rate:org/lab" {
			t.Errorf("burst raised %v; want one tx_rate alert about org/lab", raised)
		}
	})
	t.Run("a busy signer is not alerted for its usual rate", func(t *testing.T) {
		la := newLedgerActivity()
		var raised []string
		for m := range 12 {
			for i := range 500 {
				raised = append(raised, codes(la, tx("org/node", "audit", "record_batch", nil), t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*100*time.Millisecond))...)
			}
		}
		// Only the first minute, without history, can alert.
		if len(raised) > 1 {
			t.Errorf("steady 500/min raised %v", raised)
		}
	})
	t.Run("consent burst", func(t *testing.T) {
		la := newLedgerActivity()
		var raised []string
		for i := range 80 {
			raised = append(raised, codes(la, tx("org/node", "consent", consent.MethodSet, nil), t0.Add(time.Duration(i)*500*time.Millisecond))...)
		}
		if !slices.Contains(raised, "consent_burst:") {
			t.Errorf("80 consent changes in a minute raised %v", raised)
		}
	})
	t.Run("repeated break-glass", func(t *testing.T) {
		la := newLedgerActivity()
		var raised []string
		for i := range 4 {
			bg := consent.BreakGlass{Patient: "pt_0123456789abcdef", Member: "org/dr-x", Reason: "c2VhbGVk", Minutes: 30}
			raised = append(raised, codes(la, tx("org/node", "consent", consent.MethodBreakGlass, bg), t0.Add(time.Duration(i)*10*time.Minute))...)
		}
		if len(raised) != 1 || raised[0] != "break_glass_repeated:org/dr-x" {
			t.Errorf("4 emergencies in 40 minutes raised %v", raised)
		}
		la2 := newLedgerActivity()
		raised = nil
		for i := range 4 {
			bg := consent.BreakGlass{Patient: "pt_0123456789abcdef", Member: "org/dr-y", Reason: "c2VhbGVk", Minutes: 30}
			raised = append(raised, codes(la2, tx("org/node", "consent", consent.MethodBreakGlass, bg), t0.Add(time.Duration(i)*30*time.Minute))...)
		}
		if len(raised) != 0 {
			t.Errorf("4 emergencies in 90 minutes raised %v", raised)
		}
	})
	t.Run("refused signatures", func(t *testing.T) {
		la := newLedgerActivity()
		now := time.Now()
		for range 25 {
			la.reject(ledger.CodeBadSignature)
		}
		la.reject(ledger.CodeReplay) // not counted
		got := la.rejections(now)
		if len(got) != 1 || !strings.Contains(got[0].Reasons[0].Text, "25 transactions") {
			t.Errorf("rejections = %+v", got)
		}
		if again := la.rejections(now); again != nil {
			t.Errorf("alerted twice within the hour: %+v", again)
		}
	})
}
