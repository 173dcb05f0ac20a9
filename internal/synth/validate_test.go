package synth

import (
	"fmt"
	"testing"

	"github.com/medledger/medledger/internal/fhir/validate"
)

// TestValidate runs every generated resource through the server's write
// validation (the FHIR R4 schema and the StructureDefinition rules): a
// synthetic population must load without a single rejection.
func TestValidate(t *testing.T) {
	v, err := validate.New()
	if err != nil {
		t.Fatal(err)
	}
	n := 100
	if testing.Short() {
		n = 30
	}
	checked := 0
	for _, o := range []Options{{N: n, Seed: 5}, {N: n / 8, Seed: 6, Years: 40}} {
		for i, b := range generate(t, o) {
			tb := decodeBundle(t, b)
			for _, e := range tb.entries {
				checked++
				for _, is := range v.Validate(e.res) {
					t.Errorf("seed %d patient %d: %s %s: %s %v: %s", o.Seed, i, e.res.Type, e.fullURL, is.Code, is.Expression, is.Diagnostics)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
		}
	}
	t.Logf("%d resources valid", checked)
}

func ExamplePatients() {
	for bundle, err := range Patients(Options{N: 2, Seed: 1}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		id, err := Identify(bundle)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(id.Identifiers[0].System, len(id.BirthDate))
	}
	// Output:
	// https://synthetic-general-hospital.example.org/fhir/sid/mrn 10
	// https://synthetic-general-hospital.example.org/fhir/sid/mrn 10
}
