package fhirapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	rec "github.com/medledger/medledger/internal/records"
)

// MaxBundleEntries bounds one Bundle.
const MaxBundleEntries = 10000

// bundleEntry is an entry of a transaction or batch Bundle.
type bundleEntry struct {
	FullURL  string          `json:"fullUrl"`
	Resource json.RawMessage `json:"resource"`
	Request  struct {
		Method      string `json:"method"`
		URL         string `json:"url"`
		IfNoneExist string `json:"ifNoneExist"`
		IfMatch     string `json:"ifMatch"`
	} `json:"request"`
}

// postBundle processes a transaction (all-or-nothing, one ledger
// transaction) or batch (each entry on its own) Bundle.
func (s *Server) postBundle(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<20)
	var b struct {
		ResourceType string        `json:"resourceType"`
		Type         string        `json:"type"`
		Entry        []bundleEntry `json:"entry"`
	}
	d := json.NewDecoder(r.Body)
	if err := d.Decode(&b); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.fail(w, r, outcome(http.StatusRequestEntityTooLarge, "too-costly", "", "the Bundle exceeds 64 MiB"))
			return
		}
		s.fail(w, r, outcome(http.StatusBadRequest, "structure", "", "the body is not a JSON Bundle"))
		return
	}
	if b.ResourceType != "Bundle" {
		s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "Bundle.resourceType", "POST to the base accepts a Bundle"))
		return
	}
	if len(b.Entry) > MaxBundleEntries {
		s.fail(w, r, outcome(http.StatusRequestEntityTooLarge, "too-costly", "Bundle.entry", "at most %d entries per Bundle", MaxBundleEntries))
		return
	}
	switch b.Type {
	case "transaction":
		s.transaction(w, r, b.Entry)
	case "batch":
		s.batch(w, r, b.Entry)
	default:
		s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "Bundle.type", "Bundle.type must be transaction or batch"))
	}
}

// planned is an entry turned into a write (or a read, for GET).
type planned struct {
	op     rec.Op
	exists *rec.Meta // conditional create matched an existing resource
	get    string    // GET entries: the relative URL to read or search
}

// plan turns entries into writes: assigns ids to POSTs, resolves urn:uuid
// references, and runs conditional creates.
func (s *Server) plan(r *http.Request, entries []bundleEntry) ([]planned, *apiError) {
	var searches auditQueue // the conditional searches, audited together before any answer
	out, err := s.planEntries(r, entries, &searches)
	if err != nil {
		return nil, err
	}
	if err := searches.record(); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) planEntries(r *http.Request, entries []bundleEntry, searches *auditQueue) ([]planned, *apiError) {
	ids := make(map[string]string, len(entries)) // fullUrl → "Type/id"
	out := make([]planned, len(entries))
	for i, e := range entries {
		where := fmt.Sprintf("Bundle.entry[%d]", i)
		method := strings.ToUpper(e.Request.Method)
		switch method {
		case "POST", "PUT", "DELETE":
		case "GET":
			out[i].get = strings.TrimPrefix(e.Request.URL, "/")
			continue
		case "":
			return nil, outcome(http.StatusBadRequest, "required", where+".request.method", "request.method is required")
		default:
			return nil, outcome(http.StatusBadRequest, "not-supported", where+".request.method", "request.method must be GET, POST, PUT or DELETE")
		}
		path := strings.TrimPrefix(e.Request.URL, "/")
		typ, id, _ := strings.Cut(path, "/")
		if q := strings.IndexByte(typ, '?'); q >= 0 {
			typ, id = typ[:q], ""
		}
		if !fhir.Supported(typ) {
			return nil, outcome(http.StatusBadRequest, "not-supported", where+".request.url", "resource type %q is not supported here", typ)
		}
		if method == "DELETE" {
			if id == "" {
				return nil, outcome(http.StatusBadRequest, "not-supported", where+".request.url", "conditional delete is not supported; name the resource")
			}
			out[i].op = rec.Op{Kind: records.OpDelete, Type: typ, ID: id}
			continue
		}
		res, err := fhir.Parse(e.Resource)
		if err != nil {
			return nil, outcome(http.StatusBadRequest, "structure", where+".resource", "%v", err)
		}
		if res.Type != typ {
			return nil, outcome(http.StatusBadRequest, "invalid", where+".resource", "the resource is a %s, the request URL names %s", res.Type, typ)
		}
		if method == "POST" {
			res.ID = rec.NewID()
			out[i].op = rec.Op{Kind: records.OpCreate, Resource: res}
			if e.Request.IfNoneExist != "" {
				m, err := s.findOne(r, typ, e.Request.IfNoneExist, searches)
				if err != nil {
					return nil, err
				}
				if m != nil {
					out[i].exists = m
					res.ID = m.ID
				}
			}
		} else {
			if _, query, cond := strings.Cut(path, "?"); cond && id == "" {
				// Conditional update: no match creates, one match updates
				// it, several are an error (FHIR 3.1.0.4.1).
				m, err := s.findOne(r, typ, query, searches)
				if err != nil {
					return nil, err
				}
				if m != nil {
					id = m.ID
				} else if res.ID != "" {
					id = res.ID
				} else {
					id = rec.NewID()
				}
				res.ID = id
			}
			if id == "" || strings.Contains(id, "?") {
				return nil, outcome(http.StatusBadRequest, "invalid", where+".request.url", "PUT needs Type/id or a conditional Type?query")
			}
			if res.ID != id {
				return nil, outcome(http.StatusBadRequest, "invalid", where+".resource.id", "the resource's id must equal the id in request.url")
			}
			out[i].op = rec.Op{Kind: records.OpUpdate, Resource: res}
			if e.Request.IfMatch != "" {
				v, err := parseETag(e.Request.IfMatch)
				if err != nil {
					return nil, outcome(http.StatusBadRequest, "invalid", where+".request.ifMatch", "ifMatch must be an ETag such as W/\"3\"")
				}
				out[i].op.IfMatch = v
			}
		}
		if e.FullURL != "" {
			ids[e.FullURL] = typ + "/" + res.ID
		}
	}
	// Rewrite references to entries' fullUrls (urn:uuid:... or absolute).
	for i := range out {
		if out[i].op.Resource != nil && len(ids) > 0 {
			rewriteRefs(out[i].op.Resource.Tree, ids)
		}
	}
	return out, nil
}

