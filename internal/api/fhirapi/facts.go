package fhirapi

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/fhir"
	rec "github.com/medledger/medledger/internal/records"
)

// The resources whose versions change access facts on the ledger.
var factTypes = map[string]bool{"Consent": true, "Encounter": true, "CareTeam": true}

var practitionerRef = regexp.MustCompile(`^(Practitioner|PractitionerRole)/[A-Za-z0-9\-.]{1,64}$`)

// recordFacts records on the ledger the access facts of written Consent,
// Encounter and CareTeam versions (consent.set, consent.care), so that they
// take effect from their block on. It returns the first error; the
// records themselves are already written and anchored.
func (s *Server) recordFacts(ctx context.Context, out []rec.Written) error {
	if s.deps.Auth == nil || s.deps.Auth.Submit == nil {
		return nil
	}
	for _, w := range out {
		if !factTypes[w.Meta.Type] {
			continue
		}
		var method string
		var payload any
		if w.Meta.Deleted || w.JSON == nil {
			// A deleted Consent or relationship stops counting.
			patient := patientOfSubject(w.Meta.Subject)
			if patient == "" {
				continue
			}
			if w.Meta.Type == "Consent" {
				method, payload = consent.MethodSet, consent.Consent{ID: w.Meta.ID, Version: w.Meta.Version, Patient: patient, Status: "inactive"}
			} else {
				method, payload = consent.MethodCare, consent.Care{Source: w.Meta.Type + "/" + w.Meta.ID, Patient: patient}
			}
		} else {
			res, err := fhir.Parse(w.JSON)
			if err != nil {
				return err
			}
			patient := s.deps.Service.PatientPseudonym(res)
			if patient == "" {
				continue // no patient: nothing to decide on
			}
			switch res.Type {
			case "Consent":
				method, payload = consent.MethodSet, ConsentFacts(res, w.Meta.Version, patient)
			case "Encounter", "CareTeam":
				method, payload = consent.MethodCare, CareFacts(res, patient)
			}
		}
		if _, err := s.deps.Auth.Submit(ctx, "consent", method, payload); err != nil {
			s.deps.Logger.Error("access facts not recorded", "type", w.Meta.Type, "err", err)
			return err
		}
		if c, ok := payload.(consent.Consent); ok && s.deps.Auth.Share != nil {
			if err := s.deps.Auth.Share(ctx, c.Patient, c.ID, grantedOrgs(c)); err != nil {
				s.deps.Logger.Error("data key sharing not updated", "err", err)
				return err
			}
		}
	}
	return nil
}

// ConsentFacts extracts the decision-relevant content of a FHIR R4
// Consent: status, and its provision with one level of nested ones.
func ConsentFacts(res *fhir.Resource, version uint64, patient string) consent.Consent {
	c := consent.Consent{ID: res.ID, Version: version, Patient: patient, Status: str(res.Tree["status"])}
	if p, ok := res.Tree["provision"].(map[string]any); ok {
		root := provision(p, consent.Deny)
		for _, n := range list(p["provision"]) {
			if m, ok := n.(map[string]any); ok {
				root.Except = append(root.Except, provision(m, opposite(root.Type)))
			}
		}
		c.Provisions = []consent.Provision{root}
	}
	return c
}

// grantedOrgs returns the organisations an active consent's permit
// provisions name.
func grantedOrgs(c consent.Consent) []string {
	if c.Status != "active" {
		return nil
	}
	var out []string
	for _, p := range c.Provisions {
		for _, q := range append([]consent.Provision{p}, p.Except...) {
			if q.Type != consent.Permit {
				continue
			}
			for _, a := range q.Actors {
				if a.Kind == consent.ActorOrg {
					out = appendOnce(out, a.Value)
				}
			}
		}
	}
	return out
}

func opposite(t string) string {
	if t == consent.Permit {
		return consent.Deny
	}
	return consent.Permit
}

