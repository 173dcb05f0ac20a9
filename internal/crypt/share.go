package crypt

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"fmt"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// The HPKE ciphersuite for sharing DEKs: DHKEM(X25519, HKDF-SHA256),
// HKDF-SHA256, AES-256-GCM (RFC 9180 suite 0x0020/0x0001/0x0002).
var (
	hpkeKEM  = hpke.DHKEM(ecdh.X25519())
	hpkeKDF  = hpke.HKDFSHA256()
	hpkeAEAD = hpke.AES256GCM()
)

const shareInfoPrefix = "medledger/crypt/v1/share\x00"

// shareInfo is the HPKE info of a shared DEK: a fixed prefix, the
// subject, NUL, and the caller's info.
func shareInfo(subject string, info []byte) []byte {
	b := make([]byte, 0, len(shareInfoPrefix)+len(subject)+1+len(info))
	b = append(b, shareInfoPrefix...)
	b = append(b, subject...)
	b = append(b, 0)
	return append(b, info...)
}

// WrapFor exports subject's DEK keyset encrypted to another
// organisation's HPKE public key (32 bytes, as returned by
// OrgKey.PublicKey), with single-shot HPKE in base mode. The wrap is bound
// to subject and info; info should name the chain and the grant (for
// example chain ID and consent ID), and the recipient must present the
// same to ImportWrapped. The caller owns the returned slice.
//
// Base-mode HPKE does not authenticate the sender: the recipient must
// learn from an authenticated channel (such as a signed ledger
// transaction) that the wrap comes from the custodian.
//
// Errors wrap ErrNoKey or ErrShredded when subject has no DEK to share.
func (k *Keyring) WrapFor(subject string, recipientPub, info []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, &Error{Op: "wrap", Err: err}
	}
	pub, err := hpkeKEM.NewPublicKey(recipientPub)
	if err != nil {
		return nil, &Error{Op: "wrap", Subject: subject, Err: errors.New("recipient key is not an X25519 public key")}
	}
	h, err := k.loadDEK(subject)
	if err != nil {
		return nil, &Error{Op: "wrap", Subject: subject, Err: err}
	}
	v, err := wrapKeyset(h, hpkeSealer{pub}, shareInfo(subject, info))
	if err != nil {
		return nil, &Error{Op: "wrap", Subject: subject, Err: err}
	}
	return v, nil
}

// ImportWrapped decrypts a DEK that WrapFor wrapped to orgKey for subject
// and info, and stores it as subject's DEK under this Keyring's KEK, so
// that Open reads the custodian's ciphertexts for subject. The caller
// must first have checked that wrapped comes from the subject's custodian
// (for example from a signed ledger transaction): anyone who knows
// orgKey's public key can make a wrap that opens.
//
// Nothing is stored when it fails. Errors wrap ErrDecrypt if wrapped does
// not open with orgKey, subject and info (another recipient, other info,
// or altered); ErrCorrupt if it is malformed or holds anything but
// AES-256-GCM keys; ErrShredded if subject was shredded here; and
// ErrKeyExists if subject already has a DEK here with a key that wrapped
// lacks. Importing the same keyset again succeeds and changes nothing;
// importing a superset of the stored keyset (the custodian ran RotateDEK
// and shared again) replaces it.
func (k *Keyring) ImportWrapped(subject string, wrapped []byte, orgKey *OrgKey, info []byte) error {
	if err := checkSubject(subject); err != nil {
		return &Error{Op: "import", Err: err}
	}
	if orgKey == nil || orgKey.priv == nil {
		return &Error{Op: "import", Subject: subject, Err: errors.New("no org key")}
	}
	h, err := unwrapKeyset(wrapped, hpkeOpener{orgKey.priv()}, shareInfo(subject, info))
	if err != nil {
		return &Error{Op: "import", Subject: subject, Err: err}
	}
	if err := checkAESGCMKeyset(h); err != nil {
		return &Error{Op: "import", Subject: subject, Err: err}
	}
	a, err := aead.New(h)
	if err != nil {
		return &Error{Op: "import", Subject: subject, Err: fmt.Errorf("%w: %v", ErrCorrupt, err)}
	}

	mu := k.stripe(subject)
	mu.Lock()
	defer mu.Unlock()
	old, err := k.loadDEK(subject)
	switch {
	case err == nil:
		// A custodian that rotated the DEK (RotateDEK) re-shares the
		// whole keyset: accept it if it keeps every key we have.
		if !containsKeyset(h, old) {
			return &Error{Op: "import", Subject: subject, Err: ErrKeyExists}
		}
		if containsKeyset(old, h) {
			return nil // the same keyset again
		}
	case errors.Is(err, ErrNoKey):
		// import it
	default:
		return &Error{Op: "import", Subject: subject, Err: err}
	}
	if err := k.storeDEK(subject, h); err != nil {
		return &Error{Op: "import", Subject: subject, Err: err}
	}
	k.cache.put(subject, dekEntry{aead: a})
	return nil
}

// containsKeyset reports whether every key of sub is in super with the
// same ID and key material.
func containsKeyset(super, sub *keyset.Handle) bool {
	for i := range sub.Len() {
		es, err := sub.Entry(i)
		if err != nil {
			return false
		}
		found := false
		for j := range super.Len() {
			e, err := super.Entry(j)
			if err == nil && e.KeyID() == es.KeyID() && e.Key().Equal(es.Key()) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// hpkeSealer lets tink's keyset.Write encrypt a keyset to an HPKE public
// key: tink's associated data becomes HPKE's info.
type hpkeSealer struct{ pub hpke.PublicKey }

var _ tink.AEAD = hpkeSealer{}

func (s hpkeSealer) Encrypt(plaintext, info []byte) ([]byte, error) {
	return hpke.Seal(s.pub, hpkeKDF, hpkeAEAD, info, plaintext)
}

func (hpkeSealer) Decrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("hpkeSealer cannot decrypt")
}

// hpkeOpener lets tink's keyset.Read decrypt a keyset that hpkeSealer
// encrypted.
type hpkeOpener struct{ priv hpke.PrivateKey }

var _ tink.AEAD = hpkeOpener{}

func (hpkeOpener) Encrypt([]byte, []byte) ([]byte, error) {
	return nil, errors.New("hpkeOpener cannot encrypt")
}

func (o hpkeOpener) Decrypt(ciphertext, info []byte) ([]byte, error) {
	return hpke.Open(o.priv, hpkeKDF, hpkeAEAD, info, ciphertext)
}
