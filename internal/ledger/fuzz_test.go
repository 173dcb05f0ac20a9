package ledger_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/medledger/medledger/internal/ledger"
)

// The fuzzers check canonicality: whatever a decoder accepts re-encodes to
// exactly the input, and nothing panics. They are seeded from the tables.
//
//	go test ./internal/ledger -run '^$' -fuzz FuzzDecodeTx -fuzztime 30s

func FuzzDecodeTx(f *testing.F) {
	for _, tc := range txDecodeCases() {
		if len(tc.in) <= 4096 {
			f.Add(tc.in)
		}
	}
	for _, tx := range validTxs() {
		f.Add(tx.Encode())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tx, err := ledger.DecodeTx(in, 0)
		if err != nil {
			if tx != nil {
				t.Fatalf("DecodeTx(%x) = %v with error %v", in, tx, err)
			}
			switch ledger.CodeOf(err) {
			case ledger.CodeMalformed:
				if !errors.Is(err, ledger.ErrMalformed) {
					t.Fatalf("DecodeTx(%x) error %v does not wrap ErrMalformed", in, err)
				}
			case ledger.CodeTooLarge:
			default:
				t.Fatalf("DecodeTx(%x) error %v has code %q", in, err, ledger.CodeOf(err))
			}
			return
		}
		if enc := tx.Encode(); !bytes.Equal(enc, in) {
			t.Fatalf("DecodeTx(%x).Encode() = %x; not canonical", in, enc)
		}
		if err := tx.Validate(); err != nil {
			t.Fatalf("DecodeTx(%x) accepted a tx Validate refuses: %v", in, err)
		}
		// A limit of exactly the size accepts it; one less refuses it.
		if _, err := ledger.DecodeTx(in, len(in)); err != nil {
			t.Fatalf("DecodeTx(%x, %d) = %v", in, len(in), err)
		}
		if _, err := ledger.DecodeTx(in, len(in)-1); len(in) > 1 && ledger.CodeOf(err) != ledger.CodeTooLarge {
			t.Fatalf("DecodeTx(%x, %d) = %v; want too_large", in, len(in)-1, err)
		}
	})
}

// FuzzTxRoundTrip goes the other way: every valid Tx survives Encode and
// DecodeTx unchanged.
func FuzzTxRoundTrip(f *testing.F) {
	for _, tx := range validTxs() {
		f.Add(tx.ChainID, tx.Contract, tx.Method, tx.Payload, tx.Signer, tx.Nonce, tx.Signature)
	}
	f.Add("", "", "", []byte(nil), "", uint64(0), []byte(nil))
	f.Fuzz(func(t *testing.T, chain, contract, method string, payload []byte, signer string, nonce uint64, sig []byte) {
		tx := &ledger.Tx{ChainID: chain, Contract: contract, Method: method, Payload: payload, Signer: signer, Nonce: nonce, Signature: sig}
		enc := tx.Encode()
		got, err := ledger.DecodeTx(enc, 0)
		if verr := tx.Validate(); verr != nil {
			// Invalid UTF-8 and over-long fields fail structurally in
			// DecodeTx; either way both must refuse.
			if err == nil {
				t.Fatalf("Validate() = %v but DecodeTx(Encode()) accepted %+v", verr, tx)
			}
			return
		}
		if err != nil {
			t.Fatalf("DecodeTx(Encode(%+v)) = %v; Validate accepted it", tx, err)
		}
		if !txEqual(got, tx) {
			t.Fatalf("DecodeTx(Encode(%+v)) = %+v", tx, got)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, tc := range headerDecodeCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := ledger.DecodeHeader(in)
		if err != nil {
			return
		}
		if enc := h.Encode(); !bytes.Equal(enc, in) {
			t.Fatalf("DecodeHeader(%x).Encode() = %x; not canonical", in, enc)
		}
	})
}

func FuzzDecodeSignedHeader(f *testing.F) {
	for _, tc := range signedHeaderDecodeCases() {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sh, err := ledger.DecodeSignedHeader(in)
		if err != nil {
			return
		}
		if enc := sh.Encode(); !bytes.Equal(enc, in) {
			t.Fatalf("DecodeSignedHeader(%x).Encode() = %x; not canonical", in, enc)
		}
		if len(sh.Signature) != ledger.SignatureSize {
			t.Fatalf("DecodeSignedHeader(%x) accepted a %d-byte signature", in, len(sh.Signature))
		}
	})
}

func FuzzDecodeResult(f *testing.F) {
	for _, tc := range resultDecodeCases() {
		f.Add(tc.in)
	}
	for _, r := range validResults() {
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ledger.DecodeResult(in)
		if err != nil {
			return
		}
		enc := r.Encode()
		if !bytes.Equal(enc, in) {
			t.Fatalf("DecodeResult(%x).Encode() = %x; not canonical", in, enc)
		}
		if !r.Code.Valid() || len(r.Events) > ledger.MaxEvents {
			t.Fatalf("DecodeResult(%x) = %+v; outside the limits", in, r)
		}
		again, err := ledger.DecodeResult(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("DecodeResult(Encode(%+v)) = %+v, %v", r, again, err)
		}
	})
}

func BenchmarkDecodeTx(b *testing.B) {
	tx := sampleTx()
	tx.Payload = bytes.Repeat([]byte("p"), 256)
	enc := tx.Encode()
	b.SetBytes(int64(len(enc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ledger.DecodeTx(enc, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTxID(b *testing.B) {
	tx := sampleTx()
	tx.Payload = bytes.Repeat([]byte("p"), 256)
	b.ReportAllocs()
	for b.Loop() {
		tx.ID()
	}
}
