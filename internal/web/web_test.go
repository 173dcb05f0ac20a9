package web_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// browser is an HTTP client with cookies, like a browser without
// JavaScript.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	last *http.Response
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar}}
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = resp
	return resp.StatusCode, string(body)
}

func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.c.PostForm(b.base+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	b.last = resp
	return resp.StatusCode, string(body)
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// signIn signs in through the dashboard: /app/login, the node's sign-in
// page (its demo picker), the callback.
func (b *browser) signIn(member string) {
	b.t.Helper()
	st, page := b.get("/app/login")
	if st != 200 || !strings.Contains(page, "Demo users") {
		b.t.Fatalf("sign-in page: %d %.500s", st, page)
	}
	form := url.Values{}
	i := strings.Index(page, `<section aria-labelledby="demo-heading">`)
	for _, m := range hiddenRE.FindAllStringSubmatch(page[i:], -1) {
		if form.Get(m[1]) == "" {
			form.Set(m[1], htmlUnescape(m[2]))
		}
	}
	form.Set("demo", member)
	st, page = b.post("/auth/authorize", form)
	if st != 200 || b.last.Request.URL.Path != "/app/" {
		b.t.Fatalf("sign in as %s: %d at %s: %.800s", member, st, b.last.Request.URL, page)
	}
	if !strings.Contains(page, "Signed in as <strong>"+member+"</strong>") {
		b.t.Fatalf("after signing in as %s: %.800s", member, page)
	}
}

func htmlUnescape(s string) string {
	r := strings.NewReplacer("&amp;", "&", "&#43;", "+", "&lt;", "<", "&gt;", ">", "&#34;", `"`, "&#39;", "'", "&quot;", `"`)
	return r.Replace(s)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the page: %.300s", page)
	}
	return m[1]
}

func TestSignInPagesAndHeaders(t *testing.T) {
	d := startDemoNode(t, 2)
	pages := map[string][]string{
		d.member("demo-patient"):    {"/app/", "/app/record", "/app/record?category=results", "/app/consents", "/app/access-log", "/app/access-log?offset=50"},
		d.member("demo-clinician"):  {"/app/", "/app/patients", "/app/patients?q=" + url.QueryEscape(d.name), "/app/break-glass?patient=" + d.patient},
		d.member("privacy-officer"): {"/app/", "/app/alerts", "/app/activity", "/app/audit", "/app/audit?agent=" + url.QueryEscape(d.admin) + "&offset=0", "/app/ledger", "/app/ledger/blocks/1", "/app/ledger/verify"},
		d.admin:                     {"/app/", "/app/admin/members", "/app/admin/policies", "/app/admin/policies/consent.permit.custom", "/app/admin/models", "/app/ledger"},
	}
	for member, paths := range pages {
		b := newBrowser(t, d.url)
		b.signIn(member)
		var sess *http.Cookie
		for _, c := range b.c.Jar.Cookies(b.last.Request.URL) {
			if c.Name == "medledger-session" {
				sess = c
			}
		}
		if sess == nil {
			t.Fatalf("%s: no session cookie", member)
		}
		for _, p := range paths {
			st, body := b.get(p)
			if st != 200 {
				t.Errorf("%s GET %s: %d %.600s", member, p, st, body)
				continue
			}
			h := b.last.Header
			if !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'self'") || h.Get("X-Frame-Options") != "DENY" || h.Get("Cache-Control") != "no-store" {
				t.Errorf("%s GET %s: security headers %v", member, p, h)
			}
			for _, bad := range []string{"goroutine ", "panic", ".go:", "runtime error"} {
				if strings.Contains(body, bad) {
					t.Errorf("%s GET %s: page holds %q", member, p, bad)
				}
			}
			// Every form control has a label.
			for _, m := range regexp.MustCompile(`<(?:input|select|textarea)[^>]*\bid="([^"]+)"`).FindAllStringSubmatch(body, -1) {
				if !strings.Contains(body, `for="`+m[1]+`"`) {
					t.Errorf("%s GET %s: control #%s has no label", member, p, m[1])
				}
			}
		}
		// A page of another role is refused with a page, not a stack.
		other := "/app/admin/policies"
		if member == d.admin {
			other = "/app/consents"
		}
		if st, body := b.get(other); st != 403 || !strings.Contains(body, "Not for your role") {
			t.Errorf("%s GET %s: %d; want 403 page", member, other, st)
		}
	}
}

