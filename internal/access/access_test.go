package access_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contract"
	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/ledger"
)

// system is the member that records facts, as the node does.
const system = "st-mary/node"

// decideAt is the decision time of the scenarios: ten minutes after
// genesis, when every fact recorded at height 1 is in force.
var decideAt = ct.GenesisTime.Add(10 * time.Minute)

var reason = base64.StdEncoding.EncodeToString([]byte("sealed reason"))

// Roles of the matrix.
type role int

const (
	practitioner role = iota
	patientSelf
	otherPatient
	auditor
	admin
	service
	numRoles
)

var roleNames = [...]string{"practitioner", "patient-self", "other-patient", "auditor", "admin", "system-service"}

const (
	drWho     = "Practitioner/who"
	ptOther   = "pt_0000000000000000ffff"
	selfID    = "st-mary/patient" // the patient's own member id
	otherID   = "st-mary/other-patient"
	careCode  = "Encounter/enc-1"
	careOther = "Encounter/enc-2"
)

// actor returns who asks, and the purpose they state, as the API would.
func (r role) actor(patient string) (access.Actor, string) {
	switch r {
	case practitioner:
		return access.Actor{ID: "st-mary/dr-who", Org: "st-mary", Roles: []string{"practitioner"}, Context: "user", FHIRUser: drWho}, ""
	case patientSelf:
		return access.Actor{ID: selfID, Org: "st-mary", Roles: []string{"patient"}, Context: "patient", Patient: patient, FHIRUser: "Patient/self"}, "PATRQT"
	case otherPatient:
		return access.Actor{ID: otherID, Org: "st-mary", Roles: []string{"patient"}, Context: "patient", Patient: ptOther, FHIRUser: "Patient/other"}, "PATRQT"
	case auditor:
		return access.Actor{ID: "st-mary/clerk", Org: "st-mary", Roles: []string{"auditor"}, Context: "user"}, ""
	case admin:
		return access.Actor{ID: "st-mary/admin", Org: "st-mary", Roles: []string{"admin"}, Context: "user"}, ""
	case service:
		return access.Actor{ID: system, Org: "st-mary", Roles: []string{"system"}, Context: "system"}, ""
	}
	panic("unknown role")
}

// Consent states of the matrix.
type consentState int

const (
	noConsent consentState = iota
	permitPractitioner
	denyAll
	denyAllExceptPractitioner
	permitObservations
	expiredPermit
	inactivePermit
	inactiveDenyAll
	numConsentStates
)

var consentNames = [...]string{"none", "permit-practitioner", "deny-all", "deny-all-except-practitioner", "permit-observations", "expired-permit", "inactive-permit", "inactive-deny-all"}

// consentOf returns the consent recorded for state s, if any.
func consentOf(s consentState, patient string) (consent.Consent, bool) {
	forWho := []consent.Actor{{Kind: consent.ActorPractitioner, Value: drWho}}
	c := consent.Consent{ID: "c-" + consentNames[s], Version: 1, Patient: patient, Status: "active"}
	switch s {
	case noConsent:
		return c, false
	case permitPractitioner:
		c.Provisions = []consent.Provision{{Type: consent.Permit, Actors: forWho}}
	case denyAll:
		c.Provisions = []consent.Provision{{Type: consent.Deny}}
	case denyAllExceptPractitioner:
		c.Provisions = []consent.Provision{{Type: consent.Deny, Except: []consent.Provision{{Type: consent.Permit,
			Actors: []consent.Actor{{Kind: consent.ActorMember, Value: "st-mary/dr-who"}}}}}}
	case permitObservations:
		c.Provisions = []consent.Provision{{Type: consent.Permit, Actors: forWho, Classes: []string{"Observation"}}}
	case expiredPermit:
		c.Provisions = []consent.Provision{{Type: consent.Permit, Actors: forWho,
			Start: decideAt.Add(-2 * time.Hour).Unix(), End: decideAt.Add(-time.Hour).Unix()}}
	case inactivePermit:
		c.Status = "inactive"
		c.Provisions = []consent.Provision{{Type: consent.Permit, Actors: forWho}}
	case inactiveDenyAll:
		c.Status = "inactive"
		c.Provisions = []consent.Provision{{Type: consent.Deny}}
	}
	return c, true
}

// Care relationships of the matrix.
type careState int

const (
	noCare careState = iota
	activeCare
	finishedCare
	numCareStates
)

