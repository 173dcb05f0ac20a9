package crypt

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"io"
	"sync"
	"sync/atomic"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/aead/aesgcm"
	"github.com/tink-crypto/tink-go/v2/aead/subtle"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// HKDF info strings: one per key derived from the master key.
const (
	infoKEKWrap   = "medledger/crypt/v1/kek-wrap"
	infoPseudonym = "medledger/crypt/v1/pseudonym"

	kekAD       = "medledger/crypt/v1/kek"
	dekADPrefix = "medledger/crypt/v1/dek\x00"
)

// MaxSubjectLen is the longest subject accepted, in bytes.
const MaxSubjectLen = 255

// maxStoredValue bounds what is parsed from a KeyStore or a peer, so that
// a crafted value cannot make the parser allocate much.
const maxStoredValue = 64 << 10

// maxKeysetKeys bounds the number of keys in a DEK keyset, in particular
// one imported from another organisation.
const maxKeysetKeys = 16

// Options configures a Keyring. The zero value is a valid configuration.
type Options struct {
	// CacheSize is the number of subjects whose unwrapped DEKs are kept
	// in memory (each takes about 1 KiB). Zero means 4096.
	CacheSize int
}

// EnsureDefaults fills in zero fields with their defaults.
func (o *Options) EnsureDefaults() {
	if o.CacheSize == 0 {
		o.CacheSize = 4096
	}
}

// Validate reports every invalid field.
func (o Options) Validate() error {
	var errs []error
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("crypt: Options.CacheSize = %d; want 0 (default) or more", o.CacheSize))
	}
	return errors.Join(errs...)
}

// A Keyring seals and opens resources with per-subject data encryption
// keys (DEKs), which it keeps wrapped under its key encryption key (KEK)
// in a KeyStore. See the package documentation for the hierarchy. It is
// safe for concurrent use.
type Keyring struct {
	ks       KeyStore
	wrapAEAD tink.AEAD        // master wrapping key; encrypts the KEK keyset
	newMAC   func() hash.Hash // HMAC-SHA256 under the pseudonym key; a func so fmt never prints the key
	kek      atomic.Pointer[kekState]
	cache    *lru
	seed     maphash.Seed

	// stripes serialise, per subject, the operations that read and then
	// write a subject's KeyStore entry (DEK creation, Shred, RotateDEK,
	// Rewrap, ImportWrapped) and the cache fills that follow them, so that a
	// shredded subject is never re-keyed by a concurrent Seal.
	stripes [64]sync.Mutex

	rotateMu sync.Mutex // serialises RotateKEK
}

// kekState is an immutable snapshot of the KEK.
type kekState struct {
	handle *keyset.Handle
	aead   tink.AEAD
}

// New returns a Keyring whose keys derive from masterKey and are stored in
// ks. The first time it is used with ks it creates a KEK and stores it
// (encrypted under a key derived from masterKey) before returning.
//
// If ks holds a KEK that does not decrypt under masterKey, New returns an
// error wrapping ErrWrongMasterKey. New does not retain masterKey itself,
// only keys derived from it.
func New(masterKey [32]byte, ks KeyStore, opts Options) (*Keyring, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if ks == nil {
		return nil, errors.New("crypt: New: nil KeyStore")
	}
	wk, err := hkdf.Key(sha256.New, masterKey[:], nil, infoKEKWrap, 32)
	if err != nil {
		return nil, fmt.Errorf("crypt: derive KEK wrapping key: %w", err)
	}
	wrapAEAD, err := subtle.NewAESGCM(wk) // copies wk
	clear(wk)
	if err != nil {
		return nil, fmt.Errorf("crypt: KEK wrapping key: %w", err)
	}
	pk, err := hkdf.Key(sha256.New, masterKey[:], nil, infoPseudonym, 32)
	if err != nil {
		return nil, fmt.Errorf("crypt: derive pseudonym key: %w", err)
	}
	k := &Keyring{
		ks:       ks,
		wrapAEAD: wrapAEAD,
		newMAC:   func() hash.Hash { return hmac.New(sha256.New, pk) },
		cache:    newLRU(opts.CacheSize),
		seed:     maphash.MakeSeed(),
	}
	if err := k.loadKEK(); err != nil {
		return nil, err
	}
	return k, nil
}