func TestSessionCookieAndCSRF(t *testing.T) {
	d := startDemoNode(t, 1)
	b := newBrowser(t, d.url)
	b.signIn(d.member("demo-patient"))
	// The cookie's attributes, as sent.
	resp, err := http.Get(d.url + "/app/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	st, page := b.get("/app/consents")
	if st != 200 {
		t.Fatal(st)
	}
	tok := csrfOf(t, page)
	form := url.Values{"actor_kind": {"practitioner"}, "actor": {"demo-clinician"}, "purpose": {"TREAT"}}
	if st, body := b.post("/app/consents", form); st != 403 || !strings.Contains(body, "Form expired") {
		t.Errorf("POST without CSRF token: %d; want 403", st)
	}
	form.Set("csrf", tok+"x")
	if st, _ := b.post("/app/consents", form); st != 403 {
		t.Errorf("POST with a wrong CSRF token: %d; want 403", st)
	}
	// A cross-site request is refused even with the token.
	form.Set("csrf", tok)
	req, _ := http.NewRequest("POST", d.url+"/app/consents", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("cross-site POST: %d; want 403", resp.StatusCode)
	}
	// Signing out ends the session on the server.
	if st, _ := b.post("/app/logout", url.Values{"csrf": {tok}}); st != 200 || b.last.Request.URL.Path != "/" {
		t.Errorf("sign out: %d at %s", st, b.last.Request.URL)
	}
	b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if st, _ := b.get("/app/record"); st != http.StatusSeeOther || !strings.HasPrefix(b.last.Header.Get("Location"), "/app/login") {
		t.Errorf("after sign-out: %d %s; want a redirect to sign in", st, b.last.Header.Get("Location"))
	}
}

func TestSessionCookieAttributes(t *testing.T) {
	d := startDemoNode(t, 1)
	jar := &recordingJar{}
	c := &http.Client{Jar: jar}
	b := &browser{t: t, base: d.url, c: c}
	b.signIn(d.member("demo-patient"))
	var found bool
	for _, sc := range jar.set {
		if sc.Name == "medledger-session" && sc.Value != "" {
			found = true
			if !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", sc)
			}
		}
	}
	if !found {
		t.Error("no session cookie was set")
	}
}

// recordingJar is a cookie jar that also keeps every cookie set.
type recordingJar struct {
	set []*http.Cookie
	jar *cookiejar.Jar
}

func (j *recordingJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	if j.jar == nil {
		j.jar, _ = cookiejar.New(nil)
	}
	j.set = append(j.set, cs...)
	j.jar.SetCookies(u, cs)
}

func (j *recordingJar) Cookies(u *url.URL) []*http.Cookie {
	if j.jar == nil {
		j.jar, _ = cookiejar.New(nil)
	}
	return j.jar.Cookies(u)
}

// The dashboard is mounted at / and /app/ without taking the node's other
// routes.
func TestOtherRoutesUnchanged(t *testing.T) {
	d := startDemoNode(t, 1)
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html", 200},
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "text/plain", 200},
		{"/v1/status", "application/json", 200},
		{"/v1/sth", "application/json", 200},
		{"/v1/nope", "application/json", 404},
		{"/fhir/metadata", "application/fhir+json", 200},
		{"/fhir/Patient", "application/fhir+json", 401},
		{"/.well-known/smart-configuration", "application/json", 200},
		{"/app/nope", "text/html", 404},
		{"/app/record", "", 200}, // a redirect to sign in, then the sign-in page
		{"/app/static/app.css", "text/css", 200},
		{"/app/static/../web.go", "text/html", 404},
	} {
		resp, err := http.Get(d.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %q; want %d %q: %.200s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype, body)
		}
	}
}