var careNames = [...]string{"none", "active-encounter", "finished-encounter"}

// Break-glass states of the matrix: declared (for every actor of the
// matrix) at height 1, for four hours or for one minute.
type bgState int

const (
	noBreakGlass bgState = iota
	activeBreakGlass
	expiredBreakGlass
	numBGStates
)

var bgNames = [...]string{"none", "active", "expired"}

var (
	types        = []string{"Observation", "Condition", "AuditEvent", "Practitioner"}
	interactions = []string{access.Read, access.Search, access.Create, access.Update}
)

// world is the facts part of a matrix case: each has its own patient.
type world struct {
	c    consentState
	care careState
	bg   bgState
}

func (w world) patient() string {
	return fmt.Sprintf("pt_%016d%d%d%d", 0, w.c, w.care, w.bg)
}

// buildWorlds records the facts of the worlds with consent state c, in
// one block, through the consent contract.
func buildWorlds(f *ct.Fixture, c consentState) []world {
	var worlds []world
	var steps []ct.Step
	do := func(method string, payload any) {
		steps = append(steps, ct.Step{Call: ct.Call{Signer: system, Contract: "consent", Method: method, Payload: payload}, Want: ledger.CodeOK})
	}
	for cr := range numCareStates {
		for b := range numBGStates {
			w := world{c, cr, b}
			worlds = append(worlds, w)
			p := w.patient()
			if cs, ok := consentOf(c, p); ok {
				do(consent.MethodSet, cs)
			}
			// Another practitioner's active encounter is always there:
			// it must never count for dr-who.
			do(consent.MethodCare, consent.Care{Source: careOther, Patient: p, Active: true, Practitioners: []string{"Practitioner/other"}})
			if cr != noCare {
				do(consent.MethodCare, consent.Care{Source: careCode, Patient: p, Active: cr == activeCare, Practitioners: []string{drWho, "Practitioner/other"}})
			}
			if b != noBreakGlass {
				minutes := int64(consent.MaxBreakGlassMinutes)
				if b == expiredBreakGlass {
					minutes = 1
				}
				for r := range numRoles {
					a, _ := r.actor(p)
					do(consent.MethodBreakGlass, consent.BreakGlass{Patient: p, Member: a.ID, Reason: reason, Minutes: minutes})
				}
			}
		}
	}
	f.Run(steps)
	return worlds
}

// mcase is one cell of the decision matrix.
type mcase struct {
	world
	role        role
	typ         string
	interaction string
}

func (c mcase) String() string {
	return fmt.Sprintf("%s/consent=%s/care=%s/break-glass=%s/%s/%s", roleNames[c.role], consentNames[c.c], careNames[c.care], bgNames[c.bg], c.typ, c.interaction)
}

func (c mcase) request() access.Request {
	patient := c.patient()
	if c.typ == "Practitioner" {
		patient = "" // a directory record, in no patient's compartment
	}
	a, purpose := c.role.actor(c.patient())
	return access.Request{Actor: a, Interaction: c.interaction, Type: c.typ, Patient: patient, Purpose: purpose, Time: decideAt, Custodian: "st-mary"}
}

// oracle decides a matrix case from the access rules' documentation,
// without the engine: it returns whether access is allowed and the rule
// that decides ("" when no rule permits).
func oracle(c mcase) (bool, string) {
	inCompartment := c.typ != "Practitioner"
	isPractitioner := c.role == practitioner
	ownRecord := c.role == patientSelf
	readOnly := c.interaction == access.Read || c.interaction == access.Search
	auditTrail := c.typ == "AuditEvent"

	// What the patient's consent says about this actor, type and action.
	denied, permitted := false, false
	switch c.c {
	case denyAll:
		denied = true // no actor named: everybody
	case denyAllExceptPractitioner:
		denied, permitted = !isPractitioner, isPractitioner
	case permitPractitioner:
		permitted = isPractitioner
	case permitObservations:
		permitted = isPractitioner && c.typ == "Observation"
	case noConsent, expiredPermit, inactivePermit, inactiveDenyAll:
		// Nothing in force.
	}
	denied = denied && inCompartment
	permitted = permitted && inCompartment
	// Treatment is allowed unless a consent denies everyone.
	treatment := c.c != denyAll && c.c != denyAllExceptPractitioner
	care := c.care == activeCare && isPractitioner
	emergency := c.bg == activeBreakGlass

	// Deny overrides permit. A patient's consent governs other people's
	// access to their records: not the patient's own, and not the audit
	// trail (which auditors and the patient read by their own rules).
	if denied && !emergency && !ownRecord && !auditTrail {
		return false, "consent.deny.patient"
	}
	switch {
	case inCompartment && ownRecord && readOnly:
		return true, "consent.permit.self"
	case permitted && !auditTrail:
		return true, "consent.permit.consent"
	case inCompartment && care && treatment && !auditTrail: // staff state purpose TREAT
		return true, "consent.permit.care"
	case inCompartment && emergency && isPractitioner && !auditTrail:
		return true, "consent.permit.break_glass"
	case c.role == service && !auditTrail:
		return true, "consent.permit.system"
	case !inCompartment && !auditTrail && c.role != patientSelf && c.role != otherPatient && readOnly:
		return true, "consent.permit.directory"
	case auditTrail && c.role == auditor && readOnly:
		return true, "consent.permit.audit"
	}
	return false, ""
}