// loadKEK reads the KEK keyset from the KeyStore, or creates and stores
// one if there is none.
func (k *Keyring) loadKEK() error {
	v, ok, err := k.ks.GetKey(kekName)
	if err != nil {
		return &Error{Op: "load-kek", Err: err}
	}
	var h *keyset.Handle
	if ok {
		if h, err = unwrapKeyset(v, k.wrapAEAD, []byte(kekAD)); errors.Is(err, ErrDecrypt) {
			return &Error{Op: "load-kek", Err: fmt.Errorf("%w: the KeyStore's KEK does not decrypt under it (or was altered)", ErrWrongMasterKey)}
		} else if err != nil {
			return &Error{Op: "load-kek", Err: err}
		}
	} else {
		if h, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
			return &Error{Op: "create-kek", Err: err}
		}
		if err := k.storeKEK(h); err != nil {
			return &Error{Op: "create-kek", Err: err}
		}
	}
	st, err := newKEKState(h)
	if err != nil {
		return &Error{Op: "load-kek", Err: err}
	}
	k.kek.Store(st)
	return nil
}

func newKEKState(h *keyset.Handle) (*kekState, error) {
	if err := checkAESGCMKeyset(h); err != nil {
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return &kekState{handle: h, aead: a}, nil
}

func (k *Keyring) storeKEK(h *keyset.Handle) error {
	v, err := wrapKeyset(h, k.wrapAEAD, []byte(kekAD))
	if err != nil {
		return err
	}
	return k.ks.PutKey(kekName, v)
}

// RotateKEK adds a new KEK key, makes it the primary, and stores the
// keyset before using it. DEKs created from then on are wrapped under the
// new key. Existing wrapped DEKs are not rewritten (Rewrap does that, one
// subject at a time) and still unwrap: old KEK keys are kept. Seal and
// Open carry on during a rotation. If storing fails, the KEK is unchanged.
func (k *Keyring) RotateKEK() error {
	k.rotateMu.Lock()
	defer k.rotateMu.Unlock()
	m := keyset.NewManagerFromHandle(k.kek.Load().handle)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err != nil {
		return &Error{Op: "rotate-kek", Err: err}
	}
	if err := m.SetPrimary(id); err != nil {
		return &Error{Op: "rotate-kek", Err: err}
	}
	h, err := m.Handle()
	if err != nil {
		return &Error{Op: "rotate-kek", Err: err}
	}
	st, err := newKEKState(h)
	if err != nil {
		return &Error{Op: "rotate-kek", Err: err}
	}
	if err := k.storeKEK(h); err != nil {
		return &Error{Op: "rotate-kek", Err: err}
	}
	k.kek.Store(st)
	return nil
}

// Seal encrypts plaintext for subject with the subject's DEK, binding it
// to subject and aad (which the caller must present again to Open; it
// typically names the resource version, e.g. "Patient/123/_history/4").
// If subject has no DEK yet, Seal creates one and stores it durably before
// encrypting. The caller owns the returned slice; plaintext is not
// retained.
//
// Seal returns an error wrapping ErrShredded if subject was shredded. A
// Seal concurrent with Shred of the same subject either fails so or
// succeeds with a ciphertext that the Shred then makes unreadable.
func (k *Keyring) Seal(subject string, aad, plaintext []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, &Error{Op: "seal", Err: err}
	}
	a, err := k.dek(subject, true)
	if err != nil {
		return nil, &Error{Op: "seal", Subject: subject, Err: err}
	}
	ct, err := a.Encrypt(plaintext, dataAD(subject, aad))
	if err != nil {
		return nil, &Error{Op: "seal", Subject: subject, Err: err}
	}
	return ct, nil
}

// Open decrypts a ciphertext made by Seal (here, or by a custodian that
// shared the subject's DEK with ImportWrapped) for the same subject and
// aad. The caller owns the returned slice.
//
// Errors wrap ErrDecrypt if the ciphertext does not authenticate (altered,
// another subject's, another aad), ErrShredded if the subject was
// shredded, and ErrNoKey if it has no DEK.
func (k *Keyring) Open(subject string, aad, ciphertext []byte) ([]byte, error) {
	if err := checkSubject(subject); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	a, err := k.dek(subject, false)
	if err != nil {
		return nil, &Error{Op: "open", Subject: subject, Err: err}
	}
	pt, err := a.Decrypt(ciphertext, dataAD(subject, aad))
	if err != nil {
		// tink's message says which check failed; ours says what it means.
		return nil, &Error{Op: "open", Subject: subject, Err: ErrDecrypt}
	}
	return pt, nil
}

