package crypt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"google.golang.org/protobuf/proto"
)

func masterKey(b byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = b + byte(i)
	}
	return k
}

func newKeyring(t testing.TB, mk [32]byte, ks KeyStore) *Keyring {
	t.Helper()
	k, err := New(mk, ks, Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func mustSeal(t testing.TB, k *Keyring, subject, aad, pt string) []byte {
	t.Helper()
	ct, err := k.Seal(subject, []byte(aad), []byte(pt))
	if err != nil {
		t.Fatalf("Seal(%q, %q): %v", subject, aad, err)
	}
	return ct
}

func mustOpen(t testing.TB, k *Keyring, subject, aad string, ct []byte, want string) {
	t.Helper()
	pt, err := k.Open(subject, []byte(aad), ct)
	if err != nil {
		t.Fatalf("Open(%q, %q): %v", subject, aad, err)
	}
	if string(pt) != want {
		t.Fatalf("Open(%q, %q) = %q; want %q", subject, aad, pt, want)
	}
}

// flip returns a copy of b with bit 0 of byte i (from the end if i < 0)
// inverted.
func flip(i int) func([]byte) []byte {
	return func(b []byte) []byte {
		b = bytes.Clone(b)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= 1
		return b
	}
}

func TestSealOpen(t *testing.T) {
	const (
		a = "pt_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b = "pt_bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	big := strings.Repeat(`{"resourceType":"Observation"}`, 70) // ≈ 2 KB
	tests := []struct {
		name              string
		subject, aad, pt  string
		openSubj, openAAD string
		mutate            func([]byte) []byte
		want              error
	}{
		{name: "round trip", subject: a, aad: "Patient/1/_history/1", pt: `{"resourceType":"Patient"}`},
		{name: "2 KB", subject: a, aad: "Observation/9/_history/2", pt: big},
		{name: "empty plaintext", subject: a, aad: "x", pt: ""},
		{name: "empty aad", subject: a, aad: "", pt: "p"},
		{name: "org compartment", subject: "org:general-hospital", aad: "Organization/1/_history/1", pt: "org record"},
		{name: "wrong aad", subject: a, aad: "Patient/1/_history/1", pt: "secret", openAAD: "Patient/1/_history/2", want: ErrDecrypt},
		{name: "aad prefix", subject: a, aad: "Patient/1/_history/1", pt: "secret", openAAD: "Patient/1/_history/", want: ErrDecrypt},
		{name: "other subject", subject: a, aad: "x", pt: "secret", openSubj: b, want: ErrDecrypt},
		{name: "unknown subject", subject: a, aad: "x", pt: "secret", openSubj: "pt_never", want: ErrNoKey},
		{name: "tampered body", subject: a, aad: "x", pt: "hello", mutate: flip(20), want: ErrDecrypt},
		{name: "tampered tag", subject: a, aad: "x", pt: "hello", mutate: flip(-1), want: ErrDecrypt},
		{name: "tampered nonce", subject: a, aad: "x", pt: "hello", mutate: flip(6), want: ErrDecrypt},
		{name: "tampered key id", subject: a, aad: "x", pt: "hello", mutate: flip(4), want: ErrDecrypt},
		{name: "tampered version", subject: a, aad: "x", pt: "hello", mutate: flip(0), want: ErrDecrypt},
		{name: "truncated", subject: a, aad: "x", pt: "hello", mutate: func(b []byte) []byte { return b[:len(b)-1] }, want: ErrDecrypt},
		{name: "prefix only", subject: a, aad: "x", pt: "hello", mutate: func(b []byte) []byte { return b[:5] }, want: ErrDecrypt},
		{name: "empty ciphertext", subject: a, aad: "x", pt: "hello", mutate: func([]byte) []byte { return nil }, want: ErrDecrypt},
	}
	k := newKeyring(t, masterKey(1), &MemKeyStore{})
	mustSeal(t, k, b, "x", "b's DEK exists") // so that "other subject" fails on the key, not ErrNoKey
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := mustSeal(t, k, tt.subject, tt.aad, tt.pt)
			if got, want := len(ct), len(tt.pt)+33; got != want {
				t.Errorf("len(ciphertext) = %d; want %d", got, want)
			}
			if len(tt.pt) > 4 && bytes.Contains(ct, []byte(tt.pt)) {
				t.Errorf("ciphertext contains the plaintext")
			}
			subj, aad := tt.subject, tt.aad
			if tt.openSubj != "" {
				subj = tt.openSubj
			}
			if tt.openAAD != "" {
				aad = tt.openAAD
			}
			if tt.mutate != nil {
				ct = tt.mutate(ct)
			}
			pt, err := k.Open(subj, []byte(aad), ct)
			if tt.want == nil {
				if err != nil || string(pt) != tt.pt {
					t.Fatalf("Open = %q, %v; want %q, nil", pt, err, tt.pt)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want error %v", pt, err, tt.want)
			}
			if pt != nil {
				t.Errorf("Open returned plaintext %q with an error", pt)
			}
			if tt.pt != "" && strings.Contains(err.Error(), tt.pt) {
				t.Errorf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestSealIsRandomised(t *testing.T) {
	k := newKeyring(t, masterKey(1), &MemKeyStore{})
	c1 := mustSeal(t, k, "pt_a", "x", "same")
	c2 := mustSeal(t, k, "pt_a", "x", "same")
	if bytes.Equal(c1, c2) {
		t.Fatal("two Seals of the same plaintext gave the same ciphertext")
	}
}

func TestSubjectsHaveOwnKeys(t *testing.T) {
	ks := &MemKeyStore{}
	k := newKeyring(t, masterKey(1), ks)
	ca := mustSeal(t, k, "pt_a", "x", "p")
	cb := mustSeal(t, k, "pt_b", "x", "p")
	// Different DEKs: the tink key IDs in the prefixes differ (with
	// probability 1 - 2^-32).
	if bytes.Equal(ca[:5], cb[:5]) {
		t.Errorf("subjects a and b share DEK key ID %x", ca[1:5])
	}
	// A wrapped DEK moved to another subject's entry does not unwrap: the
	// wrapping is bound to the subject.
	wa, _, _ := ks.GetKey(dekName("pt_a"))
	ks.PutKey(dekName("pt_c"), wa)
	k2 := newKeyring(t, masterKey(1), ks)
	if _, err := k2.Open("pt_c", []byte("x"), ca); !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open with a DEK moved from pt_a to pt_c: err = %v; want ErrCorrupt", err)
	}
}

func TestInvalidSubject(t *testing.T) {
	k := newKeyring(t, masterKey(1), &MemKeyStore{})
	for _, s := range []string{"", "has space", "nul\x00", "tab\t", "é", strings.Repeat("x", MaxSubjectLen+1), "Jane Doe 1970-01-01"} {
		ops := map[string]error{}
		_, ops["Seal"] = k.Seal(s, nil, []byte("p"))
		_, ops["Open"] = k.Open(s, nil, []byte("p"))
		ops["Shred"] = k.Shred(s)
		_, ops["Shredded"] = k.Shredded(s)
		ops["RotateDEK"] = k.RotateDEK(s)
		ops["Rewrap"] = k.Rewrap(s)
		_, ops["WrapFor"] = k.WrapFor(s, make([]byte, 32), nil)
		ops["ImportWrapped"] = k.ImportWrapped(s, nil, nil, nil)
		for op, err := range ops {
			if err == nil {
				t.Errorf("%s(%q) succeeded; want an error", op, s)
				continue
			}
			if s != "" && strings.Contains(err.Error(), s) {
				t.Errorf("%s(%q) error %q repeats the subject", op, s, err)
			}
		}
	}
	if _, err := k.Seal(strings.Repeat("x", MaxSubjectLen), nil, nil); err != nil {
		t.Errorf("Seal with a %d-byte subject: %v", MaxSubjectLen, err)
	}
}

func TestShred(t *testing.T) {
	ks := &MemKeyStore{}
	k := newKeyring(t, masterKey(1), ks)
	ct := mustSeal(t, k, "pt_a", "v1", "secret record")
	keep := mustSeal(t, k, "pt_keep", "v1", "other")
	if err := k.Shred("pt_a"); err != nil {
		t.Fatalf("Shred: %v", err)
	}
	if err := k.Shred("pt_a"); err != nil {
		t.Fatalf("second Shred: %v", err)
	}
	if err := k.Shred("pt_never"); err != nil { // a tombstone before any data
		t.Fatalf("Shred of a subject without a DEK: %v", err)
	}
	org, _ := GenerateOrgKey()
	check := func(t *testing.T, k *Keyring) {
		for _, s := range []string{"pt_a", "pt_never"} {
			if _, err := k.Open(s, []byte("v1"), ct); !errors.Is(err, ErrShredded) {
				t.Errorf("Open(%s) after Shred: err = %v; want ErrShredded", s, err)
			}
			if _, err := k.Seal(s, []byte("v2"), []byte("new")); !errors.Is(err, ErrShredded) {
				t.Errorf("Seal(%s) after Shred: err = %v; want ErrShredded", s, err)
			}
			if _, err := k.WrapFor(s, org.PublicKey(), nil); !errors.Is(err, ErrShredded) {
				t.Errorf("WrapFor(%s) after Shred: err = %v; want ErrShredded", s, err)
			}
			if err := k.RotateDEK(s); !errors.Is(err, ErrShredded) {
				t.Errorf("RotateDEK(%s) after Shred: err = %v; want ErrShredded", s, err)
			}
			if got, err := k.Shredded(s); !got || err != nil {
				t.Errorf("Shredded(%s) = %v, %v; want true", s, got, err)
			}
		}
		if got, err := k.Shredded("pt_keep"); got || err != nil {
			t.Errorf("Shredded(pt_keep) = %v, %v; want false", got, err)
		}
		mustOpen(t, k, "pt_keep", "v1", keep, "other")
	}
	t.Run("same keyring", func(t *testing.T) { check(t, k) })
	t.Run("reopened", func(t *testing.T) { check(t, newKeyring(t, masterKey(1), ks)) })

	// The DEK is gone from the store, not just hidden.
	v, _, _ := ks.GetKey(dekName("pt_a"))
	if !bytes.Equal(v, []byte{tagTombstone}) {
		t.Errorf("stored value after Shred = %x; want the tombstone %x", v, tagTombstone)
	}
}

// kekKeyID returns the ID of the KEK key that wrapped a stored DEK: tink
// ciphertexts start with 0x01 and the key ID.
func kekKeyID(t *testing.T, ks KeyStore, subject string) uint32 {
	t.Helper()
	v, ok, err := ks.GetKey(dekName(subject))
	if !ok || err != nil || v[0] != tagWrapped {
		t.Fatalf("no wrapped DEK for %s (%v)", subject, err)
	}
	var ek tinkpb.EncryptedKeyset
	if err := proto.Unmarshal(v[1:], &ek); err != nil {
		t.Fatal(err)
	}
	ct := ek.GetEncryptedKeyset()
	if len(ct) < 5 || ct[0] != 1 {
		t.Fatalf("wrapped DEK for %s has no tink prefix", subject)
	}
	return binary.BigEndian.Uint32(ct[1:5])
}

func primaryID(k *Keyring) uint32 { return k.kek.Load().handle.KeysetInfo().GetPrimaryKeyId() }

func TestRotateKEK(t *testing.T) {
	ks := &MemKeyStore{}
	k := newKeyring(t, masterKey(1), ks)
	old := primaryID(k)
	c1 := mustSeal(t, k, "pt_old", "x", "before")
	if got := kekKeyID(t, ks, "pt_old"); got != old {
		t.Fatalf("DEK wrapped under KEK key %d; want %d", got, old)
	}
	if err := k.RotateKEK(); err != nil {
		t.Fatalf("RotateKEK: %v", err)
	}
	cur := primaryID(k)
	if cur == old {
		t.Fatal("RotateKEK kept the primary key")
	}
	if n := k.kek.Load().handle.Len(); n != 2 {
		t.Errorf("KEK keyset has %d keys after one rotation; want 2", n)
	}
	c2 := mustSeal(t, k, "pt_new", "x", "after")
	if got := kekKeyID(t, ks, "pt_new"); got != cur {
		t.Errorf("new DEK wrapped under KEK key %d; want the new primary %d", got, cur)
	}
	if got := kekKeyID(t, ks, "pt_old"); got != old {
		t.Errorf("old DEK rewrapped to %d by RotateKEK; want it left under %d", got, old)
	}
	mustOpen(t, k, "pt_old", "x", c1, "before")
	mustOpen(t, k, "pt_new", "x", c2, "after")

	// A restarted keyring reads the rotated KEK, with both keys.
	k2 := newKeyring(t, masterKey(1), ks)
	if primaryID(k2) != cur {
		t.Errorf("reopened KEK primary = %d; want %d", primaryID(k2), cur)
	}
	mustOpen(t, k2, "pt_old", "x", c1, "before")
	mustOpen(t, k2, "pt_new", "x", c2, "after")

	// Rewrap moves the old DEK under the new primary.
	if err := k2.Rewrap("pt_old"); err != nil {
		t.Fatalf("Rewrap: %v", err)
	}
	if got := kekKeyID(t, ks, "pt_old"); got != cur {
		t.Errorf("after Rewrap the DEK is under KEK key %d; want %d", got, cur)
	}
	mustOpen(t, newKeyring(t, masterKey(1), ks), "pt_old", "x", c1, "before")
	if err := k2.Rewrap("pt_none"); !errors.Is(err, ErrNoKey) {
		t.Errorf("Rewrap of a subject without a DEK: err = %v; want ErrNoKey", err)
	}
}

func TestRotateDEK(t *testing.T) {
	k := newKeyring(t, masterKey(1), &MemKeyStore{})
	c1 := mustSeal(t, k, "pt_a", "v1", "one")
	if err := k.RotateDEK("pt_a"); err != nil {
		t.Fatalf("RotateDEK: %v", err)
	}
	c2 := mustSeal(t, k, "pt_a", "v2", "two")
	if bytes.Equal(c1[:5], c2[:5]) {
		t.Error("Seal after RotateDEK used the old key")
	}
	mustOpen(t, k, "pt_a", "v1", c1, "one")
	mustOpen(t, k, "pt_a", "v2", c2, "two")
	if err := k.RotateDEK("pt_none"); !errors.Is(err, ErrNoKey) {
		t.Errorf("RotateDEK of a subject without a DEK: err = %v; want ErrNoKey", err)
	}
}

func TestReopen(t *testing.T) {
	ks := &MemKeyStore{}
	k := newKeyring(t, masterKey(1), ks)
	cts := map[string][]byte{}
	for i := range 20 {
		s := fmt.Sprintf("pt_%02d", i)
		cts[s] = mustSeal(t, k, s, "aad", "record "+s)
	}
	k2 := newKeyring(t, masterKey(1), ks)
	for s, ct := range cts {
		mustOpen(t, k2, s, "aad", ct, "record "+s)
	}
	_, err := New(masterKey(2), ks, Options{})
	if !errors.Is(err, ErrWrongMasterKey) {
		t.Fatalf("New with another master key: err = %v; want ErrWrongMasterKey", err)
	}
	// Nor can another master key with its own KEK read the DEKs: copy
	// only the DEK entries into a fresh store.
	other := newKeyring(t, masterKey(2), &MemKeyStore{})
	for s := range cts {
		v, _, _ := ks.GetKey(dekName(s))
		other.ks.PutKey(dekName(s), v)
	}
	for s, ct := range cts {
		if _, err := other.Open(s, []byte("aad"), ct); err == nil {
			t.Fatalf("a keyring with another master key opened %s", s)
		}
	}
}

func TestCorruptKEK(t *testing.T) {
	ks := &MemKeyStore{}
	newKeyring(t, masterKey(1), ks)
	v, _, _ := ks.GetKey(kekName)
	for _, tt := range []struct {
		name string
		v    []byte
		want error
	}{
		{"empty", nil, ErrCorrupt},
		{"tag only", []byte{tagWrapped}, ErrCorrupt},
		{"tombstone", []byte{tagTombstone}, ErrCorrupt},
		{"garbage", []byte{tagWrapped, 0xff, 0xff, 0xff}, ErrCorrupt},
		{"altered", flip(len(v) / 2)(v), ErrWrongMasterKey},
	} {
		ks.PutKey(kekName, tt.v)
		if _, err := New(masterKey(1), ks, Options{}); !errors.Is(err, tt.want) {
			t.Errorf("%s KEK: New err = %v; want %v", tt.name, err, tt.want)
		}
	}
}

// faultyStore fails PutKey while fail is set.
type faultyStore struct {
	MemKeyStore
	mu   sync.Mutex
	fail bool
}

var errDiskFull = errors.New("disk full")

func (s *faultyStore) PutKey(name string, v []byte) error {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return errDiskFull
	}
	return s.MemKeyStore.PutKey(name, v)
}

func (s *faultyStore) setFail(b bool) { s.mu.Lock(); s.fail = b; s.mu.Unlock() }

func TestKeyStoreFailure(t *testing.T) {
	ks := &faultyStore{}
	k := newKeyring(t, masterKey(1), ks)
	ks.setFail(true)
	if _, err := k.Seal("pt_a", nil, []byte("p")); !errors.Is(err, errDiskFull) {
		t.Fatalf("Seal with a failing store: err = %v; want it to wrap the store's error", err)
	}
	if k.cache.len() != 0 {
		t.Error("a DEK that was never stored is cached")
	}
	before := primaryID(k)
	if err := k.RotateKEK(); !errors.Is(err, errDiskFull) {
		t.Fatalf("RotateKEK with a failing store: err = %v", err)
	}
	if primaryID(k) != before {
		t.Error("RotateKEK changed the in-memory KEK although storing it failed")
	}
	if err := k.Shred("pt_b"); !errors.Is(err, errDiskFull) {
		t.Fatalf("Shred with a failing store: err = %v", err)
	}
	if s, _ := k.Shredded("pt_b"); s {
		t.Error("Shredded = true although the tombstone was not stored")
	}
	ks.setFail(false)
	ct := mustSeal(t, k, "pt_a", "x", "p")
	mustOpen(t, newKeyring(t, masterKey(1), ks), "pt_a", "x", ct, "p")
}

func TestCacheEviction(t *testing.T) {
	ks := &MemKeyStore{}
	k, err := New(masterKey(1), ks, Options{CacheSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var cts [][]byte
	for i := range 6 {
		cts = append(cts, mustSeal(t, k, fmt.Sprintf("pt_%d", i), "x", fmt.Sprint(i)))
	}
	if n := k.cache.len(); n != 2 {
		t.Errorf("cache holds %d subjects; want 2", n)
	}
	if err := k.RotateKEK(); err != nil { // evicted DEKs must still unwrap
		t.Fatal(err)
	}
	for i, ct := range cts {
		mustOpen(t, k, fmt.Sprintf("pt_%d", i), "x", ct, fmt.Sprint(i))
	}
	if err := k.Shred("pt_0"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 6; i++ { // evict pt_0's tombstone from the cache
		mustOpen(t, k, fmt.Sprintf("pt_%d", i), "x", cts[i], fmt.Sprint(i))
	}
	if _, err := k.Seal("pt_0", nil, nil); !errors.Is(err, ErrShredded) {
		t.Errorf("Seal of a shredded subject after its cache entry was evicted: err = %v; want ErrShredded", err)
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(masterKey(1), &MemKeyStore{}, Options{CacheSize: -1}); err == nil {
		t.Error("New accepted CacheSize -1")
	}
	if _, err := New(masterKey(1), nil, Options{}); err == nil {
		t.Error("New accepted a nil KeyStore")
	}
	var o Options
	o.EnsureDefaults()
	if o.CacheSize != 4096 {
		t.Errorf("default CacheSize = %d; want 4096", o.CacheSize)
	}
}

// TestConcurrent runs Seal, Open, Shred and the rotations together; run it
// with -race. A shredded subject must stay shredded.
func TestConcurrent(t *testing.T) {
	ks := &MemKeyStore{}
	k, err := New(masterKey(1), ks, Options{CacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	subjects := []string{"pt_0", "pt_1", "pt_2", "pt_3", "pt_4", "pt_doomed"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				s := subjects[(g+i)%len(subjects)]
				aad := []byte(fmt.Sprint(g, i))
				ct, err := k.Seal(s, aad, []byte("p"))
				if errors.Is(err, ErrShredded) && s == "pt_doomed" {
					continue
				}
				if err != nil {
					t.Errorf("Seal(%s): %v", s, err)
					return
				}
				pt, err := k.Open(s, aad, ct)
				if errors.Is(err, ErrShredded) && s == "pt_doomed" {
					continue
				}
				if err != nil || string(pt) != "p" {
					t.Errorf("Open(%s) = %q, %v", s, pt, err)
					return
				}
			}
		})
	}
	wg.Go(func() {
		for range 3 {
			if err := k.RotateKEK(); err != nil {
				t.Error(err)
			}
			if err := k.RotateDEK("pt_0"); err != nil && !errors.Is(err, ErrNoKey) {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		if err := k.Shred("pt_doomed"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	v, _, _ := ks.GetKey(dekName("pt_doomed"))
	if !bytes.Equal(v, []byte{tagTombstone}) {
		t.Error("pt_doomed was re-keyed after Shred")
	}
}

func TestPseudonym(t *testing.T) {
	k1 := newKeyring(t, masterKey(1), &MemKeyStore{})
	k1b := newKeyring(t, masterKey(1), &MemKeyStore{}) // same master, other store
	k2 := newKeyring(t, masterKey(2), &MemKeyStore{})
	seen := map[string]string{}
	for _, in := range [][2]string{
		{"Patient", "123"}, {"Patient", "124"}, {"Patient", ""}, {"", "Patient123"},
		{"Patient1", "23"}, {"Group", "123"}, {"Patient", "pt_123"},
	} {
		p := k1.Pseudonym(in[0], in[1])
		if p != k1.Pseudonym(in[0], in[1]) || p != k1b.Pseudonym(in[0], in[1]) {
			t.Errorf("Pseudonym(%q, %q) is not stable", in[0], in[1])
		}
		if q := k2.Pseudonym(in[0], in[1]); q == p {
			t.Errorf("Pseudonym(%q, %q) = %s under two master keys", in[0], in[1], p)
		}
		if !strings.HasPrefix(p, "pt_") || len(p) != PseudonymLen || strings.Trim(p[3:], "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Errorf("Pseudonym(%q, %q) = %q; want pt_ and 32 base32 characters", in[0], in[1], p)
		}
		if p == in[1] || p == in[0]+in[1] || in[1] != "" && strings.Contains(p, in[1]) {
			t.Errorf("Pseudonym(%q, %q) = %q reveals its input", in[0], in[1], p)
		}
		if prev, dup := seen[p]; dup {
			t.Errorf("Pseudonym collision: %v and %s both give %s", in, prev, p)
		}
		seen[p] = fmt.Sprint(in)
		if err := checkSubject(p); err != nil {
			t.Errorf("Pseudonym %q is not a valid subject: %v", p, err)
		}
	}
}

func TestFormatHidesSecrets(t *testing.T) {
	k := newKeyring(t, masterKey(0x40), &MemKeyStore{})
	mk := masterKey(0x40)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		s := fmt.Sprintf(f, k)
		if s != "crypt.Keyring" {
			t.Errorf("Sprintf(%q, keyring) = %q", f, s)
		}
		s = fmt.Sprintf(f, struct{ K *Keyring }{k})
		if strings.Contains(s, string(mk[:])) || strings.Contains(s, fmt.Sprintf("%x", mk[:8])) {
			t.Errorf("Sprintf(%q, struct with keyring) shows the master key", f)
		}
	}
}

func TestMemKeyStoreCopies(t *testing.T) {
	var s MemKeyStore
	v := []byte("abc")
	s.PutKey("n", v)
	v[0] = 'x'
	got, ok, _ := s.GetKey("n")
	if !ok || string(got) != "abc" {
		t.Fatalf("GetKey = %q, %v; want abc (PutKey must copy)", got, ok)
	}
	got[0] = 'y'
	if again, _, _ := s.GetKey("n"); string(again) != "abc" {
		t.Fatal("GetKey returned the stored slice")
	}
	if _, ok, _ := s.GetKey("missing"); ok {
		t.Fatal("GetKey(missing) ok")
	}
}

func TestLRU(t *testing.T) {
	c := newLRU(2)
	c.put("a", dekEntry{shredded: true})
	c.put("b", dekEntry{})
	c.get("a") // a is now the most recent
	c.put("c", dekEntry{})
	if _, ok := c.get("b"); ok {
		t.Error("b survived; it was the least recently used")
	}
	if e, ok := c.get("a"); !ok || !e.shredded {
		t.Error("a was evicted")
	}
	c.put("a", dekEntry{})
	if e, _ := c.get("a"); e.shredded || c.len() != 2 {
		t.Error("put did not replace a's entry")
	}
}
