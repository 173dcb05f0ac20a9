package auth

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/ledger"
)

// Bounds and lifetimes of the authorization code flow.
const (
	codeLifetime      = 60 * time.Second
	maxPendingCodes   = 1 << 14
	formLifetime      = 10 * time.Minute // a sign-in page is good for this long
	maxLoginFormBytes = 16 << 10
	maxStateBytes     = 2048
	maxScopeBytes     = 4096

	// Sign-in failures allowed per member id and window. Attempts count
	// from their start, so parallel guesses are counted too.
	loginFailures     = 5
	loginWindow       = time.Minute
	maxLimiterEntries = 1 << 14
)

// Messages of the sign-in page. A wrong passphrase and an unknown member
// get the same one, and so do rate-limited member ids whether or not they
// exist.
const (
	msgLoginFailed = "Sign-in failed: the member id or the passphrase is wrong."
	msgRateLimited = "Too many failed sign-ins for this member id. Wait a minute, then try again."
	msgInactive    = "This member may not act on the ledger now (suspended, or not yet enrolled). Ask your organisation's administrator."
	msgMissing     = "Enter your member id and your passphrase."
	msgNotDemo     = "That is not one of this node's demo users."
	msgNoPassword  = "Signing in with a passphrase is not available on this node."
)

//go:embed page.html
var pageHTML string

//go:embed page.css
var pageCSS string

var pages = template.Must(template.New("pages").Parse(pageHTML))

// pageCSP allows the pages' one inline style sheet, by hash, and nothing
// else: no script, no frames, no foreign resources. form-action is left
// out on purpose: Chrome applies it to the redirect that follows a
// sign-in, which goes to the app.
var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageCSS))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; frame-ancestors 'none'"
}()

// authRequest holds the authorization request parameters (RFC 6749
// §4.1.1, RFC 7636 §4.3, SMART's aud).
type authRequest struct {
	ResponseType, ClientID, RedirectURI, Scope, State, Aud, Challenge, Method string
}

var authParams = []struct {
	name  string
	field func(*authRequest) *string
}{
	{"response_type", func(a *authRequest) *string { return &a.ResponseType }},
	{"client_id", func(a *authRequest) *string { return &a.ClientID }},
	{"redirect_uri", func(a *authRequest) *string { return &a.RedirectURI }},
	{"scope", func(a *authRequest) *string { return &a.Scope }},
	{"state", func(a *authRequest) *string { return &a.State }},
	{"aud", func(a *authRequest) *string { return &a.Aud }},
	{"code_challenge", func(a *authRequest) *string { return &a.Challenge }},
	{"code_challenge_method", func(a *authRequest) *string { return &a.Method }},
}

// pageError is an error shown on a page of this server rather than sent
// to the app: the app, or its redirect URI, is not one to trust.
type pageError struct {
	Status         int
	Title, Message string
}

var errBadClient = &pageError{http.StatusBadRequest, "This sign-in link is not valid",
	"The application that sent you here is not registered on this node, or the address it asked to return to is not one registered for it. Go back to the application and contact its provider."}

// parseAuthorize validates an authorization request. A bad client or
// redirect URI is a pageError; anything else, once both are known good,
// is an oauthError to send back to the redirect URI.
func (s *Server) parseAuthorize(v url.Values) (authRequest, *Client, *pageError, *oauthError) {
	var a authRequest
	if len(v["client_id"]) != 1 || len(v["redirect_uri"]) != 1 {
		return a, nil, errBadClient, nil
	}
	a.ClientID, a.RedirectURI = v.Get("client_id"), v.Get("redirect_uri")
	cl, ok := s.clients[a.ClientID]
	if !ok || !slices.Contains(cl.RedirectURIs, a.RedirectURI) {
		return a, nil, errBadClient, nil
	}
	for _, p := range authParams {
		switch vs := v[p.name]; {
		case len(vs) > 1:
			return a, cl, nil, invalidRequest("parameter %s is repeated", p.name)
		case len(vs) == 1:
			*p.field(&a) = vs[0]
		}
	}
	switch {
	case v.Get("launch") != "":
		return a, cl, nil, invalidRequest("EHR launch is not supported: use a standalone launch (no launch parameter)")
	case a.ResponseType != "code":
		return a, cl, nil, &oauthError{Status: http.StatusBadRequest, Code: "unsupported_response_type", Desc: "response_type must be code"}
	case a.State == "":
		return a, cl, nil, invalidRequest("state is required")
	case len(a.State) > maxStateBytes:
		return a, cl, nil, invalidRequest("state is longer than %d bytes", maxStateBytes)
	case strings.TrimSuffix(a.Aud, "/") != strings.TrimSuffix(s.cfg.Issuer.Audience(), "/"):
		return a, cl, nil, invalidRequest("aud must be this server's FHIR base URL, %s", s.cfg.Issuer.Audience())
	case a.Method != "S256":
		return a, cl, nil, invalidRequest("PKCE is required: code_challenge_method must be S256")
	case !validChallenge(a.Challenge):
		return a, cl, nil, invalidRequest("code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)")
	case len(a.Scope) > maxScopeBytes:
		return a, cl, nil, invalidScope("scope is longer than %d bytes", maxScopeBytes)
	}
	want, err := wantedScopes(a.Scope)
	if err != nil {
		return a, cl, nil, invalidScope("%v", err)
	}
	if len(want.Resources) == 0 {
		return a, cl, nil, invalidScope("ask for at least one resource scope, such as patient/*.rs or user/*.rs")
	}
	return a, cl, nil, nil
}

