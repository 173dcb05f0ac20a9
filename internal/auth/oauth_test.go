package auth

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// clock is a settable clock for Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects the server's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a Server on a loopback httptest server with a small ledger
// of members.
type fixture struct {
	t        testing.TB
	srv      *Server
	ts       *httptest.Server
	is       *Issuer
	clock    *clock
	log      *logBuffer
	tokenURL string

	mu      sync.Mutex
	members map[string]Member
	keys    map[string]ed25519.PrivateKey
	pass    map[string]string
	logins  int // calls of Config.Login
}

const redirectURI = "http://127.0.0.1:9/callback"

func newFixture(t testing.TB, edit func(*Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, clock: &clock{t: time.Now()}, log: &logBuffer{},
		members: map[string]Member{}, keys: map[string]ed25519.PrivateKey{}, pass: map[string]string{}}
	for _, m := range []struct {
		id, role, fhirUser, pass string
		active                   bool
	}{
		{"st-mary/lab-system", "system", "", "", true},
		{"st-mary/audit-bot", "auditor", "", "", true},
		{"st-mary/old-system", "system", "", "", false},
		{"st-mary/payer-bot", "payer", "", "", true},
		{"st-mary/pat-1", "patient", "Patient/p1", "correct horse", true},
		{"st-mary/dr-jones", "practitioner", "Practitioner/d1", "battery staple", true},
		{"st-mary/dr-gone", "practitioner", "Practitioner/d2", "old pass", false},
	} {
		pub, key, _ := ed25519.GenerateKey(rand.Reader)
		f.members[m.id] = Member{ID: m.id, Org: "st-mary", Roles: []string{m.role}, PublicKey: pub, Active: m.active, FHIRUser: m.fhirUser}
		f.keys[m.id] = key
		if m.pass != "" {
			f.pass[m.id] = m.pass
		}
	}
	var h http.Handler
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(f.ts.Close)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	is, err := NewIssuer(key, f.ts.URL, f.ts.URL+"/fhir")
	if err != nil {
		t.Fatal(err)
	}
	f.is = is
	f.tokenURL = f.ts.URL + "/auth/token"
	cfg := Config{
		Issuer:  is,
		Members: f.member,
		Clients: []Client{
			{ID: "app", Name: "Test App", RedirectURIs: []string{redirectURI}},
			{ID: "other-app", RedirectURIs: []string{"https://other.example/cb"}},
		},
		Login: func(member, passphrase string) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.logins++
			if p, ok := f.pass[member]; ok && p == passphrase {
				return nil
			}
			return errors.New("wrong passphrase or member")
		},
		DemoUsers: []DemoUser{{Member: "st-mary/pat-1", Label: "Pat One (patient)"}},
		Now:       f.clock.Now,
		Logger:    slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	f.srv, err = NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h = f.srv
	return f
}

func (f *fixture) member(id string) (Member, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.members[id]
	return m, ok, nil
}

func (f *fixture) loginCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logins
}

