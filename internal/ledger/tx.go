package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Size limits for transaction fields. MaxTxBytes bounds the whole encoded
// envelope; nodes may configure a lower limit.
const (
	MaxTxBytes       = 1 << 20
	MaxChainIDLen    = 64
	MaxNameLen       = 64 // contract and method names
	MaxSignerLen     = 128
	SignatureSize    = 64
	maxPayloadLength = MaxTxBytes
)

// Tx is a signed transaction envelope.
//
// Field numbers (protobuf wire format, canonical shape, see package doc):
//
//	1 chain_id  string
//	2 contract  string
//	3 method    string
//	4 payload   bytes   (contract-defined; JSON for the built-in contracts)
//	5 signer    string  (member id)
//	6 nonce     uint64  (any value making the transaction unique)
//	7 signature bytes   (Ed25519, 64 bytes, over SigningBytes: the ID)
type Tx struct {
	ChainID   string
	Contract  string
	Method    string
	Payload   []byte
	Signer    string
	Nonce     uint64
	Signature []byte
}

// nameRE constrains contract and method names.
var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,63}$`)

// signerRE constrains member ids: org-scoped, printable, no spaces.
var signerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$`)

// ValidName reports whether s is a valid contract or method name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidFHIRUser reports whether s may be a member's FHIR user reference:
// a Practitioner, PractitionerRole, Patient or RelatedPerson reference.
func ValidFHIRUser(s string) bool {
	typ, id, ok := strings.Cut(s, "/")
	if !ok || len(id) == 0 || len(id) > 64 {
		return false
	}
	switch typ {
	case "Practitioner", "PractitionerRole", "Patient", "RelatedPerson":
	default:
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ValidMemberID reports whether s is a valid member id.
func ValidMemberID(s string) bool { return signerRE.MatchString(s) }

func (tx *Tx) appendUnsigned(b []byte) []byte {
	e := encoder{b: b}
	e.string(1, tx.ChainID)
	e.string(2, tx.Contract)
	e.string(3, tx.Method)
	e.bytes(4, tx.Payload)
	e.string(5, tx.Signer)
	e.uint(6, tx.Nonce)
	return e.b
}

// SigningBytes returns the message a signer signs: a domain prefix and the
// transaction's ID, which commits to fields 1-6. Signing the digest rather
// than the fields keeps signing and verifying a large transaction (an
// audit batch of hundreds of events) one SHA-256 pass over its payload
// instead of Ed25519's SHA-512 passes over a copy of it; the signature is
// then as strong as SHA-256's collision resistance, which the ID, the
// transaction log and the block hashes rest on already.
func (tx *Tx) SigningBytes() []byte { return SigningMessage(tx.ID()) }

// SigningMessage returns the message signed for the transaction whose ID
// is id: what SigningBytes returns, for callers that hold the ID already.
func SigningMessage(id Hash) []byte { return append([]byte(domainTxSig), id[:]...) }

// ID returns the transaction's identity: SHA-256 over a domain prefix and
// the canonical encoding of fields 1-6, streamed (the payload is not
// copied). The signature is deliberately excluded, so a transaction
// re-signed (or with a malleated signature) keeps its ID and is caught as
// a replay.
func (tx *Tx) ID() Hash {
	// Fields 1-3, then field 4's tag and length; the payload itself; then
	// fields 5-6. The fixed fields are bounded (MaxChainIDLen and
	// MaxNameLen), so the head fits a small buffer in the common case.
	var buf [256]byte
	e := encoder{b: append(buf[:0], domainTxID...)}
	e.string(1, tx.ChainID)
	e.string(2, tx.Contract)
	e.string(3, tx.Method)
	e.b = protowire.AppendTag(e.b, 4, protowire.BytesType)
	e.b = protowire.AppendVarint(e.b, uint64(len(tx.Payload)))
	d := sha256.New()
	d.Write(e.b)
	d.Write(tx.Payload)
	e.b = e.b[:0]
	e.string(5, tx.Signer)
	e.uint(6, tx.Nonce)
	d.Write(e.b)
	var h Hash
	d.Sum(h[:0])
	return h
}

// Encode returns the canonical encoding of the whole envelope. These are the
// bytes stored in blocks and hashed as leaves of the transaction log.
func (tx *Tx) Encode() []byte {
	b := tx.appendUnsigned(make([]byte, 0, len(tx.Payload)+len(tx.Signature)+128))
	e := encoder{b: b}
	e.bytes(7, tx.Signature)
	return e.b
}

// EncodedSize returns len(tx.Encode()) without encoding.
func (tx *Tx) EncodedSize() int {
	n := 0
	for _, l := range [...]int{len(tx.ChainID), len(tx.Contract), len(tx.Method), len(tx.Payload), len(tx.Signer), len(tx.Signature)} {
		n += 1 + protowire.SizeBytes(l) // every tag here is one byte
	}
	return n + 1 + protowire.SizeVarint(tx.Nonce)
}

// ErrMalformed is wrapped by every DecodeTx failure other than size.
var ErrMalformed = errors.New("malformed transaction")

// DecodeTx strictly decodes a canonical envelope, enforcing maxBytes (use
// MaxTxBytes if zero) and the field limits. It returns an *Error with
// CodeTooLarge or CodeMalformed. The returned Tx aliases b's memory for
// Payload and Signature; the caller must not modify b afterwards.
func DecodeTx(b []byte, maxBytes int) (*Tx, error) {
	if maxBytes <= 0 || maxBytes > MaxTxBytes {
		maxBytes = MaxTxBytes
	}
	if len(b) > maxBytes {
		return nil, Errorf(CodeTooLarge, "transaction is %d bytes, limit %d", len(b), maxBytes)
	}
	if len(b) == 0 {
		return nil, Errorf(CodeMalformed, "empty transaction")
	}
	d := decoder{b: b, what: "transaction"}
	tx := &Tx{
		ChainID:  d.string(1, "chain_id", MaxChainIDLen),
		Contract: d.string(2, "contract", MaxNameLen),
		Method:   d.string(3, "method", MaxNameLen),
		Payload:  d.bytes(4, "payload", maxPayloadLength),
		Signer:   d.string(5, "signer", MaxSignerLen),
		Nonce:    d.uint(6, "nonce"),
	}
	tx.Signature = d.bytes(7, "signature", SignatureSize)
	if err := d.end(); err != nil {
		return nil, &Error{Code: CodeMalformed, Msg: err.Error()}
	}
	if err := tx.check(); err != nil {
		return nil, err
	}
	return tx, nil
}

// check validates field contents after structural decoding.
func (tx *Tx) check() error {
	switch {
	case tx.ChainID == "":
		return Errorf(CodeMalformed, "transaction: chain_id is empty")
	case len(tx.ChainID) > MaxChainIDLen || !utf8.ValidString(tx.ChainID):
		// DecodeTx refuses these structurally; Validate must too.
		return Errorf(CodeMalformed, "transaction: chain_id must be at most %d bytes of UTF-8", MaxChainIDLen)
	// Invalid names are not quoted: they may hold anything, and rejection
	// messages never repeat what the submitter sent.
	case !ValidName(tx.Contract):
		return Errorf(CodeMalformed, "transaction: contract name is invalid (want [a-z][a-z0-9_.]*, at most %d bytes)", MaxNameLen)
	case !ValidName(tx.Method):
		return Errorf(CodeMalformed, "transaction: method name is invalid (want [a-z][a-z0-9_.]*, at most %d bytes)", MaxNameLen)
	case !ValidMemberID(tx.Signer):
		return Errorf(CodeMalformed, "transaction: signer id is invalid")
	case len(tx.Signature) != SignatureSize:
		return Errorf(CodeMalformed, "transaction: signature is %d bytes, want %d", len(tx.Signature), SignatureSize)
	}
	return nil
}

// Validate checks an in-memory Tx the way DecodeTx checks decoded ones.
func (tx *Tx) Validate() error {
	if n := tx.EncodedSize(); n > MaxTxBytes {
		return Errorf(CodeTooLarge, "transaction is %d bytes, limit %d", n, MaxTxBytes)
	}
	return tx.check()
}

// String describes the transaction without its payload (which may be
// sensitive), for logs and errors.
func (tx *Tx) String() string {
	return fmt.Sprintf("tx{%s.%s signer=%s nonce=%d}", tx.Contract, tx.Method, tx.Signer, tx.Nonce)
}
