package fhirapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	rec "github.com/medledger/medledger/internal/records"
)

// Bulk Data export (FHIR Bulk Data Access IG v2, $export).
//
// Kick-off, GET with Prefer: respond-async, at three levels:
//
//	/fhir/$export            every supported type
//	/fhir/{type}/$export     that type only
//	/fhir/Patient/$export    the Patient compartment of every patient
//
// with _type (comma list; a type outside the level answers 400) and _since
// (an instant: resources last updated at or after it). _outputFormat may
// only name NDJSON. Any other parameter (_typeFilter, _elements, patient,
// includeAssociatedData) answers 400, or is ignored under Prefer:
// handling=lenient. Kick-off answers 202 with Content-Location
// /fhir/$export-status/{job}; 429 with Retry-After when maxRunningExports
// jobs are running or maxKeptExports are kept.
//
// The job runs in a goroutine and writes one NDJSON file per type, one
// resource per line, in the state it had at the manifest's transactionTime
// (the kick-off): a resource changed since is written as its version of
// that instant, one created since is left out, and one deleted since may be
// missing. Resources that cannot be read (their key erased) are reported as
// OperationOutcome lines in the manifest's error file. Types with no
// resource get no file.
//
// Status: GET /fhir/$export-status/{job} answers 202 with X-Progress and
// Retry-After while running, 200 with the JSON manifest when complete
// (urls on the base URL of the status request; Expires tells when the files
// go), 500 with an OperationOutcome if the job failed, 404 for a job that is
// unknown, expired, deleted or started by another actor. DELETE on it
// cancels a running job or discards a finished one and removes its files
// (202). Files: GET /fhir/$export-file/{job}.{type}.ndjson as
// application/fhir+ndjson, only to the actor who started the job. (The
// file is addressed in one path segment because ServeMux cannot tell
// /fhir/$export-file/{job}/{file} from /fhir/{type}/{id}/_history.)
//
// The files hold decrypted health data: each job writes into its own 0700
// directory under Deps.ExportDir (itself 0700), files are 0600, and they
// are removed on DELETE, when the job fails, and exportTTL after the job
// completes. Job state lives in memory only: a restart forgets every job
// (clients kick off again), and the next node to start an export in the
// same directory removes job directories unused for exportTTL.
const (
	exportTTL          = time.Hour
	maxRunningExports  = 2
	maxKeptExports     = 8 // running or finished, not yet expired: bounds the disk used
	exportRetrySeconds = 2
	exportPage         = search.MaxCount // resources per index search while exporting
	ndjsonType         = "application/fhir+ndjson"
)

// exportLevel is the scope of a kick-off.
type exportLevel int

const (
	levelSystem exportLevel = iota
	levelType
	levelPatient
)

// jobState is where a job is in its life: running, then complete or
// failed (a cancelled job is removed from the table instead).
type jobState int

const (
	jobRunning jobState = iota
	jobComplete
	jobFailed
)

// exportFile is one NDJSON file of a job.
type exportFile struct {
	typ   string // resource type of its lines
	name  string // file name, also its URL's last segment
	count int
}

// exportJob is one bulk export. The fields above the blank line are set at
// kick-off and never change.
type exportJob struct {
	id, actor string
	caller    *caller // nil on an open server
	request   string  // the kick-off URL, for the manifest
	level     exportLevel
	types     []string
	since     time.Time
	txTime    time.Time // the snapshot instant, transactionTime
	dir       string
	cancel    context.CancelFunc
	done      chan struct{} // closed when the worker has returned

	// Guarded by exporter.mu.
	state    jobState
	progress string
	outputs  []exportFile
	errors   []exportFile
	expires  time.Time
}

// exporter runs and keeps bulk export jobs. Safe for concurrent use.
type exporter struct {
	s    *Server
	root string // the export directory
	ttl  time.Duration
	now  func() time.Time

	mu sync.Mutex
	// jobs are the jobs not yet expired or deleted, by id.
	// +checklocks:mu
	jobs map[string]*exportJob
	// closed is set by close: no job starts after it.
	// +checklocks:mu
	closed bool
}

func newExporter(s *Server) *exporter {
	root := s.deps.ExportDir
	if root == "" {
		root = filepath.Join(os.TempDir(), "medledger-export")
	}
	return &exporter{s: s, root: root, ttl: exportTTL, now: time.Now, jobs: map[string]*exportJob{}}
}

// exportParams are the kick-off parameters honoured, besides _format.
var exportParams = []string{"_type", "_since", "_outputFormat", "_format"}

