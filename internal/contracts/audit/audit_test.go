package audit_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/contract"
	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/ledger"
)

const (
	node = "st-mary/node" // the system member that records events
	pt   = "pt_0123456789abcdef0123"
	pt2  = "pt_fedcba9876543210fedc"
)

// event returns an AuditEvent in the shape the FHIR API writes (IHE BALP
// RESTful operation; see fhirapi's (*Server).event): member dr-who read
// an Observation of pt, permitted by a consent.
func event() *audit.Event {
	return &audit.Event{
		ResourceType:   "AuditEvent",
		Type:           audit.Coding{System: "http://terminology.hl7.org/CodeSystem/audit-event-type", Code: "rest", Display: "RESTful Operation"},
		Subtype:        []audit.Coding{{System: audit.SystemInteraction, Code: "read"}},
		Action:         "R",
		Recorded:       "2026-01-02T03:04:05.123456789Z",
		Outcome:        audit.OutcomeSuccess,
		OutcomeDesc:    "permit by consent.permit.consent: a patient's consent permits this access (Consent/c1)",
		PurposeOfEvent: []audit.CodeableConcept{{Coding: []audit.Coding{{System: audit.SystemActReason, Code: "TREAT"}}}},
		Agent: []audit.Agent{
			{
				Type:      &audit.CodeableConcept{Coding: []audit.Coding{{System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: "IRCP", Display: "information recipient"}}},
				Role:      []audit.CodeableConcept{{Coding: []audit.Coding{{System: "urn:medledger:role", Code: "practitioner"}}}},
				Who:       audit.Reference{Identifier: &audit.Identifier{System: audit.SystemMember, Value: "st-mary/dr-who"}},
				Requestor: true,
				Network:   &audit.Network{Address: "192.0.2.7", Type: "2"},
			},
			{Who: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemOrg, Value: "st-mary"}}},
		},
		Source: audit.Source{
			Site:     "st-mary",
			Observer: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemMember, Value: node}},
			Type:     []audit.Coding{{System: "http://terminology.hl7.org/CodeSystem/security-source-type", Code: "4", Display: "Application Server"}},
		},
		Entity: []audit.Entity{
			{
				What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: pt}},
				Type: &audit.Coding{System: "http://terminology.hl7.org/CodeSystem/audit-entity-type", Code: "1", Display: "Person"},
				Role: &audit.Coding{System: audit.SystemObjectRole, Code: "1", Display: "Patient"},
			},
			{
				What: audit.Reference{Reference: "Observation/o-1"},
				Type: &audit.Coding{System: "http://terminology.hl7.org/CodeSystem/audit-entity-type", Code: "2", Display: "System Object"},
				Role: &audit.Coding{System: audit.SystemObjectRole, Code: "4", Display: "Domain Resource"},
				Detail: []audit.Detail{
					{Type: "decision-rule", ValueString: "consent.permit.consent"},
					{Type: "consent", ValueString: "Consent.c1"},
					{Type: "care-relationship", ValueString: "Encounter.e1"},
					{Type: "break-glass", ValueString: "true"},
				},
			},
		},
	}
}

func with(mod func(e *audit.Event)) *audit.Event {
	e := event()
	if mod != nil {
		mod(e)
	}
	return e
}

// jsonWith returns the valid event's JSON with the object at path (keys
// and array indices) given one extra field.
func jsonWith(t testing.TB, field string, value any, path ...any) string {
	t.Helper()
	b, _ := json.Marshal(event())
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	o := v
	for _, p := range path {
		switch p := p.(type) {
		case string:
			o = o.(map[string]any)[p]
		case int:
			o = o.([]any)[p]
		}
	}
	o.(map[string]any)[field] = value
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func record(signer string, payload any, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "audit", Method: "record", Payload: payload}, Want: want}
}

