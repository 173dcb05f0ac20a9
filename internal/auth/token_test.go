package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testIssuer(t testing.TB) *Issuer {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	is, err := NewIssuer(key, "https://node.test", "https://node.test/fhir")
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func TestMintVerify(t *testing.T) {
	is := testIssuer(t)
	sc, _ := ParseScopes("user/*.rs openid")
	p := &Principal{Member: "st-mary/dr-jones", Org: "st-mary", Roles: []string{"practitioner"}, Scopes: sc, FHIRUser: "Practitioner/p1", ClientID: "app"}
	tok, err := is.Mint(p, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := is.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Member != p.Member || got.Org != p.Org || got.Scopes.String() != sc.String() || got.FHIRUser != p.FHIRUser ||
		got.ClientID != "app" || got.TokenID != p.TokenID || !got.Expiry.Equal(p.Expiry) || !got.HasRole("practitioner") {
		t.Errorf("Verify = %+v; want %+v", got, p)
	}
	if p.Expiry.Sub(time.Now()) > time.Minute+time.Second {
		t.Errorf("expiry %v is more than the minute asked for", p.Expiry)
	}
}

func TestVerifyRejects(t *testing.T) {
	is := testIssuer(t)
	sc, _ := ParseScopes("user/*.rs")
	good, _ := is.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)

	other := testIssuer(t)
	forged, _ := other.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)

	wrongAud, _ := NewIssuer(is.key, is.issuer, "https://elsewhere/fhir")
	wrongAudTok, _ := wrongAud.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)

	old := testIssuer(t)
	old.key, old.pub, old.kid, old.signer = is.key, is.pub, is.kid, is.signer
	old.now = func() time.Time { return time.Now().Add(-10 * time.Minute) }
	expired, _ := old.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), "a/b", "a/c", 1))) + "." + parts[2]
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`)) + "." + parts[1] + "."

	for name, tc := range map[string]struct {
		tok  string
		want error
	}{
		"empty":          {"", ErrNoToken},
		"garbage":        {"not.a.jwt", ErrInvalidToken},
		"forged":         {forged, ErrInvalidToken},
		"wrong audience": {wrongAudTok, ErrInvalidToken},
		"expired":        {expired, ErrExpiredToken},
		"tampered":       {tampered, ErrInvalidToken},
		"alg none":       {none, ErrInvalidToken},
		"too long":       {strings.Repeat("a", maxTokenBytes+1), ErrInvalidToken},
	} {
		if _, err := is.Verify(tc.tok); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify error = %v; want %v", name, err, tc.want)
		} else if tc.tok != "" && len(tc.tok) > 20 && strings.Contains(err.Error(), tc.tok[:20]) {
			t.Errorf("%s: error quotes the token", name)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for in, want := range map[string]string{"Bearer abc": "abc", "bearer  abc ": "abc", "Basic abc": "", "Bearer": "", "": ""} {
		if got := BearerToken(in); got != want {
			t.Errorf("BearerToken(%q) = %q; want %q", in, got, want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	is := testIssuer(f)
	sc, _ := ParseScopes("user/*.rs")
	good, _ := is.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := is.Verify(tok)
		if err == nil && p.Member != "a/b" {
			t.Fatalf("a fuzzed token verified as %q", p.Member)
		}
	})
}
