package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

var (
	// ErrInsecure is returned by RequireSecure for a request that came
	// over plain HTTP from another host.
	ErrInsecure = errors.New("auth: use HTTPS")
	// ErrInsufficientScope is for callers to pass to Challenge when a
	// valid token's scopes do not allow the request (403).
	ErrInsufficientScope = errors.New("auth: insufficient scope")
)

// RequireSecure returns nil if r came over TLS or from a loopback address
// (127.0.0.0/8, ::1), and ErrInsecure otherwise. It trusts no forwarding
// header: behind a TLS-terminating proxy, the proxy must run on loopback
// and must itself refuse plain HTTP.
func RequireSecure(r *http.Request) error {
	if r.TLS != nil {
		return nil
	}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil && ap.Addr().Unmap().IsLoopback() {
		return nil
	}
	return ErrInsecure
}

// Authenticate returns the principal of r's "Authorization: Bearer"
// token, verified by is. It returns ErrNoToken (wrapped) if r carries no
// bearer token, and otherwise Issuer.Verify's errors. It does not check
// the transport (see RequireSecure) nor whether the member may still act.
func Authenticate(is *Issuer, r *http.Request) (*Principal, error) {
	hs := r.Header.Values("Authorization")
	switch {
	case len(hs) == 0:
		return nil, ErrNoToken
	case len(hs) > 1:
		return nil, fmt.Errorf("%w: more than one Authorization header", ErrInvalidToken)
	}
	scheme, _, _ := strings.Cut(strings.TrimSpace(hs[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("%w: the Authorization scheme is not Bearer", ErrNoToken)
	}
	tok := BearerToken(strings.TrimSpace(hs[0]))
	if tok == "" {
		return nil, fmt.Errorf("%w: the Bearer token is empty", ErrInvalidToken)
	}
	return is.Verify(tok)
}

// Challenge returns the WWW-Authenticate value (RFC 6750 §3) answering
// err, as returned by Authenticate or RequireSecure, or
// ErrInsufficientScope. scope, if not empty, is the scope the request
// needs. A request without a token gets a challenge without an error code;
// other errors not from this package get a generic invalid_token. The
// description never quotes the token.
func Challenge(err error, scope string) string {
	var code, desc string
	switch {
	case err == nil || errors.Is(err, ErrNoToken):
	case errors.Is(err, ErrInsecure):
		code, desc = "invalid_request", "use HTTPS"
	case errors.Is(err, ErrInsufficientScope):
		code, desc = "insufficient_scope", "the access token's scopes do not allow this request"
	case errors.Is(err, ErrExpiredToken):
		code, desc = "invalid_token", "the access token expired"
	case errors.Is(err, ErrInvalidToken):
		// This package's messages name what was wrong without quoting
		// the token; anything else may carry the caller's details.
		code, desc = "invalid_token", "the access token is invalid"
		if msg, ok := strings.CutPrefix(err.Error(), ErrInvalidToken.Error()+": "); ok {
			desc += ": " + msg
		}
	default:
		code, desc = "invalid_token", "the access token is not accepted"
	}
	var b strings.Builder
	b.WriteString(`Bearer realm="medledger"`)
	if code != "" {
		fmt.Fprintf(&b, `, error="%s", error_description="%s"`, code, quotable(desc))
	}
	if scope != "" {
		fmt.Fprintf(&b, `, scope="%s"`, quotable(scope))
	}
	return b.String()
}

// quotable returns s with only the characters RFC 6750 allows in a
// quoted attribute value (%x20-21 / %x23-5B / %x5D-7E), at most 256.
func quotable(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 256; i++ {
		if c := s[i]; c >= 0x20 && c <= 0x7e && c != '"' && c != '\\' {
			b.WriteByte(c)
		}
	}
	return b.String()
}