// shapes are events and whether the contract accepts them. Check gives the
// same answer on the decoded form of every struct case; the raw JSON ones
// fail in decoding.
func shapes(t testing.TB) []struct {
	name string
	in   any // *audit.Event or raw JSON
	ok   bool
} {
	agent0 := func(mod func(a *audit.Agent)) *audit.Event { return with(func(e *audit.Event) { mod(&e.Agent[0]) }) }
	entity := func(i int, mod func(en *audit.Entity)) *audit.Event {
		return with(func(e *audit.Event) { mod(&e.Entity[i]) })
	}
	type tc = struct {
		name string
		in   any
		ok   bool
	}
	return []tc{
		{"as the API writes it", event(), true},
		{"minimal", &audit.Event{ResourceType: "AuditEvent", Type: audit.Coding{Code: "rest"}, Action: "E", Recorded: "2026-01-02T03:04:05Z", Outcome: "4",
			Agent:  []audit.Agent{{Who: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemMember, Value: "acme/claims"}}, Requestor: true}},
			Source: audit.Source{Observer: audit.Reference{Reference: "Device/node0"}}}, true},
		{"denied attempt", with(func(e *audit.Event) {
			e.Outcome, e.OutcomeDesc = audit.OutcomeMinorFailure, "no rule permits this access"
			e.Entity[1].Detail = nil
		}), true},
		{"two patients", with(func(e *audit.Event) {
			e.Entity = append(e.Entity, audit.Entity{What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: pt2}}, Role: &audit.Coding{System: audit.SystemObjectRole, Code: "1"}})
		}), true},
		{"patient requestor without network", agent0(func(a *audit.Agent) { a.Network = nil }), true},
		{"ipv6 address", agent0(func(a *audit.Agent) { a.Network.Address = "2001:db8::1" }), true},
		{"versioned reference", entity(1, func(en *audit.Entity) { en.What.Reference = "Observation/o-1/_history/3" }), true},
		{"type-level reference", entity(1, func(en *audit.Entity) { en.What.Reference = "Observation" }), true},
		{"recorded with offset", with(func(e *audit.Event) { e.Recorded = "2026-01-02T04:04:05+01:00" }), true},
		{"all actions", with(func(e *audit.Event) { e.Action = "D" }), true},
		{"max agents", with(func(e *audit.Event) { e.Agent = append(e.Agent, e.Agent[1], e.Agent[1]) }), true},

		{"resourceType Observation", with(func(e *audit.Event) { e.ResourceType = "Observation" }), false},
		{"resourceType empty", with(func(e *audit.Event) { e.ResourceType = "" }), false},
		{"resourceType lower case", with(func(e *audit.Event) { e.ResourceType = "auditevent" }), false},

		{"free text in type display", with(func(e *audit.Event) { e.Type.Display = ct.PHI }), false},
		{"free text in subtype display", with(func(e *audit.Event) { e.Subtype[0].Display = "read by " + ct.PHI }), false},
		{"free text in agent type display", agent0(func(a *audit.Agent) { a.Type.Coding[0].Display = ct.PHI }), false},
		{"free text in agent role display", agent0(func(a *audit.Agent) { a.Role[0].Coding[0].Display = "Dr. " + ct.PHI }), false},
		{"free text in purpose display", with(func(e *audit.Event) { e.PurposeOfEvent[0].Coding[0].Display = ct.PHI }), false},
		{"free text in source type display", with(func(e *audit.Event) { e.Source.Type[0].Display = ct.PHI }), false},
		{"free text in entity type display", entity(0, func(en *audit.Entity) { en.Type.Display = ct.PHI }), false},
		{"free text in entity role display", entity(0, func(en *audit.Entity) { en.Role.Display = ct.PHI }), false},
		{"display with newline", with(func(e *audit.Event) { e.Type.Display = "RESTful\nOperation" }), false},
		{"display too long", with(func(e *audit.Event) { e.Type.Display = strings.Repeat("a", 65) }), false},
		{"code with space", with(func(e *audit.Event) { e.Type.Code = "re st" }), false},
		{"code empty", with(func(e *audit.Event) { e.Subtype[0].Code = "" }), false},
		{"system not a URI", with(func(e *audit.Event) { e.Type.System = "audit event type" }), false},

		{"name in a detail value", entity(1, func(en *audit.Entity) { en.Detail[0].ValueString = ct.PHI }), false},
		{"name in a care detail", entity(1, func(en *audit.Entity) { en.Detail[2].ValueString = "Encounter/" + ct.PHI }), false},
		{"detail value with slash", entity(1, func(en *audit.Entity) { en.Detail[1].ValueString = "Consent/c1" }), false},
		{"detail value empty", entity(1, func(en *audit.Entity) { en.Detail[0].ValueString = "" }), false},
		{"detail value too long", entity(1, func(en *audit.Entity) { en.Detail[0].ValueString = strings.Repeat("a", 65) }), false},
		{"detail type upper case", entity(1, func(en *audit.Entity) { en.Detail[0].Type = "Name" }), false},
		{"detail type free text", entity(1, func(en *audit.Entity) { en.Detail[0].Type = ct.PHI }), false},

		{"pseudonym is a name", entity(0, func(en *audit.Entity) { en.What.Identifier.Value = ct.PHI }), false},
		{"pseudonym too short", entity(0, func(en *audit.Entity) { en.What.Identifier.Value = "pt_abc" }), false},
		{"pseudonym upper case", entity(0, func(en *audit.Entity) { en.What.Identifier.Value = strings.ToUpper(pt) }), false},
		{"pseudonym is a patient id", entity(0, func(en *audit.Entity) { en.What.Identifier.Value = "Patient/123" }), false},
		{"identifier system unknown", entity(0, func(en *audit.Entity) { en.What.Identifier.System = "http://hospital.example/mrn" }), false},
		{"entity with nothing", entity(1, func(en *audit.Entity) { en.What = audit.Reference{} }), false},
		{"entity reference free text", entity(1, func(en *audit.Entity) { en.What.Reference = ct.PHI }), false},
		{"entity reference with query", entity(1, func(en *audit.Entity) { en.What.Reference = "Patient?name=Testpatient" }), false},

		{"two requestors", with(func(e *audit.Event) { e.Agent[1].Requestor = true }), false},
		{"no requestor", agent0(func(a *audit.Agent) { a.Requestor = false }), false},
		{"no agents", with(func(e *audit.Event) { e.Agent = nil }), false},
		{"too many agents", with(func(e *audit.Event) { e.Agent = append(e.Agent, e.Agent[1], e.Agent[1], e.Agent[1]) }), false},
		{"agent who empty", agent0(func(a *audit.Agent) { a.Who = audit.Reference{} }), false},
		{"agent member id with space", agent0(func(a *audit.Agent) { a.Who.Identifier.Value = ct.PHI }), false},
		{"agent org free text", with(func(e *audit.Event) { e.Agent[1].Who.Identifier.Value = "St Mary's" }), false},
		{"network host name", agent0(func(a *audit.Agent) { a.Network.Address = "jane-laptop.example" }), false},
		{"network address empty", agent0(func(a *audit.Agent) { a.Network.Address = "" }), false},
		{"network with port text", agent0(func(a *audit.Agent) { a.Network.Address = "192.0.2.7 (home)" }), false},
		{"network type not IP", agent0(func(a *audit.Agent) { a.Network.Type = "1" }), false},

		{"observer missing", with(func(e *audit.Event) { e.Source.Observer = audit.Reference{} }), false},
		{"site free text", with(func(e *audit.Event) { e.Source.Site = "St Mary's ward 3" }), false},

		{"recorded date only", with(func(e *audit.Event) { e.Recorded = "2026-01-02" }), false},
		{"recorded empty", with(func(e *audit.Event) { e.Recorded = "" }), false},
		{"recorded no zone", with(func(e *audit.Event) { e.Recorded = "2026-01-02T03:04:05" }), false},
		{"recorded month 13", with(func(e *audit.Event) { e.Recorded = "2026-13-02T03:04:05Z" }), false},
		{"recorded words", with(func(e *audit.Event) { e.Recorded = "yesterday" }), false},

		{"action unknown", with(func(e *audit.Event) { e.Action = "X" }), false},
		{"outcome unknown", with(func(e *audit.Event) { e.Outcome = "1" }), false},
		{"outcome desc too long", with(func(e *audit.Event) { e.OutcomeDesc = strings.Repeat("x", audit.MaxOutcomeDesc+1) }), false},
		{"too many entities", with(func(e *audit.Event) {
			e.Entity = slices.Repeat(e.Entity[1:2], audit.MaxEntities+1)
		}), false},

		{"unknown top-level field", jsonWith(t, "text", map[string]any{"div": ct.PHI}), false},
		{"unknown field id", jsonWith(t, "id", "x"), false},
		{"unknown agent field", jsonWith(t, "name", ct.PHI, "agent", 0), false},
		{"unknown who field", jsonWith(t, "display", ct.PHI, "agent", 0, "who"), false},
		{"unknown identifier field", jsonWith(t, "type", ct.PHI, "entity", 0, "what", "identifier"), false},
		{"unknown entity field", jsonWith(t, "name", ct.PHI, "entity", 0), false},
		{"unknown detail field", jsonWith(t, "valueBase64Binary", "SmFuZQ==", "entity", 1, "detail", 0), false},
		{"unknown coding field", jsonWith(t, "userSelected", true, "type"), false},
		{"unknown network field", jsonWith(t, "host", ct.PHI, "agent", 0, "network"), false},
		{"unknown source field", jsonWith(t, "name", ct.PHI, "source"), false},
		{"wrong JSON type", `{"resourceType":"AuditEvent","agent":{"name":"` + ct.PHI + `"}}`, false},
		{"trailing data", func() string { b, _ := json.Marshal(event()); return string(b) + `{"name":"` + ct.PHI + `"}` }(), false},
		{"null", `null`, false},
	}
}