// assertion returns a client assertion for member signed with key (the
// member's own if nil), its claims edited by edit.
func (f *fixture) assertion(member string, key ed25519.PrivateKey, edit func(*jwt.Claims)) string {
	f.t.Helper()
	if key == nil {
		key = f.keys[member]
	}
	now := f.clock.Now()
	var jti [12]byte
	rand.Read(jti[:])
	c := jwt.Claims{
		Issuer: member, Subject: member, Audience: jwt.Audience{f.tokenURL},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), IssuedAt: jwt.NewNumericDate(now),
		ID: base64.RawURLEncoding.EncodeToString(jti[:]),
	}
	if edit != nil {
		edit(&c)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// backend is a client_credentials request with assertion.
func backend(assertion, scope string) tokenRequest {
	return tokenRequest{GrantType: "client_credentials", Scope: scope, AssertionType: assertionType, Assertion: assertion}
}

// post sends a token request and decodes the JSON answer.
func (f *fixture) post(req tokenRequest) (int, map[string]any, http.Header) {
	f.t.Helper()
	resp, err := http.PostForm(f.tokenURL, req.values())
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		f.t.Fatalf("token endpoint answered %d %q: %v", resp.StatusCode, body, err)
	}
	return resp.StatusCode, out, resp.Header
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func TestSMARTConfiguration(t *testing.T) {
	f := newFixture(t, nil)
	for _, path := range []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration"} {
		resp, err := http.Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var got smartConfiguration
		err = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d, %v", path, resp.StatusCode, err)
		}
		want := smartConfiguration{
			Issuer: f.ts.URL, JWKSURI: f.ts.URL + "/.well-known/jwks.json",
			AuthorizationEndpoint: f.ts.URL + "/auth/authorize", TokenEndpoint: f.tokenURL,
			TokenAuthMethods: []string{"private_key_jwt"}, TokenAuthSigningAlgs: []string{"EdDSA"},
			GrantTypes: []string{"authorization_code", "client_credentials"}, Scopes: scopesSupported,
			ResponseTypes: []string{"code"}, CodeChallengeMethods: []string{"S256"}, Capabilities: capabilities,
		}
		if g, w := mustJSON(t, got), mustJSON(t, want); g != w {
			t.Errorf("GET %s =\n%s\nwant\n%s", path, g, w)
		}
		for _, s := range got.Scopes {
			if _, err := ParseScopes(s); err != nil || s == "openid" {
				t.Errorf("scopes_supported lists %q, which is not granted", s)
			}
		}
		for _, c := range []string{"sso-openid-connect", "launch-ehr", "permission-offline", "authorize-post"} {
			if slices.Contains(got.Capabilities, c) {
				t.Errorf("capabilities claim %q, which is not implemented", c)
			}
		}
	}

	wantPaths := []string{"/.well-known/smart-configuration", "/fhir/.well-known/smart-configuration", "/.well-known/jwks.json", "/auth/token", "/auth/authorize"}
	if got := f.srv.Paths(); !slices.Equal(got, wantPaths) {
		t.Errorf("Paths() = %q; want %q", got, wantPaths)
	}

	resp, err := http.Get(f.ts.URL + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks: %v, %d keys", err, len(set.Keys))
	}
	sc, _ := ParseScopes("user/*.rs")
	tok, _ := f.is.Mint(&Principal{Member: "a/b", Scopes: sc}, time.Minute)
	parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := parsed.Claims(set.Keys[0].Key, &c); err != nil || c.Subject != "a/b" {
		t.Errorf("a token does not verify with the published key set: %v", err)
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBackendServices(t *testing.T) {
	f := newFixture(t, nil)
	a := f.assertion("st-mary/lab-system", nil, nil)
	status, body, h := f.post(backend(a, "system/*.rs"))
	if status != 200 {
		t.Fatalf("token request: %d %v", status, body)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v; want no-store JSON", h)
	}
	exp, _ := body["expires_in"].(float64)
	if str(body, "token_type") != "Bearer" || str(body, "scope") != "system/*.rs" || exp < 290 || exp > 300 || body["patient"] != nil {
		t.Errorf("token response = %v", body)
	}
	p, err := f.is.Verify(str(body, "access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Member != "st-mary/lab-system" || p.ClientID != p.Member || p.Org != "st-mary" || !p.HasRole("system") ||
		!p.Scopes.Allows("Observation", "rs").System || p.Scopes.Allows("Observation", "c").Any() {
		t.Errorf("token principal = %+v", p)
	}
	if logs := f.log.String(); strings.Contains(logs, a) || strings.Contains(logs, str(body, "access_token")) {
		t.Errorf("the log holds the assertion or the token:\n%s", logs)
	}
	if !strings.Contains(f.log.String(), "token issued") {
		t.Errorf("no log of the token issued:\n%s", f.log.String())
	}
}

func TestBackendServicesRefused(t *testing.T) {
	f := newFixture(t, nil)
	const lab = "st-mary/lab-system"
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	hs256 := func() string {
		// Algorithm confusion: an HMAC keyed with the public key.
		sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(f.members[lab].PublicKey)}, nil)
		s, _ := jwt.Signed(sig).Claims(jwt.Claims{Issuer: lab, Subject: lab, Audience: jwt.Audience{f.tokenURL},
			Expiry: jwt.NewNumericDate(f.clock.Now().Add(time.Minute)), ID: "x"}).Serialize()
		return s
	}()
	now := f.clock.Now()
	for _, tc := range []struct {
		name     string
		req      tokenRequest
		code     string
		desc     string // in error_description
		generic  bool   // the description is the one for unknown members
		wantCode int
	}{
		{name: "forged", req: backend(f.assertion(lab, otherKey, nil), "system/*.rs"), code: "invalid_client", generic: true},
		{name: "unknown member", req: backend(f.assertion("st-mary/nobody", otherKey, nil), "system/*.rs"), code: "invalid_client", generic: true},
		{name: "wrong aud", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.Audience = jwt.Audience{f.ts.URL} }), "system/*.rs"), code: "invalid_client", desc: "aud"},
		{name: "expired", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(-time.Minute)) }), "system/*.rs"), code: "invalid_client", desc: "expired"},
		{name: "exp too far", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(now.Add(10 * time.Minute)) }), "system/*.rs"), code: "invalid_client", desc: "at most"},
		{name: "no exp", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.Expiry = nil }), "system/*.rs"), code: "invalid_client", desc: "exp"},
		{name: "no jti", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.ID = "" }), "system/*.rs"), code: "invalid_client", desc: "jti"},
		{name: "sub is not iss", req: backend(f.assertion(lab, nil, func(c *jwt.Claims) { c.Subject = "st-mary/audit-bot" }), "system/*.rs"), code: "invalid_client", desc: "sub"},
		{name: "client_id is not iss", req: func() tokenRequest {
			r := backend(f.assertion(lab, nil, nil), "system/*.rs")
			r.ClientID = "st-mary/audit-bot"
			return r
		}(), code: "invalid_client", desc: "client_id"},
		{name: "suspended member", req: backend(f.assertion("st-mary/old-system", nil, nil), "system/*.rs"), code: "invalid_client", desc: "not active"},
		{name: "HS256 with the public key", req: backend(hs256, "system/*.rs"), code: "invalid_client", desc: "EdDSA"},
		{name: "garbage", req: backend("not-a-jwt", "system/*.rs"), code: "invalid_client", desc: "EdDSA"},
		{name: "no assertion", req: tokenRequest{GrantType: "client_credentials", AssertionType: assertionType, Scope: "system/*.rs"}, code: "invalid_client", desc: "client_assertion"},
		{name: "wrong assertion type", req: func() tokenRequest {
			r := backend(f.assertion(lab, nil, nil), "system/*.rs")
			r.AssertionType = "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"
			return r
		}(), code: "invalid_client", desc: "client_assertion_type"},
		{name: "no grant type", req: tokenRequest{Scope: "system/*.rs"}, code: "invalid_request", wantCode: 400},
		{name: "password grant", req: tokenRequest{GrantType: "password"}, code: "unsupported_grant_type", wantCode: 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := f.post(tc.req)
			want := tc.wantCode
			if want == 0 {
				want = http.StatusUnauthorized
			}
			if status != want || str(body, "error") != tc.code {
				t.Fatalf("status %d %v; want %d %s", status, body, want, tc.code)
			}
			desc := str(body, "error_description")
			if tc.generic && desc != errAuthFailed || !strings.Contains(desc, tc.desc) {
				t.Errorf("error_description = %q; want one containing %q (generic %v)", desc, tc.desc, tc.generic)
			}
			if body["access_token"] != nil || h.Get("Cache-Control") != "no-store" {
				t.Errorf("refusal has a token or lacks no-store: %v %v", body, h)
			}
			if tc.req.Assertion != "" && strings.Contains(desc, tc.req.Assertion[:min(len(tc.req.Assertion), 16)]) {
				t.Errorf("error_description quotes the assertion: %q", desc)
			}
		})
	}
}

