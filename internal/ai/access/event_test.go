package access

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// iheRead is an AuditEvent as another system writes it: IHE Basic Audit
// Log Patterns, patient read, full URLs, purposeOfUse on the agent.
const iheRead = `{"resourceType":"AuditEvent","id":"ex-1",
 "type":{"system":"http://terminology.hl7.org/CodeSystem/audit-event-type","code":"rest"},
 "subtype":[{"system":"http://hl7.org/fhir/restful-interaction","code":"vread"}],
 "action":"R","recorded":"2024-03-01T02:13:00+01:00","outcome":"0",
 "agent":[{"who":{"identifier":{"value":"org-a"}},"requestor":false},
  {"who":{"reference":"https://ehr.example.org/fhir/Practitioner/77"},"requestor":true,
   "network":{"address":"2001:db8:1:2::7","type":"2"},
   "purposeOfUse":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActReason","code":"etreat"}]}]}],
 "source":{"observer":{"display":"ehr"}},
 "entity":[
  {"what":{"reference":"https://ehr.example.org/fhir/Patient/p9/_history/3"},"role":{"system":"http://terminology.hl7.org/CodeSystem/object-role","code":"1"},
   "securityLabel":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"CELEB"}]},
  {"what":{"reference":"Observation/o1"},"role":{"code":"4"}}]}`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Event
	}{
		{"ihe read", iheRead, Event{ID: "ex-1", Time: time.Date(2024, 3, 1, 1, 13, 0, 0, time.UTC), User: "https://ehr.example.org/fhir/Practitioner/77",
			UserRef: "https://ehr.example.org/fhir/Practitioner/77", Addr: "2001:db8:1:2::7", Patient: "p9", DataType: "Observation", Op: OpRead,
			Purposes: []string{"ETREAT"}, Outcome: 0, Count: -1, Labels: []string{"CELEB"}}},
		{"minimal", `{"resourceType":"AuditEvent"}`, Event{Outcome: -1, Count: -1}},
		{"search with query and count", `{"resourceType":"AuditEvent","id":"s","subtype":[{"code":"search-type"}],"outcome":"4",
			"agent":[{"who":{"identifier":{"value":"h/u1"},"reference":"Practitioner/1"},"requestor":true}],
			"purposeOfEvent":[{"coding":[{"code":"HPAYMT"}]}],
			"entity":[{"role":{"code":"24"},"query":"T2JzZXJ2YXRpb24/Y29kZT0x","detail":[{"type":"result-count","valueString":"42"}]}]}`,
			Event{ID: "s", User: "h/u1", UserRef: "Practitioner/1", DataType: "Observation", Op: OpSearch, Purposes: []string{"HPAYMT"}, Outcome: 4, Count: 42}},
		{"export by operation code", `{"resourceType":"AuditEvent","subtype":[{"code":"operation"},{"code":"export"}],"action":"E",
			"entity":[{"role":{"code":"24"},"query":"$export?_type=Patient"}]}`, Event{Op: OpExport, Outcome: -1, Count: -1}},
		{"export by query", `{"resourceType":"AuditEvent","subtype":[{"code":"operation"}],
			"entity":[{"role":{"code":"24"},"query":"JGV4cG9ydA=="}]}`, Event{Op: OpExport, Outcome: -1, Count: -1}},
		{"action only, patient without role", `{"resourceType":"AuditEvent","action":"U","entity":[{"what":{"reference":"Patient/x"}}]}`,
			Event{Patient: "x", DataType: "Patient", Op: OpUpdate, Outcome: -1, Count: -1}},
		{"bad values ignored", `{"resourceType":"AuditEvent","recorded":"yesterday","outcome":"3","entity":[{"what":{"reference":"urn:uuid:1"},"role":{"code":"1"}},{"detail":[{"type":"count","valueString":"-4"}]}]}`,
			Event{Outcome: -1, Count: -1}},
	}
	for _, tt := range tests {
		got, err := Parse([]byte(tt.in))
		if err != nil {
			t.Errorf("Parse(%s) = %v", tt.name, err)
			continue
		}
		if got.ID != tt.want.ID || !got.Time.Equal(tt.want.Time) || got.User != tt.want.User || got.UserRef != tt.want.UserRef || got.Addr != tt.want.Addr ||
			got.Patient != tt.want.Patient || got.DataType != tt.want.DataType || got.Op != tt.want.Op || !slices.Equal(got.Purposes, tt.want.Purposes) ||
			got.Outcome != tt.want.Outcome || got.Count != tt.want.Count || !slices.Equal(got.Labels, tt.want.Labels) {
			t.Errorf("Parse(%s) = %+v; want %+v", tt.name, *got, tt.want)
		}
	}
	got, _ := Parse([]byte(iheRead))
	if !got.BreakGlass() || got.Failed() {
		t.Errorf("BreakGlass, Failed = %v, %v; want true, false", got.BreakGlass(), got.Failed())
	}
}

