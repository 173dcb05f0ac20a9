package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// serveRecord shows the patient's own record as a timeline.
func (s *Server) serveRecord(w http.ResponseWriter, r *http.Request, c *call) {
	cat := r.URL.Query().Get("category")
	if _, ok := categoryLabel(cat); !ok {
		cat = ""
	}
	a, tl := s.record(r, c, c.p.Patient, cat, pageParam(r))
	if tl == nil {
		s.fhirFail(w, r, a, "Your record could not be read")
		return
	}
	s.render(w, r, http.StatusOK, "record", s.newView(r, c, "My record", tl))
}

// pageParam is the page query parameter, 1 if absent or bad.
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func categoryLabel(name string) (string, bool) {
	for _, c := range categories {
		if c.Name == name {
			return c.Label, true
		}
	}
	return "", false
}

// fhirFail renders a FHIR API refusal as an error page.
func (s *Server) fhirFail(w http.ResponseWriter, r *http.Request, a *fhirAnswer, title string) {
	switch {
	case a.status == http.StatusNotFound || a.status == http.StatusGone:
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no such record, or you may not see it.")
	case a.status == http.StatusForbidden:
		s.fail(w, r, http.StatusForbidden, "Not allowed", "You may not do this: "+a.diagnostics())
	case a.status == http.StatusServiceUnavailable:
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The access could not be recorded in the audit trail, so nothing was shown or changed. Try again in a moment.")
	case a.status >= 500:
		s.fail(w, r, http.StatusBadGateway, title, "The node could not answer. Try again in a moment.")
	default:
		s.fail(w, r, http.StatusBadRequest, title, a.diagnostics())
	}
}

// consentView is one of the patient's consents.
type consentView struct {
	ID, Version       string
	Active            bool
	Status            string
	Type              string // permit or deny
	Actors            []string
	Purposes          []string
	Start, End        string
	Recorded          string
	Expired, NotStart bool
}

var purposes = []struct{ Code, Label string }{
	{"TREAT", "Treatment"},
	{"ETREAT", "Emergency treatment"},
	{"HPAYMT", "Payment"},
	{"HOPERAT", "Healthcare operations"},
	{"HRESCH", "Research"},
	{"PUBHLTH", "Public health"},
}

func purposeLabel(code string) string {
	for _, p := range purposes {
		if p.Code == code {
			return p.Label
		}
	}
	if code == "PATRQT" {
		return "Patient's own request"
	}
	return code
}

func consentOf(r obj, now time.Time) consentView {
	cv := consentView{ID: r.str("id"), Version: r.str("meta.versionId"), Status: r.str("status"), Type: r.str("provision.type"),
		Start: r.str("provision.period.start"), End: r.str("provision.period.end"), Recorded: r.str("dateTime")}
	cv.Active = cv.Status == "active"
	if cv.Type == "" {
		cv.Type = "deny"
	}
	for _, a := range r.list("provision.actor") {
		ref := a.str("reference.reference")
		if ref == "" {
			ref = a.str("reference.identifier.value")
		}
		cv.Actors = append(cv.Actors, actorLabel(ref))
	}
	if purp, ok := r.get("provision.purpose").([]any); ok {
		for _, p := range purp {
			if m, ok := p.(map[string]any); ok {
				cv.Purposes = append(cv.Purposes, purposeLabel(obj(m).str("code")))
			}
		}
	}
	if e := parseDate(cv.End); !e.IsZero() && len(cv.End) == 10 && now.After(e.AddDate(0, 0, 1)) {
		cv.Expired = true
	}
	if st := parseDate(cv.Start); !st.IsZero() && now.Before(st) {
		cv.NotStart = true
	}
	return cv
}

func actorLabel(ref string) string {
	switch {
	case strings.HasPrefix(ref, "Practitioner/"):
		return "Clinician " + strings.TrimPrefix(ref, "Practitioner/")
	case strings.HasPrefix(ref, "Organization/"):
		return "Organisation " + strings.TrimPrefix(ref, "Organization/")
	case ref == "":
		return "anyone"
	}
	return ref
}

// consentsPage is what the consents page shows.
type consentsPage struct {
	Consents []consentView
	Purposes []struct{ Code, Label string }
	Form     grantForm
	Errors   []string
	Today    string
}

type grantForm struct {
	ActorKind, Actor, Purpose, Start, End string
}

func (s *Server) consentsPage(r *http.Request, c *call, f grantForm, errs []string) (*consentsPage, *fhirAnswer) {
	a := s.fhir(r, c, http.MethodGet, "Consent?patient="+url.QueryEscape(c.p.Patient)+"&_count=200", nil)
	if !a.ok() {
		return nil, a
	}
	now := s.now()
	pg := &consentsPage{Purposes: purposes, Form: f, Errors: errs, Today: now.UTC().Format("2006-01-02")}
	for _, res := range a.resource().entries() {
		pg.Consents = append(pg.Consents, consentOf(res, now))
	}
	return pg, a
}