// checkSources checks that a decision cites the fact its rule rests on,
// and none that it does not.
func checkSources(t *testing.T, name string, d access.Decision, wantConsent, wantCare string) {
	t.Helper()
	if d.Rule == "" && d.Reason != "no rule permits this access" {
		t.Errorf("%s: decision %+v names no rule; want reason %q", name, d, "no rule permits this access")
	}
	if d.Rule != "" && !strings.Contains(d.Reason, d.Rule) {
		t.Errorf("%s: reason %q does not name the rule %s", name, d.Reason, d.Rule)
	}
	switch d.Rule {
	case "consent.permit.consent", "consent.deny.patient":
		if d.Consent != wantConsent || wantConsent == "" || !strings.Contains(d.Reason, wantConsent) {
			t.Errorf("%s: %s decided citing consent %q (reason %q); want %q", name, d.Rule, d.Consent, d.Reason, wantConsent)
		}
	default:
		if d.Consent != "" {
			t.Errorf("%s: %s decided but the decision cites %s", name, d.Rule, d.Consent)
		}
	}
	if (d.Rule == "consent.permit.care") != (d.Care != "") || d.Care != "" && (d.Care != wantCare || !strings.Contains(d.Reason, wantCare)) {
		t.Errorf("%s: %s decided citing care %q (reason %q); want %q only for consent.permit.care", name, d.Rule, d.Care, d.Reason, wantCare)
	}
	if (d.Rule == "consent.permit.break_glass") != d.BreakGlass {
		t.Errorf("%s: %s decided with BreakGlass = %v", name, d.Rule, d.BreakGlass)
	}
}

// TestDecisionMatrix decides every combination of role, consent, care
// relationship, break-glass, resource type and interaction on facts
// recorded through the consent contract, and compares with the oracle.
// Each consent state has its own ledger, so that each decision scans a
// small state.
func TestDecisionMatrix(t *testing.T) {
	var (
		mu         sync.Mutex
		n, allowed int
		rules      = map[string]int{}
		failed     bool
	)
	t.Run("consent", func(t *testing.T) {
		for c := range numConsentStates {
			t.Run(consentNames[c], func(t *testing.T) {
				t.Parallel()
				f := ct.NewFixture(t, consent.Contract{})
				eng := access.New(f.Machine)
				wantConsent := ""
				if _, ok := consentOf(c, ""); ok {
					wantConsent = "Consent/c-" + consentNames[c]
				}
				var cn, callowed, failures int
				crules := map[string]int{}
				for _, w := range buildWorlds(f, c) {
					for r := range numRoles {
						for _, typ := range types {
							for _, in := range interactions {
								mc := mcase{world: w, role: r, typ: typ, interaction: in}
								cn++
								d, err := eng.Decide(f.State, mc.request())
								if err != nil {
									t.Fatalf("%v: Decide: %v", mc, err)
								}
								wantAllow, wantRule := oracle(mc)
								if d.Allow != wantAllow || d.Rule != wantRule {
									failures++
									if failures <= 20 {
										t.Errorf("%v: Decide = allow %v by %q (%s); want allow %v by %q", mc, d.Allow, d.Rule, d.Reason, wantAllow, wantRule)
									}
									continue
								}
								if d.Allow {
									callowed++
								}
								crules[d.Rule]++
								checkSources(t, mc.String(), d, wantConsent, careCode)
							}
						}
					}
				}
				if failures > 0 {
					t.Errorf("%d of %d cases differ from the oracle", failures, cn)
				}
				mu.Lock()
				defer mu.Unlock()
				n, allowed, failed = n+cn, allowed+callowed, failed || failures > 0
				for r, k := range crules {
					rules[r] += k
				}
			})
		}
	})
	if want := int(numRoles) * int(numConsentStates) * int(numCareStates) * int(numBGStates) * len(types) * len(interactions); n != want {
		t.Errorf("matrix has %d cases; want %d", n, want)
	}
	// Every rule the matrix can reach decided some case.
	for _, r := range []string{"", "consent.deny.patient", "consent.permit.self", "consent.permit.consent", "consent.permit.care",
		"consent.permit.break_glass", "consent.permit.system", "consent.permit.directory", "consent.permit.audit"} {
		if !failed && rules[r] == 0 {
			t.Errorf("no case decided by %q", r)
		}
	}
	t.Logf("%d cases, %d allowed; by rule: %v", n, allowed, rules)
}

