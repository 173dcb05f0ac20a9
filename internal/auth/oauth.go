package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Member is what the OAuth endpoints need to know about a ledger member.
type Member struct {
	ID    string // "org/name"
	Org   string
	Roles []string
	// PublicKey is the member's Ed25519 signing key on the ledger: it
	// verifies the member's Backend Services client assertions.
	PublicKey ed25519.PublicKey
	// Active is false for a member that is suspended or not (yet)
	// enrolled: such a member gets no token.
	Active bool
	// FHIRUser is the member's FHIR resource, "Patient/123" or
	// "Practitioner/9"; "" if none. A patient's is their patient context.
	FHIRUser string
}

// Client is an app registered for the authorization code flow. Clients
// are public (they hold no secret); PKCE with S256 protects their codes.
type Client struct {
	ID   string
	Name string // shown on the sign-in page; defaults to ID
	// RedirectURIs are the exact URIs the app may be sent back to: https,
	// or http on a loopback host (127.0.0.1, [::1], localhost).
	RedirectURIs []string
}

// DemoUser is a member offered on the sign-in page of a demo node, to
// sign in as without a passphrase.
type DemoUser struct {
	Member string
	Label  string // defaults to Member
}

// Config configures a Server. Issuer and Members are required; every
// other field has the default its comment gives.
type Config struct {
	// Issuer mints the access tokens. Required.
	Issuer *Issuer
	// BaseURL is the node's public base URL, the issuer of its tokens.
	// Empty means Issuer.Issuer(); otherwise it must equal it.
	BaseURL string
	// TokenURL is the token endpoint's public URL, which Backend Services
	// assertions must name as their aud. Empty means BaseURL+"/auth/token".
	TokenURL string
	// Members looks a member up on the ledger (latest committed state).
	// It returns ok == false for an unknown member and an error only when
	// the ledger cannot be read (the request then fails with 500). It
	// must be safe for concurrent use. Required.
	Members func(id string) (m Member, ok bool, err error)
	// Allowed returns the scopes a member's roles may hold: the most any
	// token for the member can carry. Each flow narrows it further:
	// client_credentials grants only its system/ scopes, the
	// authorization code flow its user/ scopes and, for a patient with a
	// patient context, its patient/ scopes. Nil means DefaultAllowed.
	Allowed func(m Member) Scopes
	// Clients are the apps registered for the authorization code flow.
	// None means the flow is refused.
	Clients []Client
	// Login checks a member's passphrase (the node decrypts the member's
	// key file with it) and returns nil if it is right. It must answer
	// the same error, in about the same time, whether the member does not
	// exist or the passphrase is wrong, and be safe for concurrent use.
	// It is only asked about valid member ids (ledger.ValidMemberID)
	// without "." or ".." segments, and at most 5 times a minute for a
	// failing id: a rate-limited id gets the same message whether or not
	// it exists. Nil means the sign-in page offers no passphrase form (demo users
	// only, if any).
	Login func(member, passphrase string) error
	// DemoUsers, if any, are offered on the sign-in page as one-click
	// sign-ins without a passphrase. Only for demo nodes.
	DemoUsers []DemoUser
	// TokenLifetime is how long access tokens live. Zero means
	// MaxTokenLifetime, which is also the most allowed.
	TokenLifetime time.Duration
	// Now is the clock for assertions, codes, sign-in forms and rate
	// limits (tests). Nil means time.Now. Token times come from Issuer.
	Now func() time.Time
	// Logger receives one record per token issued or refused and per
	// sign-in; never a token, an assertion, a code or a passphrase. Nil
	// means no logging.
	Logger *slog.Logger
}

