// Package admit holds the admission checks every ordering mode runs on a
// submitted transaction before it may be ordered: size, strict decoding,
// chain, contract and signer (enrolled and active in committed state, via
// a cache of member records), and the rejection errors they give. The solo
// sequencer runs them on submission; the CometBFT application runs them in
// CheckTx. Execution (package chain) checks everything again against the
// state of its block, so admission only keeps junk out; it never decides a
// result.
package admit

import (
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Checker runs the stateless checks. It is immutable and safe for
// concurrent use.
type Checker struct {
	ChainID string
	Machine *contract.Machine
	// MaxTxBytes bounds one encoded transaction; zero or more than
	// ledger.MaxTxBytes means ledger.MaxTxBytes.
	MaxTxBytes int
}

func (c *Checker) maxBytes() int {
	if c.MaxTxBytes <= 0 || c.MaxTxBytes > ledger.MaxTxBytes {
		return ledger.MaxTxBytes
	}
	return c.MaxTxBytes
}

// Decode checks raw's size, decodes it strictly and checks its chain and
// contract. Errors are *ledger.Error values (too_large, malformed,
// wrong_chain, unknown_contract).
func (c *Checker) Decode(raw []byte) (*ledger.Tx, error) {
	limit := c.maxBytes()
	if len(raw) > limit {
		return nil, ledger.Errorf(ledger.CodeTooLarge, "transaction is %d bytes, limit %d", len(raw), limit)
	}
	tx, err := ledger.DecodeTx(raw, limit)
	if err != nil {
		return nil, err
	}
	if tx.ChainID != c.ChainID {
		return nil, ledger.Errorf(ledger.CodeWrongChain, "transaction is for chain %q, this node serves %q", tx.ChainID, c.ChainID)
	}
	if !c.Machine.HasContract(tx.Contract) {
		return nil, ledger.Errorf(ledger.CodeUnknownContract, "no contract %q on this chain (have %v)", tx.Contract, c.Machine.Contracts())
	}
	return tx, nil
}

// SignerError returns the rejection for tx's signer record m (nil: not
// enrolled), or nil if m is an active member.
func SignerError(tx *ledger.Tx, m *contract.Member) *ledger.Error {
	switch {
	case m == nil:
		return UnknownSigner(tx)
	case !m.Active():
		return SuspendedSigner(tx)
	}
	return nil
}

// UnknownSigner is the rejection of a transaction whose signer is not
// enrolled.
func UnknownSigner(tx *ledger.Tx) *ledger.Error {
	return ledger.Errorf(ledger.CodeUnknownSigner, "signer %q is not an enrolled member", tx.Signer)
}

// SuspendedSigner is the rejection of a transaction whose signer is
// suspended.
func SuspendedSigner(tx *ledger.Tx) *ledger.Error {
	return ledger.Errorf(ledger.CodeSuspendedSigner, "signer %q is suspended", tx.Signer)
}

// BadSignature is the rejection of a transaction whose signature does not
// verify with its signer's key.
func BadSignature(tx *ledger.Tx) *ledger.Error {
	return ledger.Errorf(ledger.CodeBadSignature, "signature does not verify with the key of %q", tx.Signer)
}
