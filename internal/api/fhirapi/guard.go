package fhirapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/ledger"
	rec "github.com/medledger/medledger/internal/records"
)

// Auth is what the API needs to authenticate callers, decide their
// accesses and audit them. A Server without Auth serves everyone (tests
// and the unauthenticated benchmark only; the node refuses it on a
// non-loopback address).
type Auth struct {
	Issuer *auth.Issuer
	Access *access.Engine
	// State returns the latest committed ledger state.
	State func() access.State
	// Pseudonym returns the ledger pseudonym of a Patient id.
	Pseudonym func(patientID string) string
	// Active reports whether a member may act (enrolled, not suspended).
	Active func(member string) bool
	// Record writes an AuditEvent on the ledger and returns once it is
	// durable, with the recording transaction's hash.
	Record func(ctx context.Context, e *audit.Event) (ledger.Hash, error)
	// Submit signs (as the node's service member) and submits a
	// transaction, returning once it is durable.
	Submit func(ctx context.Context, contract, method string, payload any) (ledger.Hash, error)
	// Seal encrypts data under a patient's key (for break-glass reasons).
	Seal func(patient string, aad, plaintext []byte) ([]byte, error)
	// Shred destroys a patient's keys (erasure).
	Shred func(patient string) error
	// Share makes the sharing of a patient's data key with other
	// organisations follow Consent consentID, which now grants orgs.
	Share func(ctx context.Context, patient, consentID string, orgs []string) error
	// Node is the node's member id (the audit source) and Org its
	// organisation.
	Node, Org string
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
}

// caller is an authenticated request's principal.
type caller struct {
	p     *auth.Principal
	actor access.Actor
	addr  string // the client's IP address
}

type callerKey struct{}

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(callerKey{}).(*caller)
	return c
}

// publicRoute reports whether a path is served without a token.
func publicRoute(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/fhir/metadata" || r.URL.Path == "/fhir/.well-known/smart-configuration")
}