// Validate fills in the defaults and reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("auth config: "+format, args...)) }
	if c.Issuer == nil {
		bad("Issuer is required")
	} else {
		if c.BaseURL == "" {
			c.BaseURL = c.Issuer.Issuer()
		}
		if c.BaseURL != c.Issuer.Issuer() {
			bad("BaseURL %q is not the token issuer %q", c.BaseURL, c.Issuer.Issuer())
		}
	}
	if u, err := absURL(c.BaseURL); err != nil {
		bad("BaseURL: %v", err)
	} else if strings.ContainsAny(u.Path, "{} ") {
		bad("BaseURL %q: the path may not hold braces or spaces", c.BaseURL)
	}
	if c.TokenURL == "" && c.BaseURL != "" {
		c.TokenURL = strings.TrimSuffix(c.BaseURL, "/") + "/auth/token"
	}
	if u, err := absURL(c.TokenURL); err != nil {
		bad("TokenURL: %v", err)
	} else if p := strings.TrimSuffix(u.Path, "/"); p == "" || strings.ContainsAny(p, "{} ") ||
		strings.HasSuffix(p, "/.well-known/smart-configuration") || strings.HasSuffix(p, "/.well-known/jwks.json") || strings.HasSuffix(p, "/auth/authorize") {
		bad("TokenURL %q: its path must be its own, such as /auth/token", c.TokenURL)
	}
	if c.Members == nil {
		bad("Members is required")
	}
	if c.Allowed == nil {
		c.Allowed = DefaultAllowed
	}
	ids := map[string]bool{}
	for i := range c.Clients {
		cl := &c.Clients[i]
		switch {
		case cl.ID == "":
			bad("client %d has no ID", i)
		case ids[cl.ID]:
			bad("client %q is listed twice", cl.ID)
		}
		ids[cl.ID] = true
		if cl.Name == "" {
			cl.Name = cl.ID
		}
		if len(cl.RedirectURIs) == 0 {
			bad("client %q has no redirect URI", cl.ID)
		}
		for _, u := range cl.RedirectURIs {
			if err := checkRedirectURI(u); err != nil {
				bad("client %q: redirect URI %q: %v", cl.ID, u, err)
			}
		}
	}
	demo := map[string]bool{}
	for i := range c.DemoUsers {
		d := &c.DemoUsers[i]
		switch {
		case d.Member == "":
			bad("demo user %d has no member", i)
		case demo[d.Member]:
			bad("demo user %q is listed twice", d.Member)
		}
		demo[d.Member] = true
		if d.Label == "" {
			d.Label = d.Member
		}
	}
	switch {
	case c.TokenLifetime == 0:
		c.TokenLifetime = MaxTokenLifetime
	case c.TokenLifetime < time.Second || c.TokenLifetime > MaxTokenLifetime:
		bad("TokenLifetime %v is not between 1s and %v", c.TokenLifetime, MaxTokenLifetime)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

func absURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return nil, errors.New("not a URL")
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return nil, errors.New("not an absolute http(s) URL")
	case u.RawQuery != "" || u.Fragment != "":
		return nil, errors.New("has a query or fragment")
	}
	return u, nil
}

func checkRedirectURI(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Fragment != "" || strings.Contains(s, "#"):
		return errors.New("has a fragment")
	case u.Host == "":
		return errors.New("not absolute")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopbackHost(u.Hostname()):
		return nil
	}
	return errors.New("must be https, or http on a loopback host")
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.Unmap().IsLoopback()
}

// DefaultAllowed is the default Config.Allowed: system/*.cruds for the
// system role; system/*.cruds and user/*.cruds for admin; system/*.rs and
// user/*.rs for auditor; user/*.cruds for practitioner; patient/*.rs and
// patient/Consent.cruds for patient; nothing for other roles.
func DefaultAllowed(m Member) Scopes {
	var parts []string
	for _, r := range m.Roles {
		switch r {
		case "system":
			parts = append(parts, "system/*.cruds")
		case "admin":
			parts = append(parts, "system/*.cruds", "user/*.cruds")
		case "auditor":
			parts = append(parts, "system/*.rs", "user/*.rs")
		case "practitioner":
			parts = append(parts, "user/*.cruds")
		case "patient":
			parts = append(parts, "patient/*.rs", "patient/Consent.cruds")
		}
	}
	s, err := ParseScopes(strings.Join(parts, " "))
	if err != nil {
		panic("auth: DefaultAllowed: " + err.Error()) // the literals above parse
	}
	return s
}

