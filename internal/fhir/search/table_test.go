package search

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/fhir"
)

// specDir is where scripts/fhir-spec.sh unpacks the official examples
// package, relative to this package.
const specDir = "../../../.cache/fhir-spec/hl7.fhir.r4.examples-4.0.1/package"

func TestSchemas(t *testing.T) {
	seen := map[[2]string]bool{}
	for _, d := range table {
		k := [2]string{d.base, d.name}
		if seen[k] {
			t.Errorf("table lists %s.%s twice", d.base, d.name)
		}
		seen[k] = true
		if _, err := compile(d.expr); err != nil {
			t.Errorf("%s.%s: %v", d.base, d.name, err)
		}
		if d.base != "Resource" && !fhir.Supported(d.base) {
			t.Errorf("%s.%s: not a supported type", d.base, d.name)
		}
	}
	// What the issue asks for, where R4 defines it.
	required := map[string][]string{
		"":                    {"_id", "_lastUpdated"},
		"Patient":             {"identifier", "name", "family", "given", "birthdate", "gender"},
		"Observation":         {"patient", "subject", "code", "date", "identifier", "status", "category", "encounter"},
		"Encounter":           {"patient", "subject", "date", "identifier", "status"},
		"Condition":           {"patient", "subject", "code", "onset-date", "recorded-date", "identifier", "category", "encounter"},
		"DiagnosticReport":    {"patient", "subject", "code", "date", "identifier", "status", "category", "encounter"},
		"Procedure":           {"patient", "subject", "code", "date", "identifier", "status", "category", "encounter"},
		"Immunization":        {"patient", "date", "identifier", "status"},
		"AllergyIntolerance":  {"patient", "code", "date", "identifier", "category"},
		"CarePlan":            {"patient", "subject", "date", "identifier", "status", "category", "encounter"},
		"CareTeam":            {"patient", "subject", "date", "identifier", "status", "category", "encounter"},
		"DocumentReference":   {"patient", "subject", "date", "identifier", "status", "category", "encounter"},
		"MedicationRequest":   {"patient", "subject", "code", "authoredon", "identifier", "status", "category", "encounter"},
		"MedicationStatement": {"patient", "subject", "code", "effective", "identifier", "status", "category"},
		"Practitioner":        {"identifier", "name", "family", "given", "gender"},
		"PractitionerRole":    {"identifier", "date"},
		"Organization":        {"identifier", "name"},
		"Provenance":          {"patient", "recorded"},
	}
	for _, typ := range fhir.SupportedTypes {
		sc := schemas[typ]
		if sc == nil {
			t.Fatalf("no schema for %s", typ)
		}
		for _, name := range append(slices.Clone(required[""]), required[typ]...) {
			if sc.byName[name] == nil {
				t.Errorf("%s has no %q parameter", typ, name)
			}
		}
		if ps := Params(typ); len(ps) != len(sc.params) || !strings.HasPrefix(ps[0].Definition, "http://hl7.org/fhir/SearchParameter/") {
			t.Errorf("Params(%s) = %v", typ, ps)
		}
	}
	if Params("Basic") != nil {
		t.Error("Params(Basic) is not nil")
	}
}

// TestTableMatchesSpec checks table against the official definitions: the
// same type and, for the base type, the same expression; and that every
// official token, date, reference or string parameter of a supported type
// is in the table. It needs scripts/fhir-spec.sh.
func TestTableMatchesSpec(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(specDir, "Bundle-searchParams.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("FHIR spec data missing: run scripts/fhir-spec.sh")
	}
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ID, Code, Type, Expression string
				Base                       []string
			}
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	type row struct{ typ, expr, id string }
	spec := map[[2]string]row{}
	for _, e := range b.Entry {
		r := e.Resource
		for _, base := range r.Base {
			if !fhir.Supported(base) && base != "Resource" {
				continue
			}
			var mine []string
			for _, alt := range strings.Split(r.Expression, " | ") {
				alt = strings.TrimSpace(alt)
				if strings.HasPrefix(alt, base+".") || strings.HasPrefix(alt, "("+base+".") {
					mine = append(mine, alt)
				}
			}
			spec[[2]string{base, r.Code}] = row{r.Type, strings.Join(mine, " | "), r.ID}
		}
	}
	inTable := map[[2]string]bool{}
	for _, d := range table {
		k := [2]string{d.base, d.name}
		inTable[k] = true
		s, ok := spec[k]
		switch {
		case !ok:
			t.Errorf("%s.%s is not an official parameter", d.base, d.name)
		case s.typ != d.kind.String() || s.expr != d.expr || s.id != d.id:
			t.Errorf("%s.%s = %s %q %s; the spec says %s %q %s", d.base, d.name, d.kind, d.expr, d.id, s.typ, s.expr, s.id)
		}
	}
	for k, s := range spec {
		if inTable[k] || k[0] == "Resource" && !strings.HasPrefix(k[1], "_") {
			continue
		}
		switch s.typ {
		case "token", "date", "reference", "string":
			if k[0] != "Resource" && k[1] != "phonetic" {
				t.Errorf("official %s.%s (%s) is missing from the table", k[0], k[1], s.typ)
			}
		}
	}
}