func TestRecord(t *testing.T) {
	for _, tc := range shapes(t) {
		t.Run(tc.name, func(t *testing.T) {
			want := ledger.CodeContract
			if tc.ok {
				want = ledger.CodeOK
			}
			f := ct.NewFixture(t, audit.Contract{})
			f.Run([]ct.Step{record(node, tc.in, want)})
			if e, isEvent := tc.in.(*audit.Event); isEvent {
				if got := audit.Check(e) == ""; got != tc.ok {
					t.Errorf("Check(%s) = %q; want ok = %v", tc.name, audit.Check(e), tc.ok)
				}
			}
		})
	}
}

func TestRecordDenied(t *testing.T) {
	for _, signer := range []string{"st-mary/admin", "st-mary/dr-who", "st-mary/clerk", "acme/admin"} {
		t.Run(signer, func(t *testing.T) {
			f := ct.NewFixture(t, audit.Contract{})
			f.Run([]ct.Step{record(signer, event(), ledger.CodeDenied)})
		})
	}
	t.Run("unknown method", func(t *testing.T) {
		f := ct.NewFixture(t, audit.Contract{})
		f.Run([]ct.Step{{Call: ct.Call{Signer: node, Contract: "audit", Method: "delete", Payload: event()}, Want: ledger.CodeUnknownMethod}})
	})
	t.Run("policy tightened", func(t *testing.T) {
		f := ct.NewFixture(t, audit.Contract{})
		f.Run(
			[]ct.Step{{Call: ct.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
				Payload: contract.PolicySet{Name: "audit.record", Rule: `"system" in signer.roles && request.outcome == "0" && request.action == "R"`}}, Want: ledger.CodeOK}},
			[]ct.Step{
				record(node, event(), ledger.CodeOK),
				record(node, with(func(e *audit.Event) { e.Outcome = "4" }), ledger.CodeDenied),
				record(node, with(func(e *audit.Event) { e.Action = "C" }), ledger.CodeDenied),
			},
		)
	})
}