// only returns the resource scopes of s in the given contexts, and none
// of its other scopes.
func (s Scopes) only(ctxs ...Context) Scopes {
	var out Scopes
	for _, r := range s.Resources {
		if slices.Contains(ctxs, r.Context) {
			out.Resources = append(out.Resources, r)
		}
	}
	return out
}

// Server serves the SMART on FHIR discovery document, the token key set,
// the token endpoint (Backend Services and authorization code with PKCE)
// and the authorization endpoint with its sign-in page. It is safe for
// concurrent use. Its state (codes, assertion ids seen, sign-in failures)
// is in memory and bounded: a restart forgets it, which only makes
// pending sign-ins start again.
type Server struct {
	cfg     Config
	clients map[string]*Client
	demo    map[string]bool
	mux     *http.ServeMux
	paths   []string

	authorizeURL string
	authorizePth string
	jwksURL      string
	smartConfig  []byte
	jwks         []byte

	csrfKey [32]byte
	codes   *codeStore
	replay  *replayCache
	logins  *limiter
}

var _ http.Handler = (*Server)(nil)

// NewServer returns a Server for cfg, or every problem with cfg.
func NewServer(cfg Config) (*Server, error) {
	// Validate fills in defaults: not in the caller's slices.
	cfg.Clients = slices.Clone(cfg.Clients)
	cfg.DemoUsers = slices.Clone(cfg.DemoUsers)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		clients: map[string]*Client{},
		demo:    map[string]bool{},
		mux:     http.NewServeMux(),
		codes:   newCodeStore(maxPendingCodes),
		replay:  newReplayCache(maxReplayEntries),
		logins:  newLimiter(loginFailures, loginWindow, maxLimiterEntries),
	}
	for i := range s.cfg.Clients {
		s.clients[s.cfg.Clients[i].ID] = &s.cfg.Clients[i]
	}
	for _, d := range s.cfg.DemoUsers {
		s.demo[d.Member] = true
	}
	rand.Read(s.csrfKey[:])

	base := strings.TrimSuffix(cfg.BaseURL, "/")
	s.authorizeURL = base + "/auth/authorize"
	s.jwksURL = base + "/.well-known/jwks.json"
	bu, _ := url.Parse(base)
	tu, _ := url.Parse(cfg.TokenURL)
	bp := strings.TrimSuffix(bu.Path, "/")
	s.authorizePth = bp + "/auth/authorize"
	tp := tu.Path
	if tp == "" {
		tp = "/"
	}
	smart := []string{bp + "/.well-known/smart-configuration"}
	if fu, err := url.Parse(cfg.Issuer.Audience()); err == nil && fu.Path != "" && fu.Path != "/" && !strings.ContainsAny(fu.Path, "{} ") {
		smart = append(smart, strings.TrimSuffix(fu.Path, "/")+"/.well-known/smart-configuration")
	}
	var err error
	if s.smartConfig, err = json.Marshal(s.configuration()); err != nil {
		return nil, fmt.Errorf("auth: smart-configuration: %w", err)
	}
	if s.jwks, err = json.Marshal(cfg.Issuer.JWKS()); err != nil {
		return nil, fmt.Errorf("auth: jwks: %w", err)
	}

	handle := func(pattern string, h http.HandlerFunc) {
		s.mux.HandleFunc(pattern, h)
		p := pattern[strings.IndexByte(pattern, ' ')+1:]
		if !slices.Contains(s.paths, p) {
			s.paths = append(s.paths, p)
		}
	}
	for _, p := range smart {
		if !slices.Contains(s.paths, p) {
			handle("GET "+p, s.serveConfiguration)
		}
	}
	handle("GET "+bp+"/.well-known/jwks.json", s.serveJWKS)
	handle("POST "+tp, s.serveToken)
	handle("OPTIONS "+tp, s.serveTokenPreflight)
	handle(tp, s.serveTokenMethod)
	handle("GET "+s.authorizePth, s.serveAuthorize)
	handle("POST "+s.authorizePth, s.serveLogin)
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Paths returns the URL paths s answers, for mounting it on the node's
// mux: the discovery document (at the root and under the FHIR base
// path), the key set, the token and the authorization endpoints. The
// caller owns the returned slice.
func (s *Server) Paths() []string { return slices.Clone(s.paths) }