// TestDecideErased checks that an erased patient's records are closed to
// everybody, whatever else the ledger says.
func TestDecideErased(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	p := world{permitPractitioner, activeCare, activeBreakGlass}.patient()
	cs, _ := consentOf(permitPractitioner, p)
	f.Run([]ct.Step{
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodSet, Payload: cs}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodCare, Payload: consent.Care{Source: careCode, Patient: p, Active: true, Practitioners: []string{drWho}}}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodBreakGlass, Payload: consent.BreakGlass{Patient: p, Member: "st-mary/dr-who", Reason: reason, Minutes: 60}}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: "st-mary/admin", Contract: "consent", Method: consent.MethodErase, Payload: consent.Erase{Patient: p, By: "st-mary/admin", Reason: "patient-request"}}, Want: ledger.CodeOK},
	})
	eng := access.New(f.Machine)
	for r := range numRoles {
		for _, in := range interactions {
			a, purpose := r.actor(p)
			d, err := eng.Decide(f.State, access.Request{Actor: a, Interaction: in, Type: "Observation", Patient: p, Purpose: purpose, Time: decideAt, Custodian: "st-mary"})
			if err != nil || d.Allow || d.Rule != "consent.deny.erased" {
				t.Errorf("%s %s of an erased patient = %+v, %v; want denied by consent.deny.erased", roleNames[r], in, d, err)
			}
			checkSources(t, roleNames[r]+" "+in, d, "", "")
		}
	}
}

// clone returns a copy of st: the state as of its height.
func clone(st *contract.MemState) *contract.MemState {
	c := contract.NewMemState()
	st.Scan(nil, func(k, v []byte) bool {
		c.Apply([]ledger.Change{{Key: bytes.Clone(k), Value: bytes.Clone(v)}})
		return true
	})
	return c
}

// TestRevokeAndPastHeight checks that a revocation takes effect at its
// block, and that a decision at the height before it is reproduced from
// the state as of that height.
func TestRevokeAndPastHeight(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	eng := access.New(f.Machine)
	p := world{permitPractitioner, noCare, noBreakGlass}.patient()
	cs, _ := consentOf(permitPractitioner, p)
	set := func(c consent.Consent) ct.Call {
		return ct.Call{Signer: system, Contract: "consent", Method: consent.MethodSet, Payload: c}
	}
	f.Run([]ct.Step{{Call: set(cs), Want: ledger.CodeOK}})
	a, _ := practitioner.actor(p)
	req := access.Request{Actor: a, Interaction: access.Read, Type: "Observation", Patient: p, Time: decideAt, Custodian: "st-mary"}

	before, err := eng.Decide(f.State, req)
	if err != nil || !before.Allow || before.Rule != "consent.permit.consent" || before.Consent != "Consent/"+cs.ID {
		t.Fatalf("Decide before the revocation = %+v, %v; want allowed by consent.permit.consent citing Consent/%s", before, err, cs.ID)
	}
	atHeight1 := clone(f.State)

	// Revoke: a new version of the consent, inactive. Within its block the
	// committed state still permits.
	revoked := cs
	revoked.Version, revoked.Status = 2, "inactive"
	b := f.Begin()
	if r := f.Apply(b, f.Tx(set(revoked))); r.Code != ledger.CodeOK {
		t.Fatalf("revoke = %s %q", r.Code, r.Message)
	}
	if d, err := eng.Decide(f.State, req); err != nil || !d.Allow {
		t.Errorf("Decide while the revocation is uncommitted = %+v, %v; want still allowed", d, err)
	}
	f.Commit(b)

	after, err := eng.Decide(f.State, req)
	if err != nil || after.Allow || after.Rule != "" || after.Reason != "no rule permits this access" {
		t.Errorf("Decide after the revocation = %+v, %v; want denied, no rule permits", after, err)
	}
	again, err := eng.Decide(atHeight1, req)
	if err != nil || again != before {
		t.Errorf("Decide at height 1 after the revocation = %+v, %v; want the earlier decision %+v", again, err, before)
	}
	if again == after {
		t.Errorf("decisions at heights 1 and 2 are the same: %+v", again)
	}

	// A deny consent, then re-granting: the newest version counts.
	deny := cs
	deny.Version, deny.Provisions = 3, []consent.Provision{{Type: consent.Deny, Actors: []consent.Actor{{Kind: consent.ActorRole, Value: "practitioner"}}}}
	regrant := cs
	regrant.Version = 4
	f.Run([]ct.Step{{Call: set(deny), Want: ledger.CodeOK}})
	if d, err := eng.Decide(f.State, req); err != nil || d.Allow || d.Rule != "consent.deny.patient" || d.Consent != "Consent/"+cs.ID {
		t.Errorf("Decide after a deny version = %+v, %v; want denied by consent.deny.patient", d, err)
	}
	f.Run([]ct.Step{{Call: set(regrant), Want: ledger.CodeOK}})
	if d, err := eng.Decide(f.State, req); err != nil || d != before {
		t.Errorf("Decide after re-granting = %+v, %v; want %+v", d, err, before)
	}
}

