package web

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/api/fhirapi"
)

// fhirAnswer is the FHIR API's answer to an in-process request.
type fhirAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (a *fhirAnswer) ok() bool { return a.status >= 200 && a.status < 300 }

// resource decodes the answer as a JSON object.
func (a *fhirAnswer) resource() obj {
	var m map[string]any
	json.Unmarshal(a.body, &m)
	return m
}

// diagnostics returns the OperationOutcome's messages: they are written
// for the API's clients and never quote record contents.
func (a *fhirAnswer) diagnostics() string {
	var msgs []string
	for _, is := range a.resource().list("issue") {
		if d := is.str("diagnostics"); d != "" {
			msgs = append(msgs, d)
		}
	}
	return strings.Join(msgs, "; ")
}

// fhir makes a FHIR request in-process as the signed-in user: the API
// authorises, decides and audits it as it would a request with the
// user's token.
func (s *Server) fhir(r *http.Request, c *call, method, path string, body []byte) *fhirAnswer {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ctx := fhirapi.WithPrincipalFrom(r.Context(), s.deps.FHIR, c.p, host)
	req := httptest.NewRequestWithContext(ctx, method, "/fhir/"+strings.TrimPrefix(path, "/"), rd)
	req.Host = r.Host
	req.TLS = r.TLS
	req.RemoteAddr = r.RemoteAddr
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	rec := httptest.NewRecorder()
	s.deps.FHIR.ServeHTTP(rec, req)
	return &fhirAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// obj is a decoded JSON object, with path helpers.
type obj map[string]any

func (o obj) get(path string) any {
	var v any = map[string]any(o)
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			if len(x) == 0 {
				return nil
			}
			if m, ok := x[0].(map[string]any); ok {
				v = m[k]
			} else {
				return nil
			}
		default:
			return nil
		}
	}
	return v
}

