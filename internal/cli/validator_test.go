package cli

import (
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

// TestValidatorCommands runs validator propose and approve against a real
// node. Its one organisation holds all the voting power, so a proposal
// applies at once; approving a proposal that does not exist is refused by
// the contract, and the command says why and exits 1.
func TestValidatorCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	if code, _, stderr := run(t, "init", "--home", dir); code != 0 {
		t.Fatalf("init: %s", stderr)
	}
	n, err := node.Open(node.Config{Home: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(func() { srv.Close(); n.Close() })
	doc, err := genesis.Load(home.Home{Dir: dir}.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := identity.GenerateKey()
	code, out, stderr := run(t, "validator", "propose", "--home", dir, "--node", srv.URL, "--name", "second", "--org", doc.Orgs[0].ID,
		"--public-key", identity.EncodePublicKey(k.Public()), "--json")
	if code != 0 {
		t.Fatalf("validator propose: exit %d: %s", code, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("validator propose --json: %v: %s", err, out)
	}
	if o, _ := res["outcome"].(string); !strings.HasPrefix(o, "applied") {
		t.Errorf("validator propose: %s; want it applied (the one organisation holds all the power)", out)
	}
	code, _, stderr = run(t, "validator", "approve", "no-such-proposal", "--home", dir, "--node", srv.URL)
	if code != 1 || !strings.Contains(stderr, `no proposal "no-such-proposal"`) {
		t.Errorf("approving an unknown proposal: exit %d, %q; want exit 1 saying there is no such proposal", code, stderr)
	}
}