// levelOf is the level of a kick-off on a type.
func levelOf(typ string) exportLevel {
	if typ == "Patient" {
		return levelPatient
	}
	return levelType
}

// kickoff returns the kick-off handler of a level; typ is the type of a
// type-level export.
func (e *exporter) kickoff(level exportLevel, typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { e.start(w, r, level, typ) }
}

func (e *exporter) start(w http.ResponseWriter, r *http.Request, level exportLevel, typ string) {
	s := e.s
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		s.fail(w, r, outcome(http.StatusMethodNotAllowed, "not-supported", "", "start an export with GET"))
		return
	}
	if s.deps.Index == nil {
		s.fail(w, r, outcome(http.StatusNotImplemented, "not-supported", "", "export needs search, which this server does not offer"))
		return
	}
	prefs := preferences(r)
	if !prefs["respond-async"] {
		s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "$export is asynchronous: send Prefer: respond-async"))
		return
	}
	q := r.URL.Query()
	for k := range q {
		if contains(exportParams, k) || prefs["handling=lenient"] {
			continue
		}
		msg := "a parameter of $export is not supported (Prefer: handling=lenient ignores it)"
		if name, ok := safeParamName(k); ok {
			msg = "parameter " + strconv.Quote(name) + " of $export is not supported (Prefer: handling=lenient ignores it)"
		}
		s.fail(w, r, outcome(http.StatusBadRequest, "not-supported", "", "%s", msg))
		return
	}
	switch q.Get("_outputFormat") {
	case "", ndjsonType, "application/ndjson", "ndjson":
	default:
		s.fail(w, r, outcome(http.StatusBadRequest, "not-supported", "", "_outputFormat must be application/fhir+ndjson"))
		return
	}
	scope := fhir.SupportedTypes
	switch level {
	case levelPatient:
		scope = nil
		for _, c := range compartment {
			scope = append(scope, c.typ)
		}
	case levelType:
		scope = []string{typ}
	}
	types, ae := typeParam(q, func(t string) bool { return slices.Contains(scope, t) })
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	if types == nil {
		types = scope
	}
	c := callerOf(r)
	if c != nil {
		// Types the token's scopes do not cover are left out; none → 403.
		var allowed []string
		for _, t := range types {
			if c.p.Scopes.Allows(t, "rs").Any() {
				allowed = append(allowed, t)
			}
		}
		if len(allowed) == 0 {
			if _, ok := s.scope(w, r, access.Export, types[0]); !ok {
				return
			}
		}
		types = allowed
		d := access.Decision{Allow: true, Reason: "export started; resources filtered by the access rules"}
		if s.record(r, c, access.Export, types[0], types, nil, d, audit.OutcomeSuccess) != nil {
			s.fail(w, r, auditFailed())
			return
		}
	}
	since, ae := sinceParam(q)
	if ae != nil {
		s.fail(w, r, ae)
		return
	}
	reqURL := base(r) + strings.TrimPrefix(r.URL.Path, "/fhir")
	if r.URL.RawQuery != "" {
		reqURL += "?" + r.URL.RawQuery
	}
	j, ae := e.newJob(s.actor(r), c, reqURL, level, types, since)
	if ae != nil {
		if ae.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", strconv.Itoa(exportRetrySeconds*5))
		}
		s.fail(w, r, ae)
		return
	}
	w.Header().Set("Content-Location", base(r)+"/$export-status/"+j.id)
	writeJSON(w, http.StatusAccepted, fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational",
		Diagnostics: "export started; poll the Content-Location"}))
}

// preferences returns the tokens of the Prefer headers, lower-cased.
func preferences(r *http.Request) map[string]bool {
	out := map[string]bool{}
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
				out[p] = true
			}
		}
	}
	return out
}