func TestAssertionReplay(t *testing.T) {
	f := newFixture(t, nil)
	a := f.assertion("st-mary/lab-system", nil, nil)
	if status, body, _ := f.post(backend(a, "system/*.rs")); status != 200 {
		t.Fatalf("first use: %d %v", status, body)
	}
	status, body, _ := f.post(backend(a, "system/*.rs"))
	if status != 401 || str(body, "error") != "invalid_client" || !strings.Contains(str(body, "error_description"), "jti") {
		t.Errorf("replay: %d %v; want invalid_client naming the jti", status, body)
	}
	// A forged assertion with a member's jti does not spend it.
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	forged := f.assertion("st-mary/lab-system", other, func(c *jwt.Claims) { c.ID = "fixed-jti" })
	if status, _, _ := f.post(backend(forged, "system/*.rs")); status != 401 {
		t.Fatalf("forged assertion accepted: %d", status)
	}
	good := f.assertion("st-mary/lab-system", nil, func(c *jwt.Claims) { c.ID = "fixed-jti" })
	if status, body, _ := f.post(backend(good, "system/*.rs")); status != 200 {
		t.Errorf("a forged assertion spent the member's jti: %d %v", status, body)
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(2)
	now := time.Now()
	if c.add("a", now.Add(time.Minute), now) != nil || c.add("b", now.Add(2*time.Minute), now) != nil {
		t.Fatal("adding to an empty cache failed")
	}
	if err := c.add("a", now.Add(time.Minute), now); err != errReplayed {
		t.Errorf("add(a) again = %v; want errReplayed", err)
	}
	if err := c.add("c", now.Add(time.Minute), now); err != errReplayFull {
		t.Errorf("add(c) to a full cache = %v; want errReplayFull", err)
	}
	later := now.Add(90 * time.Second) // a has expired, b has not
	if err := c.add("c", later.Add(time.Minute), later); err != nil {
		t.Errorf("add(c) after a expired = %v", err)
	}
	if err := c.add("b", later.Add(time.Minute), later); err != errReplayed {
		t.Errorf("add(b) while live = %v; want errReplayed", err)
	}
}

func TestBackendScopes(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		member, scope, want, err string
	}{
		{"st-mary/lab-system", "system/*.cruds", "system/*.cruds", ""},
		{"st-mary/lab-system", "system/*.read", "system/*.rs", ""},
		{"st-mary/lab-system", "system/Observation.rs user/*.rs openid", "system/Observation.rs", ""},
		{"st-mary/audit-bot", "system/*.cruds", "system/*.rs", ""},
		{"st-mary/audit-bot", "system/AuditEvent.rs", "system/AuditEvent.rs", ""},
		{"st-mary/audit-bot", "system/*.cud", "", "invalid_scope"},
		{"st-mary/lab-system", "user/*.rs patient/*.rs", "", "invalid_scope"},
		{"st-mary/payer-bot", "system/*.rs", "", "invalid_scope"},
		{"st-mary/lab-system", "", "", "invalid_scope"},
		{"st-mary/lab-system", "banana", "", "invalid_scope"},
		{"st-mary/lab-system", "system/Observation.rs?category=lab", "", "invalid_scope"},
	} {
		status, body, _ := f.post(backend(f.assertion(tc.member, nil, nil), tc.scope))
		if tc.err != "" {
			if status != 400 || str(body, "error") != tc.err {
				t.Errorf("%s asks %q: %d %v; want %s", tc.member, tc.scope, status, body, tc.err)
			}
			continue
		}
		if status != 200 || str(body, "scope") != tc.want {
			t.Errorf("%s asks %q: %d scope %q; want %q", tc.member, tc.scope, status, str(body, "scope"), tc.want)
		}
	}
}

