package web

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/auth"
)

// Cookie names. Over TLS they are __Host- cookies (Secure, Path=/, no Domain), which a sibling host
// cannot set or overwrite.
const (
	sessionCookie = "medledger-session"
	loginCookie   = "medledger-signin"
)

// tls reports whether the browser reaches the dashboard over TLS: the
// request came over TLS, or the public URL is https (TLS ended by a proxy
// in front of the node).
func (s *Server) tls(r *http.Request) bool { return r.TLS != nil || s.secure }

func (s *Server) cookieName(r *http.Request, name string) string {
	if s.tls(r) {
		return "__Host-" + name
	}
	return name
}

// session is a signed-in browser. Its fields other than mu-guarded ones are
// set at creation and never change.
type session struct {
	key     [32]byte // SHA-256 of the cookie value: the store's key
	csrf    string   // the token every form and htmx request must carry
	created time.Time

	mu sync.Mutex
	// +checklocks:mu
	p *auth.Principal // refreshed from the ledger on each request
	// +checklocks:mu
	lastSeen time.Time
	// +checklocks:mu
	flash []flash
}

// flash is a one-shot message shown on the next page (after a POST that
// redirects).
type flash struct {
	Kind string // "ok", "warning" or "error"
	Text string
}

func (s *session) principal() *auth.Principal {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.p
}

func (s *session) setPrincipal(p *auth.Principal) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

func (s *session) addFlash(kind, text string) {
	s.mu.Lock()
	if len(s.flash) < 8 {
		s.flash = append(s.flash, flash{kind, text})
	}
	s.mu.Unlock()
}

func (s *session) takeFlash() []flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.flash
	s.flash = nil
	return f
}

// checkCSRF reports whether tok is the session's CSRF token.
func (s *session) checkCSRF(tok string) bool {
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(s.csrf)) == 1
}

// pendingLogin is an authorization request the browser was sent off
// with: the PKCE verifier stays here, never in the browser.
type pendingLogin struct {
	browser  [32]byte // SHA-256 of the sign-in cookie it is bound to
	verifier string
	next     string // where to go after signing in
	expires  time.Time
}

// sessions holds sessions and pending sign-ins in memory, bounded. A
// restart signs everyone out. It is safe for concurrent use.
type sessions struct {
	idle, maxAge time.Duration
	max          int
	now          func() time.Time

	mu sync.Mutex
	// +checklocks:mu
	byKey map[[32]byte]*session
	// +checklocks:mu
	pending map[string]*pendingLogin // by state
	// +checklocks:mu
	lastSweep time.Time
}

// pendingLifetime is how long a sign-in may take, from the click on
// "Sign in" to the return to /app/callback.
const pendingLifetime = 10 * time.Minute

func newSessions(idle, maxAge time.Duration, max int, now func() time.Time) *sessions {
	return &sessions{idle: idle, maxAge: maxAge, max: max, now: now,
		byKey: map[[32]byte]*session{}, pending: map[string]*pendingLogin{}}
}

func randomToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func hashToken(v string) [32]byte { return sha256.Sum256([]byte("medledger web v1\x00" + v)) }

// sweepLocked drops expired sessions and sign-ins, at most once a minute.
//
// +checklocks:ss.mu
func (ss *sessions) sweepLocked(now time.Time) {
	if now.Sub(ss.lastSweep) < time.Minute {
		return
	}
	ss.lastSweep = now
	for k, s := range ss.byKey {
		if ss.expired(s, now) {
			delete(ss.byKey, k)
		}
	}
	for st, p := range ss.pending {
		if now.After(p.expires) {
			delete(ss.pending, st)
		}
	}
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	s.mu.Lock()
	last := s.lastSeen
	s.mu.Unlock()
	return now.Sub(last) > ss.idle || now.Sub(s.created) > ss.maxAge
}

// create starts a session for p and returns it with its cookie value.
// When the store is full the session idle the longest is dropped.
func (ss *sessions) create(p *auth.Principal) (*session, string) {
	v := randomToken()
	now := ss.now()
	s := &session{key: hashToken(v), csrf: randomToken(), created: now, p: p, lastSeen: now}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweepLocked(now)
	if len(ss.byKey) >= ss.max {
		var oldest *session
		var oldestSeen time.Time
		for _, o := range ss.byKey {
			o.mu.Lock()
			seen := o.lastSeen
			o.mu.Unlock()
			if oldest == nil || seen.Before(oldestSeen) {
				oldest, oldestSeen = o, seen
			}
		}
		delete(ss.byKey, oldest.key)
	}
	ss.byKey[s.key] = s
	return s, v
}

// get returns the live session of a cookie value and marks it used.
func (ss *sessions) get(v string) (*session, bool) {
	if v == "" || len(v) > 128 {
		return nil, false
	}
	k := hashToken(v)
	now := ss.now()
	ss.mu.Lock()
	s, ok := ss.byKey[k]
	if ok && ss.expired(s, now) {
		delete(ss.byKey, k)
		ok = false
	}
	ss.mu.Unlock()
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	s.lastSeen = now
	s.mu.Unlock()
	return s, true
}

// end removes a session.
func (ss *sessions) end(s *session) {
	ss.mu.Lock()
	delete(ss.byKey, s.key)
	ss.mu.Unlock()
}

// maxPending bounds the sign-ins in progress.
const maxPending = 1 << 12

// startLogin records a sign-in and returns its state.
func (ss *sessions) startLogin(browser, verifier, next string) (string, bool) {
	state := randomToken()
	now := ss.now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.sweepLocked(now)
	if len(ss.pending) >= maxPending {
		return "", false
	}
	ss.pending[state] = &pendingLogin{browser: hashToken(browser), verifier: verifier, next: next, expires: now.Add(pendingLifetime)}
	return state, true
}

// finishLogin takes the sign-in of state, if it is live and was started
// by the same browser (its sign-in cookie). A state is usable once.
func (ss *sessions) finishLogin(state, browser string) (*pendingLogin, bool) {
	ss.mu.Lock()
	p, ok := ss.pending[state]
	if ok {
		delete(ss.pending, state)
	}
	ss.mu.Unlock()
	if !ok || ss.now().After(p.expires) {
		return nil, false
	}
	b := hashToken(browser)
	if subtle.ConstantTimeCompare(b[:], p.browser[:]) != 1 {
		return nil, false
	}
	return p, true
}