// serveConsents lists the patient's consents, with the form to grant one.
func (s *Server) serveConsents(w http.ResponseWriter, r *http.Request, c *call) {
	pg, a := s.consentsPage(r, c, grantForm{ActorKind: "practitioner", Purpose: "TREAT"}, nil)
	if pg == nil {
		s.fhirFail(w, r, a, "Your consents could not be read")
		return
	}
	s.render(w, r, http.StatusOK, "consents", s.newView(r, c, "My consents", pg))
}

var (
	fhirIDRE  = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	versionRE = regexp.MustCompile(`^[0-9]{1,19}$`)
)
var orgIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// postConsent grants a consent: a FHIR Consent the patient writes, which
// the API records on the ledger.
func (s *Server) postConsent(w http.ResponseWriter, r *http.Request, c *call) {
	f := grantForm{
		ActorKind: r.PostForm.Get("actor_kind"), Actor: strings.TrimSpace(r.PostForm.Get("actor")),
		Purpose: r.PostForm.Get("purpose"), Start: r.PostForm.Get("start"), End: r.PostForm.Get("end"),
	}
	var errs []string
	var ref string
	switch f.ActorKind {
	case "practitioner":
		f.Actor = strings.TrimPrefix(f.Actor, "Practitioner/")
		if !fhirIDRE.MatchString(f.Actor) {
			errs = append(errs, "Enter the clinician's id (letters, digits, '-' and '.'), such as demo-clinician.")
		}
		ref = "Practitioner/" + f.Actor
	case "organization":
		f.Actor = strings.TrimPrefix(f.Actor, "Organization/")
		if !orgIDRE.MatchString(f.Actor) {
			errs = append(errs, "Enter the organisation's ledger id (lower-case letters, digits and '-'), such as general-hospital.")
		}
		ref = "Organization/" + f.Actor
	default:
		errs = append(errs, "Choose whether you grant access to a clinician or an organisation.")
	}
	if purposeLabel(f.Purpose) == f.Purpose {
		errs = append(errs, "Choose the purpose the access is for.")
	}
	start, end := parseDay(f.Start), parseDay(f.End)
	switch {
	case f.Start != "" && start.IsZero():
		errs = append(errs, "The start date must be a date such as 2025-01-31.")
	case f.End != "" && end.IsZero():
		errs = append(errs, "The end date must be a date such as 2025-12-31.")
	case !start.IsZero() && !end.IsZero() && end.Before(start):
		errs = append(errs, "The end date is before the start date.")
	case !end.IsZero() && end.Before(s.now().UTC().Truncate(24*time.Hour)):
		errs = append(errs, "The end date is in the past.")
	}
	if len(errs) > 0 {
		s.consentsForm(w, r, c, f, errs)
		return
	}
	provision := map[string]any{
		"type": "permit",
		"actor": []any{map[string]any{
			"role":      map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP", "display": "information recipient"}}},
			"reference": map[string]any{"reference": ref},
		}},
		"action":  []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}}}},
		"purpose": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": f.Purpose}},
	}
	if f.Start != "" || f.End != "" {
		p := map[string]any{}
		if f.Start != "" {
			p["start"] = f.Start
		}
		if f.End != "" {
			p["end"] = f.End
		}
		provision["period"] = p
	}
	body, _ := json.Marshal(map[string]any{
		"resourceType": "Consent",
		"status":       "active",
		"scope":        map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
		"category":     []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}}}},
		"patient":      map[string]any{"reference": "Patient/" + c.p.Patient},
		"dateTime":     s.now().UTC().Format(time.RFC3339),
		"policyRule":   map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}}},
		"provision":    provision,
	})
	a := s.fhir(r, c, http.MethodPost, "Consent", body)
	if !a.ok() {
		s.log.Info("consent not granted", "status", a.status)
		s.consentsForm(w, r, c, f, []string{"The consent was not recorded: " + a.diagnostics()})
		return
	}
	who := actorLabel(ref)
	c.sess.addFlash("ok", "Consent recorded on the ledger: "+who+" may see your record for "+strings.ToLower(purposeLabel(f.Purpose))+periodText(f.Start, f.End)+".")
	http.Redirect(w, r, "/app/consents", http.StatusSeeOther)
}

func periodText(start, end string) string {
	switch {
	case start != "" && end != "":
		return " from " + start + " to " + end
	case start != "":
		return " from " + start
	case end != "":
		return " until " + end
	}
	return ""
}

func parseDay(s string) time.Time {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return time.Time{}
	}
	return t
}

func (s *Server) consentsForm(w http.ResponseWriter, r *http.Request, c *call, f grantForm, errs []string) {
	pg, a := s.consentsPage(r, c, f, errs)
	if pg == nil {
		s.fhirFail(w, r, a, "Your consents could not be read")
		return
	}
	s.render(w, r, http.StatusUnprocessableEntity, "consents", s.newView(r, c, "My consents", pg))
}