// scan returns the values under prefix (in the audit namespace), in key
// order.
func scan(t *testing.T, f *ct.Fixture, prefix string) []string {
	t.Helper()
	var out []string
	if err := f.State.Scan([]byte("audit/"+prefix), func(k, v []byte) bool {
		evs, err := audit.IndexEvents(k, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestIndex(t *testing.T) {
	f := ct.NewFixture(t, audit.Contract{})
	var ids []string // of the events, in recording order
	recordIn := func(b *contract.Block, e *audit.Event) {
		t.Helper()
		tx := f.Tx(ct.Call{Signer: node, Contract: "audit", Method: "record", Payload: e})
		r := f.Apply(b, tx)
		if r.Code != ledger.CodeOK {
			t.Fatalf("record = %s %q", r.Code, r.Message)
		}
		if want := []ledger.Event{{Type: "audit.recorded", Attrs: []ledger.Attr{{Key: "action", Value: e.Action}, {Key: "outcome", Value: e.Outcome}}}}; !reflect.DeepEqual(r.Events, want) {
			t.Errorf("events = %+v; want %+v", r.Events, want)
		}
		ids = append(ids, tx.ID().String())
	}

	// Height 1: dr-who reads pt's record. The block writes exactly the
	// three index entries.
	b := f.Begin()
	recordIn(b, event())
	if got := b.Changes(); len(got) != 3 {
		t.Errorf("one event wrote %s; want the time, member and patient index entries", ct.FmtChanges(got))
	}
	for _, c := range b.Changes() {
		if evs, err := audit.IndexEvents(c.Key, c.Value); err != nil || !slices.Equal(evs, ids[:1]) {
			t.Errorf("index entry %q = %q names %q, %v; want the tx id %s", c.Key, c.Value, evs, err, ids[0])
		}
		if bytes.Contains(c.Key, []byte(ct.PHI)) {
			t.Errorf("index key %q holds personal data", c.Key)
		}
	}
	f.Commit(b)

	// Height 2: acme/claims touches pt and pt2 (two events in one block);
	// a locum whose member id extends dr-who's reads pt2.
	b = f.Begin()
	recordIn(b, with(func(e *audit.Event) {
		e.Agent[0].Who.Identifier.Value = "acme/claims"
		e.Entity = append(e.Entity, audit.Entity{What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: pt2}}, Role: &audit.Coding{System: audit.SystemObjectRole, Code: "1"}})
	}))
	recordIn(b, with(func(e *audit.Event) {
		e.Agent[0].Who.Identifier.Value = "st-mary/dr-who/locum"
		e.Entity[0].What.Identifier.Value = pt2
	}))
	f.Commit(b)

	// Height 3: dr-who again, about pt; an event with no patient.
	b = f.Begin()
	recordIn(b, event())
	recordIn(b, with(func(e *audit.Event) { e.Entity = e.Entity[1:] }))
	f.Commit(b)

	// Newest first: later heights sort before earlier ones; within a
	// height, by tx id.
	sameHeight := func(a, b string) []string {
		if a > b {
			a, b = b, a
		}
		return []string{a, b}
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{audit.TimePrefix, slices.Concat(sameHeight(ids[3], ids[4]), sameHeight(ids[1], ids[2]), ids[:1])},
		{audit.MemberPrefix("st-mary/dr-who"), slices.Concat(sameHeight(ids[3], ids[4]), ids[:1])},
		{audit.MemberPrefix("st-mary/dr-who/locum"), ids[2:3]},
		{audit.MemberPrefix("acme/claims"), ids[1:2]},
		{audit.MemberPrefix("st-mary"), nil},
		{audit.MemberPrefix(node), nil}, // the observer is not the requestor
		{audit.PatientPrefix(pt), []string{ids[3], ids[1], ids[0]}},
		{audit.PatientPrefix(pt2), sameHeight(ids[1], ids[2])},
	}
	for _, tc := range tests {
		if got := scan(t, f, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("Scan(audit/%s) = %q; want %q", tc.prefix, got, tc.want)
		}
	}
}

func TestPatientsAndRequestor(t *testing.T) {
	e := with(func(e *audit.Event) {
		// pt twice, pt2 once; a pseudonym in a non-patient role is not
		// a patient the event is about.
		e.Entity = append(e.Entity,
			audit.Entity{What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: pt}}, Role: &audit.Coding{Code: "1"}},
			audit.Entity{What: audit.Reference{Identifier: &audit.Identifier{System: audit.SystemPseudonym, Value: pt2}}, Role: &audit.Coding{Code: "1"}},
		)
	})
	if got, want := e.Patients(), []string{pt, pt2}; !slices.Equal(got, want) {
		t.Errorf("Patients() = %q; want %q", got, want)
	}
	if got := e.Requestor(); got != "st-mary/dr-who" {
		t.Errorf("Requestor() = %q; want st-mary/dr-who", got)
	}
	e.Agent[0].Requestor, e.Agent[1].Requestor = false, true // the org asked
	if got := e.Requestor(); got != "" {
		t.Errorf("Requestor() of an org requestor = %q; want none", got)
	}
}

