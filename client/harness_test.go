package client_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
)

// testNode is a real node (its own home, Pebble store and solo sequencer)
// served over loopback HTTP, with a client for it.
type testNode struct {
	c       *client.Client
	doc     *genesis.Doc
	adminID string
	admin   *identity.Key
}

// startNode initialises a fresh home and serves a node from it until the
// test ends.
func startNode(t testing.TB) *testNode {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatalf("home.Init: %v", err)
	}
	n, err := node.Open(node.Config{Home: dir}, nil)
	if err != nil {
		t.Fatalf("node.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("node.Close: %v", err)
		}
	})
	n.Start()
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)

	h := home.Home{Dir: dir}
	adminID := doc.Members[0].ID
	mk, err := h.MasterKeyValue("")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := identity.ReadKeyFile(h.MemberKey(adminID), identity.MasterKey(mk))
	if err != nil {
		t.Fatalf("admin key: %v", err)
	}
	return &testNode{c: client.New(srv.URL, nil), doc: doc, adminID: adminID, admin: admin}
}

// validators returns the trusted block-signing keys by key id, built from
// the genesis document: never from what the node says.
func validators(t testing.TB, doc *genesis.Doc) map[string]ed25519.PublicKey {
	t.Helper()
	m := make(map[string]ed25519.PublicKey)
	for _, v := range doc.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			t.Fatalf("genesis validator %s: %v", v.Name, err)
		}
		m[identity.KeyIDOf(pub)] = pub
	}
	return m
}

// sign JSON-encodes payload and signs it as signer with k.
func (tn *testNode) sign(t testing.TB, k client.Signer, signer, contractName, method string, payload any) ([]byte, client.Hash) {
	t.Helper()
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, id, err := client.Sign(client.Tx{ChainID: tn.doc.ChainID, Contract: contractName, Method: method, Payload: p, Signer: signer}, k)
	if err != nil {
		t.Fatalf("client.Sign: %v", err)
	}
	return raw, id
}

// enrolTx returns a members.enrol transaction signed by the admin, for a
// new member with a fresh key.
func (tn *testNode) enrolTx(t testing.TB, name string) ([]byte, client.Hash) {
	t.Helper()
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	org := tn.doc.Orgs[0].ID
	return tn.sign(t, tn.admin, tn.adminID, "members", "enrol",
		members.Enrol{ID: org + "/" + name, Org: org, Roles: []string{"practitioner"}, PublicKey: identity.EncodePublicKey(k.Public())})
}

// anchorTx returns a notary.anchor transaction of a random document hash,
// signed by the admin.
func (tn *testNode) anchorTx(t testing.TB) ([]byte, client.Hash) {
	t.Helper()
	doc := make([]byte, 32)
	rand.Read(doc)
	h := sha256.Sum256(doc)
	return tn.sign(t, tn.admin, tn.adminID, "notary", "anchor", notary.Anchor{Hash: hex.EncodeToString(h[:]), Kind: "lab-report"})
}

// submit submits raw and requires it to commit with code ok.
func (tn *testNode) submit(t testing.TB, raw []byte) client.Receipt {
	t.Helper()
	rc, err := tn.c.Submit(t.Context(), raw)
	if err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if rc.Result.Code != ledger.CodeOK {
		t.Fatalf("Submit: result %q; want ok", rc.Result.Code)
	}
	return rc
}
