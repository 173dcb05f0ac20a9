package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
)

// org is one organisation's node in a sharing test.
type org struct {
	ks  *MemKeyStore
	k   *Keyring
	key *OrgKey
}

func newOrg(t *testing.T, master byte) *org {
	t.Helper()
	ks := &MemKeyStore{}
	key, err := GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	return &org{ks: ks, k: newKeyring(t, masterKey(master), ks), key: key}
}

func TestShare(t *testing.T) {
	custodian, receiver, third := newOrg(t, 1), newOrg(t, 2), newOrg(t, 3)
	const subject = "pt_shared"
	info := []byte("chain=medledger-dev;consent=Consent/7")
	var cts [][]byte
	for v := 1; v <= 3; v++ {
		cts = append(cts, mustSeal(t, custodian.k, subject, fmt.Sprintf("Observation/1/_history/%d", v), fmt.Sprint("version ", v)))
	}
	wrapped, err := custodian.k.WrapFor(subject, receiver.key.PublicKey(), info)
	if err != nil {
		t.Fatalf("WrapFor: %v", err)
	}
	openAll := func(t *testing.T, k *Keyring) {
		t.Helper()
		for i, ct := range cts {
			mustOpen(t, k, subject, fmt.Sprintf("Observation/1/_history/%d", i+1), ct, fmt.Sprint("version ", i+1))
		}
	}

	// Failures first: none of them may store anything.
	altered := func(i int) []byte { return flip(i)(wrapped) }
	for _, tt := range []struct {
		name    string
		subject string
		wrapped []byte
		key     *OrgKey
		info    []byte
		want    error
	}{
		{"third org's key", subject, wrapped, third.key, info, ErrDecrypt},
		{"other info", subject, wrapped, receiver.key, []byte("chain=other;consent=Consent/7"), ErrDecrypt},
		{"no info", subject, wrapped, receiver.key, nil, ErrDecrypt},
		{"other subject", "pt_other", wrapped, receiver.key, info, ErrDecrypt},
		{"altered at end", subject, altered(-1), receiver.key, info, ErrDecrypt},
		{"altered encapsulated key", subject, altered(8), receiver.key, info, ErrDecrypt},
		{"altered tag", subject, altered(0), receiver.key, info, ErrCorrupt},
		{"truncated", subject, wrapped[:len(wrapped)/2], receiver.key, info, nil},
		{"empty", subject, nil, receiver.key, info, ErrCorrupt},
		{"tag only", subject, []byte{tagWrapped}, receiver.key, info, ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := receiver.ks.Len()
			err := receiver.k.ImportWrapped(tt.subject, tt.wrapped, tt.key, tt.info)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("ImportWrapped: err = %v; want %v", err, tt.want)
			}
			if receiver.ks.Len() != n {
				t.Error("a failed ImportWrapped stored something")
			}
			if _, err := receiver.k.Open(subject, []byte("Observation/1/_history/1"), cts[0]); !errors.Is(err, ErrNoKey) {
				t.Errorf("Open after a failed import: err = %v; want ErrNoKey", err)
			}
		})
	}
	if err := third.k.ImportWrapped(subject, wrapped, third.key, info); !errors.Is(err, ErrDecrypt) {
		t.Errorf("third org imported a DEK wrapped for another: err = %v", err)
	}

	if err := receiver.k.ImportWrapped(subject, wrapped, receiver.key, info); err != nil {
		t.Fatalf("ImportWrapped: %v", err)
	}
	openAll(t, receiver.k)
	if err := receiver.k.ImportWrapped(subject, wrapped, receiver.key, info); err != nil {
		t.Errorf("importing the same DEK again: %v", err)
	}
	// The imported DEK is under the receiver's KEK: it survives a restart.
	openAll(t, newKeyring(t, masterKey(2), receiver.ks))

	// New versions under the shared DEK are readable; after RotateDEK
	// (a revocation) they are not, until the custodian shares again.
	cts = append(cts, mustSeal(t, custodian.k, subject, "Observation/1/_history/4", "version 4"))
	openAll(t, receiver.k)
	if err := custodian.k.RotateDEK(subject); err != nil {
		t.Fatal(err)
	}
	c5 := mustSeal(t, custodian.k, subject, "Observation/1/_history/5", "version 5")
	if _, err := receiver.k.Open(subject, []byte("Observation/1/_history/5"), c5); !errors.Is(err, ErrDecrypt) {
		t.Errorf("receiver opened a version sealed after RotateDEK: err = %v", err)
	}
	rewrapped, err := custodian.k.WrapFor(subject, receiver.key.PublicKey(), info)
	if err != nil {
		t.Fatal(err)
	}
	if err := receiver.k.ImportWrapped(subject, rewrapped, receiver.key, info); err != nil {
		t.Fatalf("importing the rotated keyset: %v", err)
	}
	mustOpen(t, receiver.k, subject, "Observation/1/_history/5", c5, "version 5")
	openAll(t, receiver.k)
	// Going back to the older keyset would lose a key: refused.
	if err := receiver.k.ImportWrapped(subject, wrapped, receiver.key, info); !errors.Is(err, ErrKeyExists) {
		t.Errorf("importing an older keyset over a newer one: err = %v; want ErrKeyExists", err)
	}
	// So is another subject's DEK for a subject that has one.
	mustSeal(t, custodian.k, "pt_else", "x", "p")
	w2, _ := custodian.k.WrapFor("pt_else", receiver.key.PublicKey(), info)
	mustSeal(t, receiver.k, "pt_else", "x", "receiver's own")
	if err := receiver.k.ImportWrapped("pt_else", w2, receiver.key, info); !errors.Is(err, ErrKeyExists) {
		t.Errorf("import over a different DEK: err = %v; want ErrKeyExists", err)
	}

	// Shredding on the receiver ends its access, and a re-import is refused.
	if err := receiver.k.Shred(subject); err != nil {
		t.Fatal(err)
	}
	if err := receiver.k.ImportWrapped(subject, rewrapped, receiver.key, info); !errors.Is(err, ErrShredded) {
		t.Errorf("import after Shred: err = %v; want ErrShredded", err)
	}
}