// authenticate checks the request's bearer token. It answers 401 (with a
// WWW-Authenticate challenge) itself and returns nil when it fails.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) *http.Request {
	a := s.deps.Auth
	if err := auth.RequireSecure(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="medledger", error="invalid_request", error_description="use HTTPS"`)
		s.fail(w, r, outcome(http.StatusUnauthorized, "security", "", "access tokens are accepted over HTTPS only (or on loopback); use https://"))
		return nil
	}
	p, err := auth.Authenticate(a.Issuer, r)
	if err == nil && !a.Active(p.Member) {
		err = errors.New("auth: the member is not active")
		p = nil
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", auth.Challenge(err, ""))
		msg := "a valid access token is required: send Authorization: Bearer <token> (see /.well-known/smart-configuration)"
		switch {
		case errors.Is(err, auth.ErrExpiredToken):
			msg = "the access token has expired; get a new one from the token endpoint"
		case errors.Is(err, auth.ErrInvalidToken):
			msg = "the access token is not valid here (forged, for another audience, or malformed); get a new one from the token endpoint"
		case p == nil && !errors.Is(err, auth.ErrNoToken):
			msg = "the token's member may no longer act on this ledger"
		}
		s.fail(w, r, outcome(http.StatusUnauthorized, "login", "", "%s", msg))
		return nil
	}
	c := &caller{p: p, addr: clientIP(r)}
	c.actor = access.Actor{ID: p.Member, Org: p.Org, Roles: p.Roles, FHIRUser: p.FHIRUser}
	if p.Patient != "" {
		c.actor.Patient = a.Pseudonym(p.Patient)
	}
	return r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// perms maps an interaction to the SMART permission letters it needs.
func perms(interaction string) string {
	switch interaction {
	case access.Read, access.VRead, access.History:
		return "r"
	case access.Search:
		return "s"
	case access.Create:
		return "c"
	case access.Update:
		return "u"
	case access.Delete:
		return "d"
	case access.Export, access.Everything:
		return "rs"
	}
	return "cruds"
}

// grant is what a caller's scopes allow for one interaction on one type.
type grant struct {
	c   *caller
	g   auth.Grant
	typ string
	in  string // interaction
}

// scope checks the caller's scopes for an interaction on typ: 403 with
// an insufficient_scope challenge if none grants it. Open servers grant
// everything (c is nil).
func (s *Server) scope(w http.ResponseWriter, r *http.Request, interaction, typ string) (*grant, bool) {
	c := callerOf(r)
	if c == nil {
		return &grant{typ: typ, in: interaction}, true
	}
	p := perms(interaction)
	g := c.p.Scopes.Allows(typ, p)
	if !g.Any() {
		s.record(r, c, interaction, typ, nil, nil, access.Decision{Reason: "the token's scopes do not cover this interaction"}, audit.OutcomeMinorFailure)
		w.Header().Set("WWW-Authenticate", `Bearer realm="medledger", error="insufficient_scope", scope="user/`+typ+`.`+p+`"`)
		s.fail(w, r, outcome(http.StatusForbidden, "forbidden", "", "the access token's scopes do not allow %s on %s; ask for a token with user/%s.%s (or patient/, system/)", interaction, typ, typ, p))
		return nil, false
	}
	return &grant{c: c, g: g, typ: typ, in: interaction}, true
}

// context returns the scope level a decision runs at: system if a system
// scope grants it and the caller is a service, else user, else patient.
func (g *grant) context() string {
	switch {
	case g.g.System:
		return string(auth.ContextSystem)
	case g.g.User:
		return string(auth.ContextUser)
	}
	return string(auth.ContextPatient)
}

// decider decides accesses for one request, caching per patient.
type decider struct {
	s     *Server
	g     *grant
	st    access.State
	now   time.Time
	mu    sync.Mutex
	cache map[string]access.Decision // by patient pseudonym
	err   error
}

func (s *Server) decider(g *grant) *decider {
	d := &decider{s: s, g: g, cache: map[string]access.Decision{}}
	if g.c != nil {
		d.st = s.deps.Auth.State()
		d.now = s.now()
	}
	return d
}

func (s *Server) now() time.Time {
	if s.deps.Auth != nil && s.deps.Auth.Now != nil {
		return s.deps.Auth.Now()
	}
	return time.Now()
}

// decide decides the grant's interaction on a record of patient (a
// pseudonym, "" if the record is in no patient's compartment). An open
// server allows everything.
func (d *decider) decide(patient string) access.Decision {
	if d.g.c == nil {
		return access.Decision{Allow: true, Reason: "open server"}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if dec, ok := d.cache[patient]; ok {
		return dec
	}
	c := d.g.c
	actor := c.actor
	actor.Context = d.g.context()
	var dec access.Decision
	if actor.Context == string(auth.ContextPatient) && (patient == "" || patient != actor.Patient) {
		// patient/ scopes reach only the token's patient's compartment.
		dec = access.Decision{Reason: "the token's patient scopes do not cover this patient"}
	} else {
		var err error
		dec, err = d.s.deps.Auth.Access.Decide(d.st, access.Request{
			Actor: actor, Interaction: d.g.in, Type: d.g.typ, Patient: patient, Purpose: purposeOf(d.g.c), Time: d.now,
			Custodian: d.s.deps.Auth.Org,
		})
		if err != nil {
			d.err = err
			dec = access.Decision{Reason: "the access rules could not be evaluated"}
		}
	}
	d.cache[patient] = dec
	return dec
}

// purposeOf returns the purpose of use of a caller's accesses: PATRQT for
// patients, HCOMPL for auditors, TREAT for everyone else.
func purposeOf(c *caller) string {
	switch {
	case c.actor.Patient != "":
		return "PATRQT" // patient requested
	case c.p.HasRole("auditor"):
		return "HCOMPL" // compliance
	}
	return "TREAT"
}

// patientOfSubject returns the patient pseudonym of a stored record's key
// subject, "" for records of no patient.
func patientOfSubject(subject string) string {
	if strings.HasPrefix(subject, "pt_") {
		return subject
	}
	return ""
}

// notFound is the answer to a record that is absent, or that the caller
// may not see: the same in both cases, so that it does not tell them
// apart.
func notFound() *apiError {
	return outcome(http.StatusNotFound, "not-found", "", "resource not found")
}

// headPatient returns the patient pseudonym of a resource from its ledger
// head, and whether the resource was ever written.
func (s *Server) headPatient(typ, id string) (string, bool) {
	p, ok, err := s.deps.Service.HeadPatient(typ, id)
	return p, err == nil && ok
}

// gate decides and audits an access to one resource (ref "Type/id") of
// patient. exists says whether the resource is there. It answers the
// request itself — 404 if absent or refused, alike; 503 if the audit
// could not be written — and returns false then.
func (s *Server) gate(w http.ResponseWriter, r *http.Request, g *grant, ref, patient string, exists bool) bool {
	if g.c == nil {
		return true
	}
	if !exists {
		if s.record(r, g.c, g.in, g.typ, []string{ref}, nil, access.Decision{Reason: "no such resource"}, audit.OutcomeMinorFailure) != nil {
			s.fail(w, r, auditFailed())
			return false
		}
		s.fail(w, r, notFound())
		return false
	}
	d := s.decider(g).decide(patient)
	if !d.Allow {
		if s.record(r, g.c, g.in, g.typ, []string{ref}, []string{patient}, d, audit.OutcomeMinorFailure) != nil {
			s.fail(w, r, auditFailed())
			return false
		}
		s.fail(w, r, notFound())
		return false
	}
	if s.record(r, g.c, g.in, g.typ, []string{ref}, []string{patient}, d, audit.OutcomeSuccess) != nil {
		s.fail(w, r, auditFailed())
		return false
	}
	return true
}

// writeCheck is an authorised set of writes, to audit once applied.
type writeCheck struct {
	c        *caller
	refs     []string
	patients []string
	ds       []access.Decision
	ins      []string
}

// authorizeWrites checks scopes and decides each write before anything is
// applied. A refused write is audited and answered 403 (creates) or 404
// (changes to a resource the caller may not see); the whole set fails.
func (s *Server) authorizeWrites(r *http.Request, ops []rec.Op) (*writeCheck, *apiError) {
	c := callerOf(r)
	if c == nil {
		return nil, nil
	}
	wc := &writeCheck{c: c}
	for _, op := range ops {
		typ, id := op.Type, op.ID
		if op.Resource != nil {
			typ, id = op.Resource.Type, op.Resource.ID
		}
		in := op.Kind
		ref := typ + "/" + id
		if id == "" {
			ref = typ
		}
		p := perms(in)
		g := c.p.Scopes.Allows(typ, p)
		if !g.Any() {
			s.record(r, c, in, typ, []string{ref}, nil, access.Decision{Reason: "the token's scopes do not cover this interaction"}, audit.OutcomeMinorFailure)
			e := outcome(http.StatusForbidden, "forbidden", "", "the access token's scopes do not allow %s on %s; ask for a token with user/%s.%s", in, typ, typ, p)
			return nil, e
		}
		gr := &grant{c: c, g: g, typ: typ, in: in}
		var pats []string
		if op.Resource != nil {
			pats = append(pats, s.deps.Service.PatientPseudonym(op.Resource))
		}
		existed := false
		if op.Kind != records.OpCreate {
			if hp, ok := s.headPatient(typ, id); ok {
				existed = true
				if len(pats) == 0 || hp != pats[0] {
					pats = append(pats, hp)
				}
			}
		}
		if len(pats) == 0 {
			pats = []string{""}
		}
		dc := s.decider(gr)
		for _, pt := range pats {
			d := dc.decide(pt)
			if !d.Allow {
				if s.record(r, c, in, typ, []string{ref}, []string{pt}, d, audit.OutcomeMinorFailure) != nil {
					return nil, auditFailed()
				}
				if existed || op.Kind != records.OpCreate {
					// A change to a record the caller may not see is
					// answered as if it did not exist, whether it does.
					return nil, notFound()
				}
				return nil, outcome(http.StatusForbidden, "forbidden", "", "you may not %s %s here: %s", in, typ, d.Reason)
			}
			wc.ds = append(wc.ds, d)
		}
		wc.refs = append(wc.refs, ref)
		wc.patients = append(wc.patients, pats...)
		wc.ins = append(wc.ins, in)
	}
	return wc, nil
}

// audit records applied writes, one event per interaction kind.
func (wc *writeCheck) audit(s *Server, r *http.Request, out []rec.Written) error {
	if wc == nil {
		return nil
	}
	refs := make([]string, 0, len(out))
	for _, w := range out {
		refs = append(refs, w.Meta.Type+"/"+w.Meta.ID+"/_history/"+strconv.FormatUint(w.Meta.Version, 10))
	}
	in := access.Update
	if len(wc.ins) > 0 {
		in = wc.ins[0]
	}
	d := access.Decision{Allow: true}
	if len(wc.ds) > 0 {
		d = wc.ds[0]
	}
	typ := ""
	if len(out) > 0 {
		typ = out[0].Meta.Type
	}
	return s.record(r, wc.c, in, typ, refs, wc.patients, d, audit.OutcomeSuccess)
}

// visible returns a search filter admitting the resources of typ the
// caller may access by interaction, or nil on an open server. The filter
// looks each match's patient up in the ledger head and decides once per
// patient.
func (s *Server) visible(r *http.Request, interaction, typ string) func(id string) bool {
	c := callerOf(r)
	if c == nil {
		return nil
	}
	g := c.p.Scopes.Allows(typ, perms(interaction))
	if !g.Any() {
		return func(string) bool { return false }
	}
	return s.filterFor(&grant{c: c, g: g, typ: typ, in: interaction})
}

func (s *Server) filterFor(g *grant) func(id string) bool {
	d := s.decider(g)
	return func(id string) bool {
		patient, ok := s.headPatient(g.typ, id)
		return ok && d.decide(patient).Allow
	}
}

// WithPrincipal returns a context under which the Server treats an
// in-process request as made by p, without a token: for the node's own
// work on behalf of its service identity (HL7 v2 feeds, the demo's
// loader). Only code in the process can set it; requests from the
// network cannot.
func WithPrincipal(ctx context.Context, s *Server, p *auth.Principal) context.Context {
	return WithPrincipalFrom(ctx, s, p, "")
}

// WithPrincipalFrom is WithPrincipal for a user reaching the node from
// network address addr (the dashboard's users): audit events carry it.
func WithPrincipalFrom(ctx context.Context, s *Server, p *auth.Principal, addr string) context.Context {
	if s.deps.Auth == nil {
		return ctx // an open server has no callers
	}
	c := &caller{p: p, addr: addr, actor: access.Actor{ID: p.Member, Org: p.Org, Roles: p.Roles, FHIRUser: p.FHIRUser}}
	if p.Patient != "" && s.deps.Auth != nil {
		c.actor.Patient = s.deps.Auth.Pseudonym(p.Patient)
	}
	return context.WithValue(ctx, callerKey{}, c)
}
