package fhirapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestFHIRKitClientInterop drives a real node with an independent FHIR
// client, the npm package fhir-kit-client, through
// scripts/interop/interop.mjs: metadata, create, read, update with
// If-Match, vread, history, search, a transaction with urn:uuid references,
// and delete. CI must run it, so a missing node or client fails the test
// (install both with scripts/interop.sh, which `make test` runs);
// MEDLEDGER_SKIP_INTEROP=1 skips it on a machine without node.
func TestFHIRKitClientInterop(t *testing.T) {
	if os.Getenv("MEDLEDGER_SKIP_INTEROP") == "1" {
		t.Skip("MEDLEDGER_SKIP_INTEROP=1")
	}
	dir := filepath.Join(repoRoot(t), "scripts", "interop")
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (%v): install node >= 20 and run scripts/interop.sh, or set MEDLEDGER_SKIP_INTEROP=1", err)
	}
	checkInteropInstall(t, dir)

	s := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "interop.mjs"), s.url)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node interop.mjs %s: %v after %v\n%s", s.url, err, time.Since(start).Round(time.Millisecond), out)
	}
	t.Logf("fhir-kit-client against %s (%v):\n%s", s.url, time.Since(start).Round(time.Millisecond), out)
}

// repoRoot finds the module root above the package directory, which is
// where go test runs the test.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// checkInteropInstall fails the test unless node_modules holds the
// fhir-kit-client version that package-lock.json pins.
func checkInteropInstall(t *testing.T, dir string) {
	t.Helper()
	var lock struct {
		Packages map[string]struct {
			Version string `json:"version"`
		} `json:"packages"`
	}
	b, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("package-lock.json: %v", err)
	}
	want := lock.Packages["node_modules/fhir-kit-client"].Version
	if want == "" {
		t.Fatal("package-lock.json pins no fhir-kit-client")
	}
	var got struct {
		Version string `json:"version"`
	}
	b, err = os.ReadFile(filepath.Join(dir, "node_modules", "fhir-kit-client", "package.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("fhir-kit-client is not installed: run scripts/interop.sh (or make interop-deps)")
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("installed fhir-kit-client package.json: %v", err)
	}
	if got.Version != want {
		t.Fatalf("fhir-kit-client %s is installed; package-lock.json pins %s: run scripts/interop.sh", got.Version, want)
	}
}
