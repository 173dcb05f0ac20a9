package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/medledger/medledger/internal/identity"
	"io"
)

// An OrgKey is an organisation's HPKE key pair (DHKEM(X25519,
// HKDF-SHA256)): other organisations wrap DEKs to its public key with
// WrapFor, and ImportWrapped unwraps them with it. It is safe for
// concurrent use. The private key never leaves it except encrypted, in
// WriteOrgKeyFile; every fmt verb prints it as "crypt.OrgKey(<key id>)".
type OrgKey struct {
	// priv is a func rather than the key itself so that fmt, which prints
	// a func as an address, cannot reach the key even through a struct
	// that embeds an OrgKey.
	priv func() hpke.PrivateKey
	id   string
}

// GenerateOrgKey returns a new random org key.
func GenerateOrgKey() (*OrgKey, error) {
	priv, err := hpkeKEM.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("crypt: generate org key: %w", err)
	}
	return newOrgKey(priv), nil
}

func newOrgKey(priv hpke.PrivateKey) *OrgKey {
	return &OrgKey{
		priv: func() hpke.PrivateKey { return priv },
		id:   OrgKeyID(priv.PublicKey().Bytes()),
	}
}

// PublicKey returns the 32-byte X25519 public key, to publish for
// WrapFor. The caller owns the returned slice; it is nil for the zero
// OrgKey.
func (k *OrgKey) PublicKey() []byte {
	if k.priv == nil {
		return nil
	}
	return bytes.Clone(k.priv().PublicKey().Bytes())
}

// KeyID returns OrgKeyID(k.PublicKey()), or "" for the zero OrgKey.
func (k *OrgKey) KeyID() string { return k.id }

// OrgKeyID returns the ID of an org public key: the lower-case hex of the
// first 8 bytes of its SHA-256.
func OrgKeyID(pub []byte) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// String returns "crypt.OrgKey(<key id>)". String and Format have value
// receivers so that a copied OrgKey cannot print its key either.
func (k OrgKey) String() string { return "crypt.OrgKey(" + k.id + ")" }