// The vendored front-end files are the ones scripts/web-assets.sh wrote
// (its MANIFEST); scripts/web-assets.sh --check compares them with npm.
func TestVendoredAssetsMatchManifest(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "internal", "web", "static", "vendor")
	b, err := os.ReadFile(filepath.Join(dir, "MANIFEST"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			t.Fatalf("MANIFEST line %q", line)
		}
		got, err := os.ReadFile(filepath.Join(dir, f[1]))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s is not the file of %s that the MANIFEST names: run scripts/web-assets.sh", f[1], f[2])
		}
		n++
	}
	entries, _ := os.ReadDir(dir)
	if n != len(entries)-1 {
		t.Errorf("MANIFEST names %d files, the directory holds %d besides it", n, len(entries)-1)
	}
}

// Forms answer their problems on the page (422), and the policy editor's
// as-you-type check answers only its fragment to htmx.
func TestFormErrorsAndFragments(t *testing.T) {
	d := startDemoNode(t, 1)
	pat := newBrowser(t, d.url)
	pat.signIn(d.member("demo-patient"))
	_, page := pat.get("/app/consents")
	tok := csrfOf(t, page)
	st, body := pat.post("/app/consents", url.Values{"csrf": {tok}, "actor_kind": {"practitioner"}, "actor": {"no such/id"}, "purpose": {"TREAT"}, "end": {"2001-01-01"}})
	if st != 422 || !strings.Contains(body, "Enter the clinician") || !strings.Contains(body, `role="alert"`) {
		t.Errorf("consent with a bad actor: %d %.600s", st, body)
	}

	clin := newBrowser(t, d.url)
	clin.signIn(d.member("demo-clinician"))
	_, page = clin.get("/app/break-glass?patient=" + d.patient)
	st, body = clin.post("/app/break-glass", url.Values{"csrf": {csrfOf(t, page)}, "patient": {d.patient}, "reason": {"short"}, "minutes": {"60"}, "ack": {"yes"}})
	if st != 422 || !strings.Contains(body, "10 to 1000 characters") {
		t.Errorf("break-glass with a short reason: %d %.600s", st, body)
	}
	// Refused, not an error page, and the same for a patient that does not exist.
	st1, b1 := clin.get("/app/patients/" + d.patient)
	st2, b2 := clin.get("/app/patients/no-such-patient")
	if st1 != 404 || st2 != 404 || !strings.Contains(b1, "No access to this record") || !strings.Contains(b2, "No access to this record") {
		t.Errorf("clinician without access: %d, unknown patient: %d", st1, st2)
	}

	adm := newBrowser(t, d.url)
	adm.signIn(d.admin)
	_, page = adm.get("/app/admin/policies/notary.anchor")
	req, _ := http.NewRequest("POST", d.url+"/app/admin/policies/notary.anchor/check", strings.NewReader(url.Values{"rule": {`signer.nope(`}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", csrfOf(t, page))
	resp, err := adm.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(strings.TrimSpace(string(b)), `<div id="check-result"`) || !strings.Contains(string(b), "does not check") {
		t.Errorf("htmx policy check: %d %.500s", resp.StatusCode, b)
	}
	// Saving a rule that does not check changes nothing.
	st, body = adm.post("/app/admin/policies/notary.anchor", url.Values{"csrf": {csrfOf(t, page)}, "rule": {"1 + 1"}, "action": {"save"}})
	if st != 422 || !strings.Contains(body, "was not saved") {
		t.Errorf("saving a rule that does not check: %d %.500s", st, body)
	}
	if _, body = adm.get("/app/admin/policies"); strings.Contains(body, "(changed)") {
		t.Error("a policy changed after a refused save")
	}
}
