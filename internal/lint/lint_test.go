package lint

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/medledger/medledger"

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var ps []pkg
	d := json.NewDecoder(strings.NewReader(string(out)))
	for d.More() {
		var p pkg
		if err := d.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// listDeps lists the packages path depends on (itself included).
func listDeps(t *testing.T, path string) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json", path).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var ps []pkg
	d := json.NewDecoder(strings.NewReader(string(out)))
	for d.More() {
		var p pkg
		if err := d.Decode(&p); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

// TestDependencyRules enforces the dependency arrows of STYLE.md §2.
func TestDependencyRules(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string // prefixes of import paths that must not be deps
		direct    bool     // check direct imports only
		why       string
	}{
		{"internal/ledger", []string{module + "/"}, false, "the domain package imports no project package"},
		{"internal/cli", []string{module + "/internal/ledger/store", "github.com/cockroachdb/pebble", "testing"}, true, "the CLI reaches storage only through the node"},
		{"client", []string{module + "/internal/node", module + "/internal/ledger/store", "github.com/cockroachdb/pebble"}, false, "the public client must not carry a node"},
		{"internal/policy", []string{module + "/"}, false, "policies see only their inputs"},
		// Consortium mode (issue 5): blocks are built, and contracts run,
		// the same way whoever orders the transactions.
		{"internal/chain", []string{"github.com/cometbft/", module + "/internal/consensus"}, false, "blocks are built the same way in every ordering mode"},
		{"internal/contract", []string{"github.com/cometbft/", module + "/internal/consensus"}, false, "contracts do not know the ordering mode"},
		// AI (issue 6): the numerical packages are leaves; detectors see
		// AuditEvents and a Directory the node implements, never storage,
		// keys or the node itself; contracts stay free of ML code.
		{"internal/ai/metrics", []string{module + "/"}, false, "evaluation measures are pure functions"},
		{"internal/ai/iforest", []string{module + "/"}, false, "the isolation forest is a numerical leaf"},
		{"internal/ai/model", []string{module + "/internal/ai/access", module + "/internal/node", module + "/internal/ledger", module + "/internal/contract", "github.com/cockroachdb/pebble"}, false, "the model file format knows no detector, node or ledger"},
		{"internal/ai/access", []string{module + "/internal/node", module + "/internal/ledger", module + "/internal/contract", module + "/internal/records", module + "/internal/crypt", module + "/internal/api", "github.com/cockroachdb/pebble"}, false, "the detector reads events and a Directory; the node feeds it"},
		{"internal/contracts/models", []string{module + "/internal/ai/", module + "/internal/node"}, false, "contracts stay deterministic and free of ML code"},
		{"internal/contracts/alerts", []string{module + "/internal/ai/", module + "/internal/node"}, false, "contracts stay deterministic and free of ML code"},
	}
	ps := listPackages(t)
	byPath := map[string]pkg{}
	for _, p := range ps {
		byPath[p.ImportPath] = p
	}
	for _, r := range rules {
		p, ok := byPath[module+"/"+r.pkg]
		if !ok {
			t.Errorf("package %s not found", r.pkg)
			continue
		}
		deps := p.Deps
		if r.direct {
			deps = p.Imports
		}
		for _, d := range deps {
			for _, f := range r.forbidden {
				if d == f || strings.HasPrefix(d, f) && (strings.HasSuffix(f, "/") || strings.HasPrefix(d, f+"/")) {
					t.Errorf("%s depends on %s: %s", r.pkg, d, r.why)
				}
			}
		}
	}
	// No production code uses the testing package. CometBFT 0.38 links it
	// into every binary that embeds a node (its libs/log, types and
	// consensus packages carry test helpers), so the rule is checked on
	// what imports testing rather than on the binary's dependencies.
	if bin, ok := byPath[module+"/cmd/medledger"]; ok {
		for _, d := range append(bin.Deps, bin.ImportPath) {
			if p, ok := byPath[d]; ok && slices.Contains(p.Imports, "testing") {
				t.Errorf("%s imports testing: do not use the testing package in production code", d)
			}
		}
		for _, p := range listDeps(t, module+"/cmd/medledger") {
			if slices.Contains(p.Imports, "testing") && !strings.HasPrefix(p.ImportPath, module) && !strings.HasPrefix(p.ImportPath, "github.com/cometbft/") {
				t.Errorf("the medledger binary links testing through %s", p.ImportPath)
			}
		}
	}
	// CometBFT stays behind one package: the rest of the code base never
	// sees its types.
	for _, p := range ps {
		if p.ImportPath == module+"/internal/consensus/cometbft" {
			continue
		}
		for _, d := range p.Imports {
			if strings.HasPrefix(d, "github.com/cometbft/") {
				t.Errorf("%s imports %s: only internal/consensus/cometbft may import CometBFT", p.ImportPath, d)
			}
		}
	}
	// Nothing but the CLI imports the composition root.
	for _, p := range ps {
		if slices.Contains(p.Imports, module+"/internal/node") && p.ImportPath != module+"/internal/cli" {
			t.Errorf("%s imports internal/node; only the CLI may", p.ImportPath)
		}
	}
}

// TestPackageDocs checks that every package has exactly one package doc
// comment (STYLE.md §4).
func TestPackageDocs(t *testing.T) {
	for _, p := range listPackages(t) {
		n := 0
		for _, f := range p.GoFiles {
			af, err := parser.ParseFile(token.NewFileSet(), filepath.Join(p.Dir, f), nil, parser.PackageClauseOnly|parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			if af.Doc != nil && strings.TrimSpace(af.Doc.Text()) != "" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s has %d package doc comments, want exactly 1", p.ImportPath, n)
		}
	}
}
