package auth

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/medledger/medledger/internal/ledger"
)

// assertionType is the client_assertion_type of a JWT client assertion
// (RFC 7523 §2.2).
const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds on what a client assertion may hold.
const (
	maxAssertionBytes = 8 << 10
	maxClaimBytes     = 256 // iss, sub, jti
	// maxAssertionLifetime is how far in the future an assertion's exp
	// may be (SMART Backend Services: no more than five minutes).
	maxAssertionLifetime = 5 * time.Minute
)

// maxReplayEntries bounds the assertion ids remembered. Each lives at
// most maxAssertionLifetime+leeway, and only assertions with a good
// signature are remembered, so only members can fill the table.
const maxReplayEntries = 1 << 16

// errAuthFailed is the one answer for an unknown member, a key that is
// not the member's and a bad signature, so that the answer does not tell
// whether a member exists.
const errAuthFailed = "client authentication failed: the assertion is not signed by the key the ledger holds for its iss"

// verifyAssertion checks a Backend Services client assertion (SMART,
// RFC 7523 §3) and returns the member it authenticates. clientID is the
// request's client_id parameter, "" if absent. A good assertion's jti is
// spent: the same one is refused until it expires.
func (s *Server) verifyAssertion(raw, clientID string, now time.Time) (Member, error) {
	if len(raw) > maxAssertionBytes {
		return Member{}, invalidClient("client_assertion is longer than %d bytes", maxAssertionBytes)
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return Member{}, invalidClient("client_assertion is not a compact JWS signed with alg EdDSA")
	}
	if len(tok.Headers) != 1 {
		return Member{}, invalidClient("client_assertion must have exactly one signature")
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return Member{}, invalidClient("client_assertion claims are not valid JSON claims")
	}
	if err := checkAssertionClaims(&c, clientID, s.cfg.TokenURL, now); err != nil {
		return Member{}, err
	}
	m, ok, err := s.cfg.Members(c.Issuer)
	if err != nil {
		return Member{}, serverError(err)
	}
	if !ok || len(m.PublicKey) != ed25519.PublicKeySize {
		return Member{}, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Desc: errAuthFailed, Err: errors.New("unknown member or no usable key")}
	}
	var verified jwt.Claims
	if err := tok.Claims(m.PublicKey, &verified); err != nil {
		return Member{}, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Desc: errAuthFailed, Err: errors.New("bad signature")}
	}
	// The claims checked above are the signed ones: the payload is the
	// same bytes. Check the verified copy anyway, so that no decision
	// rests on unverified data.
	if err := checkAssertionClaims(&verified, clientID, s.cfg.TokenURL, now); err != nil {
		return Member{}, err
	}
	if m.ID == "" {
		m.ID = verified.Issuer
	}
	if m.ID != verified.Issuer {
		return Member{}, &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Desc: errAuthFailed, Err: fmt.Errorf("ledger returned member %q", m.ID)}
	}
	// Spend the jti once the signature is good (so that nobody else can
	// spend a member's ids), whatever happens next.
	until := verified.Expiry.Time().Add(leeway)
	switch s.replay.add(verified.Issuer+"\x00"+verified.ID, until, now) {
	case errReplayed:
		return Member{}, invalidClient("this assertion's jti was already used: sign a new assertion, with a new jti, for each token request")
	case errReplayFull:
		return Member{}, &oauthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable", Desc: "too many token requests; try again shortly"}
	}
	if !m.Active {
		return Member{}, invalidClient("the member %s is not active on the ledger (suspended or not enrolled)", m.ID)
	}
	return m, nil
}

// checkAssertionClaims checks what SMART Backend Services requires of an
// assertion's claims: iss = sub = client_id, aud the token endpoint, an
// exp at most five minutes ahead, and a jti.
func checkAssertionClaims(c *jwt.Claims, clientID, tokenURL string, now time.Time) *oauthError {
	switch {
	case !ledger.ValidMemberID(c.Issuer):
		return invalidClient("client_assertion iss must be the client_id (your member id)")
	case c.Subject != c.Issuer:
		return invalidClient("client_assertion sub must equal iss (the client_id)")
	case clientID != "" && clientID != c.Issuer:
		return invalidClient("client_assertion iss must equal the client_id parameter")
	case !c.Audience.Contains(tokenURL):
		return invalidClient("client_assertion aud must be the token endpoint URL, %s", tokenURL)
	case c.Expiry == nil:
		return invalidClient("client_assertion must have an exp")
	case c.ID == "" || len(c.ID) > maxClaimBytes:
		return invalidClient("client_assertion must have a jti of 1 to %d bytes", maxClaimBytes)
	}
	exp := c.Expiry.Time()
	switch {
	case !now.Before(exp.Add(leeway)):
		return invalidClient("client_assertion has expired")
	case exp.After(now.Add(maxAssertionLifetime + leeway)):
		return invalidClient("client_assertion exp must be at most %v in the future", maxAssertionLifetime)
	case c.NotBefore != nil && c.NotBefore.Time().After(now.Add(leeway)):
		return invalidClient("client_assertion is not valid yet (nbf)")
	case c.IssuedAt != nil && c.IssuedAt.Time().After(now.Add(leeway)):
		return invalidClient("client_assertion iat is in the future")
	}
	return nil
}

var (
	errReplayed   = errors.New("auth: assertion replayed")
	errReplayFull = errors.New("auth: replay cache full")
)

// replayCache remembers the assertion ids (client and jti) seen, each
// until its assertion expires. It holds at most capacity entries and is
// safe for concurrent use.
type replayCache struct {
	capacity int

	mu sync.Mutex
	// seen maps each key to when it may be forgotten.
	// +checklocks:mu
	seen map[string]time.Time
	// +checklocks:mu
	lastSweep time.Time
}

func newReplayCache(capacity int) *replayCache {
	return &replayCache{capacity: capacity, seen: map[string]time.Time{}}
}

// add records key until the time until. It returns errReplayed if key is
// already recorded and errReplayFull if the cache is full of live keys:
// an assertion that cannot be remembered is refused, not let through.
func (c *replayCache) add(key string, until, now time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.seen[key]; ok && now.Before(t) {
		return errReplayed
	}
	if len(c.seen) >= c.capacity || now.Sub(c.lastSweep) > time.Minute {
		c.sweepLocked(now)
	}
	if len(c.seen) >= c.capacity {
		return errReplayFull
	}
	c.seen[key] = until
	return nil
}

func (c *replayCache) sweepLocked(now time.Time) {
	for k, t := range c.seen {
		if !now.Before(t) {
			delete(c.seen, k)
		}
	}
	c.lastSweep = now
}
