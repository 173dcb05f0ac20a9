package fhirapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
)

// responseParams shape the answer rather than the match; the index ignores
// them and so does this server, except _format (content negotiation).
var responseParams = []string{"_format", "_pretty", "_summary", "_elements", "_total"}

func (s *Server) searchType(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	if e := s.checkType(typ); e != nil {
		s.fail(w, r, e)
		return
	}
	if s.deps.Index == nil {
		s.fail(w, r, outcome(http.StatusNotImplemented, "not-supported", "", "search is not offered by this server"))
		return
	}
	q := r.URL.Query()
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "the _search body must be application/x-www-form-urlencoded"))
			return
		}
		q = r.Form
	}
	match := url.Values{}
	for k, v := range q {
		if !contains(responseParams, k) {
			match[k] = v
		}
	}
	strict := strings.Contains(r.Header.Get("Prefer"), "handling=strict")
	g, ok := s.scope(w, r, access.Search, typ)
	if !ok {
		return
	}
	var filter func(string) bool
	if g.c != nil {
		filter = s.filterFor(g)
	}
	res, err := s.deps.Index.Search(typ, match, search.Options{Strict: strict, Filter: filter})
	if err != nil {
		var se *search.Error
		if errors.As(err, &se) {
			s.fail(w, r, &apiError{status: http.StatusBadRequest, issues: []fhir.Issue{se.Issue}})
			return
		}
		s.fail(w, r, s.classify(err))
		return
	}
	b := base(r)
	var entries []any
	var refs, patients []string
	for i, id := range res.IDs {
		m, js, err := s.deps.Service.Stored(typ, id, res.Versions[i])
		if err != nil {
			continue // deleted or shredded since the index saw it
		}
		refs = append(refs, typ+"/"+id)
		patients = append(patients, patientOfSubject(m.Subject))
		entries = append(entries, map[string]any{
			"fullUrl": b + "/" + typ + "/" + id, "resource": json.RawMessage(js), "search": map[string]any{"mode": "match"},
		})
	}
	for _, ref := range res.Includes {
		m, js, _, err := s.deps.Service.Read(ref.Type, ref.ID)
		if err != nil {
			continue
		}
		if g.c != nil {
			// An included resource is read under its own type's scopes
			// and the same rules; one the caller may not read is left out.
			ig := &grant{c: g.c, g: g.c.p.Scopes.Allows(ref.Type, "r"), typ: ref.Type, in: access.Read}
			if !ig.g.Any() || !s.decider(ig).decide(patientOfSubject(m.Subject)).Allow {
				continue
			}
			refs = append(refs, ref.Type+"/"+ref.ID)
			patients = append(patients, patientOfSubject(m.Subject))
		}
		entries = append(entries, map[string]any{
			"fullUrl": b + "/" + ref.Type + "/" + ref.ID, "resource": json.RawMessage(js), "search": map[string]any{"mode": "include"},
		})
	}
	if len(res.Issues) > 0 {
		entries = append(entries, map[string]any{
			"resource": fhir.OperationOutcome(res.Issues...), "search": map[string]any{"mode": "outcome"},
		})
	}
	if g.c != nil {
		d := access.Decision{Allow: true, Reason: "search results filtered by the access rules"}
		if s.record(r, g.c, access.Search, typ, refs, patients, d, audit.OutcomeSuccess) != nil {
			s.fail(w, r, auditFailed())
			return
		}
	}
	self := b + "/" + typ + "?" + q.Encode()
	links := []any{map[string]any{"relation": "self", "url": self}}
	if res.Next > 0 {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("_offset", strconv.Itoa(res.Next))
		links = append(links, map[string]any{"relation": "next", "url": b + "/" + typ + "?" + nq.Encode()})
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": res.Total, "link": links}
	if entries != nil {
		bundle["entry"] = entries
	}
	writeJSON(w, http.StatusOK, bundle)
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}