// checkRoundTrip checks what holds of any event Check accepts: it
// re-encodes and re-decodes to an equal event that Check accepts too, and
// the encoding is a fixed point.
func checkRoundTrip(t *testing.T, e *audit.Event) {
	t.Helper()
	b, err := audit.Marshal(e)
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", e, err)
	}
	e2, err := audit.Decode(b)
	if err != nil {
		t.Fatalf("Decode(Marshal(e)) = %v\n%s", err, b)
	}
	if msg := audit.Check(e2); msg != "" {
		t.Fatalf("Check(Decode(Marshal(e))) = %q; Check(e) was ok\n%s", msg, b)
	}
	if !reflect.DeepEqual(normal(e), normal(e2)) {
		t.Fatalf("Decode(Marshal(e)) = %+v; want %+v", e2, e)
	}
	b2, err := audit.Marshal(e2)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("Marshal(Decode(Marshal(e))) = %s, %v; want %s", b2, err, b)
	}
}

// normal returns a copy of e with empty slices made nil: JSON omits both
// alike, and they mean the same.
func normal(e *audit.Event) audit.Event {
	b, _ := json.Marshal(e)
	var m any
	json.Unmarshal(b, &m)
	b, _ = json.Marshal(dropEmpty(m))
	var out audit.Event
	json.Unmarshal(b, &out)
	return out
}