// TestOfficialExamples indexes HL7's examples of every supported type and
// runs a search for values known to be in them. It needs
// scripts/fhir-spec.sh.
func TestOfficialExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(specDir, "*-*.json"))
	if err != nil || len(files) == 0 {
		t.Skip("FHIR spec data missing: run scripts/fhir-spec.sh")
	}
	ix := &Index{}
	n := 0
	for _, f := range files {
		typ, _, _ := strings.Cut(filepath.Base(f), "-")
		if !fhir.Supported(typ) {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhir.Parse(raw)
		if err != nil || r.Type != typ || r.ID == "" {
			continue
		}
		ix.Put(r.Type, r.ID, 1, time.Unix(int64(n), 0), r.Tree)
		n++
	}
	if n < 200 {
		t.Fatalf("indexed only %d examples", n)
	}
	tests := []struct{ typ, q, want string }{
		{"Patient", "family=chalmers&given=peter", "example"},
		{"Patient", "identifier=urn:oid:1.2.36.146.595.217.0.1|12345", "example"},
		{"Patient", "_id=example&birthdate=1974-12-25&gender=male", "example"},
		{"Observation", "_id=example&code=http://loinc.org|29463-7&patient=example&date=2016-03-28", "example"},
		{"Observation", "_id=blood-pressure&code=85354-9&date=ge2012-09-17&status=final", "blood-pressure"},
		{"Condition", "_id=example&code=http://snomed.info/sct|39065001&patient=example", "example"},
		{"Encounter", "_id=example&status=in-progress&patient=example", "example"},
		{"MedicationRequest", "_id=medrx0301&authoredon=2015-01-15", "medrx0301"},
		{"Immunization", "_id=example&date=2013-01-10&vaccine-code=urn:oid:1.2.36.1.2001.1005.17|FLUVAX&vaccine-code:text=fluvax", "example"},
		{"Practitioner", "_id=example&family=careful", "example"},
		{"Organization", "_id=hl7&name=health%20level", "hl7"},
	}
	for _, tt := range tests {
		res, err := searchRes(ix, tt.typ, tt.q, Options{Strict: true})
		if err != nil {
			t.Errorf("%s?%s: %v", tt.typ, tt.q, err)
			continue
		}
		if !slices.Equal(res.IDs, []string{tt.want}) {
			t.Errorf("%s?%s = %v; want [%s]", tt.typ, tt.q, res.IDs, tt.want)
		}
	}
	// Every type answers a search over all its resources.
	for _, typ := range fhir.SupportedTypes {
		if _, err := searchRes(ix, typ, "_sort=-_lastUpdated&_count=5", Options{Strict: true}); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for typ, st := range ix.types {
		if err := st.check(); err != nil {
			t.Errorf("%s: %v", typ, err)
		}
	}
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		in      string
		typ, id string
		ok      bool
	}{
		{"Patient/123", "Patient", "123", true},
		{"Patient/123/_history/4", "Patient", "123", true},
		{"https://example.org/fhir/Patient/a-b.c", "Patient", "a-b.c", true},
		{"http://example.org/Patient/1/_history/2", "Patient", "1", true},
		{"123", "", "123", true},
		{"urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", "", "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0", true},
		{"http://hl7.org/fhir/Questionnaire/q|1.0", "", "http://hl7.org/fhir/Questionnaire/q|1.0", true},
		{"a/b/Patient/1", "", "a/b/Patient/1", true}, // relative with a path: not a reference we know
		{"patient/1", "", "patient/1", true},
		{"#contained", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		r, ok := parseRef(tt.in)
		if ok != tt.ok || r.typ != tt.typ || r.id != tt.id {
			t.Errorf("parseRef(%q) = %+v, %v; want %s %s %v", tt.in, r, ok, tt.typ, tt.id, tt.ok)
		}
	}
}

func TestCompile(t *testing.T) {
	for _, bad := range []string{"Patient", "(Observation.value as)", "Patient.name.where(x)", "Patient.a.exists() and Patient.b != false", "Patient.na-me"} {
		if _, err := compile(bad); err == nil {
			t.Errorf("compile(%q) succeeded", bad)
		}
	}
	// (X as T).text and .as(T) select the choice's type only.
	e, err := compile("(Observation.value as CodeableConcept).text | Observation.effective.as(Period)")
	if err != nil {
		t.Fatal(err)
	}
	var got []any
	e.eval(map[string]any{
		"valueCodeableConcept": map[string]any{"text": "yes"},
		"effectiveDateTime":    "2020",
		"effectivePeriod":      map[string]any{"start": "2020"},
	}, func(n node) { got = append(got, n.v) })
	if len(got) != 2 || got[0] != "yes" {
		t.Errorf("eval = %v", got)
	}
}

// TestChoiceElements checks choiceElements against the R4
// StructureDefinitions: every element the table navigates is looked up by
// prefix exactly when it is a choice element (name[x]). It needs
// scripts/fhir-spec.sh.
func TestChoiceElements(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(specDir, "Bundle-resources.json"))
	if errors.Is(err, fs.ErrNotExist) {
		t.Skip("FHIR spec data missing: run scripts/fhir-spec.sh")
	}
	if err != nil {
		t.Fatal(err)
	}
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string
				Snapshot     struct{ Element []struct{ Path string } }
			}
		}
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	choice := map[string]bool{}
	for _, e := range b.Entry {
		for _, el := range e.Resource.Snapshot.Element {
			if p, ok := strings.CutSuffix(el.Path, "[x]"); ok {
				choice[p] = true
			}
		}
	}
	if len(choice) < 100 {
		t.Fatalf("only %d choice elements in the spec", len(choice))
	}
	used := map[string]bool{}
	for _, d := range table {
		x, _ := compile(d.expr)
		for _, p := range x.paths {
			for _, st := range p {
				if st.op != opField {
					continue
				}
				used[st.path] = true
				if st.choice != choice[st.path] {
					t.Errorf("%s.%s: %s is a choice element: %v; the spec says %v", d.base, d.name, st.path, st.choice, choice[st.path])
				}
			}
		}
	}
	for p := range choiceElements {
		if !used[p] {
			t.Errorf("choiceElements lists %s, which no expression uses", p)
		}
	}
}
