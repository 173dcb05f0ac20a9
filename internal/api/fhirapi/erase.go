package fhirapi

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
)

// erase answers POST /fhir/Patient/{id}/$erase (administrators only): the
// right to erasure by crypto-shredding. The body is a Parameters resource
// with "reason", one of consent.EraseReasons. The erasure record (who,
// which patient pseudonym, why, when) is committed first; then the
// patient's keys are destroyed, so that no version of any of their
// records can be decrypted on this node again, and their resources leave
// the search index. The ledger still verifies end to end: it only ever
// held hashes and pseudonyms.
func (s *Server) erase(w http.ResponseWriter, r *http.Request) {
	c := callerOf(r)
	if c == nil || s.deps.Auth.Submit == nil || s.deps.Auth.Shred == nil {
		s.fail(w, r, outcome(http.StatusNotImplemented, "not-supported", "", "erasure needs authentication, which this server does not use"))
		return
	}
	if _, ok := s.scope(w, r, access.Delete, "Patient"); !ok {
		return
	}
	if !c.p.HasRole("admin") {
		s.fail(w, r, outcome(http.StatusForbidden, "forbidden", "", "only administrators may erase a patient's data"))
		return
	}
	params, e := readParameters(w, r, fmt.Sprintf("send a Parameters resource with reason (valueCode: %v)", consent.EraseReasons))
	if e != nil {
		s.fail(w, r, e)
		return
	}
	reason := ""
	for _, p := range params {
		if p.Name == "reason" {
			reason = p.ValueCode
		}
	}
	if !slices.Contains(consent.EraseReasons, reason) {
		s.fail(w, r, outcome(http.StatusBadRequest, "value", "Parameters.parameter[reason]", "reason must be one of %v", consent.EraseReasons))
		return
	}
	id := r.PathValue("id")
	patient, ok := s.headPatient("Patient", id)
	if !ok || patient == "" {
		s.fail(w, r, notFound())
		return
	}
	ctx, cancel := contextFor(r, s)
	defer cancel()
	tx, err := s.deps.Auth.Submit(ctx, "consent", consent.MethodErase, consent.Erase{Patient: patient, By: c.p.Member, Reason: reason})
	if err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	if err := s.deps.Auth.Shred(patient); err != nil {
		s.fail(w, r, s.classify(err))
		return
	}
	removed := s.unindexPatient(id)
	d := access.Decision{Allow: true, Rule: "erase", Reason: "the patient's keys were destroyed (" + reason + ")"}
	if s.record(r, c, "erase", "Patient", []string{"Patient/" + id}, []string{patient}, d, audit.OutcomeSuccess) != nil {
		s.deps.Logger.Error("erasure done but its audit event failed")
	}
	w.Header().Set("X-Ledger-Tx", tx.String())
	writeJSON(w, http.StatusOK, fhir.OperationOutcome(fhir.Issue{Severity: "information", Code: "informational",
		Diagnostics: "the patient's data can no longer be decrypted on this node; " + strconv.Itoa(removed) + " resources left the search index; the erasure record is transaction " + tx.String()}))
}

// unindexPatient removes a patient's compartment from the search index.
func (s *Server) unindexPatient(id string) int {
	if s.deps.Index == nil {
		return 0
	}
	n := 0
	for _, c := range compartment {
		q := c.query(id)
		q.Set("_count", strconv.Itoa(search.MaxCount))
		for {
			res, err := s.deps.Index.Search(c.typ, q, search.Options{})
			if err != nil || len(res.IDs) == 0 {
				break
			}
			for _, rid := range res.IDs {
				s.deps.Index.Delete(c.typ, rid)
				n++
			}
		}
	}
	return n
}
