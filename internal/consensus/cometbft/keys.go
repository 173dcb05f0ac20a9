package cometbft

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cometbft/cometbft/crypto"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"

	"github.com/medledger/medledger/internal/identity"
)

// signerKey presents an identity.Signer as a CometBFT private key, so that
// CometBFT's file validator (with its double-sign protection) signs votes
// and proposals through the signer: the key bytes stay behind it.
type signerKey struct{ s identity.Signer }

var _ crypto.PrivKey = signerKey{}

// Bytes returns nil: the key's bytes are not available. CometBFT only
// needs them to write a key file, which medledger never asks it to do.
func (k signerKey) Bytes() []byte { return nil }

func (k signerKey) Sign(msg []byte) ([]byte, error) { return k.s.Sign(msg) }

func (k signerKey) PubKey() crypto.PubKey { return cmted25519.PubKey(k.s.Public()) }

func (k signerKey) Equals(o crypto.PrivKey) bool {
	ok, is := o.(signerKey)
	return is && bytes.Equal(ok.s.Public(), k.s.Public())
}

func (k signerKey) Type() string { return cmted25519.KeyType }

// newPrivValidator returns CometBFT's file validator signing with s, its
// last-sign state (height, round, step, last signature) kept in stateFile
// so that a restarted node never signs two different things at one step.
func newPrivValidator(s identity.Signer, stateFile string) (*privval.FilePV, error) {
	pv := privval.NewFilePV(signerKey{s}, "", stateFile)
	b, err := os.ReadFile(stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return pv, nil
	}
	if err != nil {
		return nil, fmt.Errorf("validator sign state: %w", err)
	}
	var st privval.FilePVLastSignState
	if err := cmtjson.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("validator sign state %s: %w", stateFile, err)
	}
	pv.LastSignState.Height, pv.LastSignState.Round, pv.LastSignState.Step = st.Height, st.Round, st.Step
	pv.LastSignState.Signature, pv.LastSignState.SignBytes = st.Signature, st.SignBytes
	return pv, nil
}

// validatorAddress is CometBFT's address of a validator key.
func validatorAddress(pub ed25519.PublicKey) []byte {
	return cmted25519.PubKey(pub).Address()
}

// p2pDomain is what the node key signs to derive the node's peer-to-peer
// identity. Ed25519 signatures are deterministic, so the same node key
// always gives the same P2P key, and nothing else is ever signed with
// this message (headers are 32-byte hashes, votes CometBFT encodings).
const p2pDomain = "medledger/p2p-key/v1"

// P2PKey returns the node's CometBFT peer-to-peer key, derived from its
// node key: no separate key file is kept.
func P2PKey(s identity.Signer) (*p2p.NodeKey, error) {
	sig, err := s.Sign([]byte(p2pDomain))
	if err != nil {
		return nil, fmt.Errorf("derive P2P key: %w", err)
	}
	seed := sha256.Sum256(sig)
	return &p2p.NodeKey{PrivKey: cmted25519.GenPrivKeyFromSecret(seed[:])}, nil
}

// NodeID returns the CometBFT node ID (what peers write before '@' in a
// peer address) of the node whose node key is s.
func NodeID(s identity.Signer) (string, error) {
	k, err := P2PKey(s)
	if err != nil {
		return "", err
	}
	return string(k.ID()), nil
}
