package validate

import (
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/medledger/medledger/internal/fhir"
)

// FuzzValidate checks that Validate never panics on any parseable resource,
// is deterministic, and keeps the shape of its issues (see checkIssues,
// minus the planted-PHI check: fuzzed keys can be anything). Seeded from
// the rule table and testdata.
func FuzzValidate(f *testing.F) {
	for _, tc := range ruleCases {
		f.Add([]byte(tc.json))
	}
	for _, name := range []string{"testdata/patient.json", "testdata/observation.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	base := testValidator(f)
	all, err := base.WithTypes(conformanceTypes()...)
	if err != nil {
		f.Fatal(err)
	}
	codes := []string{"structure", "required", "value", "invalid", "code-invalid", "not-supported"}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := fhir.Parse(b)
		if err != nil {
			return
		}
		got := all.Validate(r)
		if again := all.Validate(r); !reflect.DeepEqual(got, again) {
			t.Fatalf("Validate is not deterministic: %v then %v", got, again)
		}
		if got != nil && len(got) == 0 {
			t.Fatal("empty, non-nil issues")
		}
		seen := map[string]bool{}
		for _, is := range got {
			if is.Severity != "error" || !slices.Contains(codes, is.Code) || is.Diagnostics == "" || len(is.Expression) != 1 {
				t.Fatalf("malformed issue %+v", is)
			}
			if seen[is.Expression[0]] {
				t.Fatalf("two issues at %s", is.Expression[0])
			}
			seen[is.Expression[0]] = true
		}
	})
}
