package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// MaxTokenLifetime is the longest an access token lives.
const MaxTokenLifetime = 5 * time.Minute

// leeway is the clock skew allowed when checking exp, nbf and iat.
const leeway = 30 * time.Second

// maxTokenBytes bounds a token before it is parsed.
const maxTokenBytes = 8 << 10

// Principal is an authenticated caller, from a verified access token.
type Principal struct {
	// Member is the ledger member the token was issued to ("org/name").
	Member string
	Org    string
	Roles  []string
	Scopes Scopes
	// Patient is the FHIR id of the patient in context (a patient's own
	// token, or an app launched for one patient); "" if none.
	Patient string
	// FHIRUser is the user's FHIR resource ("Practitioner/123"), if known.
	FHIRUser string
	ClientID string
	TokenID  string
	Expiry   time.Time
}

// HasRole reports whether the principal holds role r.
func (p *Principal) HasRole(r string) bool {
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// claims are the JWT claims beyond the registered ones.
type claims struct {
	Scope    string   `json:"scope"`
	Org      string   `json:"org,omitempty"`
	Roles    []string `json:"roles,omitempty"`
	Patient  string   `json:"patient,omitempty"`
	FHIRUser string   `json:"fhirUser,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
}

// Errors Verify returns (wrapped), each with its RFC 6750 error code.
var (
	ErrNoToken      = errors.New("auth: no access token")
	ErrInvalidToken = errors.New("auth: invalid access token")
	ErrExpiredToken = errors.New("auth: access token expired")
)

// Issuer mints and verifies the node's access tokens (EdDSA JWTs). It is
// safe for concurrent use.
type Issuer struct {
	key      ed25519.PrivateKey
	pub      ed25519.PublicKey
	kid      string
	issuer   string // the iss claim: the node's base URL
	audience string // the aud claim: the FHIR base URL
	signer   jose.Signer
	now      func() time.Time

	// verified caches the principals of tokens already verified, until
	// they expire: a client sends the same token with every request, and
	// parsing and checking a JWT costs far more than the lookup.
	mu       sync.Mutex
	verified map[string]*Principal // guarded by mu
}

// maxVerified bounds the verified-token cache; when full it is emptied.
const maxVerified = 1 << 14

// NewIssuer returns an Issuer signing with key. issuer is the node's base
// URL (e.g. https://node.example), audience the FHIR base URL tokens are
// for (issuer + "/fhir").
func NewIssuer(key ed25519.PrivateKey, issuer, audience string) (*Issuer, error) {
	pub := key.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	kid := base64.RawURLEncoding.EncodeToString(sum[:12])
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", kid))
	if err != nil {
		return nil, fmt.Errorf("token signer: %w", err)
	}
	return &Issuer{key: key, pub: pub, kid: kid, issuer: issuer, audience: audience, signer: sig, now: time.Now}, nil
}

// Issuer returns the iss of the tokens.
func (is *Issuer) Issuer() string { return is.issuer }

// Audience returns the aud of the tokens.
func (is *Issuer) Audience() string { return is.audience }

// JWKS returns the public key set that verifies the tokens.
func (is *Issuer) JWKS() jose.JSONWebKeySet {
	return jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.pub, KeyID: is.kid, Algorithm: string(jose.EdDSA), Use: "sig"}}}
}

// Mint signs an access token for p, valid for ttl (at most
// MaxTokenLifetime). p.TokenID and p.Expiry are set from the token.
func (is *Issuer) Mint(p *Principal, ttl time.Duration) (string, error) {
	if ttl <= 0 || ttl > MaxTokenLifetime {
		ttl = MaxTokenLifetime
	}
	if p.Member == "" {
		return "", errors.New("auth: a token needs a subject")
	}
	now := is.now()
	var jti [16]byte
	rand.Read(jti[:])
	p.TokenID = base64.RawURLEncoding.EncodeToString(jti[:])
	p.Expiry = now.Add(ttl).Truncate(time.Second)
	std := jwt.Claims{
		Issuer:   is.issuer,
		Subject:  p.Member,
		Audience: jwt.Audience{is.audience},
		Expiry:   jwt.NewNumericDate(p.Expiry),
		IssuedAt: jwt.NewNumericDate(now),
		ID:       p.TokenID,
	}
	c := claims{Scope: p.Scopes.String(), Org: p.Org, Roles: p.Roles, Patient: p.Patient, FHIRUser: p.FHIRUser, ClientID: p.ClientID}
	return jwt.Signed(is.signer).Claims(std).Claims(c).Serialize()
}

// Verify checks a token's signature, issuer, audience and times and
// returns its principal, which the caller must not modify (it is shared
// by every request with the same token). Errors wrap ErrInvalidToken or ErrExpiredToken
// and say what was wrong, never quoting the token.
func (is *Issuer) Verify(raw string) (*Principal, error) {
	if raw == "" {
		return nil, ErrNoToken
	}
	if len(raw) > maxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenBytes)
	}
	is.mu.Lock()
	p, ok := is.verified[raw]
	is.mu.Unlock()
	if ok {
		if is.now().After(p.Expiry.Add(leeway)) {
			return nil, fmt.Errorf("%w", ErrExpiredToken)
		}
		return p, nil
	}
	p, err := is.verify(raw)
	if err != nil {
		return nil, err
	}
	is.mu.Lock()
	if is.verified == nil || len(is.verified) >= maxVerified {
		is.verified = make(map[string]*Principal)
	}
	is.verified[raw] = p
	is.mu.Unlock()
	return p, nil
}

// verify checks a token in full.
func (is *Issuer) verify(raw string) (*Principal, error) {
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, fmt.Errorf("%w: not a signed JWT with alg EdDSA", ErrInvalidToken)
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID != is.kid {
		return nil, fmt.Errorf("%w: not signed by this node's token key", ErrInvalidToken)
	}
	var std jwt.Claims
	var c claims
	if err := tok.Claims(is.pub, &std, &c); err != nil {
		return nil, fmt.Errorf("%w: bad signature or claims", ErrInvalidToken)
	}
	err = std.ValidateWithLeeway(jwt.Expected{Issuer: is.issuer, AnyAudience: jwt.Audience{is.audience}, Time: is.now()}, leeway)
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return nil, fmt.Errorf("%w", ErrExpiredToken)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return nil, fmt.Errorf("%w: audience is not %s", ErrInvalidToken, is.audience)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return nil, fmt.Errorf("%w: issuer is not %s", ErrInvalidToken, is.issuer)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if std.Expiry == nil || std.IssuedAt == nil || std.Expiry.Time().Sub(std.IssuedAt.Time()) > MaxTokenLifetime {
		return nil, fmt.Errorf("%w: lifetime missing or longer than %v", ErrInvalidToken, MaxTokenLifetime)
	}
	sc, err := ParseScopes(c.Scope)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return &Principal{
		Member: std.Subject, Org: c.Org, Roles: c.Roles, Scopes: sc, Patient: c.Patient,
		FHIRUser: c.FHIRUser, ClientID: c.ClientID, TokenID: std.ID, Expiry: std.Expiry.Time(),
	}, nil
}

// BearerToken returns the token of an "Authorization: Bearer" header
// value, "" if there is none.
func BearerToken(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
