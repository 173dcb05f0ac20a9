// Package fhirapi serves the FHIR R4 REST API under /fhir: the
// CapabilityStatement, create, read, vread, update, delete, history and
// $verify (proof that a stored version is the one anchored on the ledger).
// Every answer is application/fhir+json; every error an OperationOutcome
// with the fitting status, whose diagnostics never quote the request's
// content. Responses to writes and reads carry the anchoring transaction
// in X-Ledger-Tx.
//
// It translates HTTP to the records service and back; it owns no storage
// and makes no authorisation decision of its own (the caller's handler
// chain authenticates; the actor is passed in).
package fhirapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/crypt"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/ledger"
	rec "github.com/medledger/medledger/internal/records"
)

// Deps are the API's collaborators.
type Deps struct {
	Service *rec.Service
	// Proof returns an anchoring transaction with its inclusion proof.
	Proof func(ledger.Hash) (apitype.TxAnswer, error)
	// Actor names the authenticated caller for the ledger's author field.
	Actor  func(*http.Request) string
	Logger *slog.Logger
	// Timeout bounds one write (validation, encryption, anchoring).
	Timeout time.Duration
	// Index answers searches and conditional creates; nil: neither is
	// offered.
	Index *search.Index
	// Auth authenticates, authorises and audits every request; nil serves
	// everyone (see Auth).
	Auth *Auth
	// Ledger scans ledger state (the audit trail's indexes) when Auth is
	// nil; with Auth, Auth.State is used.
	Ledger interface {
		Scan(prefix []byte, fn func(k, v []byte) bool) error
	}
	// ExportDir is where bulk exports write their NDJSON files, which hold
	// decrypted health data: a 0700 directory per job, files 0600, removed
	// on DELETE or an hour after the job completes (see export.go).
	// Empty: os.TempDir()/medledger-export.
	ExportDir string
}

// Server is the FHIR HTTP handler.
type Server struct {
	deps Deps
	mux  *http.ServeMux
	// condMu serialises conditional creates and updates from their search
	// to their anchored, indexed write.
	condMu sync.Mutex

	exports *exporter
}

// ContentType is the media type of every answer.
const ContentType = "application/fhir+json; charset=utf-8"

// New returns the handler; mount it at /fhir/.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Actor == nil {
		d.Actor = func(*http.Request) string { return "anonymous" }
	}
	if d.Timeout <= 0 {
		d.Timeout = 30 * time.Second
	}
	s := &Server{deps: d, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /fhir/metadata", s.metadata)
	s.mux.HandleFunc("POST /fhir/{$}", s.postBundle)
	s.mux.HandleFunc("POST /fhir", s.postBundle)
	s.mux.HandleFunc("POST /fhir/{type}", s.create)
	s.mux.HandleFunc("GET /fhir/{type}", s.searchType)
	s.mux.HandleFunc("POST /fhir/{type}/_search", s.searchType)
	s.mux.HandleFunc("GET /fhir/{type}/{id}", s.read)
	s.mux.HandleFunc("PUT /fhir/{type}/{id}", s.update)
	s.mux.HandleFunc("DELETE /fhir/{type}/{id}", s.delete)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history", s.history)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}", s.vread)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}/$verify", s.verify)
	s.mux.HandleFunc("GET /fhir/{type}/{id}/_history/{vid}/$provenance", s.provenance)
	s.mux.HandleFunc("GET /fhir/Patient/{id}/$everything", s.everything)
	s.mux.HandleFunc("POST /fhir/Patient/{id}/$break-glass", s.breakGlass)
	s.mux.HandleFunc("POST /fhir/Patient/{id}/$erase", s.erase)
	s.mux.HandleFunc("GET /fhir/AuditEvent", s.searchAuditEvents)
	s.mux.HandleFunc("GET /fhir/AuditEvent/{id}", s.readAuditEvent)
	ex := newExporter(s)
	s.exports = ex
	s.mux.HandleFunc("GET /fhir/$export", ex.kickoff(levelSystem, ""))
	for _, t := range fhir.SupportedTypes { // not {type}/$export: it would overlap $export-status/{job}
		s.mux.HandleFunc("GET /fhir/"+t+"/$export", ex.kickoff(levelOf(t), t))
	}
	s.mux.HandleFunc("GET /fhir/$export-status/{job}", ex.status)
	s.mux.HandleFunc("DELETE /fhir/$export-status/{job}", ex.delete)
	s.mux.HandleFunc("GET /fhir/$export-file/{file}", ex.file)
	s.mux.HandleFunc("/fhir/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, outcome(http.StatusNotFound, "not-supported", "", "no such FHIR interaction on this server; see /fhir/metadata"))
	})
	return s
}

