package web

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"

	"github.com/medledger/medledger/internal/auth"
)

// Roles, and the pseudo-role of the ledger explorer (auditors and
// administrators).
const (
	rolePatient      = "patient"
	rolePractitioner = "practitioner"
	roleAuditor      = "auditor"
	roleAdmin        = "admin"
	roleExplorer     = "explorer"
)

// scope is what the dashboard asks for. The authorization server grants
// each user the part their roles allow: a patient patient/ scopes for
// their own record (and Consent writes), staff user/ scopes.
const scope = "launch/patient patient/*.rs patient/Consent.cruds user/*.cruds"

// call is a signed-in request.
type call struct {
	sess *session
	p    *auth.Principal
}

func allowed(role string, p *auth.Principal) bool {
	switch role {
	case "":
		return true
	case rolePatient:
		return p.HasRole(rolePatient) && p.Patient != ""
	case roleExplorer:
		return p.HasRole(roleAuditor) || p.HasRole(roleAdmin)
	}
	return p.HasRole(role)
}

// maxFormBytes bounds a posted form.
const maxFormBytes = 64 << 10

// page wraps a handler for signed-in users holding role ("" for any): it
// finds the session (or sends the browser to sign in), refreshes the
// user from the ledger, checks the CSRF token of a POST, and the role.
func (s *Server) page(role string, f pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sess *session
		if ck, err := r.Cookie(s.cookieName(r, sessionCookie)); err == nil {
			sess, _ = s.sessions.get(ck.Value)
		}
		if sess == nil {
			if r.Method == http.MethodGet {
				if r.Header.Get("HX-Request") == "true" {
					w.Header().Set("HX-Redirect", "/app/login?next="+url.QueryEscape(r.URL.RequestURI()))
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, "/app/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			s.fail(w, r, http.StatusUnauthorized, "Sign in again", "Your session has ended (after a while without use, or because the node restarted). Nothing was changed. Sign in again and repeat what you were doing.")
			return
		}
		p, ok, err := s.refresh(sess.principal())
		switch {
		case err != nil:
			s.log.Error("read member", "err", err)
			s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The ledger could not be read. Try again in a moment.")
			return
		case !ok:
			s.sessions.end(sess)
			s.clearCookie(w, r, sessionCookie)
			s.fail(w, r, http.StatusForbidden, "Signed out", "Your membership is suspended or ended, so you were signed out. Ask your organisation's administrator.")
			return
		}
		sess.setPrincipal(p)
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
			if err := r.ParseForm(); err != nil {
				s.fail(w, r, http.StatusBadRequest, "Form not accepted", "The form could not be read (it may be too large). Go back and try again.")
				return
			}
			tok := r.PostForm.Get("csrf")
			if tok == "" {
				tok = r.Header.Get("X-CSRF-Token")
			}
			if !sess.checkCSRF(tok) {
				s.fail(w, r, http.StatusForbidden, "Form expired", "This form is out of date or did not come from this dashboard, so it was not acted on. Go back, reload the page and try again.")
				return
			}
		}
		if !allowed(role, p) {
			s.fail(w, r, http.StatusForbidden, "Not for your role", "This page is for "+roleName(role)+". Use the menu to find the pages for your role.")
			return
		}
		f(w, r, &call{sess: sess, p: p})
	})
}

func roleName(role string) string {
	switch role {
	case rolePatient:
		return "patients"
	case rolePractitioner:
		return "clinicians"
	case roleAuditor:
		return "privacy officers and auditors"
	case roleExplorer:
		return "privacy officers, auditors and administrators"
	case roleAdmin:
		return "administrators"
	}
	return role
}

// refresh re-reads the member behind a session's principal: a suspended
// or removed member's session ends (ok false), and changed roles take
// effect at once. The scopes are those the token granted, narrowed to
// what the member's current roles allow.
func (s *Server) refresh(p *auth.Principal) (*auth.Principal, bool, error) {
	m, ok, err := s.deps.Machine.Member(s.deps.State, p.Member)
	if err != nil || !ok || !m.Active() {
		return nil, false, err
	}
	if m.Org == p.Org && slices.Equal(m.Roles, p.Roles) && m.FHIRUser == p.FHIRUser {
		return p, true, nil
	}
	am := auth.Member{ID: m.ID, Org: m.Org, Roles: m.Roles, FHIRUser: m.FHIRUser, Active: true}
	np := *p
	np.Org, np.Roles, np.FHIRUser = m.Org, slices.Clone(m.Roles), m.FHIRUser
	np.Scopes = auth.DefaultAllowed(am).Narrow(p.Scopes)
	np.Patient = ""
	if id, ok := strings.CutPrefix(m.FHIRUser, "Patient/"); ok && m.HasRole(rolePatient) {
		np.Patient = id
	}
	return &np, true, nil
}

