// Package access decides whether a request may touch a patient's record:
// it gathers the facts the ledger holds about the patient (consents, care
// relationships, declared emergencies, erasure — see the consent
// contract) as of a block, and evaluates the access rules stored on the
// ledger (CEL; deny overrides permit) on them. Every decision names the
// rule, and the consent or relationship, that made it.
//
// Scopes are checked before, by the API (auth); writing the audit trail
// is after, by the API as well. The package does no I/O beyond reading
// ledger state, keeps nothing between calls and reads no clock: the
// caller passes the decision time, so a decision is reproducible from the
// ledger at its height.
package access

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/policy"
)

// State is ledger state as of one height: point reads and prefix scans of
// full keys ("consent/c/...").
type State interface {
	Get(key []byte) ([]byte, bool, error)
	// Scan calls fn for each live key with the prefix, in key order;
	// fn returning false stops the scan. fn must not retain its arguments.
	Scan(prefix []byte, fn func(k, v []byte) bool) error
}

// Actor is who asks.
type Actor struct {
	ID       string // ledger member id
	Org      string
	Roles    []string
	Context  string // the token's scope level: patient, user or system
	Patient  string // the pseudonym of the actor's own or launch patient
	FHIRUser string // "Practitioner/123", "" if none
}

// Interactions a request names.
const (
	Read       = "read"
	VRead      = "vread"
	History    = "history"
	Search     = "search"
	Create     = "create"
	Update     = "update"
	Delete     = "delete"
	Export     = "export"
	Everything = "everything"
)

// IsWrite reports whether an interaction changes records.
func IsWrite(interaction string) bool {
	return interaction == Create || interaction == Update || interaction == Delete
}

// Request is one access to decide.
type Request struct {
	Actor       Actor
	Interaction string
	Type        string    // the resource type
	Patient     string    // the pseudonym of the record's patient; "" if none
	Purpose     string    // v3 ActReason; "" means TREAT
	Time        time.Time // the decision time
	// Custodian is the organisation whose node holds the record (and
	// decides): its own backend services and staff directory rules
	// apply only to its members.
	Custodian string
}

// Decision is the outcome, with its explanation.
type Decision struct {
	Allow bool `json:"allow"`
	// Rule is the rule that decided; "" when no rule permitted.
	Rule       string `json:"rule,omitempty"`
	Reason     string `json:"reason"`
	Consent    string `json:"consent,omitempty"` // "Consent/id" that matched
	Care       string `json:"care,omitempty"`    // "Encounter/id" that matched
	BreakGlass bool   `json:"break_glass,omitempty"`
}

// Facts is what the ledger says about a patient at one height: what a
// decision is computed from. A Facts may serve many requests about the
// same patient.
type Facts struct {
	Patient     string
	Consents    []consent.Consent
	Care        []consent.Care
	Emergencies []consent.Emergency
	Erased      bool
}

// Engine evaluates access rules. It is safe for concurrent use.
type Engine struct {
	m *contract.Machine

	// facts caches gathered facts by patient, with the value of the
	// patient's version key they were gathered at (see
	// consent.VersionKey): equal versions mean equal facts, at any height.
	mu    sync.Mutex
	facts map[string]cachedFacts // guarded by mu

	// decisions caches decisions of the current second (decisions are
	// made at one-second granularity, as the periods and time limits in
	// the facts are), keyed by everything a decision depends on: the
	// request, and the versions of the patient's facts and of the rules.
	dmu       sync.Mutex
	decisions map[decisionKey]Decision // guarded by dmu
	dsec      int64                    // the second decisions holds; guarded by dmu
}

type decisionKey struct {
	actor, interaction, typ, purpose, patient string
	facts, rules                              string
}

// maxCachedDecisions bounds the decisions cached for one second.
const maxCachedDecisions = 1 << 16

type cachedFacts struct {
	version string
	f       *Facts
}

// maxCachedPatients bounds the facts cache; when full it is emptied.
const maxCachedPatients = 1 << 16

// New returns an Engine over the machine whose consent contract declares
// the access rules.
func New(m *contract.Machine) *Engine { return &Engine{m: m, facts: map[string]cachedFacts{}} }

// Facts returns the facts about patient in st, from the cache when the
// patient's facts have not changed since they were gathered. The result
// is shared: never modify it.
func (e *Engine) Facts(st State, patient string) (*Facts, error) {
	if patient == "" {
		return &Facts{}, nil
	}
	v, ok, err := st.Get([]byte("consent/" + consent.VersionKey(patient)))
	if err != nil {
		return nil, err
	}
	if !ok {
		return &Facts{Patient: patient}, nil // nothing recorded, ever
	}
	e.mu.Lock()
	c, hit := e.facts[patient]
	e.mu.Unlock()
	if hit && c.version == string(v) {
		return c.f, nil
	}
	f, err := Gather(st, patient)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if len(e.facts) >= maxCachedPatients {
		clear(e.facts)
	}
	e.facts[patient] = cachedFacts{version: string(v), f: f}
	e.mu.Unlock()
	return f, nil
}

