// Package web is the node's dashboard: server-rendered HTML pages
// (html/template, with htmx and uPlot vendored from npm under static/ and
// embedded in the binary) for patients, clinicians, privacy officers and
// administrators, served at / and under /app/.
//
// It owns the dashboard's sign-in (the node's own OAuth2 authorization
// code flow with PKCE; the code is exchanged server-side and the browser
// never holds a token), its server-side sessions (HttpOnly, SameSite=Lax,
// Secure under TLS, with an idle timeout), the CSRF protection of its
// forms, and the rendering of pages and error pages.
//
// It must not decide or audit accesses itself, nor read health records
// around the FHIR API: every view of patient data is a FHIR request made
// in-process as the signed-in principal (fhirapi.WithPrincipal), so it is
// decided and audited exactly like an API call. Ledger views read the
// ledger API and check what it says with the public client package
// against the validator keys of the genesis. Transactions a user makes
// from the dashboard (alert reviews, policy changes) are signed with that
// member's own key through Deps.Submit; the package never holds key
// bytes. It keeps nothing on disk: a restart signs everyone out.
package web

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/api/fhirapi"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// DefaultClientID is the dashboard's OAuth2 client id.
const DefaultClientID = "medledger-dashboard"

// CallbackPath is where the authorization server sends the browser back
// to; the dashboard's registered redirect URI is PublicURL + CallbackPath.
const CallbackPath = "/app/callback"

// Config configures a Server. Zero fields take the defaults given.
type Config struct {
	// PublicURL is the node's base URL as browsers reach it, such as
	// https://node.example (required). It must be the token issuer's URL.
	PublicURL string
	// ClientID is the dashboard's client id at the node's authorization
	// server. Default DefaultClientID.
	ClientID string
	// IdleTimeout ends a session unused this long. Default 15 minutes.
	IdleTimeout time.Duration
	// MaxAge ends a session this long after sign-in. Default 8 hours.
	MaxAge time.Duration
	// MaxSessions bounds the sessions kept; when full, the one idle the
	// longest ends. Default 10,000.
	MaxSessions int
	// Demo says the node runs `medledger demo` (synthetic data): pages
	// say so.
	Demo bool
}

// RedirectURI returns the dashboard's redirect URI for a public URL.
func RedirectURI(publicURL string) string {
	return strings.TrimRight(publicURL, "/") + CallbackPath
}

// State is committed ledger state: point reads and prefix scans of full
// keys, in key order. fn must not retain its arguments.
type State interface {
	Get(key []byte) ([]byte, bool, error)
	Scan(prefix []byte, fn func(k, v []byte) bool) error
}

// VerifyResult is the outcome of verifying the whole ledger.
type VerifyResult struct {
	OK      bool
	Height  uint64
	Txs     uint64
	AppHash string
	Root    string
	Seconds float64
	Problem string // what is wrong, and at which height, when !OK
	Checked time.Time
}

// Deps are what the dashboard uses of the node. All are required unless
// marked optional; functions must be safe for concurrent use.
type Deps struct {
	// FHIR is the FHIR API, called in-process as the signed-in user.
	FHIR *fhirapi.Server
	// OAuth serves the node's OAuth2 endpoints; the dashboard redeems its
	// authorization codes at its token endpoint, in-process.
	OAuth http.Handler
	// Issuer verifies the access token the code is redeemed for.
	Issuer *auth.Issuer
	// Ledger is the ledger API (/v1/...), read in-process.
	Ledger http.Handler
	// State is the latest committed ledger state.
	State State
	// Machine declares the contracts' policies (names, docs, defaults,
	// environments) and checks rules.
	Machine *contract.Machine
	// ChainID and Validators (key id → Ed25519 key, from the genesis) are
	// what tree heads and proofs are checked against.
	ChainID    string
	Validators map[string]ed25519.PublicKey
	// Decide explains the decision on a user's access to a patient's
	// record (a FHIR Patient id) of type typ, as the FHIR API makes it
	// now: the reason a clinician is shown.
	Decide func(p *auth.Principal, patientID, typ string) (access.Decision, error)
	// Submit signs a transaction as member, with the member's own key if
	// this node holds it, and waits for its commit. It returns ErrNoKey
	// (wrapped) if the node does not hold the key.
	Submit func(ctx context.Context, member, contract, method string, payload []byte) (ledger.Receipt, error)
	// Verify re-checks the whole ledger (like medledger verify) on a
	// consistent copy; progress is called with blocks done and the last.
	Verify func(ctx context.Context, progress func(done, last uint64)) (VerifyResult, error)
	// BlockTime returns the time of block h.
	BlockTime func(h uint64) (time.Time, error)
	// Height returns the height of the last committed block.
	Height func() uint64
	// Logger receives errors and sign-ins; never a token, code or record
	// content. Optional.
	Logger *slog.Logger
	// Now is the clock (tests). Optional: time.Now.
	Now func() time.Time
}

// ErrNoKey is returned (wrapped) by Deps.Submit when the node does not
// hold the member's signing key.
var ErrNoKey = errors.New("web: this node does not hold the member's signing key")

// Server serves the dashboard. It is safe for concurrent use.
type Server struct {
	cfg      Config
	deps     Deps
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux
	handler  http.Handler
	sessions *sessions
	redirect string // the registered redirect URI
	secure   bool   // PublicURL is https

	verifyMu sync.Mutex
	// +checklocks:verifyMu
	verifyJob *verifyJob
}