func (o obj) str(path string) string {
	switch x := o.get(path).(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

func (o obj) list(path string) []obj {
	l, _ := o.get(path).([]any)
	out := make([]obj, 0, len(l))
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// concept returns the text of a CodeableConcept: its text, else the
// first coding's display, else its code.
func (o obj) concept(path string) string {
	c, _ := o.get(path).(map[string]any)
	if c == nil {
		if l, ok := o.get(path).([]any); ok && len(l) > 0 {
			c, _ = l[0].(map[string]any)
		}
	}
	if c == nil {
		return ""
	}
	co := obj(c)
	if t := co.str("text"); t != "" {
		return t
	}
	for _, cd := range co.list("coding") {
		if d := cd.str("display"); d != "" {
			return d
		}
	}
	return co.str("coding.code")
}

// entries returns the resources of a searchset Bundle's matches.
func (o obj) entries() []obj {
	var out []obj
	for _, e := range o.list("entry") {
		if mode := e.str("search.mode"); mode != "" && mode != "match" {
			continue
		}
		if r, ok := e.get("resource").(map[string]any); ok {
			out = append(out, r)
		}
	}
	return out
}

// item is one entry of a record's timeline.
type item struct {
	Type, ID, Version string
	When              time.Time
	Date              string // as recorded (may be partial)
	Category          string
	Title             string
	Detail            string
	Status            string
}

// categories of the timeline, in display order, with the types in each.
var categories = []struct{ Name, Label string }{
	{"encounters", "Encounters"}, {"conditions", "Conditions"}, {"results", "Results"}, {"medications", "Medications"},
	{"other", "Procedures, immunisations and allergies"},
}

var categoryOf = map[string]string{
	"Encounter": "encounters", "Condition": "conditions", "Observation": "results", "DiagnosticReport": "results",
	"MedicationRequest": "medications", "MedicationStatement": "medications",
	"Procedure": "other", "Immunization": "other", "AllergyIntolerance": "other",
}

// timelineTypes are the types a record's timeline shows ($everything
// _type), with Patient for the header.
const timelineTypes = "Patient,Encounter,Condition,Observation,DiagnosticReport,MedicationRequest,MedicationStatement,Procedure,Immunization,AllergyIntolerance"

// parseDate parses a FHIR date or dateTime (possibly partial).
func parseDate(s string) time.Time {
	for _, l := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(l, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

// summarize turns a resource into a timeline item, or false for a type
// the timeline does not show.
func summarize(r obj) (item, bool) {
	typ := r.str("resourceType")
	cat, ok := categoryOf[typ]
	if !ok {
		return item{}, false
	}
	it := item{Type: typ, ID: r.str("id"), Version: r.str("meta.versionId"), Category: cat, Status: r.str("status")}
	first := func(paths ...string) string {
		for _, p := range paths {
			if v := r.str(p); v != "" {
				return v
			}
		}
		return ""
	}
	switch typ {
	case "Encounter":
		it.Date = first("period.start", "period.end")
		it.Title = first("type.text")
		if it.Title == "" {
			it.Title = r.concept("type")
		}
		if it.Title == "" {
			it.Title = "Encounter (" + first("class.display", "class.code") + ")"
		}
		if rs := r.concept("reasonCode"); rs != "" {
			it.Detail = "Reason: " + rs
		}
	case "Condition":
		it.Date = first("onsetDateTime", "recordedDate", "onsetPeriod.start")
		it.Title = r.concept("code")
		it.Status = r.concept("clinicalStatus")
	case "Observation":
		it.Date = first("effectiveDateTime", "effectivePeriod.start", "issued")
		it.Title = r.concept("code")
		it.Detail = value(r)
		if it.Detail == "" {
			var parts []string
			for _, c := range r.list("component") {
				if v := value(c); v != "" {
					parts = append(parts, c.concept("code")+" "+v)
				}
			}
			it.Detail = strings.Join(parts, ", ")
		}
	case "DiagnosticReport":
		it.Date = first("effectiveDateTime", "effectivePeriod.start", "issued")
		it.Title = r.concept("code")
		it.Detail = r.str("conclusion")
	case "MedicationRequest", "MedicationStatement":
		it.Date = first("authoredOn", "effectiveDateTime", "effectivePeriod.start", "dateAsserted")
		it.Title = r.concept("medicationCodeableConcept")
		if it.Title == "" {
			it.Title = first("medicationReference.display", "medicationReference.reference")
		}
		it.Detail = first("dosageInstruction.text", "dosage.text")
	case "Procedure":
		it.Date = first("performedDateTime", "performedPeriod.start")
		it.Title = r.concept("code")
	case "Immunization":
		it.Date = first("occurrenceDateTime", "recorded")
		it.Title = "Immunisation: " + r.concept("vaccineCode")
	case "AllergyIntolerance":
		it.Date = first("recordedDate", "onsetDateTime")
		it.Title = "Allergy: " + r.concept("code")
		it.Status = r.concept("clinicalStatus")
	}
	if it.Title == "" {
		it.Title = typ
	}
	it.When = parseDate(it.Date)
	return it, true
}

// value renders an Observation's (or component's) value.
func value(o obj) string {
	if q, ok := o.get("valueQuantity").(map[string]any); ok {
		qo := obj(q)
		u := qo.str("unit")
		if u == "" {
			u = qo.str("code")
		}
		return strings.TrimSpace(qo.str("comparator") + qo.str("value") + " " + u)
	}
	for _, k := range []string{"valueCodeableConcept"} {
		if v := o.concept(k); v != "" {
			return v
		}
	}
	for _, k := range []string{"valueString", "valueBoolean", "valueInteger", "valueDateTime"} {
		if v := o.str(k); v != "" {
			return v
		}
	}
	return ""
}

// patientView is a Patient's header.
type patientView struct {
	ID, Name, BirthDate, Gender, Identifier string
}

func patientOf(r obj) patientView {
	pv := patientView{ID: r.str("id"), BirthDate: r.str("birthDate"), Gender: r.str("gender")}
	if n := r.list("name"); len(n) > 0 {
		if t := n[0].str("text"); t != "" {
			pv.Name = t
		} else {
			var parts []string
			if g, ok := n[0].get("given").([]any); ok {
				for _, x := range g {
					if s, ok := x.(string); ok {
						parts = append(parts, s)
					}
				}
			}
			parts = append(parts, n[0].str("family"))
			pv.Name = strings.TrimSpace(strings.Join(parts, " "))
		}
	}
	if pv.Name == "" {
		pv.Name = "Patient " + pv.ID
	}
	if ids := r.list("identifier"); len(ids) > 0 {
		pv.Identifier = ids[0].str("value")
	}
	return pv
}

// timeline is a record: its patient and items, newest first.
type timeline struct {
	Patient  patientView
	Items    []item
	Total    int
	Shown    int
	Category string
	Page     int // from 1
	Pages    int
	Prev     int // 0: none
	Next     int // 0: none
	Counts   map[string]int
	Cats     []struct{ Name, Label string }
}

// maxTimeline is the most items a timeline page reads ($everything page).
const maxTimeline = 1000

// record reads a patient's record through $everything as the user, and
// returns the answer (for its status) and the timeline.
func (s *Server) record(r *http.Request, c *call, patientID, category string, page int) (*fhirAnswer, *timeline) {
	a := s.fhir(r, c, http.MethodGet, "Patient/"+patientID+"/$everything?_type="+timelineTypes+"&_count="+strconv.Itoa(maxTimeline), nil)
	if !a.ok() {
		return a, nil
	}
	b := a.resource()
	tl := &timeline{Counts: map[string]int{}, Category: category, Cats: categories}
	tl.Total, _ = strconv.Atoi(b.str("total"))
	for _, res := range b.entries() {
		if res.str("resourceType") == "Patient" {
			tl.Patient = patientOf(res)
			continue
		}
		it, ok := summarize(res)
		if !ok {
			continue
		}
		tl.Counts[it.Category]++
		if category == "" || category == it.Category {
			tl.Items = append(tl.Items, it)
		}
	}
	sort.SliceStable(tl.Items, func(i, j int) bool { return tl.Items[i].When.After(tl.Items[j].When) })
	tl.Shown = len(tl.Items)
	pages := max(1, (len(tl.Items)+timelinePage-1)/timelinePage)
	tl.Page = min(max(1, page), pages)
	if tl.Page > 1 {
		tl.Prev = tl.Page - 1
	}
	if tl.Page < pages {
		tl.Next = tl.Page + 1
	}
	tl.Pages = pages
	tl.Items = tl.Items[(tl.Page-1)*timelinePage : min(len(tl.Items), tl.Page*timelinePage)]
	return a, tl
}

// timelinePage is how many timeline items a page shows.
const timelinePage = 25