// Gather reads the facts about patient (a pseudonym) from st.
func Gather(st State, patient string) (*Facts, error) {
	f := &Facts{Patient: patient}
	if patient == "" {
		return f, nil
	}
	var err error
	scan := func(prefix string, fn func(v []byte) error) error {
		var inner error
		e := st.Scan([]byte("consent/"+prefix), func(_, v []byte) bool {
			inner = fn(v)
			return inner == nil
		})
		if e != nil {
			return e
		}
		return inner
	}
	err = scan(consent.ConsentPrefix(patient), func(v []byte) error {
		var c consent.Consent
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("access: consent record: %w", err)
		}
		f.Consents = append(f.Consents, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scan(consent.CarePrefix(patient), func(v []byte) error {
		var c consent.Care
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("access: care record: %w", err)
		}
		f.Care = append(f.Care, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = scan("b/"+patient+"/", func(v []byte) error {
		var e consent.Emergency
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("access: emergency record: %w", err)
		}
		f.Emergencies = append(f.Emergencies, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	_, f.Erased, err = st.Get([]byte("consent/" + consent.ErasureKey(patient)))
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Decide gathers the facts of req's patient from st and decides req, at
// the whole second of req.Time.
func (e *Engine) Decide(st State, req Request) (Decision, error) {
	req.Time = req.Time.Truncate(time.Second)
	if req.Purpose == "" {
		req.Purpose = "TREAT"
	}
	fv, rv := "", ""
	if req.Patient != "" {
		v, _, err := st.Get([]byte("consent/" + consent.VersionKey(req.Patient)))
		if err != nil {
			return Decision{}, err
		}
		fv = string(v)
	}
	v, _, err := st.Get(contract.PolicyVersionKey)
	if err != nil {
		return Decision{}, err
	}
	rv = string(v)
	a := req.Actor
	key := decisionKey{
		actor:       a.ID + "\x00" + a.Org + "\x00" + strings.Join(a.Roles, ",") + "\x00" + a.Context + "\x00" + a.Patient + "\x00" + a.FHIRUser,
		interaction: req.Interaction, typ: req.Type + "\x00" + req.Custodian, purpose: req.Purpose, patient: req.Patient, facts: fv, rules: rv,
	}
	sec := req.Time.Unix()
	e.dmu.Lock()
	if d, ok := e.decisions[key]; ok && e.dsec == sec {
		e.dmu.Unlock()
		return d, nil
	}
	e.dmu.Unlock()
	f, err := e.Facts(st, req.Patient)
	if err != nil {
		return Decision{}, err
	}
	d, err := e.DecideWith(st, f, req)
	if err != nil {
		return d, err
	}
	e.dmu.Lock()
	if e.dsec != sec || e.decisions == nil || len(e.decisions) >= maxCachedDecisions {
		e.decisions, e.dsec = make(map[decisionKey]Decision), sec
	}
	e.decisions[key] = d
	e.dmu.Unlock()
	return d, nil
}

// DecideWith decides req on facts already gathered from st (which must be
// those of req.Patient); st supplies the rules in force.
func (e *Engine) DecideWith(st State, f *Facts, req Request) (Decision, error) {
	if req.Purpose == "" {
		req.Purpose = "TREAT"
	}
	raw, ev := inputs(f, req)
	in, err := e.m.Engine().Prepare(consent.AccessEnv, raw)
	if err != nil {
		return Decision{}, fmt.Errorf("access: rule inputs: %w", err)
	}
	for _, r := range consent.AccessRules {
		if r.Effect != consent.EffectDeny {
			continue
		}
		ok, err := e.eval(st, r.Name, in)
		if err != nil {
			return Decision{}, err
		}
		if ok {
			d := Decision{Rule: r.Name, Reason: explain(r, ev)}
			if r.Name == "consent.deny.patient" { // the others rest on no consent
				d.Consent = ev.denyID
			}
			return d, nil
		}
	}
	for _, r := range consent.AccessRules {
		if r.Effect != consent.EffectPermit {
			continue
		}
		ok, err := e.eval(st, r.Name, in)
		if err != nil {
			return Decision{}, err
		}
		if ok {
			d := Decision{Allow: true, Rule: r.Name, Reason: explain(r, ev)}
			switch r.Name {
			case "consent.permit.consent":
				d.Consent = ev.permitID
			case "consent.permit.care":
				d.Care = ev.careSource
			case "consent.permit.break_glass":
				d.BreakGlass = true
			}
			return d, nil
		}
	}
	return Decision{Reason: "no rule permits this access"}, nil
}

// eval evaluates one rule. A rule that fails to evaluate (over its cost
// limit, a type error at run time) is an error, never a permit.
func (e *Engine) eval(st State, name string, in *policy.Inputs) (bool, error) {
	rule, err := e.m.Rule(st, name)
	if err != nil {
		return false, fmt.Errorf("access: rule %s: %w", name, err)
	}
	switch rule { // the two constant defaults, without the engine
	case "false":
		return false, nil
	case "true":
		return true, nil
	}
	ok, err := e.m.Engine().EvalPrepared(consent.AccessEnv, rule, in)
	if err != nil {
		return false, fmt.Errorf("access: rule %s: %w", name, err)
	}
	return ok, nil
}

// evidence is what an explanation cites.
type evidence struct {
	permitID, denyID string
	careSource       string
	until            time.Time
}

func inputs(f *Facts, req Request) (map[string]any, evidence) {
	var ev evidence
	now := req.Time.UTC()
	in := req.Patient != ""
	action := consent.ActionAccess
	if IsWrite(req.Interaction) {
		action = consent.ActionCorrect
	}
	permitted, denied := false, false
	treatment := true
	for _, c := range f.Consents {
		if c.Status != "active" {
			continue
		}
		for _, p := range c.Provisions {
			if !inPeriod(p.Start, p.End, now) {
				continue
			}
			if p.Type == consent.Deny && len(p.Actors) == 0 && len(p.Classes) == 0 &&
				(len(p.Purposes) == 0 || slices.Contains(p.Purposes, "TREAT")) {
				treatment = false
			}
			if !matches(p, req, action) {
				continue
			}
			typ := p.Type
			for _, x := range p.Except {
				if inPeriod(x.Start, x.End, now) && matches(x, req, action) {
					typ = x.Type
					break
				}
			}
			switch typ {
			case consent.Permit:
				if !permitted {
					permitted, ev.permitID = true, "Consent/"+c.ID
				}
			case consent.Deny:
				if !denied {
					denied, ev.denyID = true, "Consent/"+c.ID
				}
			}
		}
	}
	care := false
	if req.Actor.FHIRUser != "" {
		for _, c := range f.Care {
			if c.Active && inPeriod(c.Start, c.End, now) && slices.Contains(c.Practitioners, req.Actor.FHIRUser) {
				care, ev.careSource = true, c.Source
				break
			}
		}
	}
	bg := false
	for _, e := range f.Emergencies {
		if e.Member == req.Actor.ID && now.Unix() >= e.From && now.Unix() < e.Until {
			bg, ev.until = true, time.Unix(e.Until, 0).UTC()
		}
	}
	roles := make([]string, len(req.Actor.Roles))
	copy(roles, req.Actor.Roles)
	return map[string]any{
		"actor": map[string]any{
			"id": req.Actor.ID, "org": req.Actor.Org, "roles": roles, "context": req.Actor.Context,
			"patient": req.Actor.Patient, "fhir_user": req.Actor.FHIRUser,
		},
		"request":     map[string]any{"interaction": req.Interaction, "type": req.Type, "purpose": req.Purpose, "custodian": req.Custodian},
		"patient":     map[string]any{"id": req.Patient, "in_compartment": in, "treatment_allowed": treatment, "erased": f.Erased},
		"consent":     map[string]any{"permitted": permitted, "denied": denied, "permit_id": ev.permitID, "deny_id": ev.denyID},
		"care":        map[string]any{"active": care, "source": ev.careSource},
		"break_glass": map[string]any{"active": bg, "until": ev.until},
		"now":         now,
	}, ev
}

func inPeriod(start, end int64, now time.Time) bool {
	t := now.Unix()
	return (start == 0 || t >= start) && (end == 0 || t < end)
}

// matches reports whether a provision applies to the request.
func matches(p consent.Provision, req Request, action string) bool {
	if len(p.Actions) > 0 && !slices.Contains(p.Actions, action) {
		return false
	}
	if len(p.Purposes) > 0 && !slices.Contains(p.Purposes, req.Purpose) {
		return false
	}
	if len(p.Classes) > 0 && !slices.Contains(p.Classes, req.Type) {
		return false
	}
	if len(p.Actors) == 0 {
		return true
	}
	a := req.Actor
	for _, x := range p.Actors {
		switch x.Kind {
		case consent.ActorMember:
			if x.Value == a.ID {
				return true
			}
		case consent.ActorPractitioner:
			if a.FHIRUser != "" && x.Value == a.FHIRUser {
				return true
			}
		case consent.ActorRole:
			if slices.Contains(a.Roles, x.Value) {
				return true
			}
		case consent.ActorOrg:
			if x.Value == a.Org {
				return true
			}
		}
	}
	return false
}

// explain says in plain words why a rule decided.
func explain(r consent.AccessRule, ev evidence) string {
	var b strings.Builder
	b.WriteString(r.Effect)
	b.WriteString(" by ")
	b.WriteString(r.Name)
	b.WriteString(": ")
	b.WriteString(r.Doc)
	switch r.Name {
	case "consent.deny.patient":
		b.WriteString(" (" + ev.denyID + ")")
	case "consent.permit.consent":
		b.WriteString(" (" + ev.permitID + ")")
	case "consent.permit.care":
		b.WriteString(" (" + ev.careSource + ")")
	case "consent.permit.break_glass":
		b.WriteString(" (until " + ev.until.Format(time.RFC3339) + ")")
	}
	return b.String()
}