// newJob registers a job and starts its worker.
func (e *exporter) newJob(actor string, c *caller, reqURL string, level exportLevel, types []string, since time.Time) (*exportJob, *apiError) {
	if err := e.ensureRoot(); err != nil {
		return nil, &apiError{status: http.StatusInternalServerError, err: err,
			issues: []fhir.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the export directory is unusable; the node log has details"}}}
	}
	e.sweep()
	id := newJobID()
	j := &exportJob{
		id: id, actor: actor, caller: c, request: reqURL, level: level, types: types, since: since,
		txTime: e.now().UTC().Truncate(time.Millisecond), dir: filepath.Join(e.root, id),
		done: make(chan struct{}), progress: "starting",
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, outcome(http.StatusServiceUnavailable, "transient", "", "the server is shutting down; try again once it is back")
	}
	running := 0
	for _, o := range e.jobs {
		if o.state == jobRunning {
			running++
		}
	}
	switch {
	case running >= maxRunningExports:
		e.mu.Unlock()
		return nil, outcome(http.StatusTooManyRequests, "throttled", "", "%d exports are running; try again later", running)
	case len(e.jobs) >= maxKeptExports:
		e.mu.Unlock()
		return nil, outcome(http.StatusTooManyRequests, "throttled", "", "%d exports are kept; DELETE finished ones or try again later", len(e.jobs))
	}
	if err := os.Mkdir(j.dir, 0o700); err != nil {
		e.mu.Unlock()
		return nil, &apiError{status: http.StatusInternalServerError, err: fmt.Errorf("export job directory: %w", err),
			issues: []fhir.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the export could not start; the node log has details"}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	j.cancel = cancel
	e.jobs[id] = j
	e.mu.Unlock()
	go e.run(ctx, j)
	return j, nil
}

func newJobID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func isJobID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// ensureRoot creates the export directory, or checks that an existing one
// is a directory (not a symbolic link) that only this user can enter,
// tightening its mode if this user owns it.
func (e *exporter) ensureRoot() error {
	if err := os.MkdirAll(e.root, 0o700); err != nil {
		return fmt.Errorf("export directory %s: %w", e.root, err)
	}
	fi, err := os.Lstat(e.root)
	if err != nil {
		return fmt.Errorf("export directory %s: %w", e.root, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("export directory %s is not a directory (a symbolic link is refused)", e.root)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(e.root, 0o700); err != nil {
			return fmt.Errorf("export directory %s is open to other users and cannot be restricted: %w", e.root, err)
		}
	}
	return nil
}

// sweep removes job directories that no job of this server owns and in
// which nothing changed for the TTL: those of a previous run, or of
// another node sharing the directory whose jobs have expired.
func (e *exporter) sweep() {
	ents, err := os.ReadDir(e.root)
	if err != nil {
		return
	}
	cutoff := e.now().Add(-e.ttl)
	for _, d := range ents {
		if !d.IsDir() || !isJobID(d.Name()) {
			continue
		}
		e.mu.Lock()
		_, mine := e.jobs[d.Name()]
		e.mu.Unlock()
		dir := filepath.Join(e.root, d.Name())
		if mine || newestChange(dir).After(cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			e.s.deps.Logger.Warn("removing a stale export directory", "dir", dir, "err", err)
		}
	}
}

// newestChange returns the latest modification time of dir and its files.
func newestChange(dir string) time.Time {
	var t time.Time
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(t) {
			t = fi.ModTime()
		}
		return nil
	})
	return t
}

// close cancels every job, waits for the workers to return and removes
// all job files: jobs live in memory, so their files would be unreachable
// after a restart. Kick-offs after close are refused.
func (e *exporter) close() {
	e.mu.Lock()
	e.closed = true
	jobs := make([]*exportJob, 0, len(e.jobs))
	for id, j := range e.jobs {
		jobs = append(jobs, j)
		delete(e.jobs, id)
	}
	e.mu.Unlock()
	for _, j := range jobs {
		j.cancel()
	}
	for _, j := range jobs {
		<-j.done
		os.RemoveAll(j.dir)
	}
}

// run is a job's worker.
func (e *exporter) run(ctx context.Context, j *exportJob) {
	defer close(j.done)
	var outs, errs []exportFile
	err := func() (err error) {
		// A panic here must not take the node down: it would if the
		// records store were closed under a running job, as at shutdown.
		// Its value may quote data, so only the fact is kept.
		defer func() {
			if p := recover(); p != nil {
				err = errors.New("export worker panicked")
			}
		}()
		outs, errs, err = e.write(ctx, j)
		return err
	}()
	e.finish(ctx, j, outs, errs, err)
}

// finish records a worker's outcome.
func (e *exporter) finish(ctx context.Context, j *exportJob, outs, errs []exportFile, err error) {
	if ctx.Err() != nil {
		return // cancelled: DELETE removes the files
	}
	if err != nil {
		e.s.deps.Logger.Error("bulk export failed", "job", j.id, "err", err)
		os.RemoveAll(j.dir)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	j.state, j.progress = jobComplete, "complete"
	j.outputs, j.errors = outs, errs
	if err != nil {
		j.state, j.outputs, j.errors = jobFailed, nil, nil
	}
	j.expires = e.now().Add(e.ttl)
	time.AfterFunc(e.ttl, func() { e.expire(j) })
}

// expire forgets a finished job and removes its files, unless DELETE did.
func (e *exporter) expire(j *exportJob) {
	e.mu.Lock()
	mine := e.jobs[j.id] == j
	if mine {
		delete(e.jobs, j.id)
	}
	e.mu.Unlock()
	if mine {
		os.RemoveAll(j.dir)
	}
}

func (e *exporter) setProgress(j *exportJob, format string, args ...any) {
	e.mu.Lock()
	j.progress = fmt.Sprintf(format, args...)
	e.mu.Unlock()
}

// write exports the job's types into its directory.
func (e *exporter) write(ctx context.Context, j *exportJob) (outs, errs []exportFile, err error) {
	var ew *ndjsonWriter // OperationOutcomes, opened at the first
	defer func() {
		if ew == nil {
			return
		}
		if cerr := ew.close(); err == nil {
			err = cerr
		}
		errs = []exportFile{{typ: "OperationOutcome", name: ew.name, count: ew.n}}
	}()
	unreadable := func(typ, id string, rerr error) error {
		e.s.deps.Logger.Warn("bulk export: a resource could not be read", "job", j.id, "type", typ, "id", id, "err", rerr)
		if ew == nil {
			w, err := createNDJSON(j.dir, j.id+".OperationOutcome.ndjson")
			if err != nil {
				return err
			}
			ew = w
		}
		return ew.put(fhir.OperationOutcome(fhir.Issue{Severity: "error", Code: "exception",
			Diagnostics: typ + "/" + id + ": this resource could not be read (its key may have been erased); the node log has details"}))
	}
	for i, typ := range j.types {
		f, err := e.writeType(ctx, j, i, typ, unreadable)
		if err != nil {
			return nil, nil, err
		}
		if f.count > 0 {
			outs = append(outs, f)
		}
		e.setProgress(j, "%d of %d types done", i+1, len(j.types))
	}
	return outs, nil, nil
}

// writeType exports the resources of one type into a file, removed again
// if it stays empty.
func (e *exporter) writeType(ctx context.Context, j *exportJob, i int, typ string, unreadable func(typ, id string, err error) error) (exportFile, error) {
	q := url.Values{}
	if j.level == levelPatient {
		for _, c := range compartment {
			if c.typ == typ {
				q = c.query("")
			}
		}
	}
	if !j.since.IsZero() {
		q.Set("_lastUpdated", "ge"+searchInstant(j.since))
	}
	name := j.id + "." + typ + ".ndjson"
	fw, err := createNDJSON(j.dir, name)
	if err != nil {
		return exportFile{}, err
	}
	var filter func(string) bool
	var dec *decider
	patients := map[string]bool{} // whose records this file holds, for the audit trail
	if c := j.caller; c != nil {
		g := &grant{c: c, g: c.p.Scopes.Allows(typ, "rs"), typ: typ, in: access.Export}
		filter, dec = e.s.filterFor(g), e.s.decider(g)
	}
	err = e.s.eachMatch(ctx, typ, q, filter, func(id string, v uint64) error {
		patient, js, err := e.s.versionAt(typ, id, v, j.txTime, j.since)
		switch {
		case err != nil:
			return unreadable(typ, id, err)
		case js == nil:
			return nil
		}
		// The index's filter decided on the record's current patient;
		// the version exported (as of the job's snapshot) may have been
		// about another, and is decided on its own.
		if dec != nil && !dec.decide(patient).Allow {
			return nil
		}
		if err := fw.putRaw(js); err != nil {
			return err
		}
		if j.caller != nil && patient != "" {
			patients[patient] = true
		}
		if fw.n%exportPage == 0 {
			e.setProgress(j, "%s: %d resources written; %d of %d types done", typ, fw.n, i, len(j.types))
		}
		return nil
	})
	if cerr := fw.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return exportFile{}, err
	}
	if fw.n == 0 {
		os.Remove(filepath.Join(j.dir, name))
	}
	if err := e.auditFile(ctx, j, typ, fw.n, patients); err != nil {
		return exportFile{}, err
	}
	return exportFile{typ: typ, name: name, count: fw.n}, nil
}

// versionAt returns the JSON of the version of a resource current at t,
// starting from version v (the one the index holds), and the patient that
// version is about: nil if the resource was created or deleted after t,
// or if that version was last updated before since.
func (s *Server) versionAt(typ, id string, v uint64, t, since time.Time) (string, []byte, error) {
	m, js, _, err := s.deps.Service.VRead(typ, id, v)
	if err != nil {
		if errors.Is(err, rec.ErrGone) || errors.Is(err, rec.ErrNotFound) {
			return "", nil, nil
		}
		return "", nil, err
	}
	if m.LastUpdated.After(t) {
		// Changed after the snapshot: find the version of that instant.
		hist, err := s.deps.Service.History(typ, id)
		if err != nil {
			return "", nil, err
		}
		i := slices.IndexFunc(hist, func(h rec.Meta) bool { return !h.LastUpdated.After(t) })
		if i < 0 || hist[i].Deleted {
			return "", nil, nil
		}
		if m, js, _, err = s.deps.Service.VRead(typ, id, hist[i].Version); err != nil {
			return "", nil, err
		}
	}
	if !since.IsZero() && m.LastUpdated.Before(since) {
		return "", nil, nil
	}
	return patientOfSubject(m.Subject), js, nil
}

// eachMatch calls fn with every resource of typ matching q and the version
// the index holds, in id order, paging through the index. Between pages
// the index may change: each page starts at or before the last id seen,
// backing off when deletions shifted the order, so no resource that stays
// matched throughout is skipped, and ids seen are not repeated. It stops
// at fn's first error or when ctx is done.
func (s *Server) eachMatch(ctx context.Context, typ string, q url.Values, filter func(string) bool, fn func(id string, v uint64) error) error {
	pq := url.Values{}
	for k, v := range q {
		pq[k] = v
	}
	pq.Set("_sort", "_id")
	pq.Set("_count", strconv.Itoa(exportPage))
	off, last, started := 0, "", false
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		pq.Set("_offset", strconv.Itoa(off))
		res, err := s.deps.Index.Search(typ, pq, search.Options{Strict: true, Filter: filter})
		if err != nil {
			return fmt.Errorf("export search over %s: %w", typ, err)
		}
		if started && off > 0 && len(res.IDs) > 0 && res.IDs[0] > last {
			off = max(off-exportPage, 0)
			continue
		}
		for i, id := range res.IDs {
			if started && id <= last {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(id, res.Versions[i]); err != nil {
				return err
			}
			last, started = id, true
		}
		if res.Next == 0 || len(res.IDs) == 0 {
			return nil
		}
		off += len(res.IDs) - 1 // overlap by one: the next page starts at last
	}
}

// ndjsonWriter writes one resource per line to a new 0600 file.
type ndjsonWriter struct {
	f    *os.File
	w    *bufio.Writer
	name string
	n    int
}

func createNDJSON(dir, name string) (*ndjsonWriter, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("export file: %w", err)
	}
	return &ndjsonWriter{f: f, w: bufio.NewWriterSize(f, 256<<10), name: name}, nil
}

// putRaw writes a resource's JSON as one line.
func (nw *ndjsonWriter) putRaw(js []byte) error {
	if bytes.IndexByte(js, '\n') >= 0 {
		var b bytes.Buffer
		if err := json.Compact(&b, js); err != nil {
			return fmt.Errorf("export: stored JSON: %w", err)
		}
		js = b.Bytes()
	}
	nw.w.Write(js)
	if err := nw.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("export file: %w", err)
	}
	nw.n++
	return nil
}

