package node_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"testing"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/cli"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

// Set in the environment of a re-executed test binary: it then runs
// `medledger serve` instead of the tests (see TestCrashRecovery).
const (
	childHomeEnv = "MEDLEDGER_TEST_CHILD_HOME"
	childAddrEnv = "MEDLEDGER_TEST_CHILD_ADDR"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(childHomeEnv); dir != "" {
		os.Exit(cli.Run([]string{"serve", "--home", dir, "--addr", os.Getenv(childAddrEnv), "--log-level", "warn", "--log-format", "text"}, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testHome is an initialised home with its genesis admin's key.
type testHome struct {
	home    home.Home
	doc     *genesis.Doc
	admin   *identity.Key
	adminID string
}

func newHome(t *testing.T) *testHome {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := home.Home{Dir: dir}
	th := &testHome{home: h, doc: doc, adminID: doc.Members[0].ID}
	if th.admin, err = h.LoadSigner(h.MemberKey(th.adminID), ""); err != nil {
		t.Fatal(err)
	}
	return th
}

// open opens and starts a node on the home. The returned close function
// may be called by the test; it also runs when the test ends.
func (th *testHome) open(t *testing.T) (*node.Node, func() error) {
	t.Helper()
	n, err := node.Open(node.Config{Home: th.home.Dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	closeOnce := sync.OnceValue(n.Close)
	t.Cleanup(func() { closeOnce() })
	return n, closeOnce
}

// anchor returns a notary anchor of a fresh random document, signed by the
// admin, and its transaction hash.
func (th *testHome) anchor(t testing.TB) ([]byte, client.Hash) {
	return th.sign(t, client.Tx{ChainID: th.doc.ChainID, Contract: "notary", Method: "anchor", Payload: newAnchor(), Signer: th.adminID}, th.admin)
}

func (th *testHome) sign(t testing.TB, tx client.Tx, k client.Signer) ([]byte, client.Hash) {
	raw, id, err := client.Sign(tx, k)
	if err != nil {
		t.Fatal(err)
	}
	return raw, id
}

// anchorTx is anchor for goroutines other than the test's.
func (th *testHome) anchorTx() ([]byte, client.Hash, error) {
	return client.Sign(client.Tx{ChainID: th.doc.ChainID, Contract: "notary", Method: "anchor", Payload: newAnchor(), Signer: th.adminID}, th.admin)
}

// newAnchor returns the payload of an anchor of a fresh random document.
func newAnchor() []byte {
	doc := make([]byte, 32)
	rand.Read(doc)
	sum := sha256.Sum256(doc)
	p, err := json.Marshal(notary.Anchor{Hash: hex.EncodeToString(sum[:]), Kind: "lab-report"})
	if err != nil {
		panic(err) // cannot happen: strings always marshal
	}
	return p
}

func verifyHome(t *testing.T, th *testHome) *node.VerifyReport {
	t.Helper()
	rep, err := node.VerifyDir(context.Background(), th.home.Ledger(), th.doc, node.VerifyOptions{})
	if err != nil {
		t.Fatalf("VerifyDir: %v", err)
	}
	if !rep.OK {
		t.Fatalf("verify: %v", rep.Problem)
	}
	return rep
}