// Shred destroys subject's DEK: it replaces the wrapped DEK in the
// KeyStore with a tombstone in a single write, and drops the cached copy.
// From then on Open, Seal and WrapFor fail with ErrShredded for subject,
// and it is never given a new DEK. Shredding a subject that has no DEK
// (or was already shredded) succeeds and leaves a tombstone. See the
// package documentation for the copies of a DEK that Shred cannot reach.
func (k *Keyring) Shred(subject string) error {
	if err := checkSubject(subject); err != nil {
		return &Error{Op: "shred", Err: err}
	}
	mu := k.stripe(subject)
	mu.Lock()
	defer mu.Unlock()
	if err := k.ks.PutKey(dekName(subject), []byte{tagTombstone}); err != nil {
		return &Error{Op: "shred", Subject: subject, Err: err}
	}
	k.cache.put(subject, dekEntry{shredded: true})
	return nil
}

// Shredded reports whether subject was shredded. The error is from the
// KeyStore, or reports an invalid subject.
func (k *Keyring) Shredded(subject string) (bool, error) {
	if err := checkSubject(subject); err != nil {
		return false, &Error{Op: "shredded", Err: err}
	}
	if e, ok := k.cache.get(subject); ok {
		return e.shredded, nil
	}
	v, ok, err := k.ks.GetKey(dekName(subject))
	if err != nil {
		return false, &Error{Op: "shredded", Subject: subject, Err: err}
	}
	return ok && len(v) == 1 && v[0] == tagTombstone, nil
}

// Rewrap rewrites subject's wrapped DEK under the current KEK primary, so
// that old KEK keys can eventually be retired. Errors wrap ErrNoKey or
// ErrShredded when there is nothing to rewrap.
func (k *Keyring) Rewrap(subject string) error {
	if err := checkSubject(subject); err != nil {
		return &Error{Op: "rewrap", Err: err}
	}
	mu := k.stripe(subject)
	mu.Lock()
	defer mu.Unlock()
	h, err := k.loadDEK(subject)
	if err != nil {
		return &Error{Op: "rewrap", Subject: subject, Err: err}
	}
	if err := k.storeDEK(subject, h); err != nil {
		return &Error{Op: "rewrap", Subject: subject, Err: err}
	}
	return nil
}

// RotateDEK adds a new key to subject's DEK keyset and makes it the
// primary: Seal uses it from then on, while Open still reads what the
// older keys sealed. Organisations that hold the old keyset (through
// ImportWrapped) cannot open what is sealed afterwards; that is how a
// revoked share is kept from new versions. Re-share to the remaining
// recipients with WrapFor. Errors wrap ErrNoKey or ErrShredded when
// subject has no DEK.
func (k *Keyring) RotateDEK(subject string) error {
	if err := checkSubject(subject); err != nil {
		return &Error{Op: "rotate-dek", Err: err}
	}
	mu := k.stripe(subject)
	mu.Lock()
	defer mu.Unlock()
	h, err := k.loadDEK(subject)
	if err != nil {
		return &Error{Op: "rotate-dek", Subject: subject, Err: err}
	}
	if h.Len() >= maxKeysetKeys {
		return &Error{Op: "rotate-dek", Subject: subject, Err: fmt.Errorf("the DEK keyset already has %d keys", h.Len())}
	}
	m := keyset.NewManagerFromHandle(h)
	id, err := m.Add(aead.AES256GCMKeyTemplate())
	if err == nil {
		err = m.SetPrimary(id)
	}
	if err == nil {
		h, err = m.Handle()
	}
	if err != nil {
		return &Error{Op: "rotate-dek", Subject: subject, Err: err}
	}
	a, err := aead.New(h)
	if err != nil {
		return &Error{Op: "rotate-dek", Subject: subject, Err: err}
	}
	if err := k.storeDEK(subject, h); err != nil {
		return &Error{Op: "rotate-dek", Subject: subject, Err: err}
	}
	k.cache.put(subject, dekEntry{aead: a})
	return nil
}

