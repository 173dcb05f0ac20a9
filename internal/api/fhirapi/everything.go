package fhirapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	rec "github.com/medledger/medledger/internal/records"
)

// compartmentType is a resource type of the Patient compartment and the
// search parameter that names a resource's patient.
type compartmentType struct {
	typ   string
	param string // "patient" (value: the id) or "subject" (value: Patient/id)
}

// query returns the search values selecting the resources of the
// compartment of patient id, or, with id "", of every patient.
func (c compartmentType) query(id string) url.Values {
	switch {
	case c.param == "":
		if id == "" {
			return url.Values{}
		}
		return url.Values{"_id": {id}}
	case id == "":
		return url.Values{c.param + ":missing": {"false"}}
	case c.param == "subject":
		return url.Values{"subject": {"Patient/" + id}}
	}
	return url.Values{c.param: {id}}
}

// compartment lists the Patient compartment's types, Patient first, then
// in fhir.SupportedTypes order: every supported type with a patient search
// parameter, or failing that a subject one. It is computed once from
// constant tables and never modified.
//
// This is narrower than the official CompartmentDefinition, which also
// counts, for example, an Observation whose performer is the patient; such
// resources are rare and are found by search.
var compartment = patientCompartment()

func patientCompartment() []compartmentType {
	out := []compartmentType{{typ: "Patient"}}
	for _, t := range fhir.SupportedTypes {
		if t == "Patient" {
			continue
		}
		var names []string
		for _, p := range search.Params(t) {
			if p.Type == "reference" {
				names = append(names, p.Name)
			}
		}
		switch {
		case slices.Contains(names, "patient"):
			out = append(out, compartmentType{t, "patient"})
		case slices.Contains(names, "subject"):
			out = append(out, compartmentType{t, "subject"})
		}
	}
	return out
}

func inCompartment(typ string) bool {
	return slices.ContainsFunc(compartment, func(c compartmentType) bool { return c.typ == typ })
}

// everythingParams are the parameters of $everything this server honours,
// besides responseParams; R4's start and end (a period of care) are not.
var everythingParams = []string{"_count", "_offset", "_since", "_type"}

