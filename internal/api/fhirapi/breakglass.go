package fhirapi

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/fhir"
	rec "github.com/medledger/medledger/internal/records"
)

// Break-glass limits.
const (
	defaultBreakGlassMinutes = 60
	minReasonChars           = 10
	maxReasonBytes           = 1000
)

// breakGlass answers POST /fhir/Patient/{id}/$break-glass: a practitioner
// declares an emergency to reach a patient's record without consent or
// care relationship. The body is a Parameters resource with "reason" (a
// string, mandatory, at least 10 characters) and optionally "minutes"
// (1 to 240; default 60). The declaration is a ledger transaction (the
// reason sealed to the patient's key), takes effect from its block, and
// is audited with purpose ETREAT for review.
func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c == nil || s.deps.Auth.Submit == nil || s.deps.Auth.Seal == nil {
		s.fail(w, r, outcome(http.StatusNotImplemented, "not-supported", "", "break-glass needs authentication, which this server does not use"))
		return
	}
	g, ok := s.scope(w, r, access.Read, "Patient")
	if !ok {
		return
	}
	if !c.p.HasRole("practitioner") || !g.g.User {
		s.fail(w, r, outcome(http.StatusForbidden, "forbidden", "", "only practitioners, with a user-level token, may declare an emergency"))
		return
	}
	params, e := readParameters(w, r, "send a Parameters resource with reason (valueString) and optionally minutes (valueInteger)")
	if e != nil {
		s.fail(w, r, e)
		return
	}
	reason, minutes := "", int64(defaultBreakGlassMinutes)
	for _, p := range params {
		switch p.Name {
		case "reason":
			reason = strings.TrimSpace(p.ValueString)
		case "minutes":
			if p.ValueInteger != nil {
				minutes = *p.ValueInteger
			}
		}
	}
	if utf8.RuneCountInString(reason) < minReasonChars || len(reason) > maxReasonBytes {
		s.fail(w, r, outcome(http.StatusBadRequest, "required", "Parameters.parameter[reason]", "a break-glass declaration needs a reason of %d to %d characters: say what the emergency is", minReasonChars, maxReasonBytes))
		return
	}
	if minutes < 1 || minutes > consent.MaxBreakGlassMinutes {
		s.fail(w, r, outcome(http.StatusBadRequest, "value", "Parameters.parameter[minutes]", "minutes must be 1 to %d", consent.MaxBreakGlassMinutes))
		return
	}
	id := r.PathValue("id")
	pm, _, _, err := s.deps.Service.Read("Patient", id)
	if err != nil && !errors.Is(err, rec.ErrGone) {
		s.fail(w, r, notFound())
		return
	}
	patient := patientOfSubject(pm.Subject)
	if patient == "" {
		s.fail(w, r, notFound())
		return
	}
	sealed, err := s.deps.Auth.Seal(patient, []byte("break-glass/"+c.p.Member), []byte(reason))
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	ctx, cancel := contextFor(r, s)
	defer cancel()
	bg := consent.BreakGlass{Patient: patient, Member: c.p.Member, Reason: base64.StdEncoding.EncodeToString(sealed), Minutes: minutes}
	tx, err := s.deps.Auth.Submit(ctx, "consent", consent.MethodBreakGlass, bg)
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	d := access.Decision{Allow: true, Rule: "consent.permit.break_glass", BreakGlass: true, Reason: "emergency access declared; it will be reviewed"}
	if s.record(r, c, "break-glass", "Patient", []string{"Patient/" + id}, []string{patient}, d, audit.OutcomeSuccess) != nil {
		s.fail(w, r, auditFailed())
		return
	}
	until := s.now().Add(time.Duration(minutes) * time.Minute).UTC().Format(time.RFC3339)
	w.Header().Set("X-Ledger-Tx", tx.String())
	writeJSON(w, http.StatusOK, fhir.OperationOutcome(fhir.Issue{Severity: "warning", Code: "informational",
		Diagnostics: "Emergency access to this patient's record is open to you until about " + until +
			". Every access is recorded and will be reviewed by the privacy officer."}))
}

// parameter is one parameter of a Parameters resource, with the value
// types the operations here read.
type parameter struct {
	Name         string `json:"name"`
	ValueString  string `json:"valueString"`
	ValueCode    string `json:"valueCode"`
	ValueInteger *int64 `json:"valueInteger"`
}

// readParameters reads an operation's body, a Parameters resource of at
// most 64 KiB; want says what to send when it is not one.
func readParameters(w http.ResponseWriter, r *http.Request, want string) ([]parameter, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, outcome(http.StatusRequestEntityTooLarge, "too-costly", "", "the request body is too large")
	}
	var params struct {
		ResourceType string      `json:"resourceType"`
		Parameter    []parameter `json:"parameter"`
	}
	if err := json.Unmarshal(body, &params); err != nil || params.ResourceType != "Parameters" {
		return nil, outcome(http.StatusBadRequest, "structure", "", "%s", want)
	}
	return params.Parameter, nil
}