// rewriteRefs replaces every Reference.reference found in ids.
func rewriteRefs(v any, ids map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if k == "reference" {
				if s, ok := c.(string); ok {
					if to, ok := ids[s]; ok {
						x[k] = to
					}
				}
				continue
			}
			rewriteRefs(c, ids)
		}
	case []any:
		for _, c := range x {
			rewriteRefs(c, ids)
		}
	}
}

// findOne resolves a conditional create's or update's search: nil when
// nothing matches, an error when several do. Only resources the caller
// may read match: a hidden one is as good as absent, which never tells
// the caller it exists. The search is an access like any other and is
// audited (with what it matched) before its answer is disclosed: at once,
// or, when later is not nil, queued there to be recorded with the others.
func (s *Server) findOne(r *http.Request, typ, query string, later *auditQueue) (*rec.Meta, *apiError) {
	if s.deps.Index == nil {
		return nil, outcome(http.StatusNotImplemented, "not-supported", "", "conditional create needs search, which this server does not offer")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, outcome(http.StatusBadRequest, "invalid", "", "ifNoneExist is not a query string")
	}
	q.Set("_count", "2")
	res, err := s.deps.Index.Search(typ, q, search.Options{Strict: true, Filter: s.visible(r, access.Read, typ)})
	if err != nil {
		return nil, outcome(http.StatusBadRequest, "invalid", "", "ifNoneExist: %v", err)
	}
	ids := res.IDs
	if c := callerOf(r); c != nil {
		var refs, patients []string
		for _, id := range ids {
			p, _ := s.headPatient(typ, id)
			refs, patients = append(refs, typ+"/"+id), append(patients, p)
		}
		d := access.Decision{Allow: true, Reason: "conditional request's search, filtered by the access rules"}
		write := func() error { return s.record(r, c, access.Search, typ, refs, patients, d, audit.OutcomeSuccess) }
		if later != nil {
			*later = append(*later, write)
		} else if write() != nil {
			return nil, auditFailed()
		}
	}
	switch len(ids) {
	case 0:
		return nil, nil
	case 1:
		h, err := s.deps.Service.Head(typ, ids[0])
		if err != nil || h == nil {
			return nil, s.classify(fmt.Errorf("conditional create: %w", rec.ErrNotFound))
		}
		return &rec.Meta{Type: typ, ID: ids[0], Version: h.Version}, nil
	}
	return nil, outcome(http.StatusPreconditionFailed, "multiple-matches", "", "ifNoneExist matches more than one resource")
}

// auditQueue holds audit records to write together: concurrently, so
// that the node's audit batcher puts them in one transaction and they
// cost one commit rather than one each.
type auditQueue []func() error

func (q auditQueue) record() *apiError {
	errs := make([]error, len(q))
	var wg sync.WaitGroup
	for i, write := range q {
		wg.Go(func() { errs[i] = write() })
	}
	wg.Wait()
	if errors.Join(errs...) != nil {
		return auditFailed()
	}
	return nil
}