// postRevoke revokes a consent: the same Consent with status inactive.
func (s *Server) postRevoke(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	if !fhirIDRE.MatchString(id) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no such consent.")
		return
	}
	a := s.fhir(r, c, http.MethodGet, "Consent/"+id, nil)
	if !a.ok() {
		s.fhirFail(w, r, a, "The consent could not be read")
		return
	}
	res := a.resource()
	if res.str("status") != "active" {
		c.sess.addFlash("warning", "This consent was already revoked.")
		http.Redirect(w, r, "/app/consents", http.StatusSeeOther)
		return
	}
	res["status"] = "inactive"
	delete(res, "meta")
	body, _ := json.Marshal(res)
	a = s.fhir(r, c, http.MethodPut, "Consent/"+id, body)
	if !a.ok() {
		s.fhirFail(w, r, a, "The consent could not be revoked")
		return
	}
	c.sess.addFlash("ok", "Consent revoked on the ledger: from the next block on it no longer allows access.")
	http.Redirect(w, r, "/app/consents", http.StatusSeeOther)
}

// accessLogPage is "who looked at my record".
type accessLogPage struct {
	Events     []eventView
	Total      int
	Offset     int
	Next, Prev int
	HasNext    bool
	HasPrev    bool
	Base       string
	Unverified int
}

const logPage = 50

// serveAccessLog lists the AuditEvents about the patient.
func (s *Server) serveAccessLog(w http.ResponseWriter, r *http.Request, c *call) {
	s.eventList(w, r, c, "Who looked at my record", "access_log", "/app/access-log?", "patient="+url.QueryEscape(c.p.Patient))
}

// eventList renders a page of AuditEvents (FHIR search query). base is
// the page's URL up to its offset parameter ("/app/audit?agent=x&").
func (s *Server) eventList(w http.ResponseWriter, r *http.Request, c *call, title, page, base, query string) {
	off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	off = max(0, min(off, 1_000_000))
	q := "AuditEvent?_count=" + strconv.Itoa(logPage) + "&_offset=" + strconv.Itoa(off)
	if query != "" {
		q += "&" + query
	}
	a := s.fhir(r, c, http.MethodGet, q, nil)
	if !a.ok() {
		s.fhirFail(w, r, a, "The audit trail could not be read")
		return
	}
	b := a.resource()
	pg := &accessLogPage{Offset: off, Base: base}
	pg.Total, _ = strconv.Atoi(b.str("total"))
	for _, res := range b.entries() {
		ev := s.eventOf(res)
		if ev.Proof == nil || !ev.Proof.Verified {
			pg.Unverified++
		}
		pg.Events = append(pg.Events, ev)
	}
	pg.HasPrev, pg.Prev = off > 0, max(0, off-logPage)
	pg.HasNext, pg.Next = off+logPage < pg.Total, off+logPage
	s.render(w, r, http.StatusOK, page, s.newView(r, c, title, pg))
}

// serveAuditEvent shows one AuditEvent and its checked inclusion proof.
func (s *Server) serveAuditEvent(w http.ResponseWriter, r *http.Request, c *call) {
	id := r.PathValue("id")
	if !fhirIDRE.MatchString(id) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no such audit event, or you may not see it.")
		return
	}
	a := s.fhir(r, c, http.MethodGet, "AuditEvent/"+id, nil)
	if !a.ok() {
		s.fhirFail(w, r, a, "The audit event could not be read")
		return
	}
	ev := s.eventOf(a.resource())
	s.render(w, r, http.StatusOK, "audit_event", s.newView(r, c, "Audit event", ev))
}

// serveVerifyRecord checks one record version against its ledger anchor
// ($verify, as the user) and its anchoring transaction's inclusion proof.
func (s *Server) serveVerifyRecord(w http.ResponseWriter, r *http.Request, c *call) {
	typ, id, vid := r.PathValue("type"), r.PathValue("id"), r.PathValue("vid")
	if _, ok := categoryOf[typ]; (!ok && typ != "Patient" && typ != "Consent") || !fhirIDRE.MatchString(id) || !versionRE.MatchString(vid) {
		s.fail(w, r, http.StatusNotFound, "Not found", "There is no such record version.")
		return
	}
	a := s.fhir(r, c, http.MethodGet, typ+"/"+id+"/_history/"+vid+"/$verify", nil)
	if !a.ok() {
		s.fhirFail(w, r, a, "The record could not be checked")
		return
	}
	d := struct {
		Type, ID, Version            string
		Matches                      bool
		AnchoredHash, StoredHash, Tx string
		Height                       string
		Proof                        *proofView
	}{Type: typ, ID: id, Version: vid}
	for _, p := range a.resource().list("parameter") {
		switch p.str("name") {
		case "verified":
			d.Matches = p.str("valueBoolean") == "true"
		case "anchoredHash":
			d.AnchoredHash = p.str("valueString")
		case "storedHash":
			d.StoredHash = p.str("valueString")
		case "transaction":
			d.Tx = p.str("valueString")
		case "height":
			d.Height = p.str("valueUnsignedInt")
		case "proof":
			d.Proof = s.checkProof(p.str("valueString"), d.Tx)
		}
	}
	s.render(w, r, http.StatusOK, "verify_record", s.newView(r, c, "Ledger proof of "+typ+"/"+id, d))
}