// Format implements fmt.Formatter so that no verb prints the private key.
func (k OrgKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// Org key file format: JSON like identity's key files, the private key
// encrypted with AES-256-GCM under HKDF-SHA256(master key, a random salt,
// orgKeyInfo), with the type, key ID and public key as associated data.
const (
	orgKeyFileVersion = 1
	orgKeyFileType    = "hpke-x25519"
	orgKeyKDF         = "hkdf-sha256"
	orgKeyInfo        = "medledger/orgkey/v1"
	orgKeySaltSize    = 32
	orgKeyNonceSize   = 12
	orgKeyPrivSize    = 32
	maxOrgKeyFileSize = 64 << 10
)

type orgKeyFileJSON struct {
	Version    int           `json:"version"`
	Type       string        `json:"type"`
	KeyID      string        `json:"key_id"`
	PublicKey  string        `json:"public_key"`
	KDF        orgKeyKDFJSON `json:"kdf"`
	Nonce      string        `json:"nonce"`
	Ciphertext string        `json:"ciphertext"`
}

type orgKeyKDFJSON struct {
	Name string `json:"name"`
	Salt string `json:"salt"`
}

func orgKeyAD(keyID string, pub []byte) []byte {
	ad := []byte(orgKeyInfo + "\x00" + orgKeyFileType + "\x00" + keyID + "\x00")
	return append(ad, pub...)
}

func orgKeyAEAD(masterKey *[32]byte, salt []byte) (cipher.AEAD, error) {
	fk, err := hkdf.Key(sha256.New, masterKey[:], salt, orgKeyInfo, 32)
	if err != nil {
		return nil, err
	}
	defer clear(fk)
	block, err := aes.NewCipher(fk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// WriteOrgKeyFile encrypts k under a key derived from masterKey and
// writes it to path with mode 0600. It refuses to replace an existing file
// (the error then wraps fs.ErrExist), and fsyncs the file and its
// directory before returning.
func WriteOrgKeyFile(path string, k *OrgKey, masterKey [32]byte) error {
	b, err := marshalOrgKey(k, &masterKey)
	if err != nil {
		return fmt.Errorf("crypt: write org key file %s: %w", path, err)
	}
	if err := identity.WriteNewFile(path, b, 0o600); err != nil {
		return fmt.Errorf("crypt: write org key file: %w", err)
	}
	return nil
}

func marshalOrgKey(k *OrgKey, masterKey *[32]byte) ([]byte, error) {
	if k == nil || k.priv == nil {
		return nil, errors.New("no private key")
	}
	salt := make([]byte, orgKeySaltSize)
	rand.Read(salt)
	aead, err := orgKeyAEAD(masterKey, salt)
	if err != nil {
		return nil, err
	}
	priv, err := k.priv().Bytes()
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	nonce := make([]byte, orgKeyNonceSize)
	rand.Read(nonce)
	pub := k.PublicKey()
	ct := aead.Seal(nil, nonce, priv, orgKeyAD(k.id, pub))
	b, err := json.MarshalIndent(orgKeyFileJSON{
		Version:    orgKeyFileVersion,
		Type:       orgKeyFileType,
		KeyID:      k.id,
		PublicKey:  base64.StdEncoding.EncodeToString(pub),
		KDF:        orgKeyKDFJSON{Name: orgKeyKDF, Salt: base64.StdEncoding.EncodeToString(salt)},
		Nonce:      base64.StdEncoding.EncodeToString(nonce),
		Ciphertext: base64.StdEncoding.EncodeToString(ct),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadOrgKeyFile reads and decrypts the org key file at path. It refuses
// files that group or others may access (the message says to run chmod
// 600). A wrong master key (or an altered file) gives an error wrapping
// ErrWrongMasterKey; a malformed or inconsistent file one wrapping
// ErrCorrupt; a missing file one wrapping fs.ErrNotExist. No error
// contains key material.
func ReadOrgKeyFile(path string, masterKey [32]byte) (*OrgKey, error) {
	b, err := identity.ReadPrivateFile(path, maxOrgKeyFileSize)
	if err != nil {
		if errors.Is(err, identity.ErrTooLarge) {
			return nil, fmt.Errorf("crypt: read org key file %s: %w: larger than %d bytes", path, ErrCorrupt, maxOrgKeyFileSize)
		}
		return nil, fmt.Errorf("crypt: read org key file: %w", err)
	}
	k, err := unmarshalOrgKey(b, &masterKey)
	if err != nil {
		return nil, fmt.Errorf("crypt: read org key file %s: %w", path, err)
	}
	return k, nil
}

func unmarshalOrgKey(b []byte, masterKey *[32]byte) (*OrgKey, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	var j orgKeyFileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, corrupt("not an org key file: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, corrupt("not an org key file: data after the JSON object")
	}
	if j.Version != orgKeyFileVersion {
		return nil, corrupt("version %d is not supported (want %d)", j.Version, orgKeyFileVersion)
	}
	if j.Type != orgKeyFileType {
		return nil, corrupt("type %q is not supported (want %q)", j.Type, orgKeyFileType)
	}
	if j.KDF.Name != orgKeyKDF {
		return nil, corrupt("kdf.name %q is not supported (want %q)", j.KDF.Name, orgKeyKDF)
	}
	decode := func(field, s string, want int) ([]byte, error) {
		v, err := base64.StdEncoding.Strict().DecodeString(s)
		if err != nil {
			return nil, corrupt("%s is not valid base64", field)
		}
		if len(v) != want {
			return nil, corrupt("%s is %d bytes; want %d", field, len(v), want)
		}
		return v, nil
	}
	pub, err := decode("public_key", j.PublicKey, 32)
	if err != nil {
		return nil, err
	}
	if j.KeyID != OrgKeyID(pub) {
		return nil, corrupt("key_id does not match public_key")
	}
	salt, err := decode("kdf.salt", j.KDF.Salt, orgKeySaltSize)
	if err != nil {
		return nil, err
	}
	nonce, err := decode("nonce", j.Nonce, orgKeyNonceSize)
	if err != nil {
		return nil, err
	}
	ct, err := decode("ciphertext", j.Ciphertext, orgKeyPrivSize+16)
	if err != nil {
		return nil, err
	}
	aead, err := orgKeyAEAD(masterKey, salt)
	if err != nil {
		return nil, err
	}
	privBytes, err := aead.Open(nil, nonce, ct, orgKeyAD(j.KeyID, pub))
	if err != nil {
		return nil, fmt.Errorf("%w (or the file's ciphertext was altered)", ErrWrongMasterKey)
	}
	defer clear(privBytes)
	priv, err := hpkeKEM.NewPrivateKey(privBytes)
	if err != nil {
		return nil, corrupt("the decrypted private key is not an X25519 key")
	}
	if !bytes.Equal(priv.PublicKey().Bytes(), pub) {
		return nil, corrupt("the decrypted private key does not match public_key")
	}
	return newOrgKey(priv), nil
}