func (nw *ndjsonWriter) put(v any) error {
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return nw.putRaw(js)
}

func (nw *ndjsonWriter) close() error {
	err := nw.w.Flush()
	if cerr := nw.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("export file: %w", err)
	}
	return nil
}

// job returns the job named by the request's {job}, if the caller started
// it; otherwise it answers 404 (the same whether or not the job exists).
func (e *exporter) job(w http.ResponseWriter, r *http.Request, id string) *exportJob {
	e.mu.Lock()
	j := e.jobs[id]
	e.mu.Unlock()
	if j == nil || j.actor != e.s.actor(r) {
		e.s.fail(w, r, outcome(http.StatusNotFound, "not-found", "", "no such export job: it may have expired or been deleted"))
		return nil
	}
	return j
}

func (e *exporter) status(w http.ResponseWriter, r *http.Request) {
	j := e.job(w, r, r.PathValue("job"))
	if j == nil {
		return
	}
	e.mu.Lock()
	state, progress, expires := j.state, j.progress, j.expires
	outs, errs := j.outputs, j.errors
	e.mu.Unlock()
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	switch state {
	case jobRunning:
		h.Set("X-Progress", progress)
		h.Set("Retry-After", strconv.Itoa(exportRetrySeconds))
		w.WriteHeader(http.StatusAccepted)
		return
	case jobFailed:
		e.s.fail(w, r, &apiError{status: http.StatusInternalServerError,
			issues: []fhir.Issue{{Severity: "fatal", Code: "exception", Diagnostics: "the export failed; the node log has details"}}})
		return
	}
	b := base(r)
	files := func(list []exportFile, withCount bool) []any {
		out := []any{}
		for _, f := range list {
			m := map[string]any{"type": f.typ, "url": b + "/$export-file/" + f.name}
			if withCount {
				m["count"] = f.count
			}
			out = append(out, m)
		}
		return out
	}
	h.Set("Expires", expires.UTC().Format(http.TimeFormat))
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(map[string]any{
		"transactionTime": j.txTime.Format("2006-01-02T15:04:05.000Z07:00"),
		"request":         j.request,
		// The files are served under /fhir, behind the same authentication
		// as the kick-off.
		"requiresAccessToken": true,
		"output":              files(outs, true),
		"error":               files(errs, true),
	})
}

