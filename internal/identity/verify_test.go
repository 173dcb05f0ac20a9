package identity

import (
	"bytes"
	"crypto/ed25519"
	"math/big"
	"slices"
	"testing"
)

type verifyCase struct {
	name string
	pub  []byte
	msg  []byte
	sig  []byte
	want bool
}

// addL returns sig with L (the group order) added to its S half: the
// same signature in non-canonical, malleated form.
func addL(sig []byte) []byte {
	l, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	sLE := slices.Clone(sig[32:])
	slices.Reverse(sLE)
	s := new(big.Int).SetBytes(sLE)
	s.Add(s, l)
	out := s.FillBytes(make([]byte, 32))
	slices.Reverse(out)
	return append(slices.Clone(sig[:32]), out...)
}

func verifyTests(t testing.TB) []verifyCase {
	k := mustKey(t)
	other := mustKey(t)
	msg := []byte("AuditEvent 7f3a read by practitioner")
	sig, _ := k.Sign(msg)
	flipped := slices.Clone(sig)
	flipped[10] ^= 1
	pub := k.Public()
	zeroS := make([]byte, 32)
	return []verifyCase{
		{"valid", pub, msg, sig, true},
		{"valid empty message", pub, nil, mustSign(t, k, nil), true},
		{"other message", pub, []byte("AuditEvent 7f3a read by patient"), sig, false},
		{"other key", other.Public(), msg, sig, false},
		{"flipped bit", pub, msg, flipped, false},
		{"S + L (malleated)", pub, msg, addL(sig), false},
		{"short sig", pub, msg, sig[:63], false},
		{"long sig", pub, msg, append(slices.Clone(sig), 0), false},
		{"nil sig", pub, msg, nil, false},
		{"short key", pub[:31], msg, sig, false},
		{"long key", append(slices.Clone(pub), 0), msg, sig, false},
		{"nil key", nil, msg, sig, false},
		{"off-curve key", offCurveY(t), msg, sig, false},
		// ZIP-215 accepts small-order keys and non-canonical encodings;
		// what matters is that Verify and Batch agree on them.
		{"small-order key, R = identity, S = 0", identityPoint, msg, append(slices.Clone(identityPoint), zeroS...), true},
		{"small-order key, non-canonical R", identityPoint, msg, append(slices.Clone(identityNonCanonic), zeroS...), true},
	}
}

func mustSign(t testing.TB, k *Key, msg []byte) []byte {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestVerify(t *testing.T) {
	for _, tt := range verifyTests(t) {
		if got := Verify(tt.pub, tt.msg, tt.sig); got != tt.want {
			t.Errorf("%s: Verify(%x, %q, %x) = %v; want %v", tt.name, tt.pub, tt.msg, tt.sig, got, tt.want)
		}
	}
}

func TestVerifyRejectsWhatStdlibRejectsOnlyWhenZIP215Does(t *testing.T) {
	// crypto/ed25519 is stricter about R's encoding; ZIP-215 is not. This
	// pins the difference so that nobody "simplifies" Verify to the
	// standard library and silently forks consensus.
	sig := append(slices.Clone(identityNonCanonic), make([]byte, 32)...)
	if ed25519.Verify(identityPoint, []byte("m"), sig) {
		t.Skip("crypto/ed25519 accepts non-canonical R; nothing to pin")
	}
	if !Verify(identityPoint, []byte("m"), sig) {
		t.Error("Verify rejects a non-canonical R that ZIP-215 accepts")
	}
}

func TestBatch(t *testing.T) {
	cases := verifyTests(t)
	good := cases[0]
	type batchTest struct {
		name    string
		entries []verifyCase
	}
	tests := []batchTest{
		{"empty", nil},
		{"one good", []verifyCase{good}},
		{"all good", slices.Repeat([]verifyCase{good}, 70)},
		{"every case, twice", append(slices.Clone(cases), cases...)},
	}
	for _, c := range cases {
		tests = append(tests,
			batchTest{"alone: " + c.name, []verifyCase{c}},
			batchTest{"among good: " + c.name, []verifyCase{good, good, c, good}},
		)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBatch(len(tt.entries))
			var want []bool
			for _, e := range tt.entries {
				b.Add(e.pub, e.msg, e.sig)
				want = append(want, e.want)
				if Verify(e.pub, e.msg, e.sig) != e.want {
					t.Fatalf("Verify disagrees with the table for %s", e.name)
				}
			}
			if b.Len() != len(tt.entries) {
				t.Errorf("Len() = %d; want %d", b.Len(), len(tt.entries))
			}
			got := b.Verify()
			if got == nil || len(got) != len(tt.entries) {
				t.Fatalf("Verify() = %v; want %d results", got, len(tt.entries))
			}
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("Verify()[%d] (%s) = %v; want %v", i, tt.entries[i].name, got[i], want[i])
				}
			}
		})
	}
}