// dek returns subject's DEK primitive from the cache, or else from the
// KeyStore; if there is none and create is set, it creates one and
// stores it first.
func (k *Keyring) dek(subject string, create bool) (tink.AEAD, error) {
	if e, ok := k.cache.get(subject); ok {
		if e.shredded {
			return nil, ErrShredded
		}
		return e.aead, nil
	}
	mu := k.stripe(subject)
	mu.Lock()
	defer mu.Unlock()
	if e, ok := k.cache.get(subject); ok { // filled while we waited
		if e.shredded {
			return nil, ErrShredded
		}
		return e.aead, nil
	}
	h, err := k.loadDEK(subject)
	switch {
	case errors.Is(err, ErrShredded):
		k.cache.put(subject, dekEntry{shredded: true})
		return nil, err
	case errors.Is(err, ErrNoKey) && create:
		if h, err = keyset.NewHandle(aead.AES256GCMKeyTemplate()); err != nil {
			return nil, err
		}
		if err := k.storeDEK(subject, h); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	k.cache.put(subject, dekEntry{aead: a})
	return a, nil
}

// loadDEK reads and unwraps subject's DEK keyset from the KeyStore. It
// returns ErrNoKey if there is none and ErrShredded for a tombstone.
func (k *Keyring) loadDEK(subject string) (*keyset.Handle, error) {
	v, ok, err := k.ks.GetKey(dekName(subject))
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, ErrNoKey
	case len(v) == 1 && v[0] == tagTombstone:
		return nil, ErrShredded
	}
	h, err := unwrapKeyset(v, k.kek.Load().aead, dekAD(subject))
	if errors.Is(err, ErrDecrypt) {
		// Our own KEK wrote it under this name: it was altered or moved.
		return nil, fmt.Errorf("%w: the stored DEK does not unwrap under the KEK", ErrCorrupt)
	}
	if err != nil {
		return nil, err
	}
	if err := checkAESGCMKeyset(h); err != nil {
		return nil, err
	}
	return h, nil
}

// storeDEK wraps h under the current KEK primary and stores it as
// subject's DEK.
func (k *Keyring) storeDEK(subject string, h *keyset.Handle) error {
	v, err := wrapKeyset(h, k.kek.Load().aead, dekAD(subject))
	if err != nil {
		return err
	}
	return k.ks.PutKey(dekName(subject), v)
}

func (k *Keyring) stripe(subject string) *sync.Mutex {
	return &k.stripes[maphash.String(k.seed, subject)%uint64(len(k.stripes))]
}

// PseudonymLen is the length of a pseudonym in characters.
const PseudonymLen = 3 + 32

var pseudonymEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Pseudonym returns the pseudonymous reference for the resource kind/id
// (for a patient, Pseudonym("Patient", id)): "pt_" followed by 32
// lower-case base32 characters, the first 160 bits of HMAC-SHA256 under a
// key derived from the master key. It is the same for every Keyring with
// the same master key, reveals nothing about kind or id to anyone without
// that key, and is what the ledger holds instead of the real id. It is
// typically also the subject of the patient's DEK.
func (k *Keyring) Pseudonym(kind, id string) string {
	mac := k.newMAC()
	var n [binary.MaxVarintLen64]byte
	mac.Write(n[:binary.PutUvarint(n[:], uint64(len(kind)))])
	io.WriteString(mac, kind)
	io.WriteString(mac, id)
	var sum [sha256.Size]byte
	return "pt_" + pseudonymEncoding.EncodeToString(mac.Sum(sum[:0])[:20])
}

// String returns "crypt.Keyring".
func (k *Keyring) String() string { return "crypt.Keyring" }

// Format implements fmt.Formatter so that no verb prints the Keyring's
// internals.
func (k *Keyring) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// checkSubject accepts 1 to MaxSubjectLen bytes of printable ASCII
// without space. Subjects never contain NUL, which the AAD encodings
// below rely on. Its error does not repeat the subject.
func checkSubject(s string) error {
	if len(s) == 0 || len(s) > MaxSubjectLen {
		return fmt.Errorf("invalid subject: %d bytes; want 1 to %d", len(s), MaxSubjectLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return fmt.Errorf("invalid subject: byte %d is not printable ASCII", i)
		}
	}
	return nil
}

