package node_test

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// TestBadInputChangesNothing submits transactions that must be refused at
// admission and checks that each is refused with its code, twice in a row
// (a refusal leaves nothing pending), alone and in a batch, and that the
// ledger did not move.
func TestBadInputChangesNothing(t *testing.T) {
	th := newHome(t)
	n, closeNode := th.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Some committed history, including the transaction to replay.
	var committed []byte
	for i := range 3 {
		raw, id := th.anchor(t)
		rc, err := n.Submit(ctx, raw)
		if err != nil {
			t.Fatalf("submit anchor %d: %v", i, err)
		}
		if rc.TxHash != id || rc.Result.Code != ledger.CodeOK {
			t.Fatalf("submit anchor %d: receipt %+v; want ok for %s", i, rc, id)
		}
		committed = raw
	}
	before := n.Store().Last()

	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tx := func(mod func(*client.Tx)) client.Tx {
		c := client.Tx{ChainID: th.doc.ChainID, Contract: "notary", Method: "anchor", Payload: newAnchor(), Signer: th.adminID}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	signed := func(mod func(*client.Tx), k client.Signer) []byte {
		raw, _ := th.sign(t, tx(mod), k)
		return raw
	}
	// oversized is a correctly signed transaction over the size limit;
	// client.Sign refuses to build one, so it is encoded by hand.
	big := &ledger.Tx{ChainID: th.doc.ChainID, Contract: "notary", Method: "anchor", Payload: bytes.Repeat([]byte{' '}, ledger.MaxTxBytes), Signer: th.adminID, Nonce: 7}
	if big.Signature, err = th.admin.Sign(big.SigningBytes()); err != nil {
		t.Fatal(err)
	}
	badSig := signed(nil, th.admin)
	badSig[len(badSig)-1] ^= 0x01 // the signature is the last field

	cases := []struct {
		name string
		raw  []byte
		want ledger.Code
	}{
		{"empty", nil, ledger.CodeMalformed},
		{"garbage", []byte("\x00\xffthis is not a transaction\x7f"), ledger.CodeMalformed},
		{"trailing-byte", append(signed(nil, th.admin), 0), ledger.CodeMalformed},
		{"truncated", signed(nil, th.admin)[:40], ledger.CodeMalformed},
		{"oversized", big.Encode(), ledger.CodeTooLarge},
		{"other-chain", signed(func(c *client.Tx) { c.ChainID = "some-other-chain" }, th.admin), ledger.CodeWrongChain},
		{"unknown-contract", signed(func(c *client.Tx) { c.Contract = "nosuch" }, th.admin), ledger.CodeUnknownContract},
		{"unknown-signer", signed(func(c *client.Tx) { c.Signer = "general-hospital/ghost" }, stranger), ledger.CodeUnknownSigner},
		{"signed-by-another-key", signed(nil, stranger), ledger.CodeBadSignature},
		{"signature-byte-flipped", badSig, ledger.CodeBadSignature},
		{"replay", committed, ledger.CodeReplay},
	}
	check := func(t *testing.T, err error, want ledger.Code) {
		t.Helper()
		var le *ledger.Error
		if !errors.As(err, &le) {
			t.Fatalf("error = %v; want a *ledger.Error with code %q", err, want)
		}
		if le.Code != want {
			t.Errorf("code = %q (%v); want %q", le.Code, err, want)
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for try := range 2 {
				rc, err := n.Submit(ctx, c.raw)
				if err == nil {
					t.Fatalf("try %d: accepted with receipt %+v; want %q", try, rc, c.want)
				}
				check(t, err, c.want)
			}
		})
	}
	t.Run("batch", func(t *testing.T) {
		raws := make([][]byte, len(cases))
		for i, c := range cases {
			raws[i] = c.raw
		}
		for i, r := range n.SubmitBatch(ctx, raws) {
			if r.Err == nil {
				t.Errorf("%s: accepted in a batch with receipt %+v", cases[i].name, r.Receipt)
				continue
			}
			check(t, r.Err, cases[i].want)
		}
	})

	after := n.Store().Last()
	if n.Store().Height() != before.Header.Height || after.Header.Hash() != before.Header.Hash() {
		t.Fatalf("refused input moved the ledger: height %d → %d, app hash %s → %s",
			before.Header.Height, after.Header.Height, before.Header.AppHash, after.Header.AppHash)
	}
	if after.Header.AppHash != before.Header.AppHash || after.Header.TxLogSize != before.Header.TxLogSize {
		t.Fatalf("refused input changed the app hash or tx log")
	}

	// The node still works, and the ledger verifies.
	raw, id := th.anchor(t)
	rc, err := n.Submit(ctx, raw)
	if err != nil || rc.TxHash != id || rc.Result.Code != ledger.CodeOK {
		t.Fatalf("submit after refusals: %+v, %v", rc, err)
	}
	if rc.Height != before.Header.Height+1 {
		t.Errorf("next tx committed at height %d; want %d", rc.Height, before.Header.Height+1)
	}
	if err := closeNode(); err != nil {
		t.Fatal(err)
	}
	rep := verifyHome(t, th)
	if rep.Txs != before.Header.TxLogSize+1 {
		t.Errorf("ledger holds %d txs; want %d", rep.Txs, before.Header.TxLogSize+1)
	}
}