func TestAllowedHook(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.Allowed = func(m Member) Scopes {
			s, _ := ParseScopes("system/Observation.r")
			return s
		}
	})
	status, body, _ := f.post(backend(f.assertion("st-mary/payer-bot", nil, nil), "system/*.rs system/Observation.rs"))
	if status != 200 || str(body, "scope") != "system/Observation.r" {
		t.Errorf("with Allowed hook: %d %v; want system/Observation.r", status, body)
	}
}

func TestTokenEndpointTransport(t *testing.T) {
	f := newFixture(t, nil)
	form := backend(f.assertion("st-mary/lab-system", nil, nil), "system/*.rs").values().Encode()
	for _, tc := range []struct {
		name, method, target, ctype, body, remote string
		status                                    int
		code, desc                                string
	}{
		{"plain HTTP from afar", "POST", "/auth/token", "application/x-www-form-urlencoded", form, "203.0.113.7:4000", 400, "invalid_request", "use HTTPS"},
		{"plain HTTP from afar, v6", "POST", "/auth/token", "application/x-www-form-urlencoded", form, "[2001:db8::1]:4000", 400, "invalid_request", "use HTTPS"},
		{"JSON body", "POST", "/auth/token", "application/json", `{"grant_type":"client_credentials"}`, "127.0.0.1:4000", 400, "invalid_request", "x-www-form-urlencoded"},
		{"parameters in the URL", "POST", "/auth/token?grant_type=client_credentials", "application/x-www-form-urlencoded", form, "127.0.0.1:4000", 400, "invalid_request", "body"},
		{"repeated parameter", "POST", "/auth/token", "application/x-www-form-urlencoded", form + "&scope=system/*.rs", "127.0.0.1:4000", 400, "invalid_request", "repeated"},
		{"bad encoding", "POST", "/auth/token", "application/x-www-form-urlencoded", "grant_type=%zz", "127.0.0.1:4000", 400, "invalid_request", "form encoding"},
		{"GET", "GET", "/auth/token", "", "", "127.0.0.1:4000", 405, "invalid_request", "POST"},
		{"HTTP Basic", "POST", "/auth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=system%2F*.rs", "127.0.0.1:4000", 401, "invalid_client", "private_key_jwt"},
		{"too large", "POST", "/auth/token", "application/x-www-form-urlencoded", "scope=" + strings.Repeat("a", maxFormBytes), "127.0.0.1:4000", 400, "invalid_request", "larger"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			r.RemoteAddr = tc.remote
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			if tc.name == "HTTP Basic" {
				r.SetBasicAuth("st-mary/lab-system", "secret")
			}
			w := httptest.NewRecorder()
			f.srv.ServeHTTP(w, r)
			var body map[string]string
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tc.status || body["error"] != tc.code || !strings.Contains(body["error_description"], tc.desc) {
				t.Errorf("%s %s = %d %s; want %d %s containing %q", tc.method, tc.target, w.Code, w.Body, tc.status, tc.code, tc.desc)
			}
			if w.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", w.Header().Get("Cache-Control"))
			}
			if tc.status == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="medledger"` {
				t.Errorf("WWW-Authenticate = %q; want the Basic scheme the client tried", w.Header().Get("WWW-Authenticate"))
			}
		})
	}
	// The same request over TLS from afar is served.
	r := httptest.NewRequest("POST", "https://node.test/auth/token", strings.NewReader(form))
	r.RemoteAddr = "203.0.113.7:4000"
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Errorf("over TLS from afar: %d %s", w.Code, w.Body)
	}
}

func TestRequireSecure(t *testing.T) {
	for _, tc := range []struct {
		remote string
		tls    bool
		ok     bool
	}{
		{"127.0.0.1:1", false, true},
		{"127.8.9.10:1", false, true},
		{"[::1]:1", false, true},
		{"[::ffff:127.0.0.1]:1", false, true},
		{"203.0.113.7:1", false, false},
		{"[2001:db8::1]:1", false, false},
		{"10.0.0.1:1", false, false},
		{"", false, false},
		{"@", false, false},
		{"localhost:1", false, false},
		{"203.0.113.7:1", true, true},
	} {
		r := httptest.NewRequest("GET", "http://node.test/", nil)
		if tc.tls {
			r = httptest.NewRequest("GET", "https://node.test/", nil)
		}
		r.RemoteAddr = tc.remote
		if err := RequireSecure(r); (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrInsecure) {
			t.Errorf("RequireSecure(%q, tls=%v) = %v; want ok=%v", tc.remote, tc.tls, err, tc.ok)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	var c Config
	err := c.Validate()
	for _, want := range []string{"Issuer is required", "Members is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() of a zero Config = %v; want it to report %q", err, want)
		}
	}
	is := testIssuer(t)
	c = Config{
		Issuer: is, Members: func(string) (Member, bool, error) { return Member{}, false, nil },
		BaseURL: "https://elsewhere.test",
		Clients: []Client{
			{ID: "a", RedirectURIs: []string{"http://app.example/cb"}},
			{ID: "a", RedirectURIs: []string{"https://app.example/cb#frag"}},
			{ID: "b"},
		},
		DemoUsers:     []DemoUser{{}},
		TokenLifetime: time.Hour,
	}
	err = c.Validate()
	for _, want := range []string{"BaseURL", "https, or http on a loopback", "listed twice", "fragment", `"b" has no redirect`, "demo user 0", "TokenLifetime"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v; want it to report %q", err, want)
		}
	}
	for _, tu := range []string{"https://node.test/", "https://node.test/auth/authorize", "https://node.test/{x}", "node.test/auth/token"} {
		c = Config{Issuer: is, Members: c.Members, TokenURL: tu}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "TokenURL") {
			t.Errorf("Validate() with TokenURL %q = %v; want it refused", tu, err)
		}
	}
	c = Config{Issuer: is, Members: c.Members}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.TokenURL != "https://node.test/auth/token" || c.BaseURL != "https://node.test" || c.TokenLifetime != MaxTokenLifetime || c.Allowed == nil {
		t.Errorf("defaults = %+v", c)
	}
}

func TestDefaultAllowed(t *testing.T) {
	for role, want := range map[string]string{
		"system":       "system/*.cruds",
		"admin":        "system/*.cruds user/*.cruds",
		"auditor":      "system/*.rs user/*.rs",
		"practitioner": "user/*.cruds",
		"patient":      "patient/*.rs patient/Consent.cruds",
		"payer":        "",
		"researcher":   "",
	} {
		if got := DefaultAllowed(Member{Roles: []string{role}}).String(); got != want {
			t.Errorf("DefaultAllowed(%s) = %q; want %q", role, got, want)
		}
	}
}

func TestParseTokenForm(t *testing.T) {
	for _, tc := range tokenFormCases {
		got, err := parseTokenForm(tc.ctype, []byte(tc.body))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Desc, tc.err) {
				t.Errorf("parseTokenForm(%q, %q) error = %v; want %q", tc.ctype, tc.body, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseTokenForm(%q, %q) = %+v, %v; want %+v", tc.ctype, tc.body, got, err, tc.want)
		}
	}
}

var tokenFormCases = []struct {
	ctype, body string
	want        tokenRequest
	err         string
}{
	{"application/x-www-form-urlencoded", "grant_type=client_credentials&scope=system%2F*.rs&client_assertion_type=" + url.QueryEscape(assertionType) + "&client_assertion=a.b.c",
		tokenRequest{GrantType: "client_credentials", Scope: "system/*.rs", AssertionType: assertionType, Assertion: "a.b.c"}, ""},
	{"application/x-www-form-urlencoded; charset=UTF-8", "grant_type=authorization_code&code=abc&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcb&client_id=app&code_verifier=v&extra=ignored",
		tokenRequest{GrantType: "authorization_code", Code: "abc", RedirectURI: "http://127.0.0.1/cb", ClientID: "app", Verifier: "v"}, ""},
	{"application/x-www-form-urlencoded", "", tokenRequest{}, ""},
	{"application/x-www-form-urlencoded", "code=a&code=b", tokenRequest{}, "repeated"},
	{"application/x-www-form-urlencoded", "code=%", tokenRequest{}, "form encoding"},
	{"text/plain", "grant_type=client_credentials", tokenRequest{}, "x-www-form-urlencoded"},
	{"", "grant_type=client_credentials", tokenRequest{}, "x-www-form-urlencoded"},
}

func FuzzParseTokenForm(f *testing.F) {
	for _, tc := range tokenFormCases {
		f.Add(tc.ctype, tc.body)
	}
	f.Fuzz(func(t *testing.T, ctype, body string) {
		got, err := parseTokenForm(ctype, []byte(body))
		if err != nil {
			if err.Code != "invalid_request" || err.Status != 400 {
				t.Fatalf("parseTokenForm error %+v; want invalid_request", err)
			}
			return
		}
		// Round trip: what was decoded encodes to the same request.
		again, err := parseTokenForm("application/x-www-form-urlencoded", []byte(got.values().Encode()))
		if err != nil || again != got {
			t.Fatalf("round trip of %+v = %+v, %v", got, again, err)
		}
	})
}

func FuzzClientAssertion(f *testing.F) {
	fx := newFixture(f, nil)
	const lab = "st-mary/lab-system"
	now := fx.clock.Now()
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	f.Add(fx.assertion(lab, nil, nil))
	f.Add(fx.assertion(lab, other, nil))
	f.Add(fx.assertion("st-mary/old-system", nil, nil))
	f.Add(fx.assertion(lab, nil, func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://elsewhere/auth/token", fx.tokenURL} }))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		m, err := fx.srv.verifyAssertion(raw, "", now)
		if err != nil {
			var oe *oauthError
			if !errors.As(err, &oe) || oe.Status >= 500 && oe.Code != "temporarily_unavailable" {
				t.Fatalf("verifyAssertion error %v; want an oauthError", err)
			}
			if len(raw) > 16 && strings.Contains(oe.Desc, raw) {
				t.Fatalf("error quotes the assertion")
			}
			return
		}
		if m.ID != lab {
			t.Fatalf("a fuzzed assertion authenticated %q", m.ID)
		}
		if _, err := fx.srv.verifyAssertion(raw, "", now); err == nil {
			t.Fatalf("an assertion was accepted twice")
		}
	})
}