// capabilities are the SMART capabilities really implemented.
var capabilities = []string{
	"launch-standalone",
	"client-public",
	"client-confidential-asymmetric",
	"context-standalone-patient",
	"permission-patient",
	"permission-user",
	"permission-v1",
	"permission-v2",
}

// scopesSupported are examples of the scopes clients may ask for
// (SMART's scopes_supported is not exhaustive).
var scopesSupported = []string{
	"launch/patient",
	"patient/*.rs", "patient/*.read",
	"user/*.cruds", "user/*.rs", "user/*.read", "user/*.*",
	"system/*.cruds", "system/*.rs", "system/*.read", "system/*.*",
}

// smartConfiguration is the SMART App Launch 2 discovery document.
type smartConfiguration struct {
	Issuer                string   `json:"issuer"`
	JWKSURI               string   `json:"jwks_uri"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	TokenAuthMethods      []string `json:"token_endpoint_auth_methods_supported"`
	TokenAuthSigningAlgs  []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	GrantTypes            []string `json:"grant_types_supported"`
	Scopes                []string `json:"scopes_supported"`
	ResponseTypes         []string `json:"response_types_supported"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
	Capabilities          []string `json:"capabilities"`
}

func (s *Server) configuration() smartConfiguration {
	return smartConfiguration{
		Issuer:                s.cfg.BaseURL,
		JWKSURI:               s.jwksURL,
		AuthorizationEndpoint: s.authorizeURL,
		TokenEndpoint:         s.cfg.TokenURL,
		TokenAuthMethods:      []string{"private_key_jwt"},
		TokenAuthSigningAlgs:  []string{"EdDSA"},
		GrantTypes:            []string{"authorization_code", "client_credentials"},
		Scopes:                scopesSupported,
		ResponseTypes:         []string{"code"},
		CodeChallengeMethods:  []string{"S256"},
		Capabilities:          capabilities,
	}
}

func (s *Server) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	writeStatic(w, s.smartConfig)
}

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	writeStatic(w, s.jwks)
}

func writeStatic(w http.ResponseWriter, body []byte) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Access-Control-Allow-Origin", "*")
	w.Write(body)
}

// oauthError is an RFC 6749 §5.2 error: Code and Desc go to the client,
// Err (the internal cause, if any) only to the log.
type oauthError struct {
	Status int
	Code   string
	Desc   string
	Err    error
}

func (e *oauthError) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Desc + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Desc
}

func (e *oauthError) Unwrap() error { return e.Err }

func invalidRequest(format string, args ...any) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_request", Desc: fmt.Sprintf(format, args...)}
}

func invalidClient(format string, args ...any) *oauthError {
	return &oauthError{Status: http.StatusUnauthorized, Code: "invalid_client", Desc: fmt.Sprintf(format, args...)}
}

func invalidGrant(format string, args ...any) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_grant", Desc: fmt.Sprintf(format, args...)}
}

func invalidScope(format string, args ...any) *oauthError {
	return &oauthError{Status: http.StatusBadRequest, Code: "invalid_scope", Desc: fmt.Sprintf(format, args...)}
}

func serverError(err error) *oauthError {
	return &oauthError{Status: http.StatusInternalServerError, Code: "server_error", Desc: "the ledger could not be read; try again", Err: err}
}

// tokenResponse is the token endpoint's answer (RFC 6749 §5.1, SMART).
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Patient     string `json:"patient,omitempty"`
}

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Access-Control-Allow-Origin", "*")
	resp, grant, err := s.token(w, r)
	log := s.cfg.Logger.With("event", "token", "grant_type", grant, "remote", remoteHost(r))
	if err != nil {
		var oe *oauthError
		if !errors.As(err, &oe) {
			oe = serverError(err)
		}
		if oe.Status >= 500 {
			log.Error("token refused", "error", oe.Code, "why", oe.Error())
		} else {
			log.Info("token refused", "error", oe.Code, "why", oe.Error())
		}
		if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); oe.Status == http.StatusUnauthorized && scheme != "" {
			// RFC 6749 §5.2: a 401 answers the scheme the client tried.
			h.Set("WWW-Authenticate", quotable(scheme)+` realm="medledger"`)
		}
		writeJSON(w, oe.Status, map[string]string{"error": oe.Code, "error_description": oe.Desc})
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) serveTokenPreflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Allow-Methods", "POST")
	h.Set("Access-Control-Allow-Headers", "Content-Type, Accept")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) serveTokenMethod(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST, OPTIONS")
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "invalid_request", "error_description": "use POST with an application/x-www-form-urlencoded body"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}

