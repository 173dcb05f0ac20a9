package ledger

import (
	"crypto/sha256"
	"time"
)

// Header is a block header. Its canonical encoding (field numbers below) is
// hashed to give the block hash, which the proposer signs and the next
// header links to.
//
//	 1 chain_id      string
//	 2 height        uint64  (1 for the first block)
//	 3 time          sint64  (Unix nanoseconds, UTC; the only clock contracts see)
//	 4 prev_hash     bytes   (hash of the previous header; the genesis hash for height 1)
//	 5 tx_count      uint64
//	 6 tx_root       bytes   (RFC 6962 root over this block's encoded txs)
//	 7 results_root  bytes   (RFC 6962 root over this block's encoded results)
//	 8 changes_hash  bytes   (hash of this block's sorted state changes)
//	 9 app_hash      bytes   (chained: previous app hash, changes, tx log)
//	10 txlog_size    uint64  (number of txs committed since genesis, this block included)
//	11 txlog_root    bytes   (RFC 6962 root of the tx log at txlog_size)
//	12 proposer      string  (key id of the node that built and signed the block)
type Header struct {
	ChainID     string
	Height      uint64
	Time        int64
	PrevHash    Hash
	TxCount     uint64
	TxRoot      Hash
	ResultsRoot Hash
	ChangesHash Hash
	AppHash     Hash
	TxLogSize   uint64
	TxLogRoot   Hash
	Proposer    string
}

// Timestamp returns the header time as a time.Time in UTC.
func (h *Header) Timestamp() time.Time { return time.Unix(0, h.Time).UTC() }

// Encode returns the canonical encoding of h.
func (h *Header) Encode() []byte {
	e := encoder{b: make([]byte, 0, 320)}
	e.string(1, h.ChainID)
	e.uint(2, h.Height)
	e.int(3, h.Time)
	e.bytes(4, h.PrevHash[:])
	e.uint(5, h.TxCount)
	e.bytes(6, h.TxRoot[:])
	e.bytes(7, h.ResultsRoot[:])
	e.bytes(8, h.ChangesHash[:])
	e.bytes(9, h.AppHash[:])
	e.uint(10, h.TxLogSize)
	e.bytes(11, h.TxLogRoot[:])
	e.string(12, h.Proposer)
	return e.b
}

// Hash returns the block hash: SHA-256 over a domain prefix and Encode().
func (h *Header) Hash() Hash {
	d := sha256.New()
	d.Write([]byte(domainHeader))
	d.Write(h.Encode())
	var out Hash
	d.Sum(out[:0])
	return out
}

func decodeHeader(d *decoder) Header {
	return Header{
		ChainID:     d.string(1, "chain_id", MaxChainIDLen),
		Height:      d.uint(2, "height"),
		Time:        d.int(3, "time"),
		PrevHash:    d.hash(4, "prev_hash"),
		TxCount:     d.uint(5, "tx_count"),
		TxRoot:      d.hash(6, "tx_root"),
		ResultsRoot: d.hash(7, "results_root"),
		ChangesHash: d.hash(8, "changes_hash"),
		AppHash:     d.hash(9, "app_hash"),
		TxLogSize:   d.uint(10, "txlog_size"),
		TxLogRoot:   d.hash(11, "txlog_root"),
		Proposer:    d.string(12, "proposer", MaxSignerLen),
	}
}

// DecodeHeader strictly decodes a canonical header.
func DecodeHeader(b []byte) (Header, error) {
	d := decoder{b: b, what: "header"}
	h := decodeHeader(&d)
	return h, d.end()
}

// SignedHeader is a header with an Ed25519 signature over its hash.
//
//	1 header    bytes  (canonical Header encoding)
//	2 signature bytes  (64)
//	3 signer    string (key id of the signing node; absent when it is the
//	                    header's proposer)
//
// In solo mode the proposer signs its own block. Under CometBFT every node
// builds the same header from the finalised block (the proposer is the
// CometBFT proposer) and signs it with its own key, recording that key's
// id in Signer: the signature is the node's attestation of what consensus
// decided and it executed.
type SignedHeader struct {
	Header    Header
	Signature []byte
	Signer    string // empty: Header.Proposer signed
}

// SignerID returns the key id that made the signature: Signer, or the
// header's proposer when Signer is empty.
func (s *SignedHeader) SignerID() string {
	if s.Signer != "" {
		return s.Signer
	}
	return s.Header.Proposer
}

// Encode returns the canonical encoding of s. A Signer equal to the
// proposer is not written (it is implied).
func (s *SignedHeader) Encode() []byte {
	e := encoder{b: make([]byte, 0, 400)}
	e.bytes(1, s.Header.Encode())
	e.bytes(2, s.Signature)
	if s.Signer != "" && s.Signer != s.Header.Proposer {
		e.string(3, s.Signer)
	}
	return e.b
}

// DecodeSignedHeader strictly decodes a canonical signed header.
func DecodeSignedHeader(b []byte) (SignedHeader, error) {
	d := decoder{b: b, what: "signed header"}
	hb := d.bytes(1, "header", 1024)
	sig := d.bytes(2, "signature", SignatureSize)
	var signer string
	hasSigner := d.peek(3)
	if hasSigner {
		signer = d.string(3, "signer", MaxSignerLen)
	}
	if err := d.end(); err != nil {
		return SignedHeader{}, err
	}
	h, err := DecodeHeader(hb)
	if err != nil {
		return SignedHeader{}, err
	}
	if len(sig) != SignatureSize {
		return SignedHeader{}, Errorf(CodeMalformed, "signed header: signature is %d bytes, want %d", len(sig), SignatureSize)
	}
	if hasSigner && (signer == "" || signer == h.Proposer) {
		return SignedHeader{}, Errorf(CodeMalformed, "signed header: signer field is not canonical")
	}
	return SignedHeader{Header: h, Signature: append([]byte(nil), sig...), Signer: signer}, nil
}
