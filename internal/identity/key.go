package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

// A Signer signs messages with a private key that it does not reveal.
// Implementations must be safe for concurrent use.
type Signer interface {
	// KeyID returns KeyIDOf(Public()).
	KeyID() string
	// Public returns the signer's public key. The caller owns the
	// returned slice.
	Public() ed25519.PublicKey
	// Sign returns an Ed25519 signature of msg (the message itself, not
	// a digest of it).
	Sign(msg []byte) ([]byte, error)
}

var _ Signer = (*Key)(nil)

// A Key is an Ed25519 private key held in memory. It is safe for
// concurrent use. The zero Key has no private key: its Sign returns an
// error.
//
// A Key never prints its private key: every fmt verb renders it as
// "identity.Key(<key id>)".
type Key struct {
	// priv returns the private key. It is a function rather than the
	// bytes themselves because fmt prints a func as an address: even a
	// Key nested in an unexported field, where fmt cannot call Format,
	// never shows its key.
	priv func() ed25519.PrivateKey
	id   string
}

// GenerateKey returns a new random key read from crypto/rand.
func GenerateKey() (*Key, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("identity: generate key: %w", err)
	}
	return newKey(priv), nil
}

// newKeyFromSeed returns the key for a 32-byte Ed25519 seed. It does not
// retain seed.
func newKeyFromSeed(seed []byte) *Key {
	return newKey(ed25519.NewKeyFromSeed(seed))
}

func newKey(priv ed25519.PrivateKey) *Key {
	return &Key{
		priv: func() ed25519.PrivateKey { return priv },
		id:   KeyIDOf(priv.Public().(ed25519.PublicKey)),
	}
}

var errNoPrivateKey = errors.New("identity: key has no private key")

// KeyID returns KeyIDOf(k.Public()), or "" for the zero Key.
func (k *Key) KeyID() string { return k.id }

// Public returns k's public key, or nil for the zero Key. The caller owns
// the returned slice.
func (k *Key) Public() ed25519.PublicKey {
	if k.priv == nil {
		return nil
	}
	return append(ed25519.PublicKey(nil), k.priv()[ed25519.SeedSize:]...)
}

// Sign returns the Ed25519 signature of msg. It fails only for the zero
// Key.
func (k *Key) Sign(msg []byte) ([]byte, error) {
	if k.priv == nil {
		return nil, errNoPrivateKey
	}
	return ed25519.Sign(k.priv(), msg), nil
}

// seed returns a copy of k's 32-byte seed; the caller should clear it
// after use.
func (k *Key) seed() []byte { return k.priv().Seed() }

// String returns "identity.Key(<key id>)".
//
// String and Format have value receivers so that a copied Key (or a
// struct holding one) cannot print its private key either.
func (k Key) String() string { return "identity.Key(" + k.id + ")" }

// Format implements fmt.Formatter so that no verb (%x, %d, %#v, ...)
// can print the private key.
func (k Key) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// KeyIDLen is the length of a key ID in characters.
const KeyIDLen = 16

// KeyIDOf returns the key ID of pub: the lower-case hex encoding of the
// first 8 bytes of SHA-256(pub), KeyIDLen characters long.
func KeyIDOf(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:KeyIDLen/2])
}

// EncodePublicKey returns the text form of pub: standard base64 with
// padding (44 characters for a valid key).
func EncodePublicKey(pub ed25519.PublicKey) string {
	return base64.StdEncoding.EncodeToString(pub)
}

// ParsePublicKey parses the text form written by EncodePublicKey. It
// accepts only the canonical encoding of a 32-byte key (so each key has
// one text form) and only keys that are canonical encodings of curve
// points of large order: a small-order key would let anyone forge
// signatures that verify under ZIP-215, so such keys are refused at
// registration even though Verify tolerates them.
//
// Errors describe the problem but never repeat s.
func ParsePublicKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodeToString(b) != s {
		if strings.ContainsAny(s, "-_") {
			return nil, errors.New("public key is not standard base64 (it looks like URL-safe base64)")
		}
		return nil, errors.New("public key is not canonical standard base64")
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes; want %d", len(b), ed25519.PublicKeySize)
	}
	var c curve.CompressedEdwardsY
	var p curve.EdwardsPoint
	if _, err := c.SetBytes(b); err != nil || !c.IsCanonicalVartime() {
		return nil, errors.New("public key is not a canonical Ed25519 point encoding")
	}
	if _, err := p.SetCompressedY(&c); err != nil {
		return nil, errors.New("public key is not a point on the Ed25519 curve")
	}
	if p.IsSmallOrder() {
		return nil, errors.New("public key is a small-order point, which is never a real key")
	}
	return ed25519.PublicKey(b), nil
}