func dropEmpty(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if l, ok := x.([]any); ok && len(l) == 0 {
				delete(v, k)
				continue
			}
			v[k] = dropEmpty(x)
		}
	case []any:
		for i, x := range v {
			v[i] = dropEmpty(x)
		}
	}
	return v
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range shapes(t) {
		e, ok := tc.in.(*audit.Event)
		if ok && tc.ok {
			t.Run(tc.name, func(t *testing.T) { checkRoundTrip(t, e) })
		}
	}
}

// FuzzDecode feeds arbitrary payloads to Decode and Check, seeded with
// the table's events: nothing panics, and whatever Check accepts
// round-trips.
func FuzzDecode(f *testing.F) {
	for _, tc := range shapes(f) {
		switch in := tc.in.(type) {
		case *audit.Event:
			b, _ := audit.Marshal(in)
			f.Add(b)
		case string:
			f.Add([]byte(in))
		}
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		e, err := audit.Decode(payload)
		if err != nil {
			var le *ledger.Error
			if !errors.As(err, &le) || le.Code != ledger.CodeContract {
				t.Fatalf("Decode error %v is not a contract error", err)
			}
			return
		}
		if audit.Check(e) != "" {
			return
		}
		checkRoundTrip(t, e)
	})
}

// FuzzCheck varies the free-form strings of the API's event: Check never
// panics, what it accepts round-trips, and what it accepts holds no
// character outside the shapes it allows.
func FuzzCheck(f *testing.F) {
	e := event()
	f.Add(e.Type.Display, e.Entity[1].Detail[0].ValueString, e.Entity[0].What.Identifier.Value, e.Agent[0].Who.Identifier.Value, e.Agent[0].Network.Address, e.Recorded, e.Entity[1].What.Reference, e.Source.Site)
	f.Add(ct.PHI, ct.PHI, ct.PHI, ct.PHI, ct.PHI, ct.PHI, ct.PHI, ct.PHI)
	f.Add("", "", "", "", "", "", "", "")
	f.Add("a\u00e9", "x/y", "pt_"+strings.Repeat("a", 64), "a b", "::", "2026-01-02T03:04:05.1+14:00", "Observation/a/_history/1", "st-mary")
	f.Fuzz(func(t *testing.T, display, detail, pseudonym, member, addr, recorded, ref, site string) {
		e := with(func(e *audit.Event) {
			e.Type.Display = display
			e.Entity[1].Detail[0].ValueString = detail
			e.Entity[0].What.Identifier.Value = pseudonym
			e.Agent[0].Who.Identifier.Value = member
			e.Agent[0].Network.Address = addr
			e.Recorded = recorded
			e.Entity[1].What.Reference = ref
			e.Source.Site = site
		})
		if audit.Check(e) != "" {
			return
		}
		for _, s := range []string{display, detail, pseudonym, member, addr, ref, site} {
			if strings.ContainsAny(s, "\"'\\<>\n\r\t,;=?&%") {
				t.Errorf("Check accepted %q", s)
			}
		}
		checkRoundTrip(t, e)
	})
}

// FuzzMemberPrefix checks that one member's index never holds another's
// events: no member's prefix is a prefix of another's.
func FuzzMemberPrefix(f *testing.F) {
	f.Add("st-mary/dr-who", "st-mary/dr-who/locum")
	f.Add("st-mary", "st-mary/dr-who")
	f.Add("a", "a|")
	f.Fuzz(func(t *testing.T, a, b string) {
		if a == b || !ledger.ValidMemberID(a) || !ledger.ValidMemberID(b) {
			return
		}
		if pa, pb := audit.MemberPrefix(a), audit.MemberPrefix(b); strings.HasPrefix(pb, pa) || strings.HasPrefix(pa, pb) {
			t.Errorf("MemberPrefix(%q) = %q and MemberPrefix(%q) = %q overlap", a, pa, b, pb)
		}
	})
}

