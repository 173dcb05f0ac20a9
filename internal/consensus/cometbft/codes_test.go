package cometbft

import (
	"testing"

	"github.com/medledger/medledger/internal/ledger"
)

// TestCodes checks that every ledger code survives the ABCI numbering and
// that the numbers, which CometBFT hashes into blocks, do not move.
func TestCodes(t *testing.T) {
	pinned := map[ledger.Code]uint32{
		ledger.CodeOK: 0, ledger.CodeMalformed: 1, ledger.CodeBadSignature: 4, ledger.CodeReplay: 7,
		ledger.CodeDenied: 10, ledger.CodeContract: 11, ledger.CodeUnavailable: 13,
	}
	for c, n := range pinned {
		if got := codeNum(c); got != n {
			t.Errorf("codeNum(%q) = %d; want %d", c, got, n)
		}
	}
	for _, c := range append([]ledger.Code{ledger.CodeOK}, codes...) {
		if !c.Valid() {
			t.Errorf("codes holds invalid code %q", c)
		}
		if got := codeOf(codeNum(c)); got != c {
			t.Errorf("codeOf(codeNum(%q)) = %q", c, got)
		}
	}
	if got := codeOf(999); got != ledger.CodeUnavailable {
		t.Errorf("codeOf(999) = %q; want unavailable", got)
	}
}