// wantedScopes parses the scopes an app asks for in the authorization
// code flow. Refresh tokens are not issued, but apps commonly ask for
// them: offline_access and online_access are left out of the grant
// rather than failing the request (RFC 6749 §3.3).
func wantedScopes(scope string) (Scopes, error) {
	f := strings.Fields(scope)
	f = slices.DeleteFunc(f, func(s string) bool { return s == "offline_access" || s == "online_access" })
	return ParseScopes(strings.Join(f, " "))
}

// validChallenge reports whether c can be an S256 code challenge: the
// unpadded base64url encoding of 32 bytes.
func validChallenge(c string) bool {
	if len(c) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// validVerifier reports whether v is a code verifier as RFC 7636 §4.1
// defines it: 43 to 128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// verifierMatches checks a code verifier against an S256 challenge.
func verifierMatches(verifier, challenge string) bool {
	if !validVerifier(verifier) {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// redirectWith sends the browser back to the app with params added to
// its (registered) redirect URI.
func redirectWith(w http.ResponseWriter, r *http.Request, redirectURI string, params url.Values, status int) {
	u, err := url.Parse(redirectURI)
	if err != nil { // registered URIs were checked by Validate
		http.Error(w, "bad redirect URI", http.StatusInternalServerError)
		return
	}
	q := u.Query()
	for k, vs := range params {
		q[k] = vs
	}
	u.RawQuery = q.Encode()
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, u.String(), status)
}

func redirectError(w http.ResponseWriter, r *http.Request, a authRequest, oe *oauthError, status int) {
	p := url.Values{"error": {oe.Code}, "error_description": {oe.Desc}}
	if a.State != "" {
		p.Set("state", a.State)
	}
	redirectWith(w, r, a.RedirectURI, p, status)
}

// hiddenField is a form field carried through the sign-in page.
type hiddenField struct{ Name, Value string }

// loginPage is what the sign-in page shows.
type loginPage struct {
	CSS        template.CSS
	Action     string
	Client     string
	Scopes     []string
	Hidden     []hiddenField
	Passphrase bool
	Demo       []DemoUser
	Member     string
	Error      string
}

type errorPage struct {
	CSS            template.CSS
	Title, Message string
}

func (s *Server) renderPage(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.cfg.Logger.Error("render page", "event", "login", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) showError(w http.ResponseWriter, pe *pageError) {
	s.renderPage(w, pe.Status, "error", errorPage{CSS: template.CSS(pageCSS), Title: pe.Title, Message: pe.Message})
}

var errInsecurePage = &pageError{http.StatusBadRequest, "Use HTTPS",
	"Signing in is only possible over HTTPS (or on this computer's loopback address). Open this node's https:// address instead."}

// serveAuthorize answers GET /auth/authorize: it checks the request and
// shows the sign-in page.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if RequireSecure(r) != nil {
		s.showError(w, errInsecurePage)
		return
	}
	a, cl, pe, oe := s.parseAuthorize(r.URL.Query())
	switch {
	case pe != nil:
		s.showError(w, pe)
		return
	case oe != nil:
		redirectError(w, r, a, oe, http.StatusFound)
		return
	}
	cookie := s.loginCookie(w, r)
	s.showLogin(w, http.StatusOK, a, cl, cookie, "", "")
}

func (s *Server) showLogin(w http.ResponseWriter, status int, a authRequest, cl *Client, cookie, member, msg string) {
	ts := s.cfg.Now().Unix()
	hidden := make([]hiddenField, 0, len(authParams)+2)
	for _, p := range authParams {
		if v := *p.field(&a); v != "" {
			hidden = append(hidden, hiddenField{p.name, v})
		}
	}
	hidden = append(hidden, hiddenField{"ts", strconv.FormatInt(ts, 10)}, hiddenField{"csrf", s.csrfToken(cookie, ts, a)})
	want, _ := wantedScopes(a.Scope)
	var scopes []string
	for _, r := range want.Resources {
		scopes = append(scopes, r.String())
	}
	s.renderPage(w, status, "login", loginPage{
		CSS: template.CSS(pageCSS), Action: s.authorizePth, Client: cl.Name, Scopes: scopes, Hidden: hidden,
		Passphrase: s.cfg.Login != nil, Demo: s.cfg.DemoUsers, Member: member, Error: msg,
	})
}

// The sign-in cookie holds a random value the sign-in form's CSRF token
// is bound to. With TLS it is a __Host- cookie, which a sibling host
// cannot set.
const (
	cookieSecure = "__Host-medledger-login"
	cookiePlain  = "medledger-login"
)

func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return cookieSecure
	}
	return cookiePlain
}