// TestOperatorRules checks that rules changed by policy transaction take
// effect from their block, and that a rule that cannot be evaluated is an
// error, never a permit.
func TestOperatorRules(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	eng := access.New(f.Machine)
	p := world{}.patient()
	policySet := func(method, name, rule string) []ct.Step {
		return []ct.Step{{Call: ct.Call{Signer: "st-mary/admin", Contract: "policy", Method: method, Payload: contract.PolicySet{Name: name, Rule: rule}}, Want: ledger.CodeOK}}
	}
	decide := func(r role, typ string) access.Decision {
		t.Helper()
		a, purpose := r.actor(p)
		d, err := eng.Decide(f.State, access.Request{Actor: a, Interaction: access.Read, Type: typ, Patient: p, Purpose: purpose, Time: decideAt, Custodian: "st-mary"})
		if err != nil {
			t.Fatalf("Decide(%s, %s): %v", roleNames[r], typ, err)
		}
		return d
	}

	if d := decide(practitioner, "Observation"); d.Allow {
		t.Fatalf("dr-who without any fact = %+v; want denied", d)
	}
	f.Run(policySet("set", "consent.permit.custom", `actor.id == "st-mary/dr-who"`))
	if d := decide(practitioner, "Observation"); !d.Allow || d.Rule != "consent.permit.custom" {
		t.Errorf("dr-who after consent.permit.custom = %+v; want allowed by it", d)
	}
	if d := decide(admin, "Observation"); d.Allow {
		t.Errorf("admin after consent.permit.custom = %+v; want still denied", d)
	}

	// A custom deny overrides every permit, the custom one included.
	f.Run(policySet("set", "consent.deny.custom", `request.type == "Condition"`))
	if d := decide(practitioner, "Condition"); d.Allow || d.Rule != "consent.deny.custom" {
		t.Errorf("dr-who reading a Condition after consent.deny.custom = %+v; want denied by it", d)
	}
	if d := decide(service, "Condition"); d.Allow || d.Rule != "consent.deny.custom" {
		t.Errorf("system reading a Condition after consent.deny.custom = %+v; want denied by it", d)
	}
	if d := decide(practitioner, "Observation"); !d.Allow {
		t.Errorf("dr-who reading an Observation after consent.deny.custom = %+v; want allowed", d)
	}

	// Resetting restores the default.
	f.Run(policySet("reset", "consent.permit.custom", ""), policySet("reset", "consent.deny.custom", ""))
	if d := decide(practitioner, "Observation"); d.Allow {
		t.Errorf("dr-who after the reset = %+v; want denied", d)
	}

	// A rule that yields no bool at run time fails closed.
	f.Run(policySet("set", "consent.permit.self", `actor.id`))
	a, _ := patientSelf.actor(p)
	if d, err := eng.Decide(f.State, access.Request{Actor: a, Interaction: access.Read, Type: "Observation", Patient: p, Time: decideAt, Custodian: "st-mary"}); err == nil || d.Allow {
		t.Errorf("Decide with a non-bool rule = %+v, %v; want an error", d, err)
	}
}