// everything serves Patient/{id}/$everything (R4
// patient-operation-everything) as a searchset Bundle:
//
//   - the Patient and every resource of the compartment types (see
//     compartment) that names it, as matches, ordered by type (Patient
//     first, then fhir.SupportedTypes order) and then by id;
//   - the Practitioners, PractitionerRoles and Organizations that a page's
//     matches reference (relative or with this server's base), as include
//     entries once per page, so a page is self-contained; a reference to
//     any other patient is never followed;
//   - _since (an instant with a time zone): only resources last updated at
//     or after it, the Patient included;
//   - _type (comma list): only those types; it also restricts the
//     referenced types included;
//   - _count: page size, default search.DefaultCount, at most
//     search.MaxCount; pages link to the next one with _offset. Offsets
//     are stable while the patient's records do not change, as in search.
//
// total counts the matches over all pages. An unknown patient answers 404,
// a deleted one 410, as a read would.
func (s *Server) everything(w http.ResponseWriter, r *http.Request) {
	if s.deps.Index == nil {
		s.fail(w, r, outcome(http.StatusNotImplemented, "not-supported", "", "$everything needs search, which this server does not offer"))
		return
	}
	id := r.PathValue("id")
	q := r.URL.Query()
	strict := strings.Contains(r.Header.Get("Prefer"), "handling=strict")
	var issues []fhir.Issue
	for k := range q {
		if contains(everythingParams, k) || contains(responseParams, k) {
			continue
		}
		is := fhir.Issue{Severity: "warning", Code: "not-supported", Diagnostics: "a parameter of $everything is not supported: ignored"}
		if name, ok := safeParamName(k); ok {
			is.Diagnostics = "parameter " + strconv.Quote(name) + " of $everything is not supported: ignored"
		}
		if strict {
			is.Severity = "error"
			s.fail(w, r, &apiError{status: http.StatusBadRequest, issues: []fhir.Issue{is}})
			return
		}
		issues = append(issues, is)
	}
	count, e := intParam(q, "_count", search.DefaultCount)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	if count > search.MaxCount {
		count = search.MaxCount
		issues = append(issues, fhir.Issue{Severity: "information", Code: "informational",
			Diagnostics: "_count lowered to the maximum page size, " + strconv.Itoa(search.MaxCount)})
	}
	offset, e := intParam(q, "_offset", 0)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	since, e := sinceParam(q)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	types, e := typeParam(q, func(string) bool { return true })
	if e != nil {
		s.fail(w, r, e)
		return
	}
	want := func(t string) bool { return types == nil || slices.Contains(types, t) }

	g, ok := s.scope(w, r, access.Everything, "Patient")
	if !ok {
		return
	}
	pm, pjs, _, err := s.deps.Service.Read("Patient", id)
	patient := patientOfSubject(pm.Subject)
	if g.c != nil {
		// Decided (and audited) for the patient first; each type of the
		// compartment is then decided on its own, so a consent limited to
		// some kinds of record is honoured.
		exists := err == nil || errors.Is(err, rec.ErrGone)
		if !exists || !s.decider(g).decide(patient).Allow {
			if !s.gate(w, r, g, "Patient/"+id, patient, exists) {
				return
			}
		}
	}
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	allowedType := func(typ string) bool {
		if g.c == nil {
			return true
		}
		tg := &grant{c: g.c, g: g.c.p.Scopes.Allows(typ, "rs"), typ: typ, in: access.Everything}
		return tg.g.Any() && s.decider(tg).decide(patient).Allow
	}
	var auditRefs []string

	// Lay the matches of every type end to end, count them, then fetch
	// the window [offset, offset+count) from the types it overlaps.
	b := base(r)
	var entries []any
	var page []json.RawMessage // the matches' JSON, for their references
	total := 0
	match := func(typ, rid string, js []byte) {
		entries = append(entries, map[string]any{
			"fullUrl": b + "/" + typ + "/" + rid, "resource": json.RawMessage(js), "search": map[string]any{"mode": "match"},
		})
		page = append(page, js)
	}
	for _, c := range compartment {
		if !want(c.typ) || !allowedType(c.typ) {
			continue
		}
		if c.typ == "Patient" {
			if since.IsZero() || !pm.LastUpdated.Before(since) {
				if total >= offset && total < offset+count {
					match("Patient", id, pjs)
				}
				total++
			}
			continue
		}
		mq := c.query(id)
		if !since.IsZero() {
			mq.Set("_lastUpdated", "ge"+searchInstant(since))
		}
		mq.Set("_count", "0")
		res, err := s.deps.Index.Search(c.typ, mq, search.Options{Strict: true})
		if err != nil {
			s.fail(w, r, s.classify(err))
			return
		}
		lo, hi := total, total+res.Total
		total = hi
		if count == 0 || hi <= offset || lo >= offset+count {
			continue
		}
		from := max(offset-lo, 0)
		mq.Set("_sort", "_id")
		mq.Set("_offset", strconv.Itoa(from))
		mq.Set("_count", strconv.Itoa(offset+count-max(lo, offset)))
		res, err = s.deps.Index.Search(c.typ, mq, search.Options{Strict: true})
		if err != nil {
			s.fail(w, r, s.classify(err))
			return
		}
		for i, rid := range res.IDs {
			_, js, _, err := s.deps.Service.VRead(c.typ, rid, res.Versions[i])
			if err != nil {
				continue // deleted or shredded since the index saw it
			}
			match(c.typ, rid, js)
			auditRefs = append(auditRefs, c.typ+"/"+rid)
		}
	}

	// Include what the page's matches reference, outside the compartment.
	includable := map[string]bool{}
	for _, t := range fhir.SupportedTypes {
		if !inCompartment(t) && want(t) {
			includable[t] = true
		}
	}
	var refs []search.Ref
	seen := map[search.Ref]bool{}
	for _, js := range page {
		var tree any
		if json.Unmarshal(js, &tree) == nil {
			refs = collectRefs(tree, b+"/", includable, seen, refs)
		}
	}
	for _, ref := range refs {
		m, js, _, err := s.deps.Service.Read(ref.Type, ref.ID)
		if err != nil {
			continue
		}
		if g.c != nil {
			ig := &grant{c: g.c, g: g.c.p.Scopes.Allows(ref.Type, "r"), typ: ref.Type, in: access.Read}
			if !ig.g.Any() || !s.decider(ig).decide(patientOfSubject(m.Subject)).Allow {
				continue
			}
			auditRefs = append(auditRefs, ref.Type+"/"+ref.ID)
		}
		entries = append(entries, map[string]any{
			"fullUrl": b + "/" + ref.Type + "/" + ref.ID, "resource": json.RawMessage(js), "search": map[string]any{"mode": "include"},
		})
	}
	if len(issues) > 0 {
		entries = append(entries, map[string]any{
			"resource": fhir.OperationOutcome(issues...), "search": map[string]any{"mode": "outcome"},
		})
	}

	if g.c != nil {
		d := s.decider(g).decide(patient)
		if s.record(r, g.c, access.Everything, "Patient", append([]string{"Patient/" + id}, auditRefs...), []string{patient}, d, audit.OutcomeSuccess) != nil {
			s.fail(w, r, auditFailed())
			return
		}
	}
	self := b + "/Patient/" + id + "/$everything"
	links := []any{map[string]any{"relation": "self", "url": withQuery(self, q)}}
	if count > 0 && offset+count < total {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("_count", strconv.Itoa(count))
		nq.Set("_offset", strconv.Itoa(offset+count))
		links = append(links, map[string]any{"relation": "next", "url": withQuery(self, nq)})
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
	if entries != nil {
		bundle["entry"] = entries
	}
	writeJSON(w, http.StatusOK, bundle)
}

func withQuery(u string, q url.Values) string {
	if len(q) == 0 {
		return u
	}
	return u + "?" + q.Encode()
}

// collectRefs appends to out the resources of the types in want that v (a
// JSON tree) references, relatively or under base, skipping those in seen
// and adding them to it.
func collectRefs(v any, base string, want map[string]bool, seen map[search.Ref]bool, out []search.Ref) []search.Ref {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "reference" {
				s = strings.TrimPrefix(s, base)
				parts := strings.Split(s, "/")
				if (len(parts) == 2 || len(parts) == 4 && parts[2] == "_history") && want[parts[0]] && parts[1] != "" {
					ref := search.Ref{Type: parts[0], ID: parts[1]}
					if !seen[ref] {
						seen[ref] = true
						out = append(out, ref)
					}
				}
				continue
			}
			out = collectRefs(e, base, want, seen, out)
		}
	case []any:
		for _, e := range x {
			out = collectRefs(e, base, want, seen, out)
		}
	}
	return out
}