func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: s.cookieName(r, name), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.tls(r), SameSite: http.SameSiteLaxMode,
	})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	s.setCookie(w, r, name, "", -1)
}

// safeNext returns next if it is a path on the dashboard, else "/app/".
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/app/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, "/app/login") || strings.HasPrefix(next, CallbackPath) {
		return "/app/"
	}
	return next
}

// serveLogin starts signing in: it sends the browser to the node's
// authorization endpoint with a fresh state and PKCE challenge.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	browser := randomToken()
	verifier := randomToken() + randomToken()[:10] // 53 characters
	state, ok := s.sessions.startLogin(browser, verifier, safeNext(r.URL.Query().Get("next")))
	if !ok {
		s.fail(w, r, http.StatusServiceUnavailable, "Try again shortly", "Too many sign-ins are in progress on this node. Try again in a minute.")
		return
	}
	s.setCookie(w, r, loginCookie, browser, int(pendingLifetime.Seconds()))
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {s.cfg.ClientID},
		"redirect_uri":          {s.redirect},
		"scope":                 {scope},
		"state":                 {state},
		"aud":                   {s.deps.Issuer.Audience()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	securityHeaders(w.Header())
	http.Redirect(w, r, "/auth/authorize?"+q.Encode(), http.StatusSeeOther)
}

// serveCallback finishes signing in: it checks the state against the
// browser's sign-in cookie, redeems the code at the token endpoint
// in-process, verifies the token and starts a session.
func (s *Server) serveCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var browser string
	if ck, err := r.Cookie(s.cookieName(r, loginCookie)); err == nil {
		browser = ck.Value
	}
	s.clearCookie(w, r, loginCookie)
	pl, ok := s.sessions.finishLogin(q.Get("state"), browser)
	if !ok {
		s.fail(w, r, http.StatusBadRequest, "Start signing in again", "This sign-in has expired or was started in another browser. Go to the start page and sign in again.")
		return
	}
	if e := q.Get("error"); e != "" {
		msg := "Signing in did not complete."
		switch e {
		case "access_denied":
			msg = "You cancelled signing in."
		case "invalid_scope":
			msg = "Your membership gives you no access this dashboard can use."
		}
		s.fail(w, r, http.StatusForbidden, "Not signed in", msg+" Go to the start page to try again.")
		return
	}
	code := q.Get("code")
	if code == "" {
		s.fail(w, r, http.StatusBadRequest, "Start signing in again", "The sign-in answer carried no code. Go to the start page and sign in again.")
		return
	}
	p, err := s.redeem(r, code, pl.verifier)
	if err != nil {
		s.log.Warn("dashboard sign-in failed", "err", err)
		s.fail(w, r, http.StatusBadRequest, "Start signing in again", "The sign-in could not be completed (it may have taken too long). Go to the start page and sign in again.")
		return
	}
	sess, v := s.sessions.create(p)
	s.setCookie(w, r, sessionCookie, v, 0)
	s.log.Info("dashboard sign-in", "member", p.Member, "roles", strings.Join(p.Roles, ","))
	sess.addFlash("ok", "Signed in as "+p.Member+".")
	securityHeaders(w.Header())
	http.Redirect(w, r, pl.next, http.StatusSeeOther)
}