// Close stops the server's background work: running bulk exports are
// cancelled and every export's files removed (jobs do not survive a
// restart). Call it after the HTTP server stopped and before the records
// store closes; requests after Close may fail.
func (s *Server) Close() { s.exports.close() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !acceptable(r) {
		s.fail(w, r, outcome(http.StatusNotAcceptable, "not-supported", "", "this server speaks application/fhir+json only"))
		return
	}
	if s.deps.Auth != nil && !publicRoute(r) && callerOf(r) == nil {
		if r = s.authenticate(w, r); r == nil {
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// acceptable reports whether the client accepts JSON.
func acceptable(r *http.Request) bool {
	if f := r.URL.Query().Get("_format"); f != "" {
		return f == "json" || strings.Contains(f, "json")
	}
	acc := r.Header.Get("Accept")
	if acc == "" {
		return true
	}
	for _, part := range strings.Split(acc, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/fhir+json", "application/json", "application/json+fhir", "*/*", "application/*",
			"application/fhir+ndjson", "application/ndjson": // bulk export downloads
			return true
		}
	}
	return false
}

// apiError is an error with its OperationOutcome.
type apiError struct {
	status int
	issues []fhir.Issue
	err    error // internal: logged, never sent
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %v", e.status, e.issues) }

func outcome(status int, code, expr, format string, args ...any) *apiError {
	sev := "error"
	return &apiError{status: status, issues: []fhir.Issue{{Severity: sev, Code: code, Diagnostics: fmt.Sprintf(format, args...), Expression: nonEmpty(expr)}}}
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.err != nil {
		s.deps.Logger.Error("fhir request failed", "route", r.Pattern, "err", e.err)
	}
	writeJSON(w, e.status, fhir.OperationOutcome(e.issues...))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// classify maps service errors to OperationOutcomes.
func (s *Server) classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var ie *rec.InvalidError
	if errors.As(err, &ie) {
		return &apiError{status: http.StatusUnprocessableEntity, issues: ie.Issues}
	}
	var le *ledger.Error
	switch {
	case errors.Is(err, rec.ErrNotFound):
		return outcome(http.StatusNotFound, "not-found", "", "resource not found")
	case errors.Is(err, rec.ErrGone):
		return outcome(http.StatusGone, "deleted", "", "the resource was deleted")
	case errors.Is(err, crypt.ErrShredded):
		return outcome(http.StatusGone, "deleted", "", "the patient's data was erased")
	case errors.Is(err, rec.ErrConflict):
		return outcome(http.StatusPreconditionFailed, "conflict", "", "the resource has changed since the version named in If-Match")
	case errors.Is(err, rec.ErrExists):
		return outcome(http.StatusConflict, "duplicate", "", "a resource with this id already exists")
	case errors.Is(err, context.DeadlineExceeded):
		return outcome(http.StatusServiceUnavailable, "timeout", "", "the write was not anchored in time; it may still commit: read the resource before retrying")
	case errors.As(err, &le):
		status := http.StatusServiceUnavailable
		if le.Code == ledger.CodeDenied {
			status = http.StatusForbidden
		}
		return &apiError{status: status, issues: []fhir.Issue{{Severity: "error", Code: "transient", Diagnostics: "the ledger did not accept the write (" + string(le.Code) + ")"}}, err: err}
	}
	return &apiError{status: http.StatusInternalServerError, issues: []fhir.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "internal error; the node log has details"}}, err: err}
}

// readResource reads and parses a request body as one resource.
func readResource(w http.ResponseWriter, r *http.Request) (*fhir.Resource, *apiError) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/fhir+json" && mt != "application/json" && mt != "application/json+fhir") {
			return nil, outcome(http.StatusUnsupportedMediaType, "not-supported", "", "send application/fhir+json")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, fhir.MaxResourceBytes)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, outcome(http.StatusRequestEntityTooLarge, "too-costly", "", "the resource exceeds %d bytes", fhir.MaxResourceBytes)
		}
		return nil, outcome(http.StatusBadRequest, "structure", "", "the body could not be read")
	}
	res, err := fhir.Parse(b)
	if err != nil {
		return nil, outcome(http.StatusBadRequest, "structure", "", "%v", err)
	}
	return res, nil
}

func (s *Server) checkType(typ string) *apiError {
	if !fhir.Supported(typ) {
		return outcome(http.StatusNotFound, "not-supported", "", "resource type %q is not supported here; see /fhir/metadata", typ)
	}
	return nil
}

// respond writes a stored version with its headers.
func respond(w http.ResponseWriter, r *http.Request, status int, m rec.Meta, js []byte, tx ledger.Hash) {
	h := w.Header()
	h.Set("ETag", `W/"`+strconv.FormatUint(m.Version, 10)+`"`)
	h.Set("Last-Modified", m.LastUpdated.UTC().Format(http.TimeFormat))
	if !tx.IsZero() {
		h.Set("X-Ledger-Tx", tx.String())
	}
	if status == http.StatusCreated || r.Method == http.MethodPut {
		h.Set("Location", location(r, m))
	}
	if prefer(r) == "return=minimal" {
		w.WriteHeader(status)
		return
	}
	if prefer(r) == "return=OperationOutcome" {
		writeJSON(w, status, fhir.OperationOutcome())
		return
	}
	h.Set("Content-Type", ContentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(js)
	w.Write([]byte("\n"))
}

func prefer(r *http.Request) string {
	for _, p := range strings.Split(r.Header.Get("Prefer"), ",") {
		if p = strings.TrimSpace(p); strings.HasPrefix(p, "return=") {
			return p
		}
	}
	return ""
}

func location(r *http.Request, m rec.Meta) string {
	return base(r) + "/" + m.Type + "/" + m.ID + "/_history/" + strconv.FormatUint(m.Version, 10)
}

// base returns the server's FHIR base URL as the client addressed it.
func base(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/fhir"
}

func contextFor(r *http.Request, s *Server) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), s.deps.Timeout)
}

func (s *Server) write(w http.ResponseWriter, r *http.Request, ops []rec.Op) ([]rec.Written, bool) {
	out, e := s.apply(r, ops)
	if e != nil {
		s.fail(w, r, e)
		return nil, false
	}
	return out, true
}

// apply authorises, applies and audits writes, and records the access
// facts they carry (consents, care relationships).
func (s *Server) apply(r *http.Request, ops []rec.Op) ([]rec.Written, *apiError) {
	wc, e := s.authorizeWrites(r, ops)
	if e != nil {
		return nil, e
	}
	ctx, cancel := contextFor(r, s)
	defer cancel()
	out, err := s.deps.Service.Apply(ctx, s.actor(r), ops)
	if err != nil {
		return nil, s.classify(err)
	}
	// The writes are durable and anchored (with their author) whatever
	// happens next; failures below are logged, and facts are retried by
	// the next write of the same resource.
	if err := wc.audit(s, r, out); err != nil {
		s.deps.Logger.Error("write applied but its audit event failed", "err", err)
	}
	if err := s.recordFacts(ctx, out); err != nil {
		return out, &apiError{status: http.StatusServiceUnavailable, err: err, issues: []fhir.Issue{{Severity: "error", Code: "transient",
			Diagnostics: "the resource was stored, but its consent or care facts did not reach the ledger; repeat the update to apply them"}}}
	}
	return out, nil
}

// actor names the caller as the ledger's author of a write.
func (s *Server) actor(r *http.Request) string {
	if c := callerOf(r); c != nil {
		return c.p.Member
	}
	return s.deps.Actor(r)
}

// typedBody reads the request body as a resource of the URL's type.
func (s *Server) typedBody(w http.ResponseWriter, r *http.Request) (*fhir.Resource, *apiError) {
	typ := r.PathValue("type")
	if e := s.checkType(typ); e != nil {
		return nil, e
	}
	res, e := readResource(w, r)
	if e != nil {
		return nil, e
	}
	if res.Type != typ {
		return nil, outcome(http.StatusBadRequest, "invalid", "resourceType", "the body is a %s, the URL names %s", res.Type, typ)
	}
	return res, nil
}

// versionPath parses [type]/[id]/_history/[vid] from the URL.
func (s *Server) versionPath(r *http.Request) (typ, id string, v uint64, e *apiError) {
	typ, id = r.PathValue("type"), r.PathValue("id")
	if e := s.checkType(typ); e != nil {
		return "", "", 0, e
	}
	v, err := strconv.ParseUint(r.PathValue("vid"), 10, 64)
	if err != nil {
		return "", "", 0, outcome(http.StatusNotFound, "not-found", "", "version ids are positive integers")
	}
	return typ, id, v, nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	res, e := s.typedBody(w, r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	typ := res.Type
	res.ID = rec.NewID() // create ignores a client-supplied id (FHIR 3.1.0.1)
	if ine := r.Header.Get("If-None-Exist"); ine != "" {
		// Conditional create (3.1.0.8): one match → 200 with it, several →
		// 412, none → create; atomic with the write.
		s.condMu.Lock()
		defer s.condMu.Unlock()
		m, e := s.findOne(r, typ, strings.TrimPrefix(ine, typ+"?"), nil)
		if e != nil {
			s.fail(w, r, e)
			return
		}
		if m != nil {
			g, ok := s.scope(w, r, access.Read, typ)
			if !ok {
				return
			}
			em, js, a, err := s.deps.Service.Read(typ, m.ID)
			if !s.gate(w, r, g, typ+"/"+m.ID, patientOfSubject(em.Subject), err == nil) {
				return
			}
			if err != nil {
				s.fail(w, r, s.classify(err))
				return
			}
			respond(w, r, http.StatusOK, em, js, a.Tx)
			return
		}
	}
	out, ok := s.write(w, r, []rec.Op{{Kind: records.OpCreate, Resource: res}})
	if !ok {
		return
	}
	respond(w, r, http.StatusCreated, out[0].Meta, out[0].JSON, out[0].Tx)
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	res, e := s.typedBody(w, r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	typ, id := res.Type, r.PathValue("id")
	if res.ID != id {
		s.fail(w, r, outcome(http.StatusBadRequest, "invalid", typ+".id", "the body's id must equal the id in the URL"))
		return
	}
	var ifMatch uint64
	if im := r.Header.Get("If-Match"); im != "" {
		v, err := parseETag(im)
		if err != nil {
			s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "If-Match must be an ETag such as W/\"3\""))
			return
		}
		ifMatch = v
	}
	out, ok := s.write(w, r, []rec.Op{{Kind: records.OpUpdate, Resource: res, IfMatch: ifMatch}})
	if !ok {
		return
	}
	status := http.StatusOK
	if out[0].Meta.Version == 1 {
		status = http.StatusCreated
	}
	respond(w, r, status, out[0].Meta, out[0].JSON, out[0].Tx)
}

func parseETag(s string) (uint64, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	s = strings.Trim(s, `"`)
	return strconv.ParseUint(s, 10, 64)
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if e := s.checkType(typ); e != nil {
		s.fail(w, r, e)
		return
	}
	out, ok := s.write(w, r, []rec.Op{{Kind: records.OpDelete, Type: typ, ID: id}})
	if !ok {
		return
	}
	w.Header().Set("ETag", `W/"`+strconv.FormatUint(out[0].Meta.Version, 10)+`"`)
	if !out[0].Tx.IsZero() {
		w.Header().Set("X-Ledger-Tx", out[0].Tx.String())
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) read(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if id == "_history" {
		// GET [type]/_history is dispatched here rather than by its own
		// pattern, which would conflict with literal ones like
		// /fhir/$export-status/{job}. "_history" is not a valid id.
		s.typeHistory(w, r)
		return
	}
	if e := s.checkType(typ); e != nil {
		s.fail(w, r, e)
		return
	}
	g, ok := s.scope(w, r, access.Read, typ)
	if !ok {
		return
	}
	m, js, a, err := s.deps.Service.Read(typ, id)
	exists := err == nil || errors.Is(err, rec.ErrGone)
	if !s.gate(w, r, g, typ+"/"+id, patientOfSubject(m.Subject), exists) {
		return
	}
	if err != nil {
		if errors.Is(err, rec.ErrGone) && a != nil {
			w.Header().Set("ETag", `W/"`+strconv.FormatUint(m.Version, 10)+`"`)
			w.Header().Set("X-Ledger-Tx", a.Tx.String())
		}
		s.fail(w, r, s.classify(err))
		return
	}
	respond(w, r, http.StatusOK, m, js, a.Tx)
}

func (s *Server) vread(w http.ResponseWriter, r *http.Request) {
	typ, id, v, e := s.versionPath(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	g, ok := s.scope(w, r, access.VRead, typ)
	if !ok {
		return
	}
	m, js, a, err := s.deps.Service.VRead(typ, id, v)
	exists := err == nil || errors.Is(err, rec.ErrGone)
	if !s.gate(w, r, g, typ+"/"+id+"/_history/"+strconv.FormatUint(v, 10), patientOfSubject(m.Subject), exists) {
		return
	}
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	respond(w, r, http.StatusOK, m, js, a.Tx)
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if e := s.checkType(typ); e != nil {
		s.fail(w, r, e)
		return
	}
	g, ok := s.scope(w, r, access.History, typ)
	if !ok {
		return
	}
	patient, exists := s.headPatient(typ, id)
	if !s.gate(w, r, g, typ+"/"+id, patient, exists) {
		return
	}
	ms, err := s.deps.Service.History(typ, id)
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	if g.c != nil {
		// Each version is decided on its own patient: a record moved from
		// one patient to another keeps its earlier versions from the new
		// patient's clinicians.
		d := s.decider(g)
		kept := ms[:0]
		for _, m := range ms {
			if d.decide(patientOfSubject(m.Subject)).Allow {
				kept = append(kept, m)
			}
		}
		ms = kept
	}
	s.historyBundle(w, r, ms, len(ms), base(r)+"/"+typ+"/"+id+"/_history")
}

// typeHistory answers GET [type]/_history (?_since, ?_count).
func (s *Server) typeHistory(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if e := s.checkType(typ); e != nil {
		s.fail(w, r, e)
		return
	}
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "_since must be an instant such as 2024-01-02T03:04:05Z"))
			return
		}
		since = t
	}
	count := 50
	if v := q.Get("_count"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "_count must be a non-negative integer"))
			return
		}
		count = min(n, 1000)
	}
	g, ok := s.scope(w, r, access.History, typ)
	if !ok {
		return
	}
	limit := count
	if g.c != nil {
		limit = maxFilteredHistory
	}
	ms, total, err := s.deps.Service.TypeHistory(typ, since, limit)
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	if count == 0 && g.c == nil {
		ms = nil // _count=0 asks for the total only (FHIR search paging)
	}
	if g.c != nil {
		// Only versions the caller may see count, in the total as well;
		// the newest maxFilteredHistory versions are considered.
		d := s.decider(g)
		kept := ms[:0]
		var refs, patients []string
		for _, m := range ms {
			p := patientOfSubject(m.Subject)
			if d.decide(p).Allow {
				kept = append(kept, m)
			}
		}
		total = len(kept)
		ms = kept[:min(count, len(kept))]
		for _, m := range ms {
			refs = append(refs, m.Type+"/"+m.ID+"/_history/"+strconv.FormatUint(m.Version, 10))
			patients = append(patients, patientOfSubject(m.Subject))
		}
		if s.record(r, g.c, access.History, typ, refs, patients, access.Decision{Allow: true, Reason: "history filtered by the access rules"}, audit.OutcomeSuccess) != nil {
			s.fail(w, r, auditFailed())
			return
		}
	}
	s.historyBundle(w, r, ms, total, base(r)+"/"+typ+"/_history?"+q.Encode())
}

// maxFilteredHistory bounds the versions a type-level history considers
// when it must filter them by the caller's access.
const maxFilteredHistory = 10000

// historyBundle writes versions as a history Bundle, newest first.
func (s *Server) historyBundle(w http.ResponseWriter, r *http.Request, ms []rec.Meta, total int, self string) {
	entries := make([]any, 0, len(ms))
	for _, m := range ms {
		e := map[string]any{"fullUrl": base(r) + "/" + m.Type + "/" + m.ID}
		method, status := "PUT", "200 OK"
		if m.Version == 1 {
			method, status = "POST", "201 Created"
		}
		if m.Deleted {
			method, status = "DELETE", "204 No Content"
		} else {
			_, js, _, err := s.deps.Service.VRead(m.Type, m.ID, m.Version)
			if err != nil {
				s.fail(w, r, s.classify(err))
				return
			}
			e["resource"] = json.RawMessage(js)
		}
		url := m.Type
		if method != "POST" {
			url = m.Type + "/" + m.ID
		}
		e["request"] = map[string]any{"method": method, "url": url}
		e["response"] = map[string]any{"status": status, "etag": `W/"` + strconv.FormatUint(m.Version, 10) + `"`, "lastModified": m.LastUpdated.UTC().Format(time.RFC3339Nano)}
		entries = append(entries, e)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "Bundle", "type": "history", "total": total,
		"link":  []any{map[string]any{"relation": "self", "url": self}},
		"entry": entries,
	})
}

// verify answers whether a stored version is the one anchored on the
// ledger, with the anchoring transaction's inclusion proof, as a
// Parameters resource.
func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	typ, id, v, e := s.versionPath(r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	g, ok := s.scope(w, r, access.VRead, typ)
	if !ok {
		return
	}
	vm, js, a, err := s.deps.Service.VRead(typ, id, v)
	if !s.gate(w, r, g, typ+"/"+id+"/_history/"+strconv.FormatUint(v, 10), patientOfSubject(vm.Subject), err == nil || errors.Is(err, rec.ErrGone)) {
		return
	}
	if err != nil && !errors.Is(err, rec.ErrGone) {
		s.fail(w, r, s.classify(err))
		return
	}
	stored := ""
	if js != nil {
		stored = rec.HashOf(js)
	}
	matches := a.Hash == stored
	ans, err := s.deps.Proof(a.Tx)
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	proof, _ := json.Marshal(ans)
	param := func(name string, v map[string]any) map[string]any {
		v["name"] = name
		return v
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resourceType": "Parameters",
		"parameter": []any{
			param("verified", map[string]any{"valueBoolean": matches}),
			param("anchoredHash", map[string]any{"valueString": a.Hash}),
			param("storedHash", map[string]any{"valueString": stored}),
			param("transaction", map[string]any{"valueString": a.Tx.String()}),
			param("height", map[string]any{"valueUnsignedInt": a.Height}),
			param("proof", map[string]any{"valueString": string(proof)}),
		},
	})
}
