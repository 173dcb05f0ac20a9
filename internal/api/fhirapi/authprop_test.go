package fhirapi_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/medledger/medledger/internal/access"
)

// TestNoResourceWithoutPermit is the property that no code path returns a
// patient's resource unless a rule permits the caller to see it: random
// callers (practitioners with and without care relationships or consent,
// a patient, an auditor, the organisation's backend) make random reads,
// vreads, histories, searches (with _include), $everything and $verify;
// every patient resource in any answer is checked against the decision
// the ledger's rules give for that caller, that type and that patient.
func TestNoResourceWithoutPermit(t *testing.T) {
	s := newAuthServer(t)
	sys := s.token(s.admin, "system/*.cruds")
	var patients []string
	obs := map[string]string{} // Observation id → patient id
	for i := range 4 {
		p := s.create(sys, "Patient", `{"resourceType":"Patient","gender":"female","name":[{"family":"P`+string(rune('a'+i))+`"}]}`)
		patients = append(patients, p)
		for range 2 {
			o := s.create(sys, "Observation", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/`+p+`"}}`)
			obs[o] = p
		}
		s.create(sys, "Condition", `{"resourceType":"Condition","subject":{"reference":"Patient/`+p+`"},"code":{"text":"x"}}`)
	}
	pr1 := s.create(sys, "Practitioner", `{"resourceType":"Practitioner","name":[{"family":"One"}]}`)
	pr2 := s.create(sys, "Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Two"}]}`)
	// pr1 cares for patient 0; patient 1 permits pr2 for Observations only;
	// patient 2 denies pr1 although an encounter names pr1.
	s.create(sys, "Encounter", `{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/`+patients[0]+`"},"participant":[{"individual":{"reference":"Practitioner/`+pr1+`"}}]}`)
	s.create(sys, "Encounter", `{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/`+patients[2]+`"},"participant":[{"individual":{"reference":"Practitioner/`+pr1+`"}}]}`)
	consent := func(p, typ, prac, class string) string {
		cls := ""
		if class != "" {
			cls = `,"class":[{"system":"http://hl7.org/fhir/resource-types","code":"` + class + `"}]`
		}
		return `{"resourceType":"Consent","status":"active","scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
			`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],"patient":{"reference":"Patient/` + p + `"},` +
			`"policyRule":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"OPTIN"}]},` +
			`"provision":{"type":"` + typ + `","actor":[{"role":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ParticipationType","code":"PRCP"}]},"reference":{"reference":"Practitioner/` + prac + `"}}]` + cls + `}}`
	}
	s.create(sys, "Consent", consent(patients[1], "permit", pr2, "Observation"))
	s.create(sys, "Consent", consent(patients[2], "deny", pr1, ""))

	type who struct {
		member, scope, fhirUser, patient string
		roles                            []string
	}
	callers := []who{
		{member: s.enrol("pr-one", "practitioner", "Practitioner/"+pr1), scope: "user/*.rs", fhirUser: "Practitioner/" + pr1, roles: []string{"practitioner"}},
		{member: s.enrol("pr-two", "practitioner", "Practitioner/"+pr2), scope: "user/*.rs", fhirUser: "Practitioner/" + pr2, roles: []string{"practitioner"}},
		{member: s.enrol("pt-zero", "patient", "Patient/"+patients[0]), scope: "patient/*.rs", patient: patients[0], roles: []string{"patient"}},
		{member: s.enrol("auditor", "auditor", ""), scope: "user/*.rs", roles: []string{"auditor"}},
		{member: s.admin, scope: "system/*.rs", roles: []string{"admin"}},
		{member: s.admin, scope: "user/*.rs", roles: []string{"admin"}},
	}
	tokens := make([]string, len(callers))
	for i, c := range callers {
		tok, err := s.n.Token(c.member, c.scope, "")
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = tok
	}
	obsIDs := make([]string, 0, len(obs))
	for o := range obs {
		obsIDs = append(obsIDs, o)
	}
	// permitted is the ledger's decision for caller c on a resource of typ
	// of the patient with id pid.
	permitted := func(c who, interaction, typ, pid string) bool {
		ctx := "user"
		if strings.HasPrefix(c.scope, "system/") {
			ctx = "system"
		} else if strings.HasPrefix(c.scope, "patient/") {
			ctx = "patient"
		}
		pt := s.pseudonym(pid)
		actorPt := ""
		if c.patient != "" {
			actorPt = s.pseudonym(c.patient)
		}
		if ctx == "patient" && pt != actorPt {
			return false
		}
		purpose := "TREAT"
		if actorPt != "" {
			purpose = "PATRQT"
		}
		d, err := s.n.DecideAt(s.n.Height(), access.Request{
			Actor:       access.Actor{ID: c.member, Org: s.org, Roles: c.roles, Context: ctx, Patient: actorPt, FHIRUser: c.fhirUser},
			Interaction: interaction, Type: typ, Patient: pt, Purpose: purpose, Time: time.Now(), Custodian: s.org,
		})
		if err != nil {
			t.Fatal(err)
		}
		return d.Allow && d.Rule != ""
	}
	patientOf := func(res map[string]any) string {
		if res["resourceType"] == "Patient" {
			return res["id"].(string)
		}
		for _, f := range []string{"subject", "patient"} {
			if r, ok := res[f].(map[string]any); ok {
				if ref, _ := r["reference"].(string); strings.HasPrefix(ref, "Patient/") {
					return strings.TrimPrefix(ref, "Patient/")
				}
			}
		}
		return ""
	}
	var answered, returned int
	rapid.Check(t, func(rt *rapid.T) {
		ci := rapid.IntRange(0, len(callers)-1).Draw(rt, "caller")
		c := callers[ci]
		oid := rapid.SampledFrom(obsIDs).Draw(rt, "observation")
		pid := rapid.SampledFrom(patients).Draw(rt, "patient")
		req := rapid.SampledFrom([]struct{ path, interaction string }{
			{"/fhir/Observation/" + oid, access.Read},
			{"/fhir/Observation/" + oid + "/_history/1", access.VRead},
			{"/fhir/Observation/" + oid + "/_history", access.History},
			{"/fhir/Observation/" + oid + "/_history/1/$verify", access.VRead},
			{"/fhir/Observation?_include=Observation:subject", access.Search},
			{"/fhir/Observation?subject=Patient/" + pid, access.Search},
			{"/fhir/Condition", access.Search},
			{"/fhir/Patient/" + pid, access.Read},
			{"/fhir/Patient/" + pid + "/$everything", access.Everything},
			{"/fhir/Observation/_history", access.History},
		}).Draw(rt, "request")
		a := s.req("GET", req.path, tokens[ci], "")
		if a.status != 200 {
			return
		}
		answered++
		var resources []map[string]any
		switch a.body["resourceType"] {
		case "Bundle":
			entries, _ := a.body["entry"].([]any)
			for _, e := range entries {
				if r, ok := e.(map[string]any)["resource"].(map[string]any); ok && r["resourceType"] != "OperationOutcome" {
					resources = append(resources, r)
				}
			}
		case "Parameters":
			// $verify: the caller was allowed the version itself.
			if !permitted(c, access.VRead, "Observation", obs[oid]) {
				rt.Fatalf("%s: $verify answered %s without a permitting rule", req.path, c.member)
			}
		default:
			resources = append(resources, a.body)
		}
		for _, r := range resources {
			typ, _ := r["resourceType"].(string)
			p := patientOf(r)
			if p == "" {
				continue // not a patient's record
			}
			in := req.interaction
			if typ != "Observation" && strings.Contains(req.path, "_include") {
				in = access.Read
			}
			returned++
			if !permitted(c, in, typ, p) {
				raw, _ := json.Marshal(r)
				rt.Fatalf("%s as %s (%s): returned %s/%v of a patient no rule lets them see: %.200s", req.path, c.member, c.scope, typ, r["id"], raw)
			}
		}
	})
	if answered == 0 || returned == 0 {
		t.Errorf("the property was never exercised: %d answers, %d patient resources returned", answered, returned)
	}
	t.Logf("%d answers with content, %d patient resources returned, each with a permitting rule", answered, returned)
}
