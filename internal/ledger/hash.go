package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// HashSize is the size in bytes of every medledger hash (SHA-256).
const HashSize = sha256.Size

// Hash is a SHA-256 digest. Its text form is lower-case hex.
type Hash [HashSize]byte

// String returns h as lower-case hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler (lower-case hex).
func (h Hash) MarshalText() ([]byte, error) {
	b := make([]byte, hex.EncodedLen(HashSize))
	hex.Encode(b, h[:])
	return b, nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts exactly 64
// hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// ParseHash parses 64 hex digits (either case) into a Hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("hash must be %d hex digits, got %d characters", 2*HashSize, len(s))
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash is not hex: %w", err)
	}
	return h, nil
}

// HashFromSlice copies b into a Hash; it fails unless len(b) == HashSize.
func HashFromSlice(b []byte) (Hash, error) {
	var h Hash
	if len(b) != HashSize {
		return h, fmt.Errorf("hash must be %d bytes, got %d", HashSize, len(b))
	}
	copy(h[:], b)
	return h, nil
}

// Domain-separation prefixes: every hash medledger defines starts with one
// of these, so a digest of one kind can never be replayed as another.
const (
	domainTxID    = "medledger/tx/v1\x00"
	domainTxSig   = "medledger/tx-sig/v1\x00"
	domainHeader  = "medledger/header/v1\x00"
	domainApp     = "medledger/app/v1\x00"
	domainChanges = "medledger/changes/v1\x00"
	domainGenesis = "medledger/genesis/v1\x00"
)

// GenesisHash returns the hash that identifies a genesis document: SHA-256
// over a domain prefix and the document's canonical bytes. Block 1's
// PrevHash is this value.
func GenesisHash(canonicalDoc []byte) Hash {
	d := sha256.New()
	d.Write([]byte(domainGenesis))
	d.Write(canonicalDoc)
	var h Hash
	d.Sum(h[:0])
	return h
}