// token answers one token request; grant is its grant type, for the log.
func (s *Server) token(w http.ResponseWriter, r *http.Request) (_ *tokenResponse, grant string, _ error) {
	if err := RequireSecure(r); err != nil {
		return nil, "", invalidRequest("use HTTPS: tokens are issued over plain HTTP on loopback only")
	}
	if r.URL.RawQuery != "" {
		return nil, "", invalidRequest("send the parameters in the request body, not the URL")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		return nil, "", invalidRequest("the request body could not be read or is larger than %d bytes", maxFormBytes)
	}
	req, oe := parseTokenForm(r.Header.Get("Content-Type"), body)
	if oe != nil {
		return nil, "", oe
	}
	if r.Header.Get("Authorization") != "" {
		return nil, req.GrantType, invalidClient("HTTP authentication is not accepted here: authenticate with a client_assertion (private_key_jwt), or as a public client with PKCE")
	}
	now := s.cfg.Now()
	switch req.GrantType {
	case "client_credentials":
		resp, err := s.clientCredentials(req, now)
		return resp, req.GrantType, err
	case "authorization_code":
		resp, err := s.authorizationCode(req, now)
		return resp, req.GrantType, err
	case "":
		return nil, "", invalidRequest("grant_type is required")
	}
	return nil, "", &oauthError{Status: http.StatusBadRequest, Code: "unsupported_grant_type",
		Desc: "grant_type must be client_credentials or authorization_code"}
}

// tokenRequest holds the token endpoint parameters this server reads.
type tokenRequest struct {
	GrantType     string
	Scope         string
	ClientID      string
	AssertionType string
	Assertion     string
	Code          string
	RedirectURI   string
	Verifier      string
}

// tokenParams maps each parameter name to its field.
var tokenParams = []struct {
	name  string
	field func(*tokenRequest) *string
}{
	{"grant_type", func(t *tokenRequest) *string { return &t.GrantType }},
	{"scope", func(t *tokenRequest) *string { return &t.Scope }},
	{"client_id", func(t *tokenRequest) *string { return &t.ClientID }},
	{"client_assertion_type", func(t *tokenRequest) *string { return &t.AssertionType }},
	{"client_assertion", func(t *tokenRequest) *string { return &t.Assertion }},
	{"code", func(t *tokenRequest) *string { return &t.Code }},
	{"redirect_uri", func(t *tokenRequest) *string { return &t.RedirectURI }},
	{"code_verifier", func(t *tokenRequest) *string { return &t.Verifier }},
}

// values returns the request form-encoded, without empty parameters.
func (t tokenRequest) values() url.Values {
	v := url.Values{}
	for _, p := range tokenParams {
		if s := *p.field(&t); s != "" {
			v.Set(p.name, s)
		}
	}
	return v
}

// parseTokenForm decodes a token request body (RFC 6749 §3.2): form
// encoding only, no parameter repeated, unknown parameters ignored.
func parseTokenForm(contentType string, body []byte) (tokenRequest, *oauthError) {
	var t tokenRequest
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return t, invalidRequest("the body must be application/x-www-form-urlencoded")
	}
	v, err := url.ParseQuery(string(body))
	if err != nil {
		return t, invalidRequest("the body is not valid form encoding")
	}
	for _, p := range tokenParams {
		switch vs := v[p.name]; {
		case len(vs) > 1:
			return tokenRequest{}, invalidRequest("parameter %s is repeated", p.name)
		case len(vs) == 1:
			*p.field(&t) = vs[0]
		}
	}
	return t, nil
}

