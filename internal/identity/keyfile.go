package identity

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/scrypt"
)

// Errors returned by ReadKeyFile, wrapped with the file's path.
var (
	// ErrWrongKey means the file could not be decrypted with the given
	// Protector: a wrong passphrase or master key, a Protector of the
	// other kind, or (indistinguishably, since AES-GCM cannot tell) an
	// altered ciphertext.
	ErrWrongKey = errors.New("identity: wrong passphrase or master key")

	// ErrCorrupt means the file is not a well-formed key file, or its
	// contents contradict each other. The message says what is wrong.
	ErrCorrupt = errors.New("identity: corrupt key file")
)

const (
	keyFileVersion = 1
	keyFileType    = "ed25519"
	maxKeyFileSize = 64 << 10

	kdfScrypt = "scrypt"
	kdfHKDF   = "hkdf-sha256"

	// Parameters for new passphrase-protected files.
	scryptN        = 1 << 15
	scryptR        = 8
	scryptP        = 1
	scryptSaltSize = 16
	// Limits for files being read, so that a crafted file cannot make
	// ReadKeyFile spend minutes or gigabytes: 128·N·r bytes ≤ 256 MiB.
	scryptMaxNR = 1 << 21
	scryptMaxP  = 16

	hkdfInfo     = "medledger/keyfile/v1"
	hkdfSaltSize = 32

	aeadKeySize = 32
	aeadPrefix  = "medledger/keyfile/v1\x00"
)

// A Protector derives the key that encrypts a key file. Passphrase and
// MasterKey return the two implementations; no other package can
// implement it. Protectors are safe for concurrent use.
type Protector interface {
	// newKDF returns parameters, with a fresh random salt, for a new file.
	newKDF() (kdfParams, error)
	// deriveKey returns the AES-256 key for a file with parameters p,
	// which parseKeyFile has already checked. It returns an error
	// wrapping ErrWrongKey if p belongs to the other kind of Protector.
	deriveKey(p *kdfParams) ([]byte, error)
}

// Passphrase returns a Protector that derives the file key from
// passphrase with scrypt (N=32768, r=8, p=1, 16-byte random salt). It
// keeps a copy of passphrase. An empty passphrase is refused when the
// Protector is used.
func Passphrase(passphrase []byte) Protector {
	return &passphraseProtector{pass: bytes.Clone(passphrase), n: scryptN}
}

type passphraseProtector struct {
	pass []byte
	n    int // scrypt N for new files; tests lower it
}

var errEmptyPassphrase = errors.New("identity: empty passphrase")

func (pp *passphraseProtector) newKDF() (kdfParams, error) {
	if len(pp.pass) == 0 {
		return kdfParams{}, errEmptyPassphrase
	}
	salt := make([]byte, scryptSaltSize)
	rand.Read(salt)
	return kdfParams{Name: kdfScrypt, salt: salt, N: pp.n, R: scryptR, P: scryptP}, nil
}

func (pp *passphraseProtector) deriveKey(p *kdfParams) ([]byte, error) {
	if p.Name != kdfScrypt {
		return nil, fmt.Errorf("%w: the file is protected by a master key, not a passphrase", ErrWrongKey)
	}
	if len(pp.pass) == 0 {
		return nil, errEmptyPassphrase
	}
	return scrypt.Key(pp.pass, p.salt, p.N, p.R, p.P, aeadKeySize)
}

// MasterKey returns a Protector that derives the file key from a node
// master key with HKDF-SHA256 (a random 32-byte salt per file, info
// "medledger/keyfile/v1").
func MasterKey(key [32]byte) Protector {
	return &masterKeyProtector{key: key}
}

type masterKeyProtector struct{ key [32]byte }

func (mk *masterKeyProtector) newKDF() (kdfParams, error) {
	salt := make([]byte, hkdfSaltSize)
	rand.Read(salt)
	return kdfParams{Name: kdfHKDF, salt: salt}, nil
}