// New returns a Server, or every problem with cfg and deps.
func New(cfg Config, deps Deps) (*Server, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("web: "+format, args...)) }
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("PublicURL %q is not an absolute http(s) URL", cfg.PublicURL)
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 8 * time.Hour
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	switch {
	case deps.FHIR == nil:
		bad("Deps.FHIR is required")
	case deps.OAuth == nil || deps.Issuer == nil:
		bad("Deps.OAuth and Deps.Issuer are required")
	case deps.Ledger == nil || deps.State == nil || deps.Machine == nil:
		bad("Deps.Ledger, Deps.State and Deps.Machine are required")
	case deps.Decide == nil || deps.Submit == nil || deps.Verify == nil || deps.BlockTime == nil || deps.Height == nil:
		bad("Deps.Decide, Submit, Verify, BlockTime and Height are required")
	case len(deps.Validators) == 0 || deps.ChainID == "":
		bad("Deps.ChainID and Deps.Validators are required")
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	s := &Server{
		cfg: cfg, deps: deps, log: deps.Logger.With("component", "web"), now: deps.Now,
		mux:      http.NewServeMux(),
		sessions: newSessions(cfg.IdleTimeout, cfg.MaxAge, cfg.MaxSessions, deps.Now),
		redirect: RedirectURI(cfg.PublicURL),
		secure:   u.Scheme == "https",
	}
	s.routes()
	// Besides the CSRF tokens: refuse state-changing requests a browser
	// marks as cross-origin (Sec-Fetch-Site, Origin).
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusForbidden, "Request refused", "This form was not sent from this dashboard. Go back, reload the page and try again.")
	}))
	s.handler = s.recoverer(cop.Handler(s.mux))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Paths returns the URL patterns to mount the dashboard at on the node's
// mux: the site root and /app/.
func Paths() []string { return []string{"/{$}", "/app/"} }

// role-gated handler kinds.
type pageFunc func(w http.ResponseWriter, r *http.Request, c *call)

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /{$}", s.serveRoot)
	m.HandleFunc("GET /app/static/{file...}", s.serveStatic)
	m.HandleFunc("GET /app/login", s.serveLogin)
	m.HandleFunc("GET "+CallbackPath, s.serveCallback)
	m.HandleFunc("POST /app/logout", s.serveLogout)

	m.Handle("GET /app/{$}", s.page("", s.serveHome))

	// Patient.
	m.Handle("GET /app/record", s.page(rolePatient, s.serveRecord))
	m.Handle("GET /app/consents", s.page(rolePatient, s.serveConsents))
	m.Handle("POST /app/consents", s.page(rolePatient, s.postConsent))
	m.Handle("POST /app/consents/{id}/revoke", s.page(rolePatient, s.postRevoke))
	m.Handle("GET /app/access-log", s.page(rolePatient, s.serveAccessLog))
	// Patients and clinicians: a record version's proof.
	m.Handle("GET /app/verify/{type}/{id}/{vid}", s.page("", s.serveVerifyRecord))

	// Clinician.
	m.Handle("GET /app/patients", s.page(rolePractitioner, s.servePatients))
	m.Handle("GET /app/patients/{id}", s.page(rolePractitioner, s.servePatient))
	m.Handle("GET /app/break-glass", s.page(rolePractitioner, s.serveBreakGlass))
	m.Handle("POST /app/break-glass", s.page(rolePractitioner, s.postBreakGlass))

	// Privacy officer / auditor.
	m.Handle("GET /app/alerts", s.page(roleAuditor, s.serveAlerts))
	m.Handle("GET /app/alerts/{id}", s.page(roleAuditor, s.serveAlert))
	m.Handle("POST /app/alerts/{id}/{action}", s.page(roleAuditor, s.postAlert))
	m.Handle("GET /app/activity", s.page(roleAuditor, s.serveActivity))
	m.Handle("GET /app/audit", s.page(roleAuditor, s.serveAuditList))
	// Patients (their own) and auditors: one AuditEvent with its proof.
	m.Handle("GET /app/audit/{id}", s.page("", s.serveAuditEvent))

	// Ledger explorer: auditors and administrators.
	m.Handle("GET /app/ledger", s.page(roleExplorer, s.serveLedger))
	m.Handle("GET /app/ledger/blocks/{h}", s.page(roleExplorer, s.serveBlock))
	m.Handle("GET /app/ledger/tx/{hash}", s.page(roleExplorer, s.serveTx))
	m.Handle("GET /app/ledger/verify", s.page(roleExplorer, s.serveVerifyLedger))
	m.Handle("POST /app/ledger/verify", s.page(roleExplorer, s.postVerifyLedger))

	// Administrator.
	m.Handle("GET /app/admin/members", s.page(roleAdmin, s.serveMembers))
	m.Handle("GET /app/admin/policies", s.page(roleAdmin, s.servePolicies))
	m.Handle("GET /app/admin/policies/{name}", s.page(roleAdmin, s.servePolicy))
	m.Handle("POST /app/admin/policies/{name}", s.page(roleAdmin, s.postPolicy))
	m.Handle("POST /app/admin/policies/{name}/check", s.page(roleAdmin, s.postPolicyCheck))
	m.Handle("GET /app/admin/models", s.page(roleAdmin, s.serveModels))

	m.HandleFunc("/app/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, http.StatusNotFound, "Page not found", "There is no page at this address. Use the menu to find your way.")
	})
}

// recoverer turns a panic into the error page, and logs it (without the
// request's content).
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("dashboard handler panicked", "route", r.Pattern, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				s.fail(w, r, http.StatusInternalServerError, "Something went wrong", "The dashboard could not show this page. Nothing was changed. Try again; if it keeps happening, tell your administrator the time it happened.")
			}
		}()
		h.ServeHTTP(w, r)
	})
}
