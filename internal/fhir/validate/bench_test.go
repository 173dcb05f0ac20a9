package validate

import (
	"os"
	"testing"

	"github.com/medledger/medledger/internal/fhir"
)

func benchmarkFile(b *testing.B, file string) {
	v := testValidator(b)
	raw, err := os.ReadFile(file)
	if err != nil {
		b.Fatal(err)
	}
	r, err := fhir.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	if is := v.Validate(r); is != nil {
		b.Fatalf("%s is invalid: %v", file, is)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		if v.Validate(r) != nil {
			b.Fatal("invalid")
		}
	}
	reportCPU(b, start)
}

// reportCPU reports the process CPU time per operation (GC included).
func reportCPU(b *testing.B, start int64) {
	if end := cpuTime(); end > start && b.N > 0 {
		b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkValidatePatient and BenchmarkValidateObservation time Validate
// alone (not fhir.Parse) on typical resources.
func BenchmarkValidatePatient(b *testing.B)     { benchmarkFile(b, "testdata/patient.json") }
func BenchmarkValidateObservation(b *testing.B) { benchmarkFile(b, "testdata/observation.json") }

// BenchmarkParseValidateObservation is what a create costs here: parse
// plus validate.
func BenchmarkParseValidateObservation(b *testing.B) {
	v := testValidator(b)
	raw, err := os.ReadFile("testdata/observation.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		r, err := fhir.Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if v.Validate(r) != nil {
			b.Fatal("invalid")
		}
	}
	reportCPU(b, start)
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(); err != nil {
			b.Fatal(err)
		}
	}
}
