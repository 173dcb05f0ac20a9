package validate

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/fhir"
)

// specDir returns the directory scripts/fhir-spec.sh fills
// ($MEDLEDGER_FHIR_SPEC, default .cache/fhir-spec at the repository root).
// Without it the test fails, unless MEDLEDGER_SKIP_SPEC=1 asks to skip.
func specDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MEDLEDGER_FHIR_SPEC")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", ".cache", "fhir-spec")
	}
	if _, err := os.Stat(filepath.Join(dir, "hl7.fhir.r4.examples-4.0.1", "package", "package.json")); err != nil {
		if os.Getenv("MEDLEDGER_SKIP_SPEC") == "1" {
			t.Skipf("no FHIR spec data in %s (MEDLEDGER_SKIP_SPEC=1)", dir)
		}
		t.Fatalf("no FHIR spec data in %s: run scripts/fhir-spec.sh (or set MEDLEDGER_SKIP_SPEC=1 to skip): %v", dir, err)
	}
	return dir
}

// conformanceTypes are the types whose official examples must validate:
// the served types, and Bundle, Consent and AuditEvent, which the server
// will need too.
func conformanceTypes() []string {
	return append(slices.Clone(fhir.SupportedTypes), "AuditEvent", "Bundle", "Consent")
}

// exampleDefects lists the official R4 examples that are genuinely invalid,
// with the locations of their defects. Each must fail exactly there.
var exampleDefects = map[string][]string{
	// MedicationRequest.dispenseRequest.performer is Reference(Organization);
	// the example refers to Practitioner/f001.
	"MedicationRequest-medrx0301.json": {"MedicationRequest.dispenseRequest.performer.reference"},
	// Observation.performer may refer to Practitioner, PractitionerRole,
	// Organization, CareTeam, Patient or RelatedPerson; the example refers
	// to Encounter/example (it belongs in Observation.encounter).
	"Observation-clinical-gender.json": {"Observation.performer[0].reference"},
}

// examples returns the official example files of the given types, skipping
// the spec's definition bundles (Bundle-resources.json and the like), which
// exceed fhir.MaxResourceBytes and are not resources a server receives.
func examples(t *testing.T, types []string) []string {
	t.Helper()
	pkg := filepath.Join(specDir(t), "hl7.fhir.r4.examples-4.0.1", "package")
	var files []string
	for _, typ := range types {
		got, err := filepath.Glob(filepath.Join(pkg, typ+"-*.json"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range got {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() <= fhir.MaxResourceBytes {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		t.Fatalf("no examples in %s", pkg)
	}
	return files
}

func TestConformance(t *testing.T) {
	v, err := testValidator(t).WithTypes(conformanceTypes()...)
	if err != nil {
		t.Fatal(err)
	}
	files := examples(t, conformanceTypes())
	seen := map[string]bool{}
	for _, f := range files {
		name := filepath.Base(f)
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhir.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		var got []string
		for _, is := range v.Validate(r) {
			got = append(got, strings.Join(is.Expression, ",")+": "+is.Code+": "+is.Diagnostics)
		}
		want, defect := exampleDefects[name]
		seen[name] = defect
		if !defect {
			if len(got) > 0 {
				t.Errorf("official example %s is rejected:\n\t%s", name, strings.Join(got, "\n\t"))
			}
			continue
		}
		var exprs []string
		for _, g := range got {
			exprs = append(exprs, g[:strings.Index(g, ": ")])
		}
		if !slices.Equal(exprs, want) {
			t.Errorf("known-defective example %s: issues\n\t%s\nwant issues at %v", name, strings.Join(got, "\n\t"), want)
		}
	}
	for name := range exampleDefects {
		if !seen[name] {
			t.Errorf("exampleDefects lists %s, which is not among the examples checked", name)
		}
	}
	t.Logf("%d official examples of %d types checked", len(files), len(conformanceTypes()))
}

// TestExamplesRoundTrip checks the cheap half of "read back JSON-equal":
// every official example of the conformance types, parsed and re-serialised
// in canonical form, parses back to an equal tree, and canonical form is a
// fixed point.
func TestExamplesRoundTrip(t *testing.T) {
	files := examples(t, conformanceTypes())
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhir.Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		c, err := fhir.Canonical(r.Tree)
		if err != nil {
			t.Errorf("%s: Canonical: %v", filepath.Base(f), err)
			continue
		}
		back, err := fhir.Parse(c)
		if err != nil {
			t.Errorf("%s: canonical form does not parse: %v", filepath.Base(f), err)
			continue
		}
		if !reflect.DeepEqual(back.Tree, r.Tree) || back.Type != r.Type || back.ID != r.ID {
			t.Errorf("%s: canonical form parses back different", filepath.Base(f))
			continue
		}
		if c2, err := fhir.Canonical(back.Tree); err != nil || string(c2) != string(c) {
			t.Errorf("%s: canonical form is not a fixed point", filepath.Base(f))
		}
	}
}

// TestMutatedExamples plants defects in the official examples and checks
// each is found where it was planted: every required top-level element
// removed in turn, and every top-level date, dateTime or instant set to a
// day that does not exist. This checks the tables against real resources.
func TestMutatedExamples(t *testing.T) {
	v, err := testValidator(t).WithTypes(conformanceTypes()...)
	if err != nil {
		t.Fatal(err)
	}
	mutations := 0
	for _, f := range examples(t, conformanceTypes()) {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		r, err := fhir.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if exampleDefects[filepath.Base(f)] != nil {
			continue
		}
		check := func(what, expr, code string) {
			t.Helper()
			mutations++
			got := v.Validate(r)
			for _, is := range got {
				if is.Expression[0] == expr && is.Code == code {
					return
				}
			}
			t.Errorf("%s with %s: no %s issue at %s in %v", filepath.Base(f), what, code, expr, got)
		}
		st := v.m.structs[r.Type]
		for _, e := range st.required {
			for _, k := range e.keys {
				old, ok := r.Tree[k]
				if !ok {
					continue
				}
				delete(r.Tree, k)
				check(k+" removed", r.Type+"."+e.name, "required")
				r.Tree[k] = old
			}
		}
		for k, p := range st.props {
			old, ok := r.Tree[k].(string)
			if !ok || p.elem.repeated {
				continue
			}
			var bad string
			switch p.kind {
			case kindDate, kindDateTime:
				bad = "2023-02-30"
			case kindInstant:
				bad = "2023-02-30T10:00:00Z"
			default:
				continue
			}
			r.Tree[k] = bad
			check(k+" set to "+bad, r.Type+"."+k, "value")
			r.Tree[k] = old
		}
	}
	if mutations < 300 {
		t.Errorf("only %d mutations", mutations)
	}
	t.Logf("%d mutations found", mutations)
}