func (e *exporter) delete(w http.ResponseWriter, r *http.Request) {
	j := e.job(w, r, r.PathValue("job"))
	if j == nil {
		return
	}
	e.mu.Lock()
	gone := e.jobs[j.id] != j
	delete(e.jobs, j.id)
	e.mu.Unlock()
	if gone { // a concurrent DELETE or expiry won
		e.s.fail(w, r, outcome(http.StatusNotFound, "not-found", "", "no such export job: it may have expired or been deleted"))
		return
	}
	j.cancel()
	<-j.done // the worker stops within one resource; then no file is open
	if err := os.RemoveAll(j.dir); err != nil {
		e.s.deps.Logger.Error("removing a deleted export's files", "job", j.id, "err", err)
	}
	writeJSON(w, http.StatusAccepted, fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational",
		Diagnostics: "the export was deleted with its files"}))
}

func (e *exporter) file(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	id, _, _ := strings.Cut(name, ".")
	j := e.job(w, r, id)
	if j == nil {
		return
	}
	e.mu.Lock()
	ok := j.state == jobComplete &&
		(slices.ContainsFunc(j.outputs, func(f exportFile) bool { return f.name == name }) ||
			slices.ContainsFunc(j.errors, func(f exportFile) bool { return f.name == name }))
	e.mu.Unlock()
	if !ok {
		e.s.fail(w, r, outcome(http.StatusNotFound, "not-found", "", "no such export file"))
		return
	}
	f, err := os.Open(filepath.Join(j.dir, name))
	if err != nil {
		e.s.fail(w, r, outcome(http.StatusNotFound, "not-found", "", "no such export file: it may have expired or been deleted"))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		e.s.fail(w, r, e.s.classify(err))
		return
	}
	if c := callerOf(r); c != nil {
		// The download itself is an access: audited before a byte goes
		// out (the file's patients were audited when it was written).
		typ := strings.TrimSuffix(strings.TrimPrefix(name, id+"."), ".ndjson")
		d := access.Decision{Allow: true, Reason: "download of a bulk export file"}
		if e.s.record(r, c, access.Export, typ, []string{typ}, nil, d, audit.OutcomeSuccess) != nil {
			e.s.fail(w, r, auditFailed())
			return
		}
	}
	h := w.Header()
	h.Set("Content-Type", ndjsonType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// auditFile records, once a type's file is written, which patients'
// records the export disclosed: one AuditEvent per batch of patients, so
// that each patient finds the export in their trail. A file whose audit
// cannot be recorded fails the export: nothing is disclosed unaudited.
func (e *exporter) auditFile(ctx context.Context, j *exportJob, typ string, n int, patients map[string]bool) error {
	if j.caller == nil || n == 0 {
		return nil
	}
	ps := make([]string, 0, len(patients))
	for p := range patients {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	d := access.Decision{Allow: true, Reason: "bulk export: records filtered by the access rules"}
	refs := make([]string, n) // the event's result-count is the file's resource count
	for i := range refs {
		refs[i] = typ
	}
	for first := true; first || len(ps) > 0; first = false {
		chunk := ps[:min(len(ps), 500)]
		ps = ps[len(chunk):]
		if err := e.s.recordCtx(ctx, j.caller, access.Export, typ, refs, chunk, d, audit.OutcomeSuccess); err != nil {
			return fmt.Errorf("auditing the export of %s: %w", typ, err)
		}
	}
	return nil
}