func (mk *masterKeyProtector) deriveKey(p *kdfParams) ([]byte, error) {
	if p.Name != kdfHKDF {
		return nil, fmt.Errorf("%w: the file is protected by a passphrase, not a master key", ErrWrongKey)
	}
	return hkdf.Key(sha256.New, mk.key[:], p.salt, hkdfInfo, aeadKeySize)
}

// keyFileJSON is the on-disk form of a key file.
type keyFileJSON struct {
	Version    int       `json:"version"`
	Type       string    `json:"type"`
	KeyID      string    `json:"key_id"`
	PublicKey  string    `json:"public_key"`
	KDF        kdfParams `json:"kdf"`
	Nonce      string    `json:"nonce"`
	Ciphertext string    `json:"ciphertext"`
}

// kdfParams are a key file's key-derivation parameters. N, R and P are
// set for scrypt only.
type kdfParams struct {
	Name string `json:"name"`
	Salt string `json:"salt"`
	N    int    `json:"n,omitempty"`
	R    int    `json:"r,omitempty"`
	P    int    `json:"p,omitempty"`

	salt []byte // decoded Salt
}

// keyFile is a parsed and checked key file.
type keyFile struct {
	kdf        kdfParams
	keyID      string
	pub        ed25519.PublicKey
	nonce      []byte
	ciphertext []byte
}

// additionalData binds the ciphertext to the file's identity fields, so
// that the public key or key ID of one file cannot be paired with the
// encrypted seed of another.
func (kf *keyFile) additionalData() []byte {
	ad := make([]byte, 0, len(aeadPrefix)+len(keyFileType)+1+len(kf.keyID)+1+len(kf.pub))
	ad = append(ad, aeadPrefix...)
	ad = append(ad, keyFileType...)
	ad = append(ad, 0)
	ad = append(ad, kf.keyID...)
	ad = append(ad, 0)
	return append(ad, kf.pub...)
}

// WriteKeyFile encrypts k with a key derived by p and writes it to path
// with mode 0600. It refuses to replace an existing file (the error then
// wraps fs.ErrExist), and fsyncs the file and its directory before
// returning.
func WriteKeyFile(path string, k *Key, p Protector) error {
	b, err := marshalKeyFile(k, p)
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := WriteNewFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write key file: %w", err)
	}
	return nil
}

