package access

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/policy"
)

// The world of the property test: a small vocabulary, so that random
// facts and requests often meet.
var (
	propNow      = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	propPatient  = "pt_0000000000000000abcd"
	propPatient2 = "pt_0000000000000000dcba"
	propActors   = []Actor{
		{ID: "st-mary/dr-who", Org: "st-mary", Roles: []string{"practitioner"}, Context: "user", FHIRUser: "Practitioner/who"},
		{ID: "st-mary/dr-no", Org: "st-mary", Roles: []string{"practitioner", "admin"}, Context: "user", FHIRUser: "Practitioner/no"},
		{ID: "acme/claims", Org: "acme", Roles: []string{"payer"}, Context: "user"},
		{ID: "st-mary/clerk", Org: "st-mary", Roles: []string{"auditor"}, Context: "user"},
		{ID: "st-mary/node", Org: "st-mary", Roles: []string{"system"}, Context: "system"},
		{ID: "st-mary/node", Org: "st-mary", Roles: []string{"system"}, Context: "user"},
		{ID: "st-mary/patient", Org: "st-mary", Roles: []string{"patient"}, Context: "patient", Patient: propPatient, FHIRUser: "Patient/1"},
		{ID: "st-mary/patient2", Org: "st-mary", Roles: []string{"patient"}, Context: "patient", Patient: propPatient2, FHIRUser: "Patient/2"},
	}
	propProvActors = []consent.Actor{
		{Kind: consent.ActorMember, Value: "st-mary/dr-who"}, {Kind: consent.ActorMember, Value: "st-mary/patient"},
		{Kind: consent.ActorPractitioner, Value: "Practitioner/who"}, {Kind: consent.ActorPractitioner, Value: "Practitioner/no"},
		{Kind: consent.ActorRole, Value: "practitioner"}, {Kind: consent.ActorRole, Value: "auditor"}, {Kind: consent.ActorRole, Value: "system"},
		{Kind: consent.ActorOrg, Value: "st-mary"}, {Kind: consent.ActorOrg, Value: "acme"},
	}
	propPurposes     = []string{"TREAT", "ETREAT", "HPAYMT", "PATRQT"}
	propTypes        = []string{"Observation", "Condition", "AuditEvent", "Patient", "Encounter", "Practitioner", "Organization"}
	propInteractions = []string{Read, VRead, History, Search, Create, Update, Delete, Export, Everything}
	// Times relative to propNow; 0 is an open bound.
	propTimes = []int64{0, propNow.Add(-2 * time.Hour).Unix(), propNow.Add(-time.Second).Unix(), propNow.Unix(), propNow.Add(time.Second).Unix(), propNow.Add(2 * time.Hour).Unix()}
	// Operator rules the property runs under, besides the defaults.
	propCustomPermits = []string{"false", `actor.id == "st-mary/dr-who"`, `request.type == "Organization" && actor.org == "acme"`, "true"}
	propCustomDenies  = []string{"false", `request.interaction == "delete"`, `actor.org == "acme" && patient.in_compartment`}
)

func subset[E comparable](pool []E, max int) *rapid.Generator[[]E] {
	return rapid.SliceOfNDistinct(rapid.SampledFrom(pool), 0, max, rapid.ID[E])
}

func period(t *rapid.T, label string) (int64, int64) {
	s := rapid.SampledFrom(propTimes).Draw(t, label+".start")
	e := rapid.SampledFrom(propTimes).Draw(t, label+".end")
	if e != 0 && e < s {
		s, e = e, s
	}
	return s, e
}

func genProvision(t *rapid.T, label string, nested bool) consent.Provision {
	p := consent.Provision{
		Type:     rapid.SampledFrom([]string{consent.Permit, consent.Deny}).Draw(t, label+".type"),
		Actors:   subset(propProvActors, 2).Draw(t, label+".actors"),
		Purposes: subset(propPurposes, 2).Draw(t, label+".purposes"),
		Classes:  subset(propTypes, 2).Draw(t, label+".classes"),
		Actions:  subset([]string{consent.ActionAccess, consent.ActionCorrect}, 2).Draw(t, label+".actions"),
	}
	p.Start, p.End = period(t, label)
	if nested {
		for i := range rapid.IntRange(0, 2).Draw(t, label+".except") {
			p.Except = append(p.Except, genProvision(t, label+".except"+string(rune('0'+i)), false))
		}
	}
	return p
}

