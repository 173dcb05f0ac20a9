package fhirapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
)

// subtypes are the restful-interaction codes of the interactions.
var subtypes = map[string]string{
	access.Read: "read", access.VRead: "vread", access.History: "history-instance", access.Search: "search-type",
	access.Create: "create", access.Update: "update", access.Delete: "delete",
	access.Export: "operation", access.Everything: "operation", "break-glass": "operation",
}

func actionOf(interaction string) string {
	switch interaction {
	case access.Create:
		return "C"
	case access.Update:
		return "U"
	case access.Delete:
		return "D"
	case access.Read, access.VRead, access.History:
		return "R"
	}
	return "E"
}

// record writes the AuditEvent of an access by c (nothing on an open
// server) and returns once it is durable. refs are the records touched
// ("Observation/123"), patients their patients' pseudonyms. An error
// means the access must not proceed: the API fails closed.
func (s *Server) record(r *http.Request, c *caller, interaction, typ string, refs, patients []string, d access.Decision, outcome string) error {
	return s.recordCtx(r.Context(), c, interaction, typ, refs, patients, d, outcome)
}

// recordCtx is record outside a request (a bulk export's worker).
func (s *Server) recordCtx(ctx context.Context, c *caller, interaction, typ string, refs, patients []string, d access.Decision, outcome string) error {
	if c == nil {
		return nil
	}
	e := s.event(c, interaction, typ, refs, patients, d, outcome)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.deps.Timeout)
	defer cancel()
	if _, err := s.deps.Auth.Record(ctx, e); err != nil {
		s.deps.Logger.Error("audit event not recorded; access refused", "interaction", interaction, "type", typ, "err", err)
		return err
	}
	return nil
}

// auditFailed is the answer when an access could not be audited.
func auditFailed() *apiError {
	return outcome(http.StatusServiceUnavailable, "transient", "", "the access could not be recorded in the audit trail, so nothing was disclosed or changed; try again")
}

func (s *Server) event(c *caller, interaction, typ string, refs, patients []string, d access.Decision, outcome string) *audit.Event {
	a := s.deps.Auth
	purpose := purposeOf(c)
	if d.BreakGlass || interaction == "break-glass" {
		purpose = "ETREAT"
	}
	e := &audit.Event{
		ResourceType:   "AuditEvent",
		Type:           audit.Coding{System: "http://terminology.hl7.org/CodeSystem/audit-event-type", Code: "rest"},
		Subtype:        []audit.Coding{{System: audit.SystemInteraction, Code: subtypes[interaction]}},
		Action:         actionOf(interaction),
		Recorded:       s.now().UTC().Format(time.RFC3339Nano),
		Outcome:        outcome,
		OutcomeDesc:    truncate(d.Reason, audit.MaxOutcomeDesc),
		PurposeOfEvent: []audit.CodeableConcept{{Coding: []audit.Coding{{System: audit.SystemActReason, Code: purpose}}}},
		Source: audit.Source{
			Site:     a.Org,
			Observer: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemMember, Value: a.Node}},
			Type:     []audit.Coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4"}},
		},
	}
	if subtypes[interaction] == "operation" {
		e.Subtype = append(e.Subtype, audit.Coding{System: "urn:medledger:operation", Code: interaction})
	}
	user := audit.Agent{
		Type:      &audit.CodeableConcept{Coding: []audit.Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: "IRCP"}}},
		Who:       audit.Reference{Identifier: &audit.Identifier{System: audit.SystemMember, Value: c.p.Member}},
		Requestor: true,
	}
	for _, role := range c.p.Roles {
		user.Role = append(user.Role, audit.CodeableConcept{Coding: []audit.Coding{{System: "urn:medledger:role", Code: role}}})
	}
	// A patient's own address is their personal data; staff addresses
	// are what access monitoring needs.
	if c.actor.Patient == "" && c.addr != "" {
		user.Network = &audit.Network{Address: c.addr, Type: "2"}
	}
	e.Agent = []audit.Agent{user}
	if c.p.Org != "" {
		e.Agent = append(e.Agent, audit.Agent{Who: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemOrg, Value: c.p.Org}}})
	}
	seen := map[string]bool{}
	for _, p := range patients {
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		e.Entity = append(e.Entity, audit.Entity{
			What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: p}},
			Role: &audit.Coding{System: audit.SystemObjectRole, Code: "1"},
		})
	}
	var detail []audit.Detail
	if d.Rule != "" {
		detail = append(detail, audit.Detail{Type: "decision-rule", ValueString: d.Rule})
	}
	if d.BreakGlass {
		detail = append(detail, audit.Detail{Type: "break-glass", ValueString: "true"})
	}
	if d.Consent != "" {
		detail = append(detail, audit.Detail{Type: "consent", ValueString: slug(d.Consent)})
	}
	if d.Care != "" {
		detail = append(detail, audit.Detail{Type: "care-relationship", ValueString: slug(d.Care)})
	}
	switch interaction {
	case access.Search, access.Everything, access.Export, access.History:
		// How many records the answer disclosed: what bulk-access
		// monitoring weighs.
		detail = append(detail, audit.Detail{Type: "result-count", ValueString: strconv.Itoa(len(refs))})
	}
	if len(refs) == 0 {
		refs = []string{typ}
	}
	for i, ref := range slices.Compact(slices.Clone(refs)) {
		if len(e.Entity) >= audit.MaxEntities {
			break
		}
		en := audit.Entity{
			What: audit.Reference{Reference: ref},
			Role: &audit.Coding{System: audit.SystemObjectRole, Code: "4"},
		}
		if i == 0 {
			en.Detail = detail
		}
		e.Entity = append(e.Entity, en)
	}
	return e
}

// slug turns a reference into a detail code value ("Consent/1" → "Consent.1").
func slug(ref string) string {
	b := []byte(ref)
	for i, c := range b {
		if c == '/' {
			b[i] = '.'
		}
	}
	return string(b)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
