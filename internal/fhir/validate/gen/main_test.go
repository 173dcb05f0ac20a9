package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestCommittedFilesUpToDate checks that the committed generated files are
// what `go generate` makes from the spec data (see scripts/fhir-spec.sh;
// MEDLEDGER_SKIP_SPEC=1 skips the test when the data is absent).
func TestCommittedFilesUpToDate(t *testing.T) {
	spec := os.Getenv("MEDLEDGER_FHIR_SPEC")
	if spec == "" {
		spec = filepath.Join("..", "..", "..", "..", ".cache", "fhir-spec")
	}
	if _, err := os.Stat(filepath.Join(spec, examplesDir)); err != nil {
		if os.Getenv("MEDLEDGER_SKIP_SPEC") == "1" {
			t.Skipf("no FHIR spec data in %s (MEDLEDGER_SKIP_SPEC=1)", spec)
		}
		t.Fatalf("no FHIR spec data in %s: run scripts/fhir-spec.sh (or set MEDLEDGER_SKIP_SPEC=1 to skip): %v", spec, err)
	}
	files, err := generate(spec)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate ./internal/fhir/validate", name)
		}
	}
}

func TestGenerateWithoutSpec(t *testing.T) {
	if _, err := generate(t.TempDir()); err == nil {
		t.Error("Generate of an empty directory succeeded")
	}
}
