package validate

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/medledger/medledger/internal/fhir"
)

var shared = sync.OnceValues(New)

// testValidator returns one Validator shared by the package's tests.
func testValidator(tb testing.TB) *Validator {
	tb.Helper()
	v, err := shared()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// Planted PHI: no diagnostic or expression may contain these.
var planted = []string{"Jane Q. Testpatient", "Testpatient", "2023-02-30", "30/02/2023", "Practitioner/1"}

const (
	// patient is valid; cases add to it or replace parts of it.
	patient = `"resourceType":"Patient","id":"example","name":[{"text":"Jane Q. Testpatient"}]`
	// observation is valid, likewise.
	observation = `"resourceType":"Observation","id":"o1","status":"final","code":{"text":"Jane Q. Testpatient"},"subject":{"reference":"Patient/example"}`
)

type ruleCase struct {
	name     string
	types    []string // accepted types; nil for fhir.SupportedTypes
	json     string
	wantExpr string // "" for a valid resource
	wantCode string
}

var ruleCases = []ruleCase{
	// Valid resources.
	{name: "minimal patient", json: `{` + patient + `}`},
	{name: "minimal observation", json: `{` + observation + `}`},
	{name: "leap day", json: `{` + patient + `,"birthDate":"2024-02-29"}`},
	{name: "partial dates", json: `{` + patient + `,"birthDate":"1970-02","deceasedDateTime":"2020"}`},
	{name: "references not checked for type", json: `{` + observation + `,"performer":[{"reference":"#c1"},{"reference":"urn:uuid:2b6a4a52-64a4-4e8a-9b1a-7bd0a1a3f0f1"},{"identifier":{"value":"x"}},{"reference":"https://example.org/other/thing"}],"contained":[{"resourceType":"Practitioner","id":"c1"}]}`},
	{name: "absolute reference of an allowed type", json: `{` + observation + `,"encounter":{"reference":"https://example.org/fhir/Encounter/e1/_history/3"}}`},
	{name: "reference to any resource", json: `{` + observation + `,"focus":[{"reference":"Claim/c1"}]}`},
	{name: "primitive with extension only", json: `{` + observation + `,"effectiveDateTime":"2023-01-01T10:00:00Z","_status":{"extension":[{"url":"http://example.org/x","valueString":"s"}]}}`},
	{name: "repeated primitive with aligned extensions", json: `{` + patient + `,"address":[{"line":["a","b"],"_line":[null,{"extension":[{"url":"http://example.org/x","valueCode":"c"}]}]}]}`},
	{name: "patched fhirVersion", types: []string{"CapabilityStatement"}, json: `{"resourceType":"CapabilityStatement","status":"active","date":"2024-01-01","kind":"instance","fhirVersion":"4.0.1","format":["json"]}`},
	{name: "bundle", types: []string{"Bundle"}, json: `{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:2b6a4a52-64a4-4e8a-9b1a-7bd0a1a3f0f1","resource":{` + patient + `},"request":{"method":"POST","url":"Patient"}}]}`},

	// The JSON schema.
	{name: "unknown element", json: `{` + patient + `,"nickname":"Jane Q. Testpatient"}`, wantExpr: "Patient.nickname", wantCode: "structure"},
	{name: "unknown element named with content", json: `{` + patient + `,"Jane Q. Testpatient":"x"}`, wantExpr: "Patient", wantCode: "structure"},
	{name: "wrong JSON type", json: `{` + patient + `,"active":"Jane Q. Testpatient"}`, wantExpr: "Patient.active", wantCode: "structure"},
	{name: "code outside required value set", json: `{` + patient + `,"gender":"Jane Q. Testpatient"}`, wantExpr: "Patient.gender", wantCode: "code-invalid"},
	{name: "date syntax", json: `{` + patient + `,"birthDate":"30/02/2023"}`, wantExpr: "Patient.birthDate", wantCode: "value"},
	{name: "id syntax", json: `{"resourceType":"Patient","id":"Jane Q. Testpatient"}`, wantExpr: "Patient.id", wantCode: "value"},
	{name: "id too long", json: `{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, wantExpr: "Patient.id", wantCode: "value"},
	{name: "required complex element", json: `{"resourceType":"Observation","status":"final"}`, wantExpr: "Observation.code", wantCode: "required"},
	{name: "nested value type", json: `{` + observation + `,"component":[{"code":{"text":"a"}},{"code":{"text":"b"},"valueQuantity":{"value":"Jane Q. Testpatient"}}]}`, wantExpr: "Observation.component[1].valueQuantity.value", wantCode: "structure"},
	{name: "empty string in a string array", json: `{"resourceType":"Patient","name":[{"given":["Jane","Q.",""]}]}`, wantExpr: "Patient.name[0].given[2]", wantCode: "value"},

	// Required elements from the StructureDefinitions.
	{name: "required primitive", json: `{"resourceType":"Observation","code":{"text":"Jane Q. Testpatient"}}`, wantExpr: "Observation.status", wantCode: "required"},
	{name: "required in a backbone element", json: `{` + observation + `,"component":[{"code":{"text":"a"}},{"valueString":"Jane Q. Testpatient"}]}`, wantExpr: "Observation.component[1].code", wantCode: "required"},
	{name: "required in a nested backbone element", json: `{` + patient + `,"link":[{"type":"seealso"}]}`, wantExpr: "Patient.link[0].other", wantCode: "required"},
	{name: "required primitive of a datatype", json: `{` + patient + `,"extension":[{"valueString":"Jane Q. Testpatient"}]}`, wantExpr: "Patient.extension[0].url", wantCode: "required"},
	{name: "required choice", json: `{"resourceType":"MedicationRequest","status":"active","intent":"order","subject":{"reference":"Patient/example"}}`, wantExpr: "MedicationRequest.medication[x]", wantCode: "required"},
	{name: "required element of Encounter", json: `{"resourceType":"Encounter","class":{"code":"AMB"}}`, wantExpr: "Encounter.status", wantCode: "required"},

	// Choice elements.
	{name: "two types of one choice", json: `{` + observation + `,"valueString":"Jane Q. Testpatient","valueInteger":1}`, wantExpr: "Observation.value[x]", wantCode: "structure"},

	// Real calendar dates.
	{name: "date that does not exist", json: `{` + patient + `,"birthDate":"2023-02-30"}`, wantExpr: "Patient.birthDate", wantCode: "value"},
	{name: "not a leap year", json: `{` + patient + `,"birthDate":"1900-02-29"}`, wantExpr: "Patient.birthDate", wantCode: "value"},
	{name: "dateTime in a choice", json: `{` + observation + `,"effectiveDateTime":"2023-02-30T08:00:00Z"}`, wantExpr: "Observation.effectiveDateTime", wantCode: "value"},
	{name: "instant", json: `{` + observation + `,"issued":"2023-04-31T08:00:00.000+01:00"}`, wantExpr: "Observation.issued", wantCode: "value"},
	{name: "dateTime in a datatype in a backbone element", json: `{` + patient + `,"contact":[{"name":{"text":"x"}},{"name":{"text":"y"},"period":{"start":"2023-02-30"}}]}`, wantExpr: "Patient.contact[1].period.start", wantCode: "value"},
	{name: "date in an extension", json: `{` + patient + `,"extension":[{"url":"http://example.org/x","valueDate":"2023-02-30"}]}`, wantExpr: "Patient.extension[0].valueDate", wantCode: "value"},
	{name: "date in an extension of a primitive", json: `{` + patient + `,"birthDate":"2023-02-01","_birthDate":{"extension":[{"url":"http://example.org/x","valueDateTime":"2023-02-30T08:00:00Z"}]}}`, wantExpr: "Patient.birthDate.extension[0].valueDateTime", wantCode: "value"},
	{name: "date in a repeated primitive", json: `{` + observation + `,"effectiveTiming":{"event":["2023-02-01","2023-02-30T08:00:00Z"]}}`, wantExpr: "Observation.effectiveTiming.event[1]", wantCode: "value"},
	{name: "date in meta", json: `{` + patient + `,"meta":{"lastUpdated":"2023-02-30T08:00:00Z"}}`, wantExpr: "Patient.meta.lastUpdated", wantCode: "value"},

	// Whole numbers.
	{name: "integer with a fraction", json: `{` + observation + `,"valueInteger":1.5}`, wantExpr: "Observation.valueInteger", wantCode: "value"},
	{name: "integer out of range", json: `{` + observation + `,"valueInteger":2147483648}`, wantExpr: "Observation.valueInteger", wantCode: "value"},
	{name: "positiveInt zero", json: `{` + patient + `,"telecom":[{"system":"phone","value":"Jane Q. Testpatient","rank":0}]}`, wantExpr: "Patient.telecom[0].rank", wantCode: "value"},

	// Reference target types.
	{name: "reference to a disallowed type", json: `{"resourceType":"Observation","status":"final","code":{"text":"a"},"subject":{"reference":"Practitioner/1","display":"Jane Q. Testpatient"}}`, wantExpr: "Observation.subject.reference", wantCode: "invalid"},
	{name: "absolute reference to a disallowed type", json: `{` + observation + `,"encounter":{"reference":"https://example.org/fhir/Patient/p1/_history/2"}}`, wantExpr: "Observation.encounter.reference", wantCode: "invalid"},
	{name: "reference to a disallowed type in a backbone element", json: `{` + patient + `,"link":[{"type":"seealso","other":{"reference":"Observation/o1"}}]}`, wantExpr: "Patient.link[0].other.reference", wantCode: "invalid"},
	{name: "reference to a type that does not exist", json: `{` + observation + `,"encounter":{"reference":"Testpatient/1"}}`, wantExpr: "Observation.encounter.reference", wantCode: "invalid"},

	// JSON types the schema does not constrain.
	{name: "complex element given a string", json: `{"resourceType":"Observation","status":"final","code":"Jane Q. Testpatient"}`, wantExpr: "Observation.code", wantCode: "structure"},
	{name: "single complex element given an array", json: `{` + patient + `,"maritalStatus":[{"text":"Jane Q. Testpatient"}]}`, wantExpr: "Patient.maritalStatus", wantCode: "structure"},
	{name: "reference given a string", json: `{"resourceType":"Observation","status":"final","code":{"text":"a"},"subject":"Patient/example"}`, wantExpr: "Observation.subject", wantCode: "structure"},
	{name: "primitive extensions given a string", json: `{` + patient + `,"_gender":"Jane Q. Testpatient"}`, wantExpr: "Patient.gender", wantCode: "structure"},
	{name: "primitive extensions given an array", json: `{` + patient + `,"birthDate":"1970-01-01","_birthDate":[{"id":"x"}]}`, wantExpr: "Patient.birthDate", wantCode: "structure"},
	{name: "repeated primitive extensions with a string", json: `{"resourceType":"Patient","name":[{"given":["a","b"],"_given":[null,"Jane Q. Testpatient"]}]}`, wantExpr: "Patient.name[0].given[1]", wantCode: "structure"},
	{name: "narrative not a string", json: `{` + patient + `,"text":{"status":"generated","div":5}}`, wantExpr: "Patient.text.div", wantCode: "structure"},

	// Empty and null values.
	{name: "empty object", json: `{` + patient + `,"maritalStatus":{}}`, wantExpr: "Patient.maritalStatus", wantCode: "structure"},
	{name: "empty array", json: `{` + patient + `,"telecom":[]}`, wantExpr: "Patient.telecom", wantCode: "structure"},
	{name: "empty string the schema allows", json: `{` + patient + `,"identifier":[{"system":"","value":"Jane Q. Testpatient"}]}`, wantExpr: "Patient.identifier[0].system", wantCode: "value"},
	{name: "null", json: `{` + patient + `,"_birthDate":null}`, wantExpr: "Patient.birthDate", wantCode: "structure"},
	{name: "empty object in an array", json: `{` + patient + `,"identifier":[{"value":"1"},{}]}`, wantExpr: "Patient.identifier[1]", wantCode: "structure"},

	// Resource types.
	{name: "unsupported type", json: `{"resourceType":"Basic","code":{"text":"Jane Q. Testpatient"}}`, wantExpr: "Resource.resourceType", wantCode: "not-supported"},
	{name: "bundle not accepted by default", json: `{"resourceType":"Bundle","type":"collection"}`, wantExpr: "Resource.resourceType", wantCode: "not-supported"},
	{name: "not a FHIR type", types: []string{"Patient"}, json: `{"resourceType":"Jane Q. Testpatient"}`, wantExpr: "Resource.resourceType", wantCode: "not-supported"},

	// Nested resources.
	{name: "contained resource", json: `{` + patient + `,"contained":[{"resourceType":"Observation","id":"c1","code":{"text":"Jane Q. Testpatient"}}]}`, wantExpr: "Patient.contained[0].status", wantCode: "required"},
	{name: "contained resource without a type", json: `{` + patient + `,"contained":[{"id":"c1"}]}`, wantExpr: "Patient.contained[0].resourceType", wantCode: "required"},
	{name: "contained resource of an unknown type", json: `{` + patient + `,"contained":[{"resourceType":"Testpatient","id":"c1"}]}`, wantExpr: "Patient.contained[0].resourceType", wantCode: "not-supported"},
	{name: "contained resource failing the schema", json: `{` + patient + `,"contained":[{"resourceType":"Patient","id":"c1","gender":"Jane Q. Testpatient"}]}`, wantExpr: "Patient.contained[0].gender", wantCode: "code-invalid"},
	{name: "bundle entry", types: []string{"Bundle"}, json: `{"resourceType":"Bundle","type":"collection","entry":[{"resource":{` + patient + `}},{"resource":{` + patient + `,"birthDate":"2023-02-30"}}]}`, wantExpr: "Bundle.entry[1].resource.birthDate", wantCode: "value"},
	{name: "consent", types: []string{"Consent"}, json: `{"resourceType":"Consent","status":"active","scope":{"text":"s"},"category":[{"text":"c"}],"patient":{"reference":"Practitioner/1"}}`, wantExpr: "Consent.patient.reference", wantCode: "invalid"},
	{name: "audit event", types: []string{"AuditEvent"}, json: `{"resourceType":"AuditEvent","type":{"code":"rest"},"recorded":"2023-02-30T08:00:00Z","agent":[{"requestor":true}],"source":{"observer":{"reference":"Device/d1"}}}`, wantExpr: "AuditEvent.recorded", wantCode: "value"},
}

func TestRules(t *testing.T) {
	base := testValidator(t)
	for _, tc := range ruleCases {
		t.Run(tc.name, func(t *testing.T) {
			v := base
			if tc.types != nil {
				var err error
				if v, err = base.WithTypes(tc.types...); err != nil {
					t.Fatal(err)
				}
			}
			r, err := fhir.Parse([]byte(tc.json))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := v.Validate(r)
			checkIssues(t, got)
			if tc.wantExpr == "" {
				if got != nil {
					t.Errorf("Validate = %v; want no issues", got)
				}
				return
			}
			if len(got) != 1 || !slices.Equal(got[0].Expression, []string{tc.wantExpr}) || got[0].Code != tc.wantCode {
				t.Errorf("Validate = %+v; want one %s issue at %s", got, tc.wantCode, tc.wantExpr)
			}
		})
	}
}

// checkIssues checks the invariants of every issue list.
func checkIssues(t *testing.T, issues []fhir.Issue) {
	t.Helper()
	if issues != nil && len(issues) == 0 {
		t.Error("Validate returned an empty, non-nil slice")
	}
	codes := []string{"structure", "required", "value", "invalid", "code-invalid", "not-supported"}
	seen := map[string]bool{}
	for _, is := range issues {
		if is.Severity != "error" || !slices.Contains(codes, is.Code) || is.Diagnostics == "" || len(is.Expression) != 1 {
			t.Errorf("malformed issue %+v", is)
			continue
		}
		if seen[is.Expression[0]] {
			t.Errorf("two issues at %s", is.Expression[0])
		}
		seen[is.Expression[0]] = true
		for _, p := range planted {
			if strings.Contains(is.Diagnostics, p) || strings.Contains(is.Expression[0], p) {
				t.Errorf("issue %+v quotes resource content %q", is, p)
			}
		}
	}
	if !slices.IsSortedFunc(issues, func(a, b fhir.Issue) int { return compareExpr(a.Expression[0], b.Expression[0]) }) {
		t.Errorf("issues not sorted by expression: %v", issues)
	}
}

// TestEveryProblem checks that all problems of a resource are reported,
// each once.
func TestEveryProblem(t *testing.T) {
	r, err := fhir.Parse([]byte(`{"resourceType":"Observation","id":"Jane Q. Testpatient",
		"subject":{"reference":"Practitioner/1"},
		"valueString":"Jane Q. Testpatient","valueQuantity":{"value":1},
		"component":[{"code":{"text":"a"}},{"valueInteger":1.5}],
		"issued":"2023-02-30T10:00:00Z","effectivePeriod":{"start":""},
		"note":[{}],"nickname":"x",
		"contained":[{"resourceType":"Observation"},{"x":1}]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := testValidator(t).Validate(r)
	checkIssues(t, got)
	var exprs []string
	for _, is := range got {
		exprs = append(exprs, is.Code+" "+is.Expression[0])
	}
	want := []string{
		"required Observation.code",
		"required Observation.component[1].code",
		"value Observation.component[1].valueInteger",
		"required Observation.contained[0].code",
		"required Observation.contained[0].status",
		"required Observation.contained[1].resourceType",
		"value Observation.effectivePeriod.start",
		"value Observation.id",
		"value Observation.issued",
		"structure Observation.nickname",
		"structure Observation.note[0]",
		"required Observation.note[0].text",
		"required Observation.status",
		"invalid Observation.subject.reference",
		"structure Observation.value[x]",
	}
	if !slices.Equal(exprs, want) {
		t.Errorf("Validate found\n\t%s\nwant\n\t%s", strings.Join(exprs, "\n\t"), strings.Join(want, "\n\t"))
	}
}

func TestValidTestdata(t *testing.T) {
	for _, f := range []string{"testdata/patient.json", "testdata/observation.json"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhir.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := testValidator(t).Validate(r); got != nil {
			t.Errorf("%s: %v", f, got)
		}
	}
}

func TestBadResource(t *testing.T) {
	v := testValidator(t)
	for _, r := range []*fhir.Resource{
		nil,
		{Type: "Patient"},
		{Type: "Patient", Tree: map[string]any{"resourceType": "Observation"}},
	} {
		got := v.Validate(r)
		if len(got) != 1 || got[0].Severity != "error" {
			t.Errorf("Validate(%+v) = %v; want one error", r, got)
		}
	}
}

func TestWithTypes(t *testing.T) {
	v := testValidator(t)
	if got := v.Types(); !slices.Equal(got, fhir.SupportedTypes) {
		t.Errorf("New().Types() = %v; want fhir.SupportedTypes", got)
	}
	w, err := v.WithTypes("Bundle", "Patient", "Bundle")
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Types(); !slices.Equal(got, []string{"Bundle", "Patient"}) {
		t.Errorf("Types() = %v", got)
	}
	for _, bad := range []string{"patient", "Resource", "DomainResource", "Element", "Observation.component", "HumanName", ""} {
		if _, err := v.WithTypes("Patient", bad); err == nil {
			t.Errorf("WithTypes(%q) succeeded", bad)
		}
	}
	// Every resource type of R4 (146 of them) has a schema and a table.
	if n := len(v.m.schemas); n != 146 {
		t.Errorf("%d resource types; want 146", n)
	}
	for rt := range v.m.schemas {
		if st := v.m.structs[rt]; st == nil || !st.resource {
			t.Errorf("no resource table for %s", rt)
		}
	}
}

// TestConcurrent runs validations in parallel (for the race detector) and
// checks they agree.
func TestConcurrent(t *testing.T) {
	v := testValidator(t)
	var rs []*fhir.Resource
	var want [][]fhir.Issue
	for _, tc := range ruleCases {
		if tc.types != nil {
			continue
		}
		r, err := fhir.Parse([]byte(tc.json))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
		want = append(want, v.Validate(r))
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i, r := range rs {
				if got := v.Validate(r); !reflect.DeepEqual(got, want[i]) {
					t.Errorf("concurrent Validate = %v; want %v", got, want[i])
				}
			}
		})
	}
	wg.Wait()
}