// mint signs a token for p and returns the token endpoint's answer.
func (s *Server) mint(p *Principal) (*tokenResponse, error) {
	tok, err := s.cfg.Issuer.Mint(p, s.cfg.TokenLifetime)
	if err != nil {
		return nil, fmt.Errorf("mint: %w", err)
	}
	// The token's exp is truncated to the second: report what is left.
	exp := int(p.Expiry.Sub(s.cfg.Issuer.now()) / time.Second)
	if exp < 0 {
		exp = 0
	}
	return &tokenResponse{AccessToken: tok, TokenType: "Bearer", ExpiresIn: exp, Scope: p.Scopes.String(), Patient: p.Patient}, nil
}

func (s *Server) clientCredentials(req tokenRequest, now time.Time) (*tokenResponse, error) {
	if req.AssertionType != assertionType {
		return nil, invalidClient("client_assertion_type must be %s (SMART Backend Services)", assertionType)
	}
	if req.Assertion == "" {
		return nil, invalidClient("client_assertion is required (SMART Backend Services)")
	}
	m, err := s.verifyAssertion(req.Assertion, req.ClientID, now)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(req.Scope) == "" {
		return nil, invalidScope("scope is required, such as system/*.rs")
	}
	want, err := ParseScopes(req.Scope)
	if err != nil {
		return nil, invalidScope("%v", err)
	}
	granted := s.cfg.Allowed(m).only(ContextSystem).Narrow(want)
	if len(granted.Resources) == 0 {
		return nil, invalidScope("none of the requested scopes may be granted to %s (Backend Services grant system/ scopes its roles allow)", m.ID)
	}
	p := &Principal{Member: m.ID, Org: m.Org, Roles: m.Roles, Scopes: granted, FHIRUser: m.FHIRUser, ClientID: m.ID}
	resp, err := s.mint(p)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("token issued", "event", "token", "grant_type", "client_credentials", "member", m.ID, "scope", resp.Scope, "token_id", p.TokenID)
	return resp, nil
}

func (s *Server) authorizationCode(req tokenRequest, now time.Time) (*tokenResponse, error) {
	if req.Assertion != "" || req.AssertionType != "" {
		return nil, invalidClient("apps using the authorization code flow are public clients here: send no client_assertion")
	}
	cl, ok := s.clients[req.ClientID]
	if !ok {
		return nil, invalidClient("client_id is not a registered app")
	}
	switch {
	case req.Code == "":
		return nil, invalidRequest("code is required")
	case req.RedirectURI == "":
		return nil, invalidRequest("redirect_uri is required")
	case req.Verifier == "":
		return nil, invalidRequest("code_verifier is required (PKCE)")
	}
	// The code is spent by this attempt whatever its outcome, so that a
	// stolen code cannot be tried against many verifiers.
	pc := s.codes.take(req.Code, now)
	switch {
	case pc == nil:
		return nil, invalidGrant("the code is unknown, expired or already used")
	case pc.clientID != cl.ID:
		return nil, invalidGrant("the code was issued to another client")
	case pc.redirectURI != req.RedirectURI:
		return nil, invalidGrant("redirect_uri is not the one of the authorization request")
	case !verifierMatches(req.Verifier, pc.challenge):
		return nil, invalidGrant("code_verifier does not match the code_challenge")
	}
	m, ok, err := s.cfg.Members(pc.member)
	if err != nil {
		return nil, serverError(err)
	}
	if !ok || !m.Active {
		return nil, invalidGrant("the user may no longer act on this ledger")
	}
	p := &Principal{Member: pc.member, Org: m.Org, Roles: m.Roles, Scopes: pc.scopes, Patient: pc.patient, FHIRUser: m.FHIRUser, ClientID: cl.ID}
	resp, err := s.mint(p)
	if err != nil {
		return nil, err
	}
	s.cfg.Logger.Info("token issued", "event", "token", "grant_type", "authorization_code", "member", pc.member, "client", cl.ID, "scope", resp.Scope, "token_id", p.TokenID)
	return resp, nil
}

// remoteHost returns the request's peer address without its port.
func remoteHost(r *http.Request) string {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap().String()
	}
	return ""
}
