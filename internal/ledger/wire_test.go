package ledger_test

import (
	"bytes"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/medledger/medledger/internal/ledger"
)

// This file builds canonical and deliberately non-canonical encodings field
// by field, independently of the package's encoder, so that the decoder
// tables can say exactly which rule each input breaks.

// bytesField is the canonical encoding of a length-delimited field.
func bytesField(n protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, n, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// strField is bytesField for a string.
func strField(n protowire.Number, s string) []byte { return bytesField(n, []byte(s)) }

// uintField is the canonical encoding of a varint field.
func uintField(n protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, n, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// nonMinimalVarint encodes v with one redundant continuation byte.
func nonMinimalVarint(v uint64) []byte {
	b := protowire.AppendVarint(nil, v)
	b[len(b)-1] |= 0x80
	return append(b, 0x00)
}

// nonMinimalUintField is uintField with a non-minimal value varint.
func nonMinimalUintField(n protowire.Number, v uint64) []byte {
	b := protowire.AppendTag(nil, n, protowire.VarintType)
	return append(b, nonMinimalVarint(v)...)
}

// nonMinimalLenField is bytesField with a non-minimal length varint.
func nonMinimalLenField(n protowire.Number, v []byte) []byte {
	b := protowire.AppendTag(nil, n, protowire.BytesType)
	b = append(b, nonMinimalVarint(uint64(len(v)))...)
	return append(b, v...)
}

// nonMinimalTagField is bytesField with a non-minimal tag varint.
func nonMinimalTagField(n protowire.Number, v []byte) []byte {
	b := nonMinimalVarint(protowire.EncodeTag(n, protowire.BytesType))
	return protowire.AppendBytes(b, v)
}

// join concatenates encoded fields.
func join(fields ...[]byte) []byte { return bytes.Join(fields, nil) }

// without returns fields with element i removed.
func without(fields [][]byte, i int) [][]byte {
	return slices.Delete(slices.Clone(fields), i, i+1)
}

// replaced returns fields with element i replaced by f.
func replaced(fields [][]byte, i int, f []byte) [][]byte {
	out := slices.Clone(fields)
	out[i] = f
	return out
}

// swapped returns fields with elements i and j exchanged.
func swapped(fields [][]byte, i, j int) [][]byte {
	out := slices.Clone(fields)
	out[i], out[j] = out[j], out[i]
	return out
}

// inserted returns fields with f inserted before element i.
func inserted(fields [][]byte, i int, f []byte) [][]byte {
	return slices.Insert(slices.Clone(fields), i, f)
}

// sig64 returns a 64-byte signature-shaped value filled with b.
func sig64(b byte) []byte { return bytes.Repeat([]byte{b}, ledger.SignatureSize) }

// sampleTx returns a valid transaction exercising every field.
func sampleTx() *ledger.Tx {
	return &ledger.Tx{
		ChainID:   "medledger-test-1",
		Contract:  "notary",
		Method:    "anchor",
		Payload:   []byte(`{"hash":"00","kind":"discharge-summary"}`),
		Signer:    "st-mary/dr-who",
		Nonce:     1<<40 + 7,
		Signature: sig64(0xAB),
	}
}

// txFields is tx's canonical encoding split into its seven fields,
// produced without the package's encoder.
func txFields(tx *ledger.Tx) [][]byte {
	return [][]byte{
		strField(1, tx.ChainID),
		strField(2, tx.Contract),
		strField(3, tx.Method),
		bytesField(4, tx.Payload),
		strField(5, tx.Signer),
		uintField(6, tx.Nonce),
		bytesField(7, tx.Signature),
	}
}

// sampleHeader returns a header with every field set to a distinct value.
func sampleHeader() ledger.Header {
	h := func(b byte) ledger.Hash {
		var x ledger.Hash
		for i := range x {
			x[i] = b + byte(i)
		}
		return x
	}
	return ledger.Header{
		ChainID:     "medledger-test-1",
		Height:      42,
		Time:        1767323045600000000,
		PrevHash:    h(0x10),
		TxCount:     3,
		TxRoot:      h(0x20),
		ResultsRoot: h(0x30),
		ChangesHash: h(0x40),
		AppHash:     h(0x50),
		TxLogSize:   1000,
		TxLogRoot:   h(0x60),
		Proposer:    "0123456789abcdef",
	}
}

// headerFields is h's canonical encoding split into its twelve fields.
func headerFields(h ledger.Header) [][]byte {
	return [][]byte{
		strField(1, h.ChainID),
		uintField(2, h.Height),
		uintField(3, protowire.EncodeZigZag(h.Time)),
		bytesField(4, h.PrevHash[:]),
		uintField(5, h.TxCount),
		bytesField(6, h.TxRoot[:]),
		bytesField(7, h.ResultsRoot[:]),
		bytesField(8, h.ChangesHash[:]),
		bytesField(9, h.AppHash[:]),
		uintField(10, h.TxLogSize),
		bytesField(11, h.TxLogRoot[:]),
		strField(12, h.Proposer),
	}
}

// attrField and eventField build the nested messages of a Result.
func attrField(k, v string) []byte { return bytesField(2, join(strField(1, k), strField(2, v))) }

func eventField(typ string, attrs ...[]byte) []byte {
	return bytesField(3, join(append([][]byte{strField(1, typ)}, attrs...)...))
}