func genFacts(t *rapid.T, patient string) *Facts {
	f := &Facts{Patient: patient}
	if patient == "" {
		return f
	}
	for i := range rapid.IntRange(0, 3).Draw(t, "consents") {
		c := consent.Consent{ID: "c" + string(rune('0'+i)), Version: 1, Patient: patient,
			Status: rapid.SampledFrom([]string{"active", "active", "inactive", "draft"}).Draw(t, "status")}
		for range rapid.IntRange(0, 3).Draw(t, "provisions") {
			c.Provisions = append(c.Provisions, genProvision(t, "provision", true))
		}
		f.Consents = append(f.Consents, c)
	}
	for i := range rapid.IntRange(0, 2).Draw(t, "care") {
		c := consent.Care{Source: "Encounter/e" + string(rune('0'+i)), Patient: patient, Active: rapid.Bool().Draw(t, "care.active"),
			Practitioners: subset([]string{"Practitioner/who", "Practitioner/no"}, 2).Draw(t, "care.practitioners")}
		c.Start, c.End = period(t, "care")
		f.Care = append(f.Care, c)
	}
	for range rapid.IntRange(0, 2).Draw(t, "emergencies") {
		from := rapid.SampledFrom(propTimes[1:]).Draw(t, "emergency.from")
		minutes := rapid.Int64Range(1, consent.MaxBreakGlassMinutes).Draw(t, "emergency.minutes")
		member := rapid.SampledFrom(propActors).Draw(t, "emergency.member").ID
		f.Emergencies = append(f.Emergencies, consent.Emergency{
			BreakGlass: consent.BreakGlass{Patient: patient, Member: member, Reason: "c2VhbGVk", Minutes: minutes},
			From:       from, Until: from + minutes*60,
		})
	}
	f.Erased = rapid.IntRange(0, 9).Draw(t, "erased") == 0
	return f
}

func propMachine(t *testing.T) *Engine {
	m, err := contract.NewMachine("medledger-test-1", policy.NewEngine(policy.Options{}), consent.Contract{})
	if err != nil {
		t.Fatal(err)
	}
	return New(m)
}