// intParam parses a non-negative integer parameter given at most once.
func intParam(q url.Values, name string, def int) (int, *apiError) {
	vs, ok := q[name]
	if !ok {
		return def, nil
	}
	if len(vs) != 1 {
		return 0, outcome(http.StatusBadRequest, "invalid", "", "parameter %s given more than once", name)
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 0 || n > 1<<30 {
		return 0, outcome(http.StatusBadRequest, "invalid", "", "parameter %s: not a non-negative integer", name)
	}
	return n, nil
}

// sinceParam parses _since, a FHIR instant (with seconds and a time zone);
// zero if absent.
func sinceParam(q url.Values) (time.Time, *apiError) {
	vs, ok := q["_since"]
	if !ok {
		return time.Time{}, nil
	}
	if len(vs) != 1 {
		return time.Time{}, outcome(http.StatusBadRequest, "invalid", "", "parameter _since given more than once")
	}
	// A '+' of a zone offset arrives as ' ' when the client did not escape it.
	t, err := time.Parse(time.RFC3339Nano, strings.Replace(vs[0], " ", "+", 1))
	if err != nil {
		return time.Time{}, outcome(http.StatusBadRequest, "invalid", "", "parameter _since: not a FHIR instant such as 2024-01-31T12:00:00Z")
	}
	return t, nil
}

// searchInstant formats t as a date search value at the index's precision.
func searchInstant(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z")
}

// typeParam parses _type (comma-separated, possibly repeated) into the
// types named, in fhir.SupportedTypes order, each of which must be
// supported and pass ok; nil if _type is absent.
func typeParam(q url.Values, ok func(string) bool) ([]string, *apiError) {
	vs, present := q["_type"]
	if !present {
		return nil, nil
	}
	named := map[string]bool{}
	for _, v := range vs {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "" {
				continue
			}
			if !fhir.Supported(t) {
				return nil, outcome(http.StatusBadRequest, "not-supported", "", "parameter _type names a resource type this server does not support; see /fhir/metadata")
			}
			if !ok(t) {
				return nil, outcome(http.StatusBadRequest, "not-supported", "", "parameter _type names %s, which this operation does not export", t)
			}
			named[t] = true
		}
	}
	if len(named) == 0 {
		return nil, outcome(http.StatusBadRequest, "invalid", "", "parameter _type is empty")
	}
	var out []string
	for _, t := range fhir.SupportedTypes {
		if named[t] {
			out = append(out, t)
		}
	}
	return out, nil
}

// safeParamName returns a parameter name fit to repeat in a message: made
// of the characters FHIR parameter names use. The name is the request's
// structure, not its values, but a client could put anything there.
func safeParamName(s string) (string, bool) {
	if s == "" || len(s) > 64 {
		return "", false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.') {
			return "", false
		}
	}
	return s, true
}
