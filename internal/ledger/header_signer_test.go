package ledger_test

import (
	"bytes"
	"testing"

	"github.com/medledger/medledger/internal/ledger"
)

// TestSignedHeaderSigner checks the optional signer field of a signed
// header (consortium mode): written only when it differs from the
// proposer, decoded back, and refused when written non-canonically.
func TestSignedHeaderSigner(t *testing.T) {
	h := ledger.Header{ChainID: "c", Height: 3, Time: 7, Proposer: "proposer-key"}
	sig := bytes.Repeat([]byte{0x5A}, ledger.SignatureSize)
	tests := []struct {
		name       string
		signer     string
		wantSigner string // after a round trip
		wantID     string
	}{
		{"solo: proposer signed", "", "", "proposer-key"},
		{"signer equal to proposer is implied", "proposer-key", "", "proposer-key"},
		{"another validator signed", "node-key", "node-key", "node-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := ledger.SignedHeader{Header: h, Signature: sig, Signer: tt.signer}
			if got := sh.SignerID(); got != tt.wantID {
				t.Errorf("SignerID() = %q; want %q", got, tt.wantID)
			}
			got, err := ledger.DecodeSignedHeader(sh.Encode())
			if err != nil {
				t.Fatalf("DecodeSignedHeader: %v", err)
			}
			if got.Signer != tt.wantSigner || got.SignerID() != tt.wantID || got.Header != h {
				t.Errorf("round trip = %+v; want signer %q", got, tt.wantSigner)
			}
		})
	}
	// Non-canonical: an explicit signer equal to the proposer, or empty.
	for _, signer := range []string{"proposer-key", ""} {
		e := (&ledger.SignedHeader{Header: h, Signature: sig}).Encode()
		e = append(e, 3<<3|2, byte(len(signer)))
		e = append(e, signer...)
		if _, err := ledger.DecodeSignedHeader(e); ledger.CodeOf(err) != ledger.CodeMalformed {
			t.Errorf("DecodeSignedHeader with explicit signer %q: err = %v; want malformed", signer, err)
		}
	}
}
