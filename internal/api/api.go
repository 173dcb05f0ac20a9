// Package api serves the node's ledger HTTP API on a stdlib ServeMux: submit
// signed transactions (answered only once durably committed), read blocks,
// transactions with receipts and inclusion proofs, signed tree heads and
// consistency proofs, and the identity and notary records as of any height;
// plus /healthz, /readyz and /metrics.
//
// Errors are JSON {"error": {"code", "message"}} with a stable code (the
// ledger's rejection codes, plus not_found, bad_request, method_not_allowed,
// canceled and internal) and a fitting status. Messages never echo request
// bodies, and internal errors are logged, not returned. The bodies' types
// are in package apitype.
package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/consensus/solo"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

// Submitter orders transactions; *solo.Sequencer implements it.
type Submitter interface {
	Submit(ctx context.Context, raw []byte) (solo.Receipt, error)
	SubmitBatch(ctx context.Context, raws [][]byte) []solo.Result
}

// Config tunes the API. Zero fields take the documented defaults.
type Config struct {
	// MaxBatch is the most transactions in one POST /v1/txs. Default 1000.
	MaxBatch int
	// MaxBodyBytes bounds a request body. Default 16 MiB.
	MaxBodyBytes int64
	// MaxTxBytes bounds one transaction. Default ledger.MaxTxBytes.
	MaxTxBytes int
	// CommitTimeout is how long a submit waits for its block before
	// answering 503. Default 30s.
	CommitTimeout time.Duration
}

// Deps are the API's collaborators.
type Deps struct {
	ChainID   string
	NodeKeyID string
	NodeKey   []byte // Ed25519 public key that signs block headers
	Store     *store.Store
	Submitter Submitter
	Machine   *contract.Machine
	Metrics   http.Handler // nil: no /metrics
	// Ready reports whether the node can accept transactions.
	Ready  func() error
	Logger *slog.Logger
	// Observe, if set, is told each request's route pattern, status and duration.
	Observe func(route string, status int, d time.Duration)
}

// Server is the HTTP handler.
type Server struct {
	cfg   Config
	deps  Deps
	mux   *http.ServeMux
	allow map[string][]string // path pattern → methods; only used while routing is set up
}

// New returns the API handler.
func New(cfg Config, deps Deps) *Server {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1000
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 16 << 20
	}
	if cfg.MaxTxBytes <= 0 || cfg.MaxTxBytes > ledger.MaxTxBytes {
		cfg.MaxTxBytes = ledger.MaxTxBytes
	}
	if cfg.CommitTimeout <= 0 {
		cfg.CommitTimeout = 30 * time.Second
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, deps: deps, mux: http.NewServeMux(), allow: make(map[string][]string)}
	s.routes()
	s.allow = nil
	return s
}

func (s *Server) routes() {
	s.handle("POST /v1/tx", s.postTx)
	s.handle("POST /v1/txs", s.postTxs)
	s.handle("GET /v1/tx/{hash}", s.getTx)
	s.handle("GET /v1/blocks/{height}", s.getBlock)
	s.handle("GET /v1/sth", s.getSTH)
	s.handle("GET /v1/proof/inclusion", s.getInclusion)
	s.handle("GET /v1/proof/consistency", s.getConsistency)
	s.handle("GET /v1/status", s.getStatus)
	s.handle("GET /v1/members/{id...}", s.getMember)
	s.handle("GET /v1/models", s.listModels)
	s.handle("GET /v1/models/{sha256}", s.getModel)
	s.handle("GET /v1/orgs/{id}", s.getOrg)
	s.handle("GET /v1/notary/{hash}", s.getNotary)
	s.handle("GET /v1/policies", s.getPolicies)
	s.handle("GET /healthz", func(w http.ResponseWriter, r *http.Request) error {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		return nil
	})
	s.handle("GET /readyz", func(w http.ResponseWriter, r *http.Request) error {
		if err := s.ready(); err != nil {
			return &httpError{status: http.StatusServiceUnavailable, code: string(ledger.CodeUnavailable), msg: notReadyMsg}
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return nil
	})
	if s.deps.Metrics != nil {
		s.mux.Handle("GET /metrics", s.deps.Metrics)
		s.allow["/metrics"] = append(s.allow["/metrics"], http.MethodGet)
	}
	// A known path with the wrong method answers 405 with Allow, rather than
	// falling through to the catch-all's 404.
	for path, methods := range s.allow {
		allow := strings.Join(methods, ", ")
		s.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeError(w, &httpError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: "this endpoint accepts " + allow})
		})
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &httpError{status: http.StatusNotFound, code: "not_found", msg: "no such endpoint; see the README's API section"})
	})
}

// notReadyMsg is the public face of a sequencer failure, whose own error
// may name internal paths; that error is logged instead.
const notReadyMsg = "node is not accepting transactions; the node log has details"