var notAuditEvents = []string{``, `[]`, `{"resourceType":"Patient"}`, `{"resourceType":"AuditEvent","agent":{}}`, `{"resourceType":"AuditEvent"`, `null`}

func TestParseRejects(t *testing.T) {
	for _, in := range notAuditEvents {
		if _, err := Parse([]byte(in)); !errors.Is(err, ErrNotAuditEvent) {
			t.Errorf("Parse(%q) = %v; want ErrNotAuditEvent", in, err)
		}
	}
	// The error never quotes the input.
	_, err := Parse([]byte(`{"resourceType":"AuditEvent","id":["Jane Q. Testpatient"]}`))
	if err == nil || strings.Contains(err.Error(), "Testpatient") {
		t.Errorf("Parse error %v quotes the input", err)
	}
}

// TestParseBatch checks that a record_batch payload gives what Parse
// gives for each of its events, nil for an element that is not one.
func TestParseBatch(t *testing.T) {
	min := `{"resourceType":"AuditEvent","action":"U","entity":[{"what":{"reference":"Patient/x"}}]}`
	es, err := ParseBatch([]byte(`{"events":[` + iheRead + `,{"resourceType":"Patient"},` + min + `]}`))
	if err != nil || len(es) != 3 {
		t.Fatalf("ParseBatch = %d events, %v; want 3", len(es), err)
	}
	for i, in := range map[int]string{0: iheRead, 2: min} {
		want, _ := Parse([]byte(in))
		if got := es[i]; got == nil || !reflect.DeepEqual(*got, *want) {
			t.Errorf("event %d = %+v; want %+v", i, got, want)
		}
	}
	if es[1] != nil {
		t.Errorf("a Patient in the batch parsed as %+v; want nil", es[1])
	}
	for _, in := range []string{``, `[]`, `{"events":{}}`, `{"events":[1]}`, `{"events":[`} {
		if _, err := ParseBatch([]byte(in)); !errors.Is(err, ErrNotAuditEvent) {
			t.Errorf("ParseBatch(%q) = %v; want ErrNotAuditEvent", in, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(iheRead))
	for _, s := range notAuditEvents {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrNotAuditEvent) {
				t.Fatalf("Parse error %v does not wrap ErrNotAuditEvent", err)
			}
			return
		}
		// Whatever parses can be scored.
		d, err := New(nil, Config{})
		if err != nil {
			t.Fatal(err)
		}
		s := d.Observe(e)
		if !(s.Score >= 0 && s.Score <= 1) {
			t.Fatalf("score %v out of [0, 1]", s.Score)
		}
	})
}