func TestBatchZeroValueAndReuse(t *testing.T) {
	var b Batch
	if got := b.Verify(); got == nil || len(got) != 0 {
		t.Errorf("zero Batch: Verify() = %#v; want empty non-nil", got)
	}
	k := mustKey(t)
	msg := []byte("m")
	sig := mustSign(t, k, msg)
	b.Add(k.Public(), msg, sig)
	if got := b.Verify(); !slices.Equal(got, []bool{true}) {
		t.Errorf("Verify() = %v; want [true]", got)
	}
	b.Add(k.Public(), []byte("n"), sig)
	if got := b.Verify(); !slices.Equal(got, []bool{true, false}) {
		t.Errorf("Verify() after second Add = %v; want [true false]", got)
	}
}

func TestBatchDoesNotRetainInputs(t *testing.T) {
	k := mustKey(t)
	pub, msg := k.Public(), []byte("original")
	sig := mustSign(t, k, msg)
	b := NewBatch(1)
	b.Add(pub, msg, sig)
	copy(msg, "tampered")
	sig[0] ^= 1
	pub[0] ^= 1
	if got := b.Verify(); !slices.Equal(got, []bool{true}) {
		t.Errorf("Verify() after mutating inputs = %v; want [true]", got)
	}
}

// FuzzBatchMatchesVerify checks that Batch and Verify agree on arbitrary
// (key, message, signature) triples, alone and among valid entries.
func FuzzBatchMatchesVerify(f *testing.F) {
	for _, tt := range verifyTests(f) {
		f.Add(tt.pub, tt.msg, tt.sig)
	}
	k := mustKey(f)
	goodMsg := []byte("good")
	goodSig := mustSign(f, k, goodMsg)
	f.Fuzz(func(t *testing.T, pub, msg, sig []byte) {
		want := Verify(pub, msg, sig)
		b := NewBatch(3)
		b.Add(k.Public(), goodMsg, goodSig)
		b.Add(pub, msg, sig)
		b.Add(k.Public(), goodMsg, goodSig)
		if got := b.Verify(); !slices.Equal(got, []bool{true, want, true}) {
			t.Fatalf("Batch.Verify() = %v; want [true %v true]", got, want)
		}
	})
}

func benchEntries(b *testing.B, n int) (pubs [][]byte, msgs [][]byte, sigs [][]byte) {
	for i := range n {
		k := mustKey(b)
		msg := bytes.Repeat([]byte{byte(i)}, 200) // about a transaction's size
		pubs = append(pubs, k.Public())
		msgs = append(msgs, msg)
		sigs = append(sigs, mustSign(b, k, msg))
	}
	return
}

func BenchmarkVerify(b *testing.B) {
	pubs, msgs, sigs := benchEntries(b, 1)
	for b.Loop() {
		if !Verify(pubs[0], msgs[0], sigs[0]) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkBatch64 reports the time to verify 64 valid signatures; divide
// by 64 to compare with BenchmarkVerify.
func BenchmarkBatch64(b *testing.B) {
	pubs, msgs, sigs := benchEntries(b, 64)
	for b.Loop() {
		batch := NewBatch(64)
		for i := range pubs {
			batch.Add(pubs[i], msgs[i], sigs[i])
		}
		for _, ok := range batch.Verify() {
			if !ok {
				b.Fatal("invalid")
			}
		}
	}
}
