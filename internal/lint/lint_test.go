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
		{"cmd/medledger", []string{"testing"}, false, "do not use the testing package in production code"},
		{"client", []string{module + "/internal/node", module + "/internal/ledger/store", "github.com/cockroachdb/pebble"}, false, "the public client must not carry a node"},
		{"internal/policy", []string{module + "/"}, false, "policies see only their inputs"},
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
