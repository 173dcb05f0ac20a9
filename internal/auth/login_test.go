package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// browser is a user agent with cookies that does not follow redirects,
// so that a test sees where it is sent.
type browser struct {
	f *fixture
	c *http.Client
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{f, &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is an answer of the authorization endpoint.
type page struct {
	status   int
	body     string
	header   http.Header
	location *url.URL // nil unless redirected
}

func (b *browser) do(req *http.Request) page {
	b.f.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := page{status: resp.StatusCode, body: string(body), header: resp.Header}
	if loc := resp.Header.Get("Location"); loc != "" {
		p.location, _ = url.Parse(loc)
	}
	return p
}

func (b *browser) get(q url.Values) page {
	req, _ := http.NewRequest("GET", b.f.ts.URL+"/auth/authorize?"+q.Encode(), nil)
	return b.do(req)
}

func (b *browser) post(form url.Values) page {
	req, _ := http.NewRequest("POST", b.f.ts.URL+"/auth/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authorizeParams returns an authorization request for the test app and
// its code verifier.
func (f *fixture) authorizeParams(scope string) (url.Values, string) {
	var b [32]byte
	rand.Read(b[:])
	verifier := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	return url.Values{
		"response_type": {"code"}, "client_id": {"app"}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {"st-123"}, "aud": {f.ts.URL + "/fhir"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}, verifier
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// hiddenFields returns the hidden fields of a sign-in page's first form.
func hiddenFields(body string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(body, -1) {
		if _, ok := v[m[1]]; !ok {
			v.Set(m[1], html.UnescapeString(m[2]))
		}
	}
	return v
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// signIn runs the authorization request with scope, signs in with the
// form fields kv (member and passphrase, or demo) and returns the
// redirect and the code verifier.
func (f *fixture) signIn(scope string, kv ...string) (page, string) {
	f.t.Helper()
	b := f.browser()
	q, verifier := f.authorizeParams(scope)
	p := b.get(q)
	if p.status != 200 {
		f.t.Fatalf("GET authorize: %d %s", p.status, p.body)
	}
	return b.post(with(hiddenFields(p.body), kv...)), verifier
}

// codeOf returns the code of a redirect to the app, failing the test if
// it is not one.
func (f *fixture) codeOf(p page) string {
	f.t.Helper()
	if p.status != http.StatusSeeOther || p.location == nil || !strings.HasPrefix(p.location.String(), redirectURI+"?") {
		f.t.Fatalf("sign-in answered %d %v %s; want a redirect to the app", p.status, p.location, p.body)
	}
	q := p.location.Query()
	if q.Get("state") != "st-123" || q.Get("code") == "" || q.Get("error") != "" {
		f.t.Fatalf("redirect %v; want a code and the state", p.location)
	}
	return q.Get("code")
}

func redeem(code, verifier string) tokenRequest {
	return tokenRequest{GrantType: "authorization_code", Code: code, RedirectURI: redirectURI, ClientID: "app", Verifier: verifier}
}

func TestAuthCodePatient(t *testing.T) {
	f := newFixture(t, nil)
	p, verifier := f.signIn("launch/patient patient/*.read openid fhirUser offline_access",
		"member", "st-mary/pat-1", "passphrase", "correct horse")
	code := f.codeOf(p)
	status, body, h := f.post(redeem(code, verifier))
	if status != 200 || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("redeem: %d %v %v", status, body, h)
	}
	if str(body, "patient") != "p1" || str(body, "scope") != "launch/patient patient/*.rs" || str(body, "token_type") != "Bearer" || body["id_token"] != nil {
		t.Errorf("token response = %v", body)
	}
	pr, err := f.is.Verify(str(body, "access_token"))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Member != "st-mary/pat-1" || pr.Patient != "p1" || pr.FHIRUser != "Patient/p1" || pr.ClientID != "app" || !pr.Scopes.Allows("Observation", "rs").Patient || pr.Scopes.Allows("Observation", "r").User {
		t.Errorf("principal = %+v", pr)
	}
	logs := f.log.String()
	for _, secret := range []string{code, verifier, "correct horse", str(body, "access_token")} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds a secret (%.8s...):\n%s", secret, logs)
		}
	}
}

func TestAuthCodePractitioner(t *testing.T) {
	f := newFixture(t, nil)
	p, verifier := f.signIn("user/*.rs patient/*.rs launch/patient", "member", "st-mary/dr-jones", "passphrase", "battery staple")
	status, body, _ := f.post(redeem(f.codeOf(p), verifier))
	if status != 200 || str(body, "scope") != "user/*.rs" || body["patient"] != nil {
		t.Fatalf("redeem: %d %v; want user/*.rs and no patient", status, body)
	}
	pr, err := f.is.Verify(str(body, "access_token"))
	if err != nil || pr.FHIRUser != "Practitioner/d1" || pr.Patient != "" || !pr.HasRole("practitioner") {
		t.Errorf("principal = %+v, %v", pr, err)
	}
	// A practitioner asking for patient scopes only gets nothing.
	p, _ = f.signIn("patient/*.rs", "member", "st-mary/dr-jones", "passphrase", "battery staple")
	if p.status != http.StatusSeeOther || p.location.Query().Get("error") != "invalid_scope" || p.location.Query().Get("state") != "st-123" {
		t.Errorf("patient scopes for a practitioner: %d %v; want invalid_scope", p.status, p.location)
	}
}

func TestAuthCodeRedeemRefused(t *testing.T) {
	f := newFixture(t, nil)
	signIn := func() (string, string) {
		p, v := f.signIn("user/*.rs", "member", "st-mary/dr-jones", "passphrase", "battery staple")
		return f.codeOf(p), v
	}
	otherVerifier := strings.Repeat("A", 43)
	for _, tc := range []struct {
		name   string
		steps  func(code, verifier string) []tokenRequest // the last must fail
		before func()
		status int
		err    string
	}{
		{name: "wrong verifier, then the right one", steps: func(c, v string) []tokenRequest {
			bad := redeem(c, otherVerifier)
			return []tokenRequest{bad, redeem(c, v)}
		}, status: 400, err: "invalid_grant"},
		{name: "code reuse", steps: func(c, v string) []tokenRequest { return []tokenRequest{redeem(c, v), redeem(c, v)} }, status: 400, err: "invalid_grant"},
		{name: "expired code", before: func() { f.clock.Add(codeLifetime + time.Second) },
			steps: func(c, v string) []tokenRequest { return []tokenRequest{redeem(c, v)} }, status: 400, err: "invalid_grant"},
		{name: "redirect_uri mismatch", steps: func(c, v string) []tokenRequest {
			r := redeem(c, v)
			r.RedirectURI = "http://127.0.0.1:9/other"
			return []tokenRequest{r}
		}, status: 400, err: "invalid_grant"},
		{name: "another client", steps: func(c, v string) []tokenRequest {
			r := redeem(c, v)
			r.ClientID = "other-app"
			return []tokenRequest{r}
		}, status: 400, err: "invalid_grant"},
		{name: "unknown client", steps: func(c, v string) []tokenRequest {
			r := redeem(c, v)
			r.ClientID = "nobody"
			return []tokenRequest{r}
		}, status: 401, err: "invalid_client"},
		{name: "no verifier", steps: func(c, v string) []tokenRequest { return []tokenRequest{redeem(c, "")} }, status: 400, err: "invalid_request"},
		{name: "client assertion from a public client", steps: func(c, v string) []tokenRequest {
			r := redeem(c, v)
			r.AssertionType, r.Assertion = assertionType, "a.b.c"
			return []tokenRequest{r}
		}, status: 401, err: "invalid_client"},
		{name: "member suspended after sign-in", before: func() {
			f.mu.Lock()
			m := f.members["st-mary/dr-jones"]
			m.Active = false
			f.members["st-mary/dr-jones"] = m
			f.mu.Unlock()
		}, steps: func(c, v string) []tokenRequest { return []tokenRequest{redeem(c, v)} }, status: 400, err: "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, verifier := signIn()
			if tc.before != nil {
				tc.before()
			}
			steps := tc.steps(code, verifier)
			for i, req := range steps {
				status, body, _ := f.post(req)
				last := i == len(steps)-1
				if last && (status != tc.status || str(body, "error") != tc.err || body["access_token"] != nil) {
					t.Errorf("step %d: %d %v; want %d %s", i, status, body, tc.status, tc.err)
				}
				if !last && tc.name == "code reuse" && status != 200 {
					t.Fatalf("first redemption: %d %v", status, body)
				}
			}
		})
	}
}

func TestAuthorizeRefused(t *testing.T) {
	f := newFixture(t, nil)
	base, _ := f.authorizeParams("user/*.rs")
	for _, tc := range []struct {
		name string
		q    url.Values
		err  string // "" means an error page, not a redirect
	}{
		{"unknown client", with(base, "client_id", "nobody"), ""},
		{"unregistered redirect", with(base, "redirect_uri", "https://evil.example/cb"), ""},
		{"redirect prefix", with(base, "redirect_uri", redirectURI+"/more"), ""},
		{"no client", func() url.Values { v := with(base); v.Del("client_id"); return v }(), ""},
		{"repeated redirect", func() url.Values { v := with(base); v.Add("redirect_uri", redirectURI); return v }(), ""},
		{"wrong aud", with(base, "aud", "https://elsewhere.example/fhir"), "invalid_request"},
		{"no PKCE", func() url.Values { v := with(base); v.Del("code_challenge"); v.Del("code_challenge_method"); return v }(), "invalid_request"},
		{"plain PKCE", with(base, "code_challenge_method", "plain"), "invalid_request"},
		{"short challenge", with(base, "code_challenge", "abc"), "invalid_request"},
		{"implicit flow", with(base, "response_type", "token"), "unsupported_response_type"},
		{"no state", func() url.Values { v := with(base); v.Del("state"); return v }(), "invalid_request"},
		{"bad scope", with(base, "scope", "banana"), "invalid_scope"},
		{"no resource scope", with(base, "scope", "openid fhirUser"), "invalid_scope"},
		{"EHR launch", with(base, "launch", "xyz"), "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := f.browser().get(tc.q)
			if tc.err == "" {
				if p.status != 400 || p.location != nil || !strings.Contains(p.body, "not valid") {
					t.Errorf("%d %v; want an error page and no redirect", p.status, p.location)
				}
				return
			}
			if p.status != http.StatusFound || p.location == nil || !strings.HasPrefix(p.location.String(), redirectURI+"?") {
				t.Fatalf("%d %v; want a redirect to the app", p.status, p.location)
			}
			q := p.location.Query()
			if q.Get("error") != tc.err || q.Get("code") != "" || (tc.q.Get("state") != "" && q.Get("state") != "st-123") {
				t.Errorf("redirect %v; want error=%s and the state", p.location, tc.err)
			}
		})
	}
}

func TestSignInFormForgery(t *testing.T) {
	f := newFixture(t, nil)
	good := func() (*browser, url.Values) {
		b := f.browser()
		q, _ := f.authorizeParams("user/*.rs")
		p := b.get(q)
		return b, with(hiddenFields(p.body), "member", "st-mary/dr-jones", "passphrase", "battery staple")
	}
	for _, tc := range []struct {
		name string
		run  func() page
	}{
		{"no cookie", func() page { _, form := good(); return f.browser().post(form) }},
		{"no CSRF token", func() page { b, form := good(); form.Del("csrf"); return b.post(form) }},
		{"another browser's token", func() page {
			_, form := good()
			b, _ := good() // has its own cookie
			return b.post(form)
		}},
		{"request edited after the page", func() page { b, form := good(); form.Set("scope", "user/*.cruds"); return b.post(form) }},
		{"timestamp edited", func() page { b, form := good(); form.Set("ts", "1"); return b.post(form) }},
		{"expired form", func() page { b, form := good(); f.clock.Add(formLifetime + time.Minute); return b.post(form) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := f.loginCalls()
			p := tc.run()
			if p.status != http.StatusForbidden || p.location != nil || !strings.Contains(p.body, "Start signing in again") {
				t.Errorf("%d %v; want the stale form page", p.status, p.location)
			}
			if f.loginCalls() != before {
				t.Errorf("the passphrase was checked for a forged form")
			}
		})
	}
}

func TestDemoPicker(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	q, verifier := f.authorizeParams("patient/*.rs")
	p := b.get(q)
	if !strings.Contains(p.body, `name="demo" value="st-mary/pat-1"`) || !strings.Contains(p.body, "Pat One (patient)") {
		t.Fatalf("no demo picker on the page:\n%s", p.body)
	}
	form := hiddenFields(p.body)
	if p := b.post(with(form, "demo", "st-mary/dr-jones")); p.status != 400 || !strings.Contains(p.body, html.EscapeString(msgNotDemo)) {
		t.Errorf("a member not in the demo list: %d; want %q", p.status, msgNotDemo)
	}
	code := f.codeOf(b.post(with(form, "demo", "st-mary/pat-1")))
	status, body, _ := f.post(redeem(code, verifier))
	if status != 200 || str(body, "patient") != "p1" || str(body, "scope") != "patient/*.rs" {
		t.Errorf("demo sign-in token: %d %v", status, body)
	}
	if f.loginCalls() != 0 {
		t.Errorf("the demo sign-in checked a passphrase")
	}

	// Without demo users there is no picker, and a posted one is refused.
	f = newFixture(t, func(c *Config) { c.DemoUsers = nil })
	b = f.browser()
	q, _ = f.authorizeParams("patient/*.rs")
	p = b.get(q)
	if strings.Contains(p.body, "Demo users") {
		t.Errorf("a demo picker on a node without demo users")
	}
	if p := b.post(with(hiddenFields(p.body), "demo", "st-mary/pat-1")); p.status != 400 || p.location != nil {
		t.Errorf("demo sign-in without demo users: %d %v", p.status, p.location)
	}

	// Demo users only: no passphrase form, and a posted passphrase is
	// not checked.
	f = newFixture(t, func(c *Config) { c.Login = nil })
	b = f.browser()
	q, _ = f.authorizeParams("patient/*.rs")
	p = b.get(q)
	if strings.Contains(p.body, `type="password"`) || !strings.Contains(p.body, "Demo users") {
		t.Errorf("demo-only node: want the picker and no passphrase form")
	}
	if p := b.post(with(hiddenFields(p.body), "member", "st-mary/dr-jones", "passphrase", "battery staple")); p.status != 400 || !strings.Contains(p.body, html.EscapeString(msgNoPassword)) {
		t.Errorf("passphrase on a demo-only node: %d; want %q", p.status, msgNoPassword)
	}
}

func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	q, _ := f.authorizeParams("user/*.rs")
	form := hiddenFields(b.get(q).body)
	try := func(member, pass string) page { return b.post(with(form, "member", member, "passphrase", pass)) }
	for _, member := range []string{"st-mary/dr-jones", "st-mary/nobody"} {
		for i := range loginFailures {
			if p := try(member, "wrong"); p.status != 400 || !strings.Contains(p.body, html.EscapeString(msgLoginFailed)) {
				t.Fatalf("%s attempt %d: %d; want %q", member, i, p.status, msgLoginFailed)
			}
		}
		calls := f.loginCalls()
		p := try(member, "battery staple")
		if p.status != http.StatusTooManyRequests || !strings.Contains(p.body, html.EscapeString(msgRateLimited)) {
			t.Errorf("%s after %d failures: %d; want 429 %q", member, loginFailures, p.status, msgRateLimited)
		}
		if f.loginCalls() != calls {
			t.Errorf("%s: the passphrase was checked while rate limited", member)
		}
	}
	// Other members are not affected; the limit lifts after the window.
	if p := try("st-mary/pat-1", "correct horse"); p.status != http.StatusSeeOther {
		t.Errorf("another member while one is limited: %d", p.status)
	}
	f.clock.Add(loginWindow)
	if p := b.post(with(hiddenFields(b.get(q).body), "member", "st-mary/dr-jones", "passphrase", "battery staple")); p.status != http.StatusSeeOther {
		t.Errorf("after the window: %d %s", p.status, p.body)
	}
	if logs := f.log.String(); strings.Contains(logs, "st-mary/nobody") || strings.Contains(logs, "battery staple") {
		t.Errorf("the log names a non-member or holds a passphrase:\n%s", logs)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser()
	q, _ := f.authorizeParams("user/*.rs")
	form := hiddenFields(b.get(q).body)
	unknown := b.post(with(form, "member", "st-mary/nobody", "passphrase", "battery staple"))
	wrong := b.post(with(form, "member", "st-mary/dr-jones", "passphrase", "nope"))
	// The pages differ only in the member id echoed and the form token.
	norm := func(p page, member string) string {
		s := strings.ReplaceAll(p.body, `value="`+member+`"`, `value="MEMBER"`)
		return regexp.MustCompile(`name="(csrf|ts)" value="[^"]*"`).ReplaceAllString(s, "")
	}
	if norm(unknown, "st-mary/nobody") != norm(wrong, "st-mary/dr-jones") || unknown.status != wrong.status {
		t.Errorf("unknown member and wrong passphrase answer differently: %d vs %d", unknown.status, wrong.status)
	}
	if strings.Contains(wrong.body, "nope") || strings.Contains(unknown.body, "battery staple") {
		t.Errorf("the page echoes the passphrase")
	}
	// Ids that cannot be members never reach Login.
	calls := f.loginCalls()
	for _, id := range []string{"st-mary/../dr-jones", "./x", "a b", strings.Repeat("a", 200)} {
		if p := b.post(with(form, "member", id, "passphrase", "x")); p.status != 400 || !strings.Contains(p.body, html.EscapeString(msgLoginFailed)) {
			t.Errorf("member id %q: %d; want %q", id, p.status, msgLoginFailed)
		}
	}
	if f.loginCalls() != calls {
		t.Errorf("Login was asked about ids that cannot be members")
	}
	// A suspended member with the right passphrase is told so.
	if p := b.post(with(form, "member", "st-mary/dr-gone", "passphrase", "old pass")); p.status != http.StatusForbidden || !strings.Contains(p.body, html.EscapeString(msgInactive)) {
		t.Errorf("suspended member: %d; want 403 %q", p.status, msgInactive)
	}
}

func TestCancel(t *testing.T) {
	f := newFixture(t, nil)
	p, _ := f.signIn("user/*.rs", "action", "cancel")
	if p.status != http.StatusSeeOther || p.location.Query().Get("error") != "access_denied" || p.location.Query().Get("state") != "st-123" {
		t.Errorf("cancel: %d %v; want access_denied with the state", p.status, p.location)
	}
}

func TestSignInPage(t *testing.T) {
	f := newFixture(t, nil)
	q, _ := f.authorizeParams("user/*.rs")
	p := f.browser().get(q)
	for _, want := range []string{`<html lang="en">`, "<title>", "<main>", "<h1>", "Test App", "user/*.rs"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("the sign-in page lacks %q", want)
		}
	}
	// Every visible control has a label.
	for _, m := range regexp.MustCompile(`<input ([^>]*)>`).FindAllStringSubmatch(p.body, -1) {
		if strings.Contains(m[1], `type="hidden"`) {
			continue
		}
		id := regexp.MustCompile(`id="([^"]+)"`).FindStringSubmatch(m[1])
		if id == nil || !strings.Contains(p.body, `<label for="`+id[1]+`">`) {
			t.Errorf("control without a label: <input %s>", m[1])
		}
	}
	for _, m := range regexp.MustCompile(`<button [^>]*>([^<]*)</button>`).FindAllStringSubmatch(p.body, -1) {
		if strings.TrimSpace(m[1]) == "" {
			t.Errorf("button without text: %s", m[0])
		}
	}
	if strings.Contains(p.body, "<script") {
		t.Errorf("the sign-in page has a script")
	}
	// The inline style is the one the CSP allows by hash.
	style := regexp.MustCompile(`(?s)<style>(.*?)</style>`).FindStringSubmatch(p.body)
	sum := sha256.Sum256([]byte(style[1]))
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, base64.StdEncoding.EncodeToString(sum[:])) || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q does not allow the page's style", csp)
	}
	if p.header.Get("Cache-Control") != "no-store" || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers = %v", p.header)
	}
	var cookie *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		cookie = c
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode || cookie.Name != cookiePlain {
		t.Errorf("sign-in cookie = %+v", cookie)
	}

	// Over TLS the cookie is a Secure __Host- cookie.
	r := httptest.NewRequest("GET", "https://node.test/auth/authorize?"+q.Encode(), nil)
	r.RemoteAddr = "203.0.113.7:4000"
	w := httptest.NewRecorder()
	f.srv.ServeHTTP(w, r)
	cs := w.Result().Cookies()
	if w.Code != 200 || len(cs) != 1 || cs[0].Name != cookieSecure || !cs[0].Secure || cs[0].Path != "/" {
		t.Errorf("over TLS: %d cookies %+v", w.Code, cs)
	}

	// Plain HTTP from afar gets no sign-in page, and a posted form is
	// not checked.
	for _, method := range []string{"GET", "POST"} {
		r := httptest.NewRequest(method, "/auth/authorize?"+q.Encode(), strings.NewReader(hiddenFields(p.body).Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = "203.0.113.7:4000"
		w := httptest.NewRecorder()
		f.srv.ServeHTTP(w, r)
		if w.Code != 400 || !strings.Contains(w.Body.String(), "Use HTTPS") || w.Header().Get("Location") != "" {
			t.Errorf("%s over plain HTTP from afar: %d", method, w.Code)
		}
	}
}

func TestLimiter(t *testing.T) {
	l := newLimiter(2, time.Minute, 2)
	now := time.Now()
	if !l.attempt("a", now) || !l.attempt("a", now) || l.attempt("a", now) {
		t.Errorf("a: want two attempts allowed, then refused")
	}
	if !l.attempt("b", now) {
		t.Errorf("b refused")
	}
	if l.attempt("c", now) {
		t.Errorf("c allowed in a full table; want fail closed")
	}
	later := now.Add(time.Minute)
	if !l.attempt("c", later) || !l.attempt("a", later) {
		t.Errorf("after the window: want room again")
	}
	l.succeeded("a")
	if !l.attempt("a", later) || !l.attempt("a", later) {
		t.Errorf("after success: want a's count reset")
	}
}
