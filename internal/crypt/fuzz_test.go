package crypt

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzOpen feeds Open arbitrary AAD and ciphertexts: it must never panic,
// and may succeed only for the one pair that Seal produced. (Each fuzzing
// worker process runs the setup and so has its own random DEK: there the
// seeds from the coordinator fail to authenticate, which the property
// allows.)
func FuzzOpen(f *testing.F) {
	k, err := New(masterKey(1), &MemKeyStore{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	const subject = "pt_fuzz"
	aad, pt := []byte("Patient/1/_history/1"), []byte(`{"resourceType":"Patient","id":"1"}`)
	ct, err := k.Seal(subject, aad, pt)
	if err != nil {
		f.Fatal(err)
	}
	other, _ := k.Seal("pt_other", aad, pt)
	f.Add(aad, ct)
	f.Add(aad, other)
	f.Add([]byte{}, []byte{})
	f.Add(aad, ct[:5])
	f.Add(aad, ct[:5+12+16])
	for _, i := range []int{0, 4, 6, 20, -1} {
		f.Add(aad, flip(i)(ct))
	}
	f.Fuzz(func(t *testing.T, a, c []byte) {
		got, err := k.Open(subject, a, c)
		if err == nil {
			if !bytes.Equal(a, aad) || !bytes.Equal(c, ct) || !bytes.Equal(got, pt) {
				t.Fatalf("Open(%x, %x) = %q; only the sealed pair may open", a, c, got)
			}
			return
		}
		if !errors.Is(err, ErrDecrypt) {
			t.Fatalf("Open(%x, %x): err = %v; want ErrDecrypt", a, c, err)
		}
	})
}

// FuzzImportWrapped feeds ImportWrapped arbitrary wraps: it must never
// panic, never change the store when it fails, and store only the
// custodian's genuine DEK when it succeeds. (A success need not come from
// the byte-exact genuine wrap: the KeysetInfo that tink keeps beside the
// ciphertext is not authenticated, and is not used.)
func FuzzImportWrapped(f *testing.F) {
	custodian, err := New(masterKey(1), &MemKeyStore{}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	ks := &MemKeyStore{}
	receiver, err := New(masterKey(2), ks, Options{})
	if err != nil {
		f.Fatal(err)
	}
	key, err := GenerateOrgKey()
	if err != nil {
		f.Fatal(err)
	}
	const subject = "pt_fuzz"
	info := []byte("chain")
	ct, err := custodian.Seal(subject, []byte("aad"), []byte("record"))
	if err != nil {
		f.Fatal(err)
	}
	wrapped, err := custodian.WrapFor(subject, key.PublicKey(), info)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wrapped, info)
	f.Add(wrapped[:len(wrapped)/2], info)
	f.Add([]byte{tagWrapped}, []byte{})
	f.Add(flip(-1)(wrapped), info)
	f.Fuzz(func(t *testing.T, w, in []byte) {
		before, _, _ := ks.GetKey(dekName(subject))
		err := receiver.ImportWrapped(subject, w, key, in)
		if err == nil {
			if pt, err := receiver.Open(subject, []byte("aad"), ct); err != nil || string(pt) != "record" {
				t.Fatalf("ImportWrapped accepted a wrap that does not hold the custodian's DEK")
			}
			return
		}
		if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("ImportWrapped: err = %v; want ErrDecrypt or ErrCorrupt", err)
		}
		if after, _, _ := ks.GetKey(dekName(subject)); !bytes.Equal(before, after) {
			t.Fatalf("a failed ImportWrapped changed the store")
		}
	})
}

// FuzzOrgKeyFile parses arbitrary key files: it must never panic.
func FuzzOrgKeyFile(f *testing.F) {
	// The key must be the same in every fuzzing worker process, which
	// all run this setup: derive it rather than generate it.
	priv, err := hpkeKEM.DeriveKeyPair(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	k := newOrgKey(priv)
	mk := masterKey(1)
	good, err := marshalOrgKey(k, &mk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("{}"))
	f.Add([]byte(`{"version":1,"type":"hpke-x25519"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := unmarshalOrgKey(b, &mk)
		if err == nil && !bytes.Equal(got.PublicKey(), k.PublicKey()) {
			t.Fatalf("a key file that was not written under this master key decrypted")
		}
	})
}