func entryResponse(status string, m rec.Meta, r *http.Request) map[string]any {
	resp := map[string]any{"status": status, "etag": `W/"` + strconv.FormatUint(m.Version, 10) + `"`}
	if !m.LastUpdated.IsZero() {
		resp["lastModified"] = m.LastUpdated.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	if !m.Deleted {
		resp["location"] = m.Type + "/" + m.ID + "/_history/" + strconv.FormatUint(m.Version, 10)
	}
	return map[string]any{"response": resp}
}

// conditional reports whether any entry is a conditional create or update:
// their search and their write must be atomic together.
func conditional(entries []bundleEntry) bool {
	for _, e := range entries {
		if e.Request.IfNoneExist != "" || strings.Contains(e.Request.URL, "?") {
			return true
		}
	}
	return false
}

func (s *Server) transaction(w http.ResponseWriter, r *http.Request, entries []bundleEntry) {
	if conditional(entries) {
		// Two concurrent transactions must not both find "no match" and
		// both create. Writes hold the lock until anchored and indexed.
		s.condMu.Lock()
		defer s.condMu.Unlock()
	}
	plan, e := s.plan(r, entries)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	var ops []rec.Op
	var idx []int
	for i, p := range plan {
		if p.exists == nil && p.get == "" {
			ops = append(ops, p.op)
			idx = append(idx, i)
		}
	}
	written, ok := s.write(w, r, ops)
	if !ok {
		return
	}
	out := make([]any, len(entries))
	for i, p := range plan {
		if p.exists != nil {
			out[i] = entryResponse("200 OK", *p.exists, r)
		}
	}
	tx := ""
	for k, wr := range written {
		st := "200 OK"
		switch plan[idx[k]].op.Kind {
		case records.OpCreate:
			st = "201 Created"
		case records.OpDelete:
			st = "204 No Content"
		}
		if plan[idx[k]].op.Kind == records.OpUpdate && wr.Meta.Version == 1 {
			st = "201 Created"
		}
		out[idx[k]] = entryResponse(st, wr.Meta, r)
		if !wr.Tx.IsZero() {
			tx = wr.Tx.String()
		}
	}
	for i, p := range plan {
		if p.get != "" { // reads run after the writes (3.1.0.11.2)
			out[i] = s.getEntry(r, p.get)
		}
	}
	if tx != "" {
		w.Header().Set("X-Ledger-Tx", tx)
	}
	writeJSON(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "transaction-response", "entry": out})
}

func (s *Server) batch(w http.ResponseWriter, r *http.Request, entries []bundleEntry) {
	out := make([]any, len(entries))
	for i := range entries {
		if conditional(entries[i : i+1]) {
			s.condMu.Lock()
		}
		s.batchEntry(w, r, entries, out, i)
		if conditional(entries[i : i+1]) {
			s.condMu.Unlock()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"resourceType": "Bundle", "type": "batch-response", "entry": out})
}

func (s *Server) batchEntry(w http.ResponseWriter, r *http.Request, entries []bundleEntry, out []any, i int) {
	{
		plan, e := s.plan(r, entries[i:i+1])
		if e != nil {
			out[i] = map[string]any{"response": map[string]any{"status": fmt.Sprintf("%d", e.status), "outcome": fhir.OperationOutcome(e.issues...)}}
			return
		}
		if plan[0].exists != nil {
			out[i] = entryResponse("200 OK", *plan[0].exists, r)
			return
		}
		if plan[0].get != "" {
			out[i] = s.getEntry(r, plan[0].get)
			return
		}
		ws, ae := s.apply(r, []rec.Op{plan[0].op})
		if ae != nil && ws == nil {
			out[i] = map[string]any{"response": map[string]any{"status": fmt.Sprintf("%d", ae.status), "outcome": fhir.OperationOutcome(ae.issues...)}}
			return
		}
		st := "200 OK"
		if plan[0].op.Kind == records.OpCreate || ws[0].Meta.Version == 1 {
			st = "201 Created"
		}
		if plan[0].op.Kind == records.OpDelete {
			st = "204 No Content"
		}
		out[i] = entryResponse(st, ws[0].Meta, r)
	}
}

// getEntry answers a Bundle's GET entry (read, vread, search, history)
// through the server's own GET handling, so it behaves exactly like the
// REST interaction.
func (s *Server) getEntry(r *http.Request, rel string) map[string]any {
	req := httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/fhir/"+rel, nil)
	req.Host = r.Host
	req.TLS = r.TLS
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	resp := map[string]any{"status": fmt.Sprintf("%d %s", rec.Code, http.StatusText(rec.Code))}
	if et := rec.Header().Get("ETag"); et != "" {
		resp["etag"] = et
	}
	e := map[string]any{"response": resp}
	if body := bytes.TrimSpace(rec.Body.Bytes()); len(body) > 0 {
		if rec.Code < 300 {
			e["resource"] = json.RawMessage(body)
		} else {
			resp["outcome"] = json.RawMessage(body)
		}
	}
	return e
}