// TestDecisionProperty checks on random facts, requests and operator
// rules that a decision is always justified by the rules: an allow names
// a permit rule that holds on its own, with no deny rule holding; a
// denial names a deny rule that holds, or says that no rule permits; and
// the rule named is the first to hold in the documented order. It also
// checks that what a permit cites is in the facts.
func TestDecisionProperty(t *testing.T) {
	e := propMachine(t)
	rapid.Check(t, func(t *rapid.T) {
		st := contract.NewMemState()
		st.Apply([]ledger.Change{
			{Key: contract.PolicyKey("consent.permit.custom"), Value: []byte(rapid.SampledFrom(propCustomPermits).Draw(t, "permit.custom"))},
			{Key: contract.PolicyKey("consent.deny.custom"), Value: []byte(rapid.SampledFrom(propCustomDenies).Draw(t, "deny.custom"))},
		})
		req := Request{
			Actor:       rapid.SampledFrom(propActors).Draw(t, "actor"),
			Interaction: rapid.SampledFrom(propInteractions).Draw(t, "interaction"),
			Type:        rapid.SampledFrom(propTypes).Draw(t, "type"),
			Patient:     rapid.SampledFrom([]string{propPatient, propPatient2, ""}).Draw(t, "patient"),
			Purpose:     rapid.SampledFrom(append([]string{""}, propPurposes...)).Draw(t, "purpose"),
			Time:        propNow.Add(time.Duration(rapid.IntRange(-3, 3).Draw(t, "skew")) * time.Second),
			Custodian:   rapid.SampledFrom([]string{"st-mary", "acme"}).Draw(t, "custodian"),
		}
		facts := genFacts(t, req.Patient)

		d, err := e.DecideWith(st, facts, req)
		if err != nil {
			t.Fatalf("DecideWith: %v", err)
		}

		// Evaluate every rule on its own, on the request's inputs.
		full := req
		if full.Purpose == "" {
			full.Purpose = "TREAT"
		}
		in, _ := inputs(facts, full)
		holds := map[string]bool{}
		firstDeny, firstPermit := "", ""
		for _, r := range consent.AccessRules {
			rule, err := e.m.Rule(st, r.Name)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := e.m.Engine().Eval(consent.AccessEnv, rule, in)
			if err != nil {
				t.Fatalf("rule %s: %v", r.Name, err)
			}
			holds[r.Name] = ok
			if ok && r.Effect == consent.EffectDeny && firstDeny == "" {
				firstDeny = r.Name
			}
			if ok && r.Effect == consent.EffectPermit && firstPermit == "" {
				firstPermit = r.Name
			}
		}
		effect := map[string]string{}
		for _, r := range consent.AccessRules {
			effect[r.Name] = r.Effect
		}

		switch {
		case d.Allow:
			if effect[d.Rule] != consent.EffectPermit || !holds[d.Rule] {
				t.Fatalf("allowed by %q, which is not a permit rule that holds (holds: %v)", d.Rule, holds)
			}
			if firstDeny != "" {
				t.Fatalf("allowed by %s although deny rule %s holds", d.Rule, firstDeny)
			}
			if d.Rule != firstPermit {
				t.Fatalf("allowed by %s; the first permit rule that holds is %s", d.Rule, firstPermit)
			}
		case d.Rule != "":
			if effect[d.Rule] != consent.EffectDeny || !holds[d.Rule] || d.Rule != firstDeny {
				t.Fatalf("denied by %q; want the first deny rule that holds, %q", d.Rule, firstDeny)
			}
		default:
			if d.Reason != "no rule permits this access" {
				t.Fatalf("denied by no rule with reason %q", d.Reason)
			}
			if firstDeny != "" || firstPermit != "" {
				t.Fatalf("denied by no rule, but %q / %q hold", firstDeny, firstPermit)
			}
		}

		// What the decision cites is in the facts, whatever the inputs say.
		now := req.Time.Unix()
		in2 := func(s, e int64) bool { return (s == 0 || now >= s) && (e == 0 || now < e) }
		if d.Allow && (facts.Erased || req.Type == "AuditEvent" && d.Rule != "consent.permit.self" && d.Rule != "consent.permit.audit" && d.Rule != "consent.permit.custom") {
			t.Fatalf("allowed by %s (erased %v, type %s)", d.Rule, facts.Erased, req.Type)
		}
		if (d.Consent != "") != (d.Rule == "consent.permit.consent" || d.Rule == "consent.deny.patient") {
			t.Fatalf("decided by %s citing consent %q", d.Rule, d.Consent)
		}
		if (d.Care != "") != (d.Rule == "consent.permit.care") || d.BreakGlass != (d.Rule == "consent.permit.break_glass") {
			t.Fatalf("decided by %s citing care %q, break-glass %v", d.Rule, d.Care, d.BreakGlass)
		}
		switch d.Rule {
		case "consent.permit.self":
			if req.Actor.Patient == "" || req.Actor.Patient != req.Patient || IsWrite(req.Interaction) {
				t.Fatalf("permit.self for %+v on %s's record, %s", req.Actor, req.Patient, req.Interaction)
			}
		case "consent.permit.consent", "consent.deny.patient":
			i := slices.IndexFunc(facts.Consents, func(c consent.Consent) bool { return "Consent/"+c.ID == d.Consent })
			if i < 0 || facts.Consents[i].Status != "active" {
				t.Fatalf("%s cites %q, not an active consent of the patient", d.Rule, d.Consent)
			}
			want := consent.Permit
			if d.Rule == "consent.deny.patient" {
				want = consent.Deny
			}
			if !slices.ContainsFunc(facts.Consents[i].Provisions, func(p consent.Provision) bool {
				return in2(p.Start, p.End) && (p.Type == want || slices.ContainsFunc(p.Except, func(x consent.Provision) bool { return x.Type == want }))
			}) {
				t.Fatalf("%s cites %s, which has no %s provision in force", d.Rule, d.Consent, want)
			}
		case "consent.permit.care":
			if !slices.ContainsFunc(facts.Care, func(c consent.Care) bool {
				return c.Source == d.Care && c.Active && in2(c.Start, c.End) && slices.Contains(c.Practitioners, req.Actor.FHIRUser)
			}) {
				t.Fatalf("permit.care cites %q, not an active relationship naming %s", d.Care, req.Actor.FHIRUser)
			}
		case "consent.permit.break_glass":
			if !d.BreakGlass || !slices.Contains(req.Actor.Roles, "practitioner") || !slices.ContainsFunc(facts.Emergencies, func(e consent.Emergency) bool {
				return e.Member == req.Actor.ID && now >= e.From && now < e.Until
			}) {
				t.Fatalf("permit.break_glass for %s without an emergency they declared in force", req.Actor.ID)
			}
		}
	})
}