func marshalKeyFile(k *Key, p Protector) ([]byte, error) {
	if k == nil || k.priv == nil {
		return nil, errNoPrivateKey
	}
	params, err := p.newKDF()
	if err != nil {
		return nil, err
	}
	fk, err := p.deriveKey(&params)
	if err != nil {
		return nil, err
	}
	defer clear(fk)
	aead, err := newAEAD(fk)
	if err != nil {
		return nil, err
	}
	kf := keyFile{kdf: params, keyID: k.id, pub: k.Public(), nonce: make([]byte, aead.NonceSize())}
	rand.Read(kf.nonce)
	seed := k.seed()
	defer clear(seed)
	kf.ciphertext = aead.Seal(nil, kf.nonce, seed, kf.additionalData())

	params.Salt = base64.StdEncoding.EncodeToString(params.salt)
	b, err := json.MarshalIndent(keyFileJSON{
		Version:    keyFileVersion,
		Type:       keyFileType,
		KeyID:      kf.keyID,
		PublicKey:  EncodePublicKey(kf.pub),
		KDF:        params,
		Nonce:      base64.StdEncoding.EncodeToString(kf.nonce),
		Ciphertext: base64.StdEncoding.EncodeToString(kf.ciphertext),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ReadKeyFile reads and decrypts the key file at path with a key derived
// by p. It refuses files that group or others may access (the message
// says to run chmod 600). A wrong passphrase or master key gives an
// error wrapping ErrWrongKey; a malformed or inconsistent file gives one
// wrapping ErrCorrupt; a missing file gives one wrapping fs.ErrNotExist.
// No error contains key material or the passphrase.
func ReadKeyFile(path string, p Protector) (*Key, error) {
	b, err := ReadPrivateFile(path, maxKeyFileSize)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, fmt.Errorf("read key file %s: %w: larger than %d bytes", path, ErrCorrupt, maxKeyFileSize)
		}
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := unmarshalKeyFile(b, p)
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return k, nil
}

func unmarshalKeyFile(b []byte, p Protector) (*Key, error) {
	kf, err := parseKeyFile(b)
	if err != nil {
		return nil, err
	}
	fk, err := p.deriveKey(&kf.kdf)
	if err != nil {
		return nil, err
	}
	defer clear(fk)
	aead, err := newAEAD(fk)
	if err != nil {
		return nil, err
	}
	seed, err := aead.Open(nil, kf.nonce, kf.ciphertext, kf.additionalData())
	if err != nil {
		return nil, fmt.Errorf("%w (or the file's ciphertext was altered)", ErrWrongKey)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: encrypted seed is %d bytes; want %d", ErrCorrupt, len(seed), ed25519.SeedSize)
	}
	k := newKeyFromSeed(seed)
	if !bytes.Equal(k.Public(), kf.pub) {
		return nil, fmt.Errorf("%w: the decrypted key does not match public_key", ErrCorrupt)
	}
	return k, nil
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// parseKeyFile decodes and checks the structure of a key file without
// decrypting it. Every error wraps ErrCorrupt and names the offending
// field.
func parseKeyFile(b []byte) (*keyFile, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrCorrupt}, args...)...)
	}
	var j keyFileJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return nil, corrupt("not a key file: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, corrupt("not a key file: data after the JSON object")
	}
	if j.Version != keyFileVersion {
		return nil, corrupt("version %d is not supported (want %d; was the file written by a newer medledger?)", j.Version, keyFileVersion)
	}
	if j.Type != keyFileType {
		return nil, corrupt("type %q is not supported (want %q)", j.Type, keyFileType)
	}
	kf := &keyFile{kdf: j.KDF, keyID: j.KeyID}
	var err error
	if kf.pub, err = ParsePublicKey(j.PublicKey); err != nil {
		return nil, corrupt("public_key: %v", err)
	}
	if j.KeyID != KeyIDOf(kf.pub) {
		return nil, corrupt("key_id does not match public_key")
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
	if kf.nonce, err = decode("nonce", j.Nonce, 12); err != nil {
		return nil, err
	}
	if kf.ciphertext, err = decode("ciphertext", j.Ciphertext, ed25519.SeedSize+16); err != nil {
		return nil, err
	}
	switch k := &kf.kdf; k.Name {
	case kdfScrypt:
		if k.salt, err = decode("kdf.salt", k.Salt, scryptSaltSize); err != nil {
			return nil, err
		}
		if k.N < 2 || k.N&(k.N-1) != 0 {
			return nil, corrupt("kdf.n = %d; want a power of two greater than 1", k.N)
		}
		if k.R < 1 || k.N > scryptMaxNR/k.R {
			return nil, corrupt("kdf.n = %d, kdf.r = %d; want r ≥ 1 and n·r ≤ %d", k.N, k.R, scryptMaxNR)
		}
		if k.P < 1 || k.P > scryptMaxP {
			return nil, corrupt("kdf.p = %d; want 1 to %d", k.P, scryptMaxP)
		}
	case kdfHKDF:
		if k.salt, err = decode("kdf.salt", k.Salt, hkdfSaltSize); err != nil {
			return nil, err
		}
		if k.N != 0 || k.R != 0 || k.P != 0 {
			return nil, corrupt("kdf %q takes no n, r or p", kdfHKDF)
		}
	default:
		return nil, corrupt("kdf.name %q is not supported (want %q or %q)", k.Name, kdfScrypt, kdfHKDF)
	}
	return kf, nil
}