// TestBatchIndex checks that a batch writes one entry per index and
// transaction, naming its events in order, and that listings expand them.
func TestBatchIndex(t *testing.T) {
	f := ct.NewFixture(t, audit.Contract{})
	locum := with(func(e *audit.Event) { e.Agent[0].Who.Identifier.Value = "st-mary/dr-who/locum" })
	other := with(func(e *audit.Event) { e.Entity[0].What.Identifier.Value = pt2 })
	batch := audit.Batch{Events: []audit.Event{*event(), *other, *locum}}
	b := f.Begin()
	tx := f.Tx(ct.Call{Signer: node, Contract: "audit", Method: "record_batch", Payload: batch})
	if r := f.Apply(b, tx); r.Code != ledger.CodeOK {
		t.Fatalf("record_batch = %s %q", r.Code, r.Message)
	}
	want := map[string]string{ // index → value
		audit.TimePrefix:                           "0,1,2",
		audit.MemberPrefix("st-mary/dr-who"):       "0,1",
		audit.MemberPrefix("st-mary/dr-who/locum"): "2",
		audit.PatientPrefix(pt):                    "0,2",
		audit.PatientPrefix(pt2):                   "1",
	}
	if got := b.Changes(); len(got) != len(want) {
		t.Errorf("a batch of 3 wrote %s; want %d index entries", ct.FmtChanges(got), len(want))
	}
	for _, c := range b.Changes() {
		found := false
		for prefix, v := range want {
			if strings.HasPrefix(string(c.Key), "audit/"+prefix) && !strings.Contains(string(c.Key)[len("audit/"+prefix):], "|") {
				found = true
				if string(c.Value) != v {
					t.Errorf("entry %q = %q; want %q", c.Key, c.Value, v)
				}
			}
		}
		if !found {
			t.Errorf("unexpected entry %q", c.Key)
		}
	}
	f.Commit(b)
	id := func(i int) string { return audit.BatchEventID(tx.ID(), i) }
	for prefix, evs := range map[string][]string{
		audit.TimePrefix:                     {id(0), id(1), id(2)},
		audit.MemberPrefix("st-mary/dr-who"): {id(0), id(1)},
		audit.PatientPrefix(pt):              {id(0), id(2)},
		audit.PatientPrefix(pt2):             {id(1)},
	} {
		if got := scan(t, f, prefix); !slices.Equal(got, evs) {
			t.Errorf("Scan(audit/%s) = %q; want %q", prefix, got, evs)
		}
	}
}

func TestIndexEventsRefuses(t *testing.T) {
	tx := strings.Repeat("ab", 32)
	for _, tc := range []struct{ key, value string }{
		{"t/00/" + tx[:60], "*"},       // not a hash
		{"t/00/" + tx, ""},             // empty list
		{"t/00/" + tx, "1,,2"},         // empty index
		{"t/00/" + tx, "-1"},           // negative
		{"t/00/" + tx, "512"},          // beyond MaxBatch
		{"t/00/" + tx, "0x1"},          // not decimal
		{"t/00/" + tx, "1,2,"},         // trailing comma
		{"t/00/" + tx + "/x", "0,1,2"}, // tx not last
	} {
		if evs, err := audit.IndexEvents([]byte(tc.key), []byte(tc.value)); err == nil {
			t.Errorf("IndexEvents(%q, %q) = %q; want an error", tc.key, tc.value, evs)
		}
	}
}

func FuzzIndexEvents(f *testing.F) {
	tx := strings.Repeat("ab", 32)
	f.Add("t/00/"+tx, "*")
	f.Add("m/a|00/"+tx, "0,1,511")
	f.Add("p/pt_x/00/"+tx, "3")
	f.Fuzz(func(t *testing.T, key, value string) {
		evs, err := audit.IndexEvents([]byte(key), []byte(value))
		if err != nil {
			return
		}
		if value != "*" && len(evs) != audit.IndexCount([]byte(value)) {
			t.Errorf("IndexEvents(%q, %q) named %d events; IndexCount says %d", key, value, len(evs), audit.IndexCount([]byte(value)))
		}
		for _, id := range evs {
			if _, _, _, err := audit.ParseEventID(id); err != nil {
				t.Errorf("IndexEvents(%q, %q) named %q: %v", key, value, id, err)
			}
		}
	})
}