// loginCookie returns the request's sign-in cookie value, setting a new
// one if it has none (an existing one is kept, so that two open sign-in
// pages both work).
func (s *Server) loginCookie(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(cookieName(r)); err == nil && validCookie(c.Value) {
		return c.Value
	}
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name: cookieName(r), Value: v, Path: "/", HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
	})
	return v
}

func validCookie(v string) bool {
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	return err == nil && len(b) == 32
}

// csrfToken binds a sign-in form to the browser's cookie, the time the
// form was made and the authorization request it carries.
func (s *Server) csrfToken(cookie string, ts int64, a authRequest) string {
	m := hmac.New(sha256.New, s.csrfKey[:])
	field := func(v string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		m.Write(n[:])
		m.Write([]byte(v))
	}
	field("medledger sign-in form v1")
	field(cookie)
	field(strconv.FormatInt(ts, 10))
	for _, p := range authParams {
		field(*p.field(&a))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

var errStaleForm = &pageError{http.StatusForbidden, "Start signing in again",
	"This sign-in form has expired, or it was not sent from this node's sign-in page in this browser. Go back to the application and start again."}

// checkCSRF checks a posted sign-in form's token and age.
func (s *Server) checkCSRF(r *http.Request, a authRequest) bool {
	c, err := r.Cookie(cookieName(r))
	if err != nil || !validCookie(c.Value) {
		return false
	}
	if len(r.PostForm["ts"]) != 1 || len(r.PostForm["csrf"]) != 1 {
		return false
	}
	ts, err := strconv.ParseInt(r.PostForm.Get("ts"), 10, 64)
	if err != nil {
		return false
	}
	age := s.cfg.Now().Sub(time.Unix(ts, 0))
	if age < -leeway || age > formLifetime {
		return false
	}
	want := s.csrfToken(c.Value, ts, a)
	return hmac.Equal([]byte(want), []byte(r.PostForm.Get("csrf")))
}

// serveLogin answers the sign-in form (POST /auth/authorize).
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	if RequireSecure(r) != nil {
		s.showError(w, errInsecurePage)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginFormBytes)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
		s.showError(w, errStaleForm)
		return
	}
	a, cl, pe, oe := s.parseAuthorize(r.PostForm)
	switch {
	case pe != nil:
		s.showError(w, pe)
		return
	case oe != nil:
		redirectError(w, r, a, oe, http.StatusSeeOther)
		return
	case !s.checkCSRF(r, a):
		s.showError(w, errStaleForm)
		return
	}
	cookie := s.loginCookie(w, r)
	log := s.cfg.Logger.With("event", "login", "client", cl.ID, "remote", remoteHost(r))
	if r.PostForm.Get("action") == "cancel" {
		log.Info("sign-in cancelled")
		redirectError(w, r, a, &oauthError{Code: "access_denied", Desc: "the user cancelled signing in"}, http.StatusSeeOther)
		return
	}

	var member string
	if d := r.PostForm.Get("demo"); d != "" {
		if !s.demo[d] {
			s.showLogin(w, http.StatusBadRequest, a, cl, cookie, "", msgNotDemo)
			return
		}
		member = d
	} else {
		if s.cfg.Login == nil {
			s.showLogin(w, http.StatusBadRequest, a, cl, cookie, "", msgNoPassword)
			return
		}
		member = strings.TrimSpace(r.PostForm.Get("member"))
		pass := r.PostForm.Get("passphrase")
		if member == "" || pass == "" {
			s.showLogin(w, http.StatusBadRequest, a, cl, cookie, member, msgMissing)
			return
		}
		// Login is not asked about ids that cannot be members (nor ones
		// with . or .. segments, should the node map ids to file names).
		if !signInID(member) {
			log.Info("sign-in failed", "member", "(not a member id)")
			s.showLogin(w, http.StatusBadRequest, a, cl, cookie, member, msgLoginFailed)
			return
		}
		// Case variants share one count, in case Login folds case.
		limitKey := strings.ToLower(member)
		if !s.logins.attempt(limitKey, s.cfg.Now()) {
			log.Warn("sign-in rate limited", "member", s.loggableMember(member))
			s.showLogin(w, http.StatusTooManyRequests, a, cl, cookie, member, msgRateLimited)
			return
		}
		if err := s.cfg.Login(member, pass); err != nil {
			log.Info("sign-in failed", "member", s.loggableMember(member))
			s.showLogin(w, http.StatusBadRequest, a, cl, cookie, member, msgLoginFailed)
			return
		}
		s.logins.succeeded(limitKey)
	}

	m, ok, err := s.cfg.Members(member)
	switch {
	case err != nil:
		log.Error("sign-in: read member", "member", member, "error", err)
		s.showError(w, &pageError{http.StatusInternalServerError, "Try again later", "The ledger could not be read. Try again in a moment."})
		return
	case !ok:
		// The passphrase opened a key file, but the ledger does not know
		// the member: answer as for a wrong passphrase.
		log.Warn("sign-in: member not on the ledger", "member", member)
		s.showLogin(w, http.StatusBadRequest, a, cl, cookie, member, msgLoginFailed)
		return
	case !m.Active:
		log.Info("sign-in refused: member not active", "member", member)
		s.showLogin(w, http.StatusForbidden, a, cl, cookie, member, msgInactive)
		return
	}
	if m.ID == "" {
		m.ID = member
	}
	want, _ := wantedScopes(a.Scope) // parseAuthorize checked it
	granted, patient := s.userGrant(m, want)
	if len(granted.Resources) == 0 {
		log.Info("sign-in: nothing grantable", "member", m.ID)
		redirectError(w, r, a, invalidScope("none of the requested scopes may be granted to this user"), http.StatusSeeOther)
		return
	}
	code, err := s.codes.put(&pendingCode{
		clientID: cl.ID, redirectURI: a.RedirectURI, challenge: a.Challenge,
		member: m.ID, patient: patient, scopes: granted, expires: s.cfg.Now().Add(codeLifetime),
	}, s.cfg.Now())
	if err != nil {
		log.Warn("sign-in: too many pending codes")
		redirectError(w, r, a, &oauthError{Code: "temporarily_unavailable", Desc: "too many sign-ins in progress; try again shortly"}, http.StatusSeeOther)
		return
	}
	log.Info("signed in", "member", m.ID, "scope", granted.String())
	redirectWith(w, r, a.RedirectURI, url.Values{"code": {code}, "state": {a.State}}, http.StatusSeeOther)
}

