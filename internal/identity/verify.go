package identity

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// zip215 selects ZIP-215 verification: cofactored, accepting non-canonical
// and small-order points, so that single and batch verification agree.
// It is never modified.
var zip215 = &voi.Options{Verify: voi.VerifyOptionsZIP_215}

// Verify reports whether sig is a valid Ed25519 signature of msg by pub
// under the ZIP-215 rules. Keys and signatures of the wrong length are
// simply invalid. It is safe for concurrent use.
func Verify(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, zip215)
}

// A Batch verifies many signatures at once, faster than calling Verify for
// each when most are valid. It accepts exactly the signatures Verify
// accepts.
//
// The zero value is an empty batch ready to use. A Batch is not safe for
// concurrent use.
type Batch struct {
	v *voi.BatchVerifier
	n int
}

// NewBatch returns an empty batch with room for n entries.
func NewBatch(n int) *Batch {
	return &Batch{v: voi.NewBatchVerifierWithCapacity(n)}
}

// Add appends an entry to the batch. Add does not retain pub, msg or sig.
// Malformed entries (wrong-length key or signature, key not on the curve)
// are accepted here and reported invalid by Verify.
func (b *Batch) Add(pub ed25519.PublicKey, msg, sig []byte) {
	if b.v == nil {
		b.v = voi.NewBatchVerifier()
	}
	b.v.AddWithOptions(voi.PublicKey(pub), msg, sig, zip215)
	b.n++
}

// Len returns the number of entries added.
func (b *Batch) Len() int { return b.n }

// Verify reports, for each entry in the order added, whether its
// signature is valid. The result has Len() elements (an empty, non-nil
// slice for an empty batch) and is owned by the caller. Verify may be
// called again after more entries are added.
func (b *Batch) Verify() []bool {
	if b.n == 0 {
		return []bool{}
	}
	// When the whole batch does not verify, voi falls back to checking
	// each entry on its own and reports per-entry validity.
	_, valid := b.v.Verify(nil)
	return valid
}