func TestReadLabels(t *testing.T) {
	good := "{\"id\":\"a\",\"attack\":null}\n\n{\"id\":\"b\",\"attack\":\"bulk_export\"}\n{\"attack\":\"x\",\"id\":\"c\"}\n"
	got, err := ReadLabels(strings.NewReader(good))
	if err != nil || len(got) != 3 || got["a"] != "" || got["b"] != "bulk_export" || got["c"] != "x" {
		t.Fatalf("ReadLabels = %v, %v", got, err)
	}
	for _, bad := range []string{`{"id":"a"} x`, `{"id":1,"attack":null}`, `{"attack":null}`, `{"id":"a","attack":null,"extra":1}`,
		"{\"id\":\"a\",\"attack\":null}\n{\"id\":\"a\",\"attack\":null}", `[1]`, `{"id":"a","attack":3}`} {
		var le *LineError
		if _, err := ReadLabels(strings.NewReader(bad)); !errors.As(err, &le) {
			t.Errorf("ReadLabels(%q) = %v; want a LineError", bad, err)
		}
	}
}

func FuzzReadLabels(f *testing.F) {
	f.Add([]byte("{\"id\":\"a\",\"attack\":null}\n{\"id\":\"b\",\"attack\":\"bulk_export\"}\n"))
	f.Add([]byte(`{"id":"a"} x`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadLabels(strings.NewReader(string(b)))
		if err == nil {
			for id := range m {
				if id == "" {
					t.Fatal("empty id accepted")
				}
			}
		}
	})
}

func TestNetwork(t *testing.T) {
	tests := map[string]string{
		"10.11.1.17": "10.11", "2001:db8:1:2::7": "2001:db8:1", "ws12.ward3.example.org": "ward3.example.org", "": "", "host": "host",
	}
	for in, want := range tests {
		if got := network(in); got != want {
			t.Errorf("network(%q) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"10.1.2.3": "private", "172.20.1.1": "private", "172.40.1.1": "172.40", "203.0.113.9": "203.0", "192.168.0.1": "private"} {
		if got := orgNetwork(in, network(in)); got != want {
			t.Errorf("orgNetwork(%q) = %q; want %q", in, got, want)
		}
	}
}

// specDir is where scripts/fhir-spec.sh unpacks HL7's official examples.
const specDir = "../../../.cache/fhir-spec/hl7.fhir.r4.examples-4.0.1/package"

// TestOfficialExamples parses every official R4 AuditEvent example (other
// systems' shapes: logins, IHE PIX queries, disclosures, errors) and
// scores them. It needs scripts/fhir-spec.sh.
func TestOfficialExamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(specDir, "AuditEvent-*.json"))
	if len(files) == 0 {
		t.Skip("FHIR spec data missing: run scripts/fhir-spec.sh")
	}
	d, err := New(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*Event{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		e, err := Parse(b)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		got[e.ID] = e
		if s := d.Observe(e); !(s.Score >= 0 && s.Score <= 1) {
			t.Errorf("%s: score %v", e.ID, s.Score)
		}
	}
	want := map[string]Event{
		"example-search":     {User: "95", Op: OpSearch, DataType: "Encounter", Addr: "Workstation1.ehr.familyclinic.com", Outcome: 0},
		"example-rest":       {User: "95", Op: OpRead, Patient: "example", DataType: "Patient", Outcome: 0},
		"example-error":      {User: "95", Op: OpCreate, Outcome: 8},
		"example-disclosure": {User: "SomeIdiot@nowhere", Op: OpRead, Patient: "example", DataType: "Patient", Addr: "custodian.net", Outcome: 0},
		"example-pixQuery":   {User: "95", Patient: "e3cdfc81a0d24bd^^^&2.16.840.1.113883.4.2&ISO", Outcome: 0},
	}
	for id, w := range want {
		e := got[id]
		if e == nil {
			t.Errorf("example %s missing", id)
			continue
		}
		if e.User != w.User || e.Op != w.Op && w.Op != OpUnknown || e.Patient != w.Patient || e.DataType != w.DataType && w.DataType != "" ||
			e.Addr != w.Addr && w.Addr != "" || e.Outcome != w.Outcome {
			t.Errorf("%s = %+v; want %+v", id, *e, w)
		}
	}
}