func TestShareThroughKeyFile(t *testing.T) {
	custodian, receiver := newOrg(t, 1), newOrg(t, 2)
	path := filepath.Join(t.TempDir(), "org.key")
	if err := WriteOrgKeyFile(path, receiver.key, masterKey(2)); err != nil {
		t.Fatal(err)
	}
	loaded, err := ReadOrgKeyFile(path, masterKey(2))
	if err != nil {
		t.Fatal(err)
	}
	ct := mustSeal(t, custodian.k, "pt_s", "x", "shared")
	w, err := custodian.k.WrapFor("pt_s", loaded.PublicKey(), []byte("i"))
	if err != nil {
		t.Fatal(err)
	}
	if err := receiver.k.ImportWrapped("pt_s", w, loaded, []byte("i")); err != nil {
		t.Fatal(err)
	}
	mustOpen(t, receiver.k, "pt_s", "x", ct, "shared")
}

func TestWrapForErrors(t *testing.T) {
	o := newOrg(t, 1)
	mustSeal(t, o.k, "pt_a", "x", "p")
	for _, pub := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
		if _, err := o.k.WrapFor("pt_a", pub, nil); err == nil {
			t.Errorf("WrapFor with a %d-byte public key succeeded", len(pub))
		}
	}
	// The all-zero X25519 point has small order: encapsulation must fail
	// rather than produce a wrap anyone can open.
	if _, err := o.k.WrapFor("pt_a", make([]byte, 32), nil); err == nil {
		t.Error("WrapFor to the all-zero public key succeeded")
	}
	if _, err := o.k.WrapFor("pt_none", o.key.PublicKey(), nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("WrapFor of a subject without a DEK: err = %v; want ErrNoKey", err)
	}
	if err := o.k.ImportWrapped("pt_a", []byte{1}, nil, nil); err == nil {
		t.Error("ImportWrapped with a nil org key succeeded")
	}
	if err := o.k.ImportWrapped("pt_a", []byte{1}, &OrgKey{}, nil); err == nil {
		t.Error("ImportWrapped with the zero org key succeeded")
	}
}

func TestShareInfoBindsSubject(t *testing.T) {
	// Subject and info are separated by NUL, which subjects cannot
	// contain, so no two (subject, info) pairs give the same HPKE info.
	a := shareInfo("pt_a", []byte("b"))
	b := shareInfo("pt_ab", nil)
	if bytes.Equal(a, b) {
		t.Fatal("shareInfo is ambiguous")
	}
}