// ready calls deps.Ready and logs why the node is not ready.
func (s *Server) ready() error {
	if s.deps.Ready == nil {
		return nil
	}
	err := s.deps.Ready()
	if err != nil {
		s.deps.Logger.Warn("node not ready", "err", err)
	}
	return err
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.allow[path] = append(s.allow[path], method)
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		if err := h(sw, r); err != nil {
			he := s.classify(err, pattern)
			writeError(sw, he)
		}
		if s.deps.Observe != nil {
			s.deps.Observe(pattern, sw.status, time.Since(start))
		}
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// httpError is an error with its public face.
type httpError struct {
	status int
	code   string
	msg    string
	err    error // internal; logged, never sent
}

func (e *httpError) Error() string { return e.code + ": " + e.msg }

// Unwrap returns the internal error, so callers can test it with errors.Is.
func (e *httpError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &httpError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf(format, args...)}
}

// StatusOf maps a ledger code to its HTTP status.
func StatusOf(c ledger.Code) int {
	switch c {
	case ledger.CodeOK:
		return http.StatusOK
	case ledger.CodeMalformed, ledger.CodeWrongChain:
		return http.StatusBadRequest
	case ledger.CodeBadSignature, ledger.CodeUnknownSigner:
		return http.StatusUnauthorized
	case ledger.CodeSuspendedSigner, ledger.CodeDenied:
		return http.StatusForbidden
	case ledger.CodeReplay:
		return http.StatusConflict
	case ledger.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	case ledger.CodeUnknownContract, ledger.CodeUnknownMethod, ledger.CodeContract:
		return http.StatusUnprocessableEntity
	case ledger.CodeOverloaded, ledger.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) classify(err error, route string) *httpError {
	var he *httpError
	if errors.As(err, &he) {
		return he
	}
	var le *ledger.Error
	if errors.As(err, &le) {
		return &httpError{status: StatusOf(le.Code), code: string(le.Code), msg: le.Msg}
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: string(ledger.CodeTooLarge), msg: fmt.Sprintf("request body exceeds %d bytes", mbe.Limit)}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &httpError{status: http.StatusServiceUnavailable, code: string(ledger.CodeUnavailable),
			msg: fmt.Sprintf("not committed within %s; the transaction may still commit: look it up by hash", s.cfg.CommitTimeout)}
	}
	if errors.Is(err, context.Canceled) {
		return &httpError{status: 499, code: "canceled", msg: "request canceled"}
	}
	s.deps.Logger.Error("request failed", "route", route, "err", err)
	return &httpError{status: http.StatusInternalServerError, code: "internal", msg: "internal error; the node log has details"}
}

func writeError(w http.ResponseWriter, e *httpError) {
	if e.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1") // overload and commit waits clear within about a second
	}
	writeJSON(w, e.status, apitype.ErrorBody{Error: apitype.ErrorDetail{Code: e.code, Message: e.msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// readBody reads the whole body within the limit.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &httpError{status: http.StatusRequestEntityTooLarge, code: string(ledger.CodeTooLarge), msg: fmt.Sprintf("request body exceeds %d bytes", limit)}
		}
		return nil, badRequest("cannot read body: %v", err)
	}
	return b, nil
}

// decodeJSON strictly decodes b into v; want describes the expected shape
// for the error message.
func decodeJSON(b []byte, v any, want string) error {
	d := json.NewDecoder(bytesReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return &httpError{status: http.StatusBadRequest, code: string(ledger.CodeMalformed), msg: "body is not the expected JSON " + want + ": " + jsonErr(err)}
	}
	// Not d.More(), which reports false for a stray '}' or ']'.
	if _, err := d.Token(); err != io.EOF {
		return &httpError{status: http.StatusBadRequest, code: string(ledger.CodeMalformed), msg: "body has data after the JSON value"}
	}
	return nil
}

// jsonErr describes a JSON error without quoting input.
func jsonErr(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("syntax error at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Sprintf("field %q must be %s", te.Field, te.Type)
	case errors.Is(err, io.EOF):
		return "empty body"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	}
	// What remains is chiefly "json: unknown field %q", which would echo a
	// key of the request body: describe it without quoting.
	return "unknown field or unexpected value"
}

func parseHeight(s string) (uint64, error) {
	h, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("height %q is not a non-negative integer", s)
	}
	return h, nil
}

// asOf parses an optional ?height= and checks it is committed.
func (s *Server) asOf(r *http.Request) (uint64, error) {
	q := r.URL.Query().Get("height")
	top := s.deps.Store.Height()
	if q == "" {
		return top, nil
	}
	h, err := parseHeight(q)
	if err != nil {
		return 0, err
	}
	if h > top {
		return 0, notFound("height %d is not committed yet (latest is %d)", h, top)
	}
	return h, nil
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
