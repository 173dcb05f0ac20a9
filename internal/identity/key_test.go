package identity

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
)

func mustKey(t testing.TB) *Key {
	t.Helper()
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeySign(t *testing.T) {
	k := mustKey(t)
	if got, want := k.KeyID(), KeyIDOf(k.Public()); got != want {
		t.Errorf("KeyID() = %q; want KeyIDOf(Public()) = %q", got, want)
	}
	msg := []byte("claim 42 adjudicated")
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(k.Public(), msg, sig) {
		t.Error("Verify(Public(), msg, Sign(msg)) = false")
	}
	if !ed25519.Verify(k.Public(), msg, sig) {
		t.Error("crypto/ed25519 rejects Sign's signature")
	}
	pub := k.Public()
	pub[0] ^= 0xff
	if bytes.Equal(pub, k.Public()) {
		t.Error("Public() returned k's own buffer")
	}
}

func TestZeroKey(t *testing.T) {
	var k Key
	if _, err := k.Sign([]byte("x")); err == nil {
		t.Error("zero Key: Sign succeeded")
	}
	if k.Public() != nil || k.KeyID() != "" {
		t.Errorf("zero Key: Public() = %v, KeyID() = %q; want nil, \"\"", k.Public(), k.KeyID())
	}
}

func TestKeyFormatHidesPrivateKey(t *testing.T) {
	k := mustKey(t)
	seed := k.seed()
	secrets := []string{
		hex.EncodeToString(seed),
		base64.StdEncoding.EncodeToString(seed),
		fmt.Sprint(seed[:8])[1:20], // decimal bytes as %v/%d would print them
	}
	want := "identity.Key(" + k.KeyID() + ")"
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		nested := fmt.Sprintf(verb, struct{ k Key }{*k})
		for _, s := range secrets {
			if strings.Contains(nested, s) {
				t.Errorf("Sprintf(%q, struct{ k Key }) leaks the private key: %s", verb, nested)
			}
		}
		for _, arg := range []any{k, *k} {
			got := fmt.Sprintf(verb, arg)
			for _, s := range secrets {
				if strings.Contains(got, s) {
					t.Errorf("Sprintf(%q, %T) leaks the private key: %s", verb, arg, got)
				}
			}
			if got != want {
				t.Errorf("Sprintf(%q, %T) = %q; want %q", verb, arg, got, want)
			}
		}
	}
}

func TestKeyIDOf(t *testing.T) {
	tests := []struct {
		pub  []byte
		want string
	}{
		// SHA-256 of 32 zero bytes is 66687aad f862bd77 6c8f...
		{make([]byte, 32), "66687aadf862bd77"},
		// SHA-256 of the empty string is e3b0c442 98fc1c14 ...
		{nil, "e3b0c44298fc1c14"},
	}
	for _, tt := range tests {
		if got := KeyIDOf(tt.pub); got != tt.want {
			t.Errorf("KeyIDOf(%x) = %q; want %q", tt.pub, got, tt.want)
		}
	}
	if got := len(KeyIDOf(mustKey(t).Public())); got != KeyIDLen {
		t.Errorf("len(KeyIDOf(...)) = %d; want %d", got, KeyIDLen)
	}
}

// offCurveY returns the encoding of a y coordinate that is not on the
// curve.
func offCurveY(t testing.TB) []byte {
	t.Helper()
	for y := byte(2); y < 255; y++ {
		b := make([]byte, 32)
		b[0] = y
		var c curve.CompressedEdwardsY
		var p curve.EdwardsPoint
		c.SetBytes(b)
		if _, err := p.SetCompressedY(&c); err != nil {
			return b
		}
	}
	t.Fatal("no off-curve y found")
	return nil
}

// Encodings of the identity point: canonical (y = 1) and non-canonical
// (y = p + 1 = 2^255 - 18).
var (
	identityPoint      = append([]byte{1}, make([]byte, 31)...)
	identityNonCanonic = append(append([]byte{0xee}, bytes.Repeat([]byte{0xff}, 30)...), 0x7f)
)

func parsePublicKeyTests(t testing.TB) []struct {
	name    string
	in      string
	wantErr string // "" for success
} {
	good := EncodePublicKey(mustKey(t).Public())
	b64 := base64.StdEncoding.EncodeToString
	// Same bytes as good, but with non-zero padding bits in the last
	// character: decodes leniently to the same key.
	raw, _ := base64.StdEncoding.DecodeString(good)
	last := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", good[42])
	loose := good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|1]) + "="
	if last&1 == 1 {
		loose = good[:42] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[last|2]) + "="
	}
	urlSafe := base64.URLEncoding.EncodeToString(append([]byte{0xfb, 0xff}, raw[2:]...))
	return []struct {
		name    string
		in      string
		wantErr string
	}{
		{"valid", good, ""},
		{"empty", "", "0 bytes"},
		{"31 bytes", b64(raw[:31]), "31 bytes"},
		{"33 bytes", b64(append(raw, 0)), "33 bytes"},
		{"unpadded", strings.TrimRight(good, "="), "not canonical"},
		{"non-zero padding bits", loose, "not canonical"},
		{"trailing newline", good + "\n", "not canonical"},
		{"leading space", " " + good, "not canonical"},
		{"inner newline", good[:20] + "\n" + good[20:], "not canonical"},
		{"url-safe alphabet", urlSafe, "URL-safe"},
		{"hex", hex.EncodeToString(raw), "48 bytes"},
		{"identity point (small order)", b64(identityPoint), "small-order"},
		{"non-canonical point encoding", b64(identityNonCanonic), "canonical Ed25519 point"},
		{"not on curve", b64(offCurveY(t)), "not a point"},
	}
}

func TestParsePublicKey(t *testing.T) {
	for _, tt := range parsePublicKeyTests(t) {
		t.Run(tt.name, func(t *testing.T) {
			pub, err := ParsePublicKey(tt.in)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParsePublicKey(%q) error: %v", tt.in, err)
				}
				if got := EncodePublicKey(pub); got != tt.in {
					t.Errorf("EncodePublicKey(ParsePublicKey(%q)) = %q", tt.in, got)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParsePublicKey(%q) = %x; want error containing %q", tt.in, pub, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParsePublicKey(%q) error = %q; want it to contain %q", tt.in, err, tt.wantErr)
			}
			if len(tt.in) > 8 && strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParsePublicKey(%q) error repeats its input: %q", tt.in, err)
			}
		})
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, tt := range parsePublicKeyTests(f) {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pub, err := ParsePublicKey(s)
		if err != nil {
			return
		}
		if len(pub) != ed25519.PublicKeySize {
			t.Fatalf("ParsePublicKey(%q) returned %d bytes", s, len(pub))
		}
		if got := EncodePublicKey(pub); got != s {
			t.Fatalf("EncodePublicKey(ParsePublicKey(%q)) = %q", s, got)
		}
	})
}
