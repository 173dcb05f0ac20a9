package auth

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAuthenticate(t *testing.T) {
	is := testIssuer(t)
	sc, _ := ParseScopes("user/*.rs")
	good, _ := is.Mint(&Principal{Member: "a/b", Scopes: sc}, time.Minute)
	for _, tc := range []struct {
		name    string
		headers []string
		want    error
	}{
		{"none", nil, ErrNoToken},
		{"basic", []string{"Basic YTpi"}, ErrNoToken},
		{"empty bearer", []string{"Bearer "}, ErrInvalidToken},
		{"two headers", []string{"Bearer " + good, "Bearer " + good}, ErrInvalidToken},
		{"garbage", []string{"Bearer abc"}, ErrInvalidToken},
		{"good", []string{"Bearer " + good}, nil},
		{"good, lower case", []string{"bearer " + good}, nil},
	} {
		r := httptest.NewRequest("GET", "/fhir/Patient", nil)
		for _, h := range tc.headers {
			r.Header.Add("Authorization", h)
		}
		p, err := Authenticate(is, r)
		if !errors.Is(err, tc.want) || tc.want == nil && (err != nil || p.Member != "a/b") {
			t.Errorf("%s: Authenticate = %v, %v; want %v", tc.name, p, err, tc.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	is := testIssuer(t)
	other := testIssuer(t)
	sc, _ := ParseScopes("user/*.rs")
	forged, _ := other.Mint(&Principal{Member: "a/b", Scopes: sc}, 0)
	_, forgedErr := is.Verify(forged)
	for _, tc := range []struct {
		err   error
		scope string
		want  string
	}{
		{ErrNoToken, "", `Bearer realm="medledger"`},
		{nil, "user/*.rs", `Bearer realm="medledger", scope="user/*.rs"`},
		{fmt.Errorf("%w: the Authorization scheme is not Bearer", ErrNoToken), "", `Bearer realm="medledger"`},
		{ErrExpiredToken, "", `Bearer realm="medledger", error="invalid_token", error_description="the access token expired"`},
		{forgedErr, "", `Bearer realm="medledger", error="invalid_token", error_description="the access token is invalid: not signed by this node's token key"`},
		{fmt.Errorf("%w: \"quoted\\\" \x00text", ErrInvalidToken), "", `Bearer realm="medledger", error="invalid_token", error_description="the access token is invalid: quoted text"`},
		{fmt.Errorf("wrapped: %w", ErrInvalidToken), "", `Bearer realm="medledger", error="invalid_token", error_description="the access token is invalid"`},
		{errors.New("auth: the member is not active"), "", `Bearer realm="medledger", error="invalid_token", error_description="the access token is not accepted"`},
		{ErrInsufficientScope, "user/Observation.r", `Bearer realm="medledger", error="insufficient_scope", error_description="the access token's scopes do not allow this request", scope="user/Observation.r"`},
		{ErrInsecure, "", `Bearer realm="medledger", error="invalid_request", error_description="use HTTPS"`},
	} {
		if got := Challenge(tc.err, tc.scope); got != tc.want {
			t.Errorf("Challenge(%v, %q) =\n%s\nwant\n%s", tc.err, tc.scope, got, tc.want)
		}
	}
	if got := Challenge(ErrInvalidToken, strings.Repeat("x", 1000)); len(got) > 400 {
		t.Errorf("Challenge with a long scope is %d bytes", len(got))
	}
}
