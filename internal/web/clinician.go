package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/access"
)

// patientsPage is the clinician's patient search.
type patientsPage struct {
	Query    string
	Searched bool
	Patients []patientView
	Total    int
}

// servePatients searches patients by name (the API lists only those the
// clinician may see); htmx asks for the results fragment as one types.
func (s *Server) servePatients(w http.ResponseWriter, r *http.Request, c *call) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	pg := &patientsPage{Query: q}
	if q != "" {
		if utf8.RuneCountInString(q) > 100 {
			q = string([]rune(q)[:100])
		}
		pg.Searched = true
		a := s.fhir(r, c, http.MethodGet, "Patient?name="+url.QueryEscape(q)+"&_count=25", nil)
		if !a.ok() {
			s.fhirFail(w, r, a, "The search failed")
			return
		}
		b := a.resource()
		pg.Total, _ = strconv.Atoi(b.str("total"))
		for _, res := range b.entries() {
			pg.Patients = append(pg.Patients, patientOf(res))
		}
	}
	s.render(w, r, http.StatusOK, "patients", s.newView(r, c, "Patients", pg))
}

// patientPage is a record as a clinician sees it.
type patientPage struct {
	ID       string
	Record   *timeline
	Denied   bool
	Decision access.Decision
}

// servePatient shows a patient's record to a clinician, with the reason
// the access was allowed; a refusal (or an unknown patient: the API does
// not tell them apart) offers break-glass.
func (s *Server) servePatient(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	if !fhirIDRE.MatchString(id) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no such patient.")
		return
	}
	cat := r.URL.Query().Get("category")
	if _, ok := categoryLabel(cat); !ok {
		cat = ""
	}
	a, tl := s.record(r, c, id, cat, pageParam(r))
	pg := &patientPage{ID: id, Record: tl}
	switch {
	case tl != nil:
		d, err := s.deps.Decide(c.p, id, "Patient")
		if err != nil {
			s.log.Error("explain decision", "err", err)
			d = access.Decision{Allow: true, Reason: "allowed (the explanation could not be computed)"}
		}
		pg.Decision = d
		s.render(w, r, http.StatusOK, "patient", s.newView(r, c, "Record of "+tl.Patient.Name, pg))
	case a.status == http.StatusNotFound || a.status == http.StatusGone:
		pg.Denied = true
		s.render(w, r, http.StatusNotFound, "patient", s.newView(r, c, "No access", pg))
	default:
		s.fhirFail(w, r, a, "The record could not be read")
	}
}

// breakGlassForm is the emergency access form.
type breakGlassForm struct {
	Patient, Reason, Minutes string
	Ack                      bool
	Errors                   []string
}

var breakGlassMinutes = []string{"15", "30", "60", "120", "240"}

func (s *Server) serveBreakGlass(w http.ResponseWriter, r *http.Request, c *call) {
	f := &breakGlassForm{Patient: r.URL.Query().Get("patient"), Minutes: "60"}
	if !fhirIDRE.MatchString(f.Patient) {
		f.Patient = ""
	}
	s.render(w, r, http.StatusOK, "break_glass", s.newView(r, c, "Emergency access (break-glass)", struct {
		Form    *breakGlassForm
		Minutes []string
	}{f, breakGlassMinutes}))
}

// postBreakGlass declares an emergency through the FHIR API's
// $break-glass: a ledger transaction, audited with purpose ETREAT.
func (s *Server) postBreakGlass(w http.ResponseWriter, r *http.Request, c *call) {
	f := &breakGlassForm{Patient: strings.TrimSpace(r.PostForm.Get("patient")), Reason: strings.TrimSpace(r.PostForm.Get("reason")),
		Minutes: r.PostForm.Get("minutes"), Ack: r.PostForm.Get("ack") == "yes"}
	if !fhirIDRE.MatchString(f.Patient) {
		f.Errors = append(f.Errors, "Enter the patient's id.")
	}
	if n := utf8.RuneCountInString(f.Reason); n < 10 || len(f.Reason) > 1000 {
		f.Errors = append(f.Errors, "Say what the emergency is, in 10 to 1000 characters: the reason is recorded and reviewed.")
	}
	mins, err := strconv.Atoi(f.Minutes)
	if err != nil || mins < 1 || mins > 240 {
		f.Errors = append(f.Errors, "Choose how long you need access (at most 4 hours).")
	}
	if !f.Ack {
		f.Errors = append(f.Errors, "Confirm that you understand the access is recorded and reviewed.")
	}
	if len(f.Errors) == 0 {
		body, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": []any{
			map[string]any{"name": "reason", "valueString": f.Reason},
			map[string]any{"name": "minutes", "valueInteger": mins},
		}})
		a := s.fhir(r, c, http.MethodPost, "Patient/"+f.Patient+"/$break-glass", body)
		if a.ok() {
			c.sess.addFlash("warning", a.diagnostics())
			http.Redirect(w, r, "/app/patients/"+url.PathEscape(f.Patient), http.StatusSeeOther)
			return
		}
		switch a.status {
		case http.StatusNotFound, http.StatusGone:
			f.Errors = append(f.Errors, "There is no patient with this id.")
		default:
			f.Errors = append(f.Errors, "Emergency access was not granted: "+a.diagnostics())
		}
	}
	s.render(w, r, http.StatusUnprocessableEntity, "break_glass", s.newView(r, c, "Emergency access (break-glass)", struct {
		Form    *breakGlassForm
		Minutes []string
	}{f, breakGlassMinutes}))
}
