package fhirapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	res, err := s.deps.Index.Search(typ, match, search.Options{Strict: strict})
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
	for i, id := range res.IDs {
		_, js, err := s.deps.Service.Stored(typ, id, res.Versions[i])
		if err != nil {
			continue // deleted or shredded since the index saw it
		}
		entries = append(entries, map[string]any{
			"fullUrl": b + "/" + typ + "/" + id, "resource": json.RawMessage(js), "search": map[string]any{"mode": "match"},
		})
	}
	for _, ref := range res.Includes {
		_, js, _, err := s.deps.Service.Read(ref.Type, ref.ID)
		if err != nil {
			continue
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