// provision converts one Consent.provision (without nesting). def is the
// type when the provision does not state one.
func provision(p map[string]any, def string) consent.Provision {
	out := consent.Provision{Type: def}
	if t := str(p["type"]); t == consent.Permit || t == consent.Deny {
		out.Type = t
	}
	out.Start, out.End = period(p["period"])
	for _, a := range list(p["actor"]) {
		am, _ := a.(map[string]any)
		ref, _ := am["reference"].(map[string]any)
		if actor, ok := actorOf(ref); ok {
			out.Actors = append(out.Actors, actor)
		} else {
			// An actor this server cannot resolve still narrows the
			// provision: it matches nobody, rather than everybody.
			out.Actors = append(out.Actors, consent.Actor{Kind: consent.ActorPractitioner, Value: "Unresolved/actor"})
		}
	}
	for _, a := range list(p["action"]) {
		for _, code := range codes(a) {
			switch code {
			case "access", "use", "disclose":
				out.Actions = appendOnce(out.Actions, consent.ActionAccess)
			case "correct", "collect":
				out.Actions = appendOnce(out.Actions, consent.ActionCorrect)
			}
		}
	}
	for _, c := range list(p["class"]) {
		if m, ok := c.(map[string]any); ok && validCode(str(m["code"])) {
			out.Classes = appendOnce(out.Classes, str(m["code"]))
		}
	}
	for _, c := range list(p["purpose"]) {
		if m, ok := c.(map[string]any); ok && validCode(str(m["code"])) {
			out.Purposes = appendOnce(out.Purposes, str(m["code"]))
		}
	}
	return out
}

// actorOf resolves a Consent actor reference: a Practitioner, a ledger
// member or organisation (by identifier system), or an Organization whose
// id is the ledger organisation id.
func actorOf(ref map[string]any) (consent.Actor, bool) {
	if ref == nil {
		return consent.Actor{}, false
	}
	if r := str(ref["reference"]); r != "" {
		switch {
		case practitionerRef.MatchString(r):
			return consent.Actor{Kind: consent.ActorPractitioner, Value: r}, true
		case strings.HasPrefix(r, "Organization/") && validCode(strings.TrimPrefix(r, "Organization/")):
			return consent.Actor{Kind: consent.ActorOrg, Value: strings.TrimPrefix(r, "Organization/")}, true
		}
	}
	if id, ok := ref["identifier"].(map[string]any); ok {
		v := str(id["value"])
		switch str(id["system"]) {
		case "urn:medledger:member":
			if strings.Count(v, "/") == 1 {
				return consent.Actor{Kind: consent.ActorMember, Value: v}, true
			}
		case "urn:medledger:org":
			if validCode(v) {
				return consent.Actor{Kind: consent.ActorOrg, Value: v}, true
			}
		case "urn:medledger:role":
			if validCode(v) {
				return consent.Actor{Kind: consent.ActorRole, Value: v}, true
			}
		}
	}
	return consent.Actor{}, false
}

// CareFacts extracts a care relationship from an Encounter or CareTeam.
func CareFacts(res *fhir.Resource, patient string) consent.Care {
	c := consent.Care{Source: res.Type + "/" + res.ID, Patient: patient}
	status := str(res.Tree["status"])
	c.Start, c.End = period(res.Tree["period"])
	var field, member string
	switch res.Type {
	case "Encounter":
		c.Active = status == "planned" || status == "arrived" || status == "triaged" || status == "in-progress" || status == "onleave"
		field, member = "participant", "individual"
	case "CareTeam":
		c.Active = status == "active"
		field, member = "participant", "member"
	}
	for _, p := range list(res.Tree[field]) {
		pm, _ := p.(map[string]any)
		ref, _ := pm[member].(map[string]any)
		if r := str(ref["reference"]); practitionerRef.MatchString(r) && len(c.Practitioners) < consent.MaxList {
			c.Practitioners = appendOnce(c.Practitioners, r)
		}
	}
	return c
}

func period(v any) (start, end int64) {
	m, _ := v.(map[string]any)
	return instant(str(m["start"]), false), instant(str(m["end"]), true)
}

// instant parses a FHIR dateTime to Unix seconds; a partial date is taken
// at its start (or, for an end, at the start of the next day, month or
// year, so that the whole period counts). Unparsable: 0 (open).
func instant(s string, end bool) int64 {
	if s == "" {
		return 0
	}
	for _, f := range []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{time.RFC3339Nano, func(t time.Time) time.Time { return t }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
	} {
		if t, err := time.Parse(f.layout, s); err == nil {
			if end {
				t = f.next(t)
			}
			if t.Unix() < 0 {
				return 0
			}
			return t.Unix()
		}
	}
	return 0
}

func codes(v any) []string {
	m, _ := v.(map[string]any)
	var out []string
	for _, c := range list(m["coding"]) {
		if cm, ok := c.(map[string]any); ok {
			out = append(out, str(cm["code"]))
		}
	}
	return out
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func validCode(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func appendOnce(xs []string, s string) []string {
	if slices.Contains(xs, s) {
		return xs
	}
	return append(xs, s)
}