// TestGatherCorrupt checks that an undecodable fact is an error, not an
// absence.
func TestGatherCorrupt(t *testing.T) {
	const p = "pt_0000000000000000aaaa"
	for _, key := range []string{consent.ConsentPrefix(p) + "c1", consent.CarePrefix(p) + "Encounter/1", consent.EmergencyKey(p, "st-mary/dr-who")} {
		st := contract.NewMemState()
		st.Apply([]ledger.Change{{Key: []byte("consent/" + key), Value: []byte("{not json")}})
		if f, err := access.Gather(st, p); err == nil {
			t.Errorf("Gather with a corrupt %s = %+v; want an error", key, f)
		}
	}
	st := contract.NewMemState()
	if f, err := access.Gather(st, ""); err != nil || f.Patient != "" || len(f.Consents)+len(f.Care)+len(f.Emergencies) != 0 || f.Erased {
		t.Errorf("Gather of no patient = %+v, %v; want empty facts", f, err)
	}
}

// TestGatherIsolation checks that one patient's facts never count for
// another whose pseudonym extends theirs.
func TestGatherIsolation(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	p := "pt_0000000000000000aaaa"
	longer := p + "b"
	f.Run([]ct.Step{
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodSet, Payload: consent.Consent{ID: "c1", Version: 1, Patient: longer, Status: "active", Provisions: []consent.Provision{{Type: consent.Permit}}}}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodCare, Payload: consent.Care{Source: careCode, Patient: longer, Active: true, Practitioners: []string{drWho}}}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodBreakGlass, Payload: consent.BreakGlass{Patient: longer, Member: "st-mary/dr-who", Reason: reason, Minutes: 5}}, Want: ledger.CodeOK},
		{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodErase, Payload: consent.Erase{Patient: longer, By: "st-mary/admin", Reason: "legal-order"}}, Want: ledger.CodeOK},
	})
	facts, err := access.Gather(f.State, p)
	if err != nil || len(facts.Consents)+len(facts.Care)+len(facts.Emergencies) != 0 || facts.Erased {
		t.Errorf("Gather(%s) = %+v, %v; want no facts (they are %s's)", p, facts, err, longer)
	}
	facts, err = access.Gather(f.State, longer)
	if err != nil || len(facts.Consents) != 1 || len(facts.Care) != 1 || len(facts.Emergencies) != 1 || !facts.Erased {
		t.Errorf("Gather(%s) = %+v, %v; want one of each", longer, facts, err)
	}
}

func TestIsWrite(t *testing.T) {
	for _, in := range []string{access.Read, access.VRead, access.History, access.Search, access.Create, access.Update, access.Delete, access.Export, access.Everything} {
		want := slices.Contains([]string{access.Create, access.Update, access.Delete}, in)
		if got := access.IsWrite(in); got != want {
			t.Errorf("IsWrite(%q) = %v; want %v", in, got, want)
		}
	}
}

// TestDecideConcurrent decides from many goroutines on one engine, over
// the states before and after a revocation: each decision is that of its
// own state, whatever the engine has cached meanwhile.
func TestDecideConcurrent(t *testing.T) {
	f := ct.NewFixture(t, consent.Contract{})
	eng := access.New(f.Machine)
	p := world{permitPractitioner, noCare, noBreakGlass}.patient()
	cs, _ := consentOf(permitPractitioner, p)
	f.Run([]ct.Step{{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodSet, Payload: cs}, Want: ledger.CodeOK}})
	before := clone(f.State)
	cs.Version, cs.Status = 2, "inactive"
	f.Run([]ct.Step{{Call: ct.Call{Signer: system, Contract: "consent", Method: consent.MethodSet, Payload: cs}, Want: ledger.CodeOK}})
	a, _ := practitioner.actor(p)
	req := access.Request{Actor: a, Interaction: access.Read, Type: "Observation", Patient: p, Time: decideAt, Custodian: "st-mary"}

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				st, want := f.State, false
				if (g+i)%2 == 0 {
					st, want = before, true
				}
				if d, err := eng.Decide(st, req); err != nil || d.Allow != want {
					t.Errorf("Decide (allowed at this height: %v) = %+v, %v", want, d, err)
					return
				}
			}
		})
	}
	wg.Wait()
}