// signInID reports whether s may be typed as a member id on the sign-in
// page: a valid ledger member id without "." or ".." path segments.
func signInID(s string) bool {
	if !ledger.ValidMemberID(s) {
		return false
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// loggableMember returns a member id typed on the sign-in page if the
// ledger knows it, and a placeholder otherwise: people type passphrases
// in the wrong field, and those must not reach the log.
func (s *Server) loggableMember(id string) string {
	if _, ok, err := s.cfg.Members(id); err == nil && ok {
		return id
	}
	return "(not a member)"
}

// userGrant returns what a signed-in member's token may carry of want:
// user/ scopes, and patient/ scopes and launch/patient for a patient
// with a patient context, within what Config.Allowed gives the member;
// and the patient context ("" if none).
func (s *Server) userGrant(m Member, want Scopes) (Scopes, string) {
	patient := patientOf(m)
	allowed := s.cfg.Allowed(m)
	var ok Scopes
	if patient != "" {
		ok = allowed.only(ContextUser, ContextPatient)
		ok.Other = []string{"launch/patient"}
	} else {
		ok = allowed.only(ContextUser)
	}
	return ok.Narrow(want), patient
}

// patientOf returns the FHIR id of a patient member's own Patient
// resource, "" if m is not a patient or has none.
func patientOf(m Member) string {
	if !slices.Contains(m.Roles, "patient") {
		return ""
	}
	id, ok := strings.CutPrefix(m.FHIRUser, "Patient/")
	if !ok || !validFHIRID(id) {
		return ""
	}
	return id
}

// validFHIRID reports whether id is a FHIR R4 id: 1 to 64 of
// [A-Za-z0-9.-].
func validFHIRID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// pendingCode is an authorization code not yet redeemed.
type pendingCode struct {
	clientID, redirectURI, challenge string
	member, patient                  string
	scopes                           Scopes
	expires                          time.Time
}

var errCodesFull = errors.New("auth: too many pending codes")

// codeStore holds pending authorization codes, by the SHA-256 of the
// code (the codes themselves are not kept). It holds at most capacity
// codes and is safe for concurrent use.
type codeStore struct {
	capacity int

	mu sync.Mutex
	// +checklocks:mu
	codes map[[32]byte]*pendingCode
	// +checklocks:mu
	lastSweep time.Time
}

func newCodeStore(capacity int) *codeStore {
	return &codeStore{capacity: capacity, codes: map[[32]byte]*pendingCode{}}
}

// put stores pc under a new random code and returns the code, or
// errCodesFull.
func (c *codeStore) put(pc *pendingCode, now time.Time) (string, error) {
	var b [32]byte
	rand.Read(b[:])
	code := base64.RawURLEncoding.EncodeToString(b[:])
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.codes) >= c.capacity || now.Sub(c.lastSweep) > time.Minute {
		for k, p := range c.codes {
			if !now.Before(p.expires) {
				delete(c.codes, k)
			}
		}
		c.lastSweep = now
	}
	if len(c.codes) >= c.capacity {
		return "", errCodesFull
	}
	c.codes[sha256.Sum256([]byte(code))] = pc
	return code, nil
}

// take removes a code and returns it if it had not expired; nil if it is
// unknown, already taken or expired.
func (c *codeStore) take(code string, now time.Time) *pendingCode {
	k := sha256.Sum256([]byte(code))
	c.mu.Lock()
	pc, ok := c.codes[k]
	delete(c.codes, k)
	c.mu.Unlock()
	if !ok || !now.Before(pc.expires) {
		return nil
	}
	return pc
}

// limiter counts sign-in attempts per member id in a sliding window. It
// tracks at most capacity ids and is safe for concurrent use.
type limiter struct {
	max      int
	window   time.Duration
	capacity int

	mu sync.Mutex
	// attempts holds the times of each key's failed or running attempts.
	// +checklocks:mu
	attempts map[string][]time.Time
	// +checklocks:mu
	lastSweep time.Time
}

func newLimiter(max int, window time.Duration, capacity int) *limiter {
	return &limiter{max: max, window: window, capacity: capacity, attempts: map[string][]time.Time{}}
}

// attempt records an attempt for key and reports whether it may go on:
// false if key had max attempts in the window, or if the table is full
// of other live keys (it fails closed rather than forget a key).
func (l *limiter) attempt(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts, ok := l.attempts[key]
	if !ok && (len(l.attempts) >= l.capacity || now.Sub(l.lastSweep) > l.window) {
		for k, v := range l.attempts {
			if len(recent(v, now, l.window)) == 0 {
				delete(l.attempts, k)
			}
		}
		l.lastSweep = now
		if len(l.attempts) >= l.capacity {
			return false
		}
	}
	ts = recent(ts, now, l.window)
	if len(ts) >= l.max {
		l.attempts[key] = ts
		return false
	}
	l.attempts[key] = append(ts, now)
	return true
}

// succeeded forgets key's attempts after a successful sign-in.
func (l *limiter) succeeded(key string) {
	l.mu.Lock()
	delete(l.attempts, key)
	l.mu.Unlock()
}

// recent returns the times of ts within window before now, reusing ts.
func recent(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= window {
		i++
	}
	return ts[i:]
}