// dekAD is the associated data that binds a wrapped DEK to its subject.
func dekAD(subject string) []byte {
	return append([]byte(dekADPrefix), subject...)
}

// dataAD is the associated data of a resource ciphertext: subject, NUL,
// then the caller's aad.
func dataAD(subject string, aad []byte) []byte {
	ad := make([]byte, 0, len(subject)+1+len(aad))
	ad = append(ad, subject...)
	ad = append(ad, 0)
	return append(ad, aad...)
}

// wrapKeyset encrypts h under a with associated data ad, in the stored
// form: tagWrapped ‖ tink EncryptedKeyset.
func wrapKeyset(h *keyset.Handle, a tink.AEAD, ad []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(tagWrapped)
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&buf), a, ad); err != nil {
		return nil, fmt.Errorf("wrap keyset: %w", err)
	}
	return buf.Bytes(), nil
}

// unwrapKeyset decrypts a value written by wrapKeyset. Authentication
// failures wrap ErrDecrypt and anything malformed ErrCorrupt. It keeps no
// text from tink's errors once decryption has happened, since those
// concern secret key material.
func unwrapKeyset(v []byte, a tink.AEAD, ad []byte) (*keyset.Handle, error) {
	if len(v) == 0 || v[0] != tagWrapped {
		return nil, fmt.Errorf("%w: not a wrapped keyset", ErrCorrupt)
	}
	if len(v) > maxStoredValue {
		return nil, fmt.Errorf("%w: wrapped keyset is %d bytes; want at most %d", ErrCorrupt, len(v), maxStoredValue)
	}
	t := &decryptTracker{AEAD: a}
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(v[1:])), t, ad)
	switch {
	case err == nil:
		return h, nil
	case t.empty:
		return nil, fmt.Errorf("%w: the encrypted keyset is empty", ErrCorrupt)
	case t.failed:
		return nil, ErrDecrypt
	case t.called:
		return nil, fmt.Errorf("%w: the decrypted keyset is invalid", ErrCorrupt)
	default:
		return nil, fmt.Errorf("%w: not a tink encrypted keyset", ErrCorrupt)
	}
}

// decryptTracker records whether Decrypt was called and failed. tink's
// keyset.Read reports a failed decryption and a malformed keyset alike,
// as opaque strings; the tracker tells them apart. One tracker serves one
// read.
type decryptTracker struct {
	tink.AEAD
	called, failed, empty bool
}

func (t *decryptTracker) Decrypt(ct, ad []byte) ([]byte, error) {
	t.called = true
	if len(ct) == 0 {
		t.empty = true
		return nil, errors.New("empty ciphertext")
	}
	pt, err := t.AEAD.Decrypt(ct, ad)
	t.failed = err != nil
	return pt, err
}

// checkAESGCMKeyset checks that every key of h is an enabled AES-256-GCM
// key with tink's prefix, and that there are at most maxKeysetKeys.
func checkAESGCMKeyset(h *keyset.Handle) error {
	if h.Len() == 0 || h.Len() > maxKeysetKeys {
		return fmt.Errorf("%w: keyset has %d keys; want 1 to %d", ErrCorrupt, h.Len(), maxKeysetKeys)
	}
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return fmt.Errorf("%w: keyset entry %d: %v", ErrCorrupt, i, err)
		}
		key, ok := e.Key().(*aesgcm.Key)
		if !ok {
			return fmt.Errorf("%w: key %d is %T; want AES-256-GCM", ErrCorrupt, e.KeyID(), e.Key())
		}
		p, ok := key.Parameters().(*aesgcm.Parameters)
		if !ok || p.KeySizeInBytes() != 32 || p.Variant() != aesgcm.VariantTink || e.KeyStatus() != keyset.Enabled {
			return fmt.Errorf("%w: key %d is not an enabled AES-256-GCM key with TINK prefix", ErrCorrupt, e.KeyID())
		}
	}
	return nil
}