// redeem exchanges an authorization code at the node's token endpoint.
// The request is made in-process and never leaves the node, so it is
// marked as coming from loopback.
func (s *Server) redeem(r *http.Request, code, verifier string) (*auth.Principal, error) {
	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {s.redirect},
		"client_id":     {s.cfg.ClientID},
		"code_verifier": {verifier},
	}
	req := httptest.NewRequestWithContext(r.Context(), http.MethodPost, "/auth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "127.0.0.1:0"
	rec := httptest.NewRecorder()
	s.deps.OAuth.ServeHTTP(rec, req)
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Desc        string `json:"error_description"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tr); err != nil || rec.Code != http.StatusOK {
		return nil, &redeemError{status: rec.Code, code: tr.Error, desc: tr.Desc}
	}
	p, err := s.deps.Issuer.Verify(tr.AccessToken)
	if err != nil {
		return nil, err
	}
	cp := *p // Verify's principal is shared: keep a copy
	cp.Roles = slices.Clone(p.Roles)
	return &cp, nil
}

type redeemError struct {
	status     int
	code, desc string
}

func (e *redeemError) Error() string {
	return "token endpoint answered " + http.StatusText(e.status) + ": " + e.code + ": " + e.desc
}

// serveLogout ends the session.
func (s *Server) serveLogout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	r.ParseForm()
	if ck, err := r.Cookie(s.cookieName(r, sessionCookie)); err == nil {
		if sess, ok := s.sessions.get(ck.Value); ok {
			if !sess.checkCSRF(r.PostForm.Get("csrf")) {
				s.fail(w, r, http.StatusForbidden, "Form expired", "This form is out of date. Reload the page and sign out again.")
				return
			}
			s.sessions.end(sess)
		}
	}
	s.clearCookie(w, r, sessionCookie)
	securityHeaders(w.Header())
	http.Redirect(w, r, "/?signed-out=1", http.StatusSeeOther)
}

// serveRoot is the start page: signed-in users go to their dashboard.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if ck, err := r.Cookie(s.cookieName(r, sessionCookie)); err == nil {
		if _, ok := s.sessions.get(ck.Value); ok {
			http.Redirect(w, r, "/app/", http.StatusSeeOther)
			return
		}
	}
	v := &view{Title: "Welcome", Data: struct{ SignedOut bool }{r.URL.Query().Get("signed-out") == "1"}}
	s.render(w, r, http.StatusOK, "root", v)
}

// newView starts the view of a signed-in page.
func (s *Server) newView(r *http.Request, c *call, title string, data any) *view {
	return &view{Title: title, User: s.userView(c.p), CSRF: c.sess.csrf, Flash: c.sess.takeFlash(), Nav: s.nav(c.p, r.URL.Path), Data: data}
}

func (s *Server) userView(p *auth.Principal) *userView {
	if p == nil {
		return nil
	}
	return &userView{Member: p.Member, Org: p.Org, Roles: p.Roles}
}

// nav is the menu of a user's pages, by role.
func (s *Server) nav(p *auth.Principal, cur string) []navItem {
	if p == nil {
		return nil
	}
	items := []navItem{{Href: "/app/", Label: "Overview"}}
	if allowed(rolePatient, p) {
		items = append(items, navItem{Href: "/app/record", Label: "My record"}, navItem{Href: "/app/consents", Label: "My consents"},
			navItem{Href: "/app/access-log", Label: "Who looked at my record"})
	}
	if allowed(rolePractitioner, p) {
		items = append(items, navItem{Href: "/app/patients", Label: "Patients"}, navItem{Href: "/app/break-glass", Label: "Emergency access"})
	}
	if allowed(roleAuditor, p) {
		items = append(items, navItem{Href: "/app/alerts", Label: "Alerts"}, navItem{Href: "/app/activity", Label: "Access volume"},
			navItem{Href: "/app/audit", Label: "Audit trail"})
	}
	if allowed(roleExplorer, p) {
		items = append(items, navItem{Href: "/app/ledger", Label: "Ledger explorer"})
	}
	if allowed(roleAdmin, p) {
		items = append(items, navItem{Href: "/app/admin/members", Label: "Members and organisations"},
			navItem{Href: "/app/admin/policies", Label: "Policies"}, navItem{Href: "/app/admin/models", Label: "AI models"})
	}
	best := -1
	for i, it := range items {
		if cur == it.Href || (it.Href != "/app/" && strings.HasPrefix(cur, it.Href)) {
			if best < 0 || len(it.Href) > len(items[best].Href) {
				best = i
			}
		}
	}
	if best >= 0 {
		items[best].Current = true
	}
	return items
}

// serveHome is the signed-in overview: what each of the user's roles can
// do here.
func (s *Server) serveHome(w http.ResponseWriter, r *http.Request, c *call) {
	d := struct {
		Patient, Practitioner, Auditor, Admin, Explorer bool
		PatientID                                       string
		OpenAlerts                                      int
		Height                                          uint64
	}{
		Patient: allowed(rolePatient, c.p), Practitioner: allowed(rolePractitioner, c.p), Auditor: allowed(roleAuditor, c.p),
		Admin: allowed(roleAdmin, c.p), Explorer: allowed(roleExplorer, c.p), PatientID: c.p.Patient, Height: s.deps.Height(),
	}
	if d.Auditor {
		if as, err := s.alerts(); err == nil {
			for _, a := range as {
				if a.Status != "resolved" {
					d.OpenAlerts++
				}
			}
		}
	}
	s.render(w, r, http.StatusOK, "home", s.newView(r, c, "Overview", d))
}
