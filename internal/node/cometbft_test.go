package node_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/api"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/node"
)

// cluster is a CometBFT network of in-process nodes on loopback. Set
// MEDLEDGER_TEST_CLUSTER_LOG to a node's index (or "all") to see its log.
type cluster struct {
	t     *testing.T
	doc   *genesis.Doc
	homes []home.Home
	cfgs  []node.Config
	nodes []*node.Node // nil while stopped
	admin *identity.Key
	// adminID is org0's admin, who signs the test's notary anchors.
	adminID string
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// cometConfig is the consensus tuning the tests use: short timeouts, so
// that blocks follow each other quickly and a halted network tries new
// rounds often.
func cometConfig(p2pPort int) node.CometBFTConfig {
	return node.CometBFTConfig{
		P2PAddr:        fmt.Sprintf("tcp://127.0.0.1:%d", p2pPort),
		LocalNetwork:   true,
		TimeoutCommit:  node.Duration(100 * time.Millisecond),
		TimeoutPropose: node.Duration(1 * time.Second),
	}
}

// newCluster creates n validator homes (not started).
// runningCluster returns a cluster of n validators, all started. It skips
// the test under -short.
func runningCluster(t *testing.T, n int) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("consensus cluster test: skipped with -short")
	}
	c := newCluster(t, n)
	for i := range n {
		c.start(i)
	}
	return c
}

func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	homes, doc, err := home.InitNetwork(t.TempDir(), home.NetworkOptions{Validators: n, ChainID: "ml-cluster-test"})
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, doc: doc, homes: homes, nodes: make([]*node.Node, n), adminID: "org0/admin"}
	if c.admin, err = homes[0].LoadSigner(homes[0].MemberKey(c.adminID), ""); err != nil {
		t.Fatal(err)
	}
	ports := make([]int, n)
	ids := make([]string, n)
	for i, h := range homes {
		ports[i] = freePort(t)
		if ids[i], err = node.NodeID(h, ""); err != nil {
			t.Fatal(err)
		}
	}
	for i, h := range homes {
		cfg := node.Config{Home: h.Dir, Addr: "127.0.0.1:0", CometBFT: cometConfig(ports[i])}
		for j := range homes {
			if j != i {
				cfg.CometBFT.Peers = append(cfg.CometBFT.Peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], ports[j]))
			}
		}
		c.cfgs = append(c.cfgs, cfg)
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.stop(i)
		}
	})
	return c
}

func (c *cluster) start(i int) {
	c.t.Helper()
	var lg *slog.Logger
	if d := os.Getenv("MEDLEDGER_TEST_CLUSTER_LOG"); d == fmt.Sprint(i) || d == "all" {
		lg = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", i)
	}
	n, err := node.Open(c.cfgs[i], lg)
	if err != nil {
		c.t.Fatalf("open node %d: %v", i, err)
	}
	n.Start()
	if err := n.Ready(); err != nil {
		c.t.Fatalf("start node %d: %v", i, err)
	}
	c.nodes[i] = n
}

func (c *cluster) stop(i int) {
	if c.nodes[i] != nil {
		if err := c.nodes[i].Close(); err != nil {
			c.t.Errorf("close node %d: %v", i, err)
		}
		c.nodes[i] = nil
	}
}

// anchors signs k fresh notary anchors.
func (c *cluster) anchors(k int) ([][]byte, []ledger.Hash) {
	c.t.Helper()
	raws := make([][]byte, k)
	ids := make([]ledger.Hash, k)
	for i := range raws {
		raw, id, err := client.Sign(client.Tx{ChainID: c.doc.ChainID, Contract: "notary", Method: "anchor", Payload: newAnchor(), Signer: c.adminID}, c.admin)
		if err != nil {
			c.t.Fatal(err)
		}
		raws[i], ids[i] = raw, ledger.Hash(id)
	}
	return raws, ids
}

// load submits txs transactions in batches, spread over the given nodes,
// and returns the receipts; every one must be acknowledged with code ok.
func (c *cluster) load(txs, batch int, to ...int) map[ledger.Hash]ledger.Receipt {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var mu sync.Mutex
	got := map[ledger.Hash]ledger.Receipt{}
	var failed []string
	var wg sync.WaitGroup
	for b := 0; b*batch < txs; b++ {
		raws, ids := c.anchors(min(batch, txs-b*batch))
		n := c.nodes[to[b%len(to)]]
		wg.Go(func() {
			for i, r := range n.SubmitBatch(ctx, raws) {
				if r.Err != nil || r.Receipt.Result.Code != ledger.CodeOK {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("tx %s: %v %+v", ids[i], r.Err, r.Receipt.Result))
					mu.Unlock()
					continue
				}
				mu.Lock()
				got[ids[i]] = r.Receipt
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		heights := make([]uint64, len(c.nodes))
		for i, n := range c.nodes {
			if n != nil {
				heights[i] = n.Store().Height()
			}
		}
		c.t.Fatalf("%d of %d transactions submitted to nodes %v failed (node heights %v), first: %s", len(failed), txs, to, heights, failed[0])
	}
	return got
}

// waitHeight waits until node i has committed height h.
func (c *cluster) waitHeight(i int, h uint64, within time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(within)
	for c.nodes[i].Store().Height() < h {
		if time.Now().After(deadline) {
			c.t.Fatalf("node %d at height %d after %s, want %d", i, c.nodes[i].Store().Height(), within, h)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// maxHeight is the highest height any running node has committed.
func (c *cluster) maxHeight() uint64 {
	var h uint64
	for _, n := range c.nodes {
		if n != nil {
			h = max(h, n.Store().Height())
		}
	}
	return h
}

// checkSameChain checks that the running nodes hold the same block hash
// at every height they share (no fork) and hold every acknowledged
// transaction where its receipt says.
func (c *cluster) checkSameChain(acked map[ledger.Hash]ledger.Receipt) {
	c.t.Helper()
	top := c.maxHeight()
	for i, n := range c.nodes {
		if n != nil {
			c.waitHeight(i, top, 30*time.Second)
		}
	}
	var ref *node.Node
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		if ref == nil {
			ref = n
			continue
		}
		top := min(ref.Store().Height(), n.Store().Height())
		for h := uint64(1); h <= top; h++ {
			a, err1 := ref.Store().Header(h)
			b, err2 := n.Store().Header(h)
			if err1 != nil || err2 != nil {
				c.t.Fatalf("height %d: %v %v", h, err1, err2)
			}
			if a.Header.Hash() != b.Header.Hash() {
				c.t.Fatalf("fork: node %d's block %d differs from the first running node's", i, h)
			}
		}
	}
	for i, n := range c.nodes {
		if n == nil {
			continue
		}
		for id, r := range acked {
			loc, err := n.Store().Locate(id)
			if err != nil || loc.Height != r.Height || loc.Index != r.Index {
				c.t.Fatalf("node %d: acknowledged tx %s at %d/%d: %+v %v", i, id, r.Height, r.Index, loc, err)
			}
		}
	}
}

func merge(dst, src map[ledger.Hash]ledger.Receipt) {
	for k, v := range src {
		dst[k] = v
	}
}

// getJSON answers a GET on node n's HTTP handler.
func getJSON(t *testing.T, n *node.Node, path string, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestCometBFTConsortium runs four validators through the failures the
// issue names, checking after each that no acknowledged transaction is
// lost and that the nodes agree block for block:
//   - all four commit under load;
//   - one stops, the other three go on; it restarts, catches up, and its
//     ledger verifies;
//   - two stop: the network halts (nothing is acknowledged); they restart
//     and it resumes;
//   - a proof fetched from one node verifies against another's tree head;
//   - a new full node (not a validator) joins and syncs to the same app
//     hash.
func TestCometBFTConsortium(t *testing.T) {
	c := runningCluster(t, 4)
	acked := c.load(2000, 100, 0, 1, 2, 3)
	c.checkSameChain(acked)

	// One validator down: three of four hold more than 2/3 of the power.
	c.stop(3)
	merge(acked, c.load(600, 100, 0, 1, 2))
	top := c.maxHeight()
	c.start(3)
	c.waitHeight(3, top, 60*time.Second)
	c.checkSameChain(acked)
	c.stop(3)
	verifyLedger(t, c.homes[3], c.doc)
	c.start(3)

	// Two down: half the power cannot commit. What is submitted meanwhile
	// is not acknowledged; the network must not move.
	c.stop(2)
	c.stop(3)
	before := c.maxHeight()
	raws, ids := c.anchors(5)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	halted := c.nodes[0].SubmitBatch(ctx, raws)
	cancel()
	for i, r := range halted {
		if !errors.Is(r.Err, context.DeadlineExceeded) {
			t.Fatalf("tx %d submitted to a halted network: %+v, %v; want no answer before the deadline", i, r.Receipt, r.Err)
		}
	}
	if h := c.maxHeight(); h != before {
		t.Fatalf("height moved from %d to %d with two of four validators down", before, h)
	}
	c.start(2)
	c.start(3)
	merge(acked, c.load(200, 50, 0, 1, 2, 3))
	// The transactions submitted during the halt were in the mempools of
	// the nodes that stayed up; they commit once the network resumes.
	deadline := time.Now().Add(30 * time.Second)
	for _, id := range ids {
		for {
			if ok, _ := c.nodes[0].Store().Has(id); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("tx %s submitted during the halt never committed after the network resumed", id)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	top = c.maxHeight()
	for i := range 4 {
		c.waitHeight(i, top, 30*time.Second)
	}
	c.checkSameChain(acked)

	// A proof from node 0 verifies against node 1's tree head.
	var id ledger.Hash
	for id = range acked {
		break
	}
	var sth api.STH
	getJSON(t, c.nodes[1], "/v1/sth", &sth)
	trusted := map[string]ed25519.PublicKey{}
	for _, v := range c.doc.Validators {
		pub, _ := identity.ParsePublicKey(v.PublicKey)
		trusted[identity.KeyIDOf(pub)] = pub
	}
	vh, err := client.VerifyTreeHead(sth, c.doc.ChainID, trusted)
	if err != nil {
		t.Fatalf("node 1's tree head: %v", err)
	}
	if sth.KeyID != c.nodes[1].KeyID() {
		t.Errorf("node 1's tree head is signed by %s, want its own key %s", sth.KeyID, c.nodes[1].KeyID())
	}
	var ans api.TxAnswer
	getJSON(t, c.nodes[0], "/v1/tx/"+id.String(), &ans)
	var proof api.Proof
	getJSON(t, c.nodes[0], fmt.Sprintf("/v1/proof/inclusion?hash=%s&tree_size=%d", id, vh.Size), &proof)
	raw, err := base64.StdEncoding.DecodeString(ans.Raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyInclusion(raw, proof.LeafIndex, vh.Size, proof.Hashes, vh.Root); err != nil {
		t.Fatalf("node 0's proof against node 1's tree head: %v", err)
	}

	// A full node joins later and syncs to the same app hash.
	dir := t.TempDir()
	if _, err := home.InitJoin(dir, c.doc, ""); err != nil {
		t.Fatal(err)
	}
	full := node.Config{Home: dir, Addr: "127.0.0.1:0", CometBFT: cometConfig(freePort(t))}
	full.CometBFT.Peers = c.cfgs[1].CometBFT.Peers // nodes 0, 2, 3
	fn, err := node.Open(full, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Close()
	fn.Start()
	merge(acked, c.load(100, 50, 0))
	top = c.maxHeight()
	deadline = time.Now().Add(60 * time.Second)
	for fn.Store().Height() < top {
		if time.Now().After(deadline) {
			t.Fatalf("full node at height %d, network at %d", fn.Store().Height(), top)
		}
		time.Sleep(50 * time.Millisecond)
	}
	want, _ := c.nodes[0].Store().Header(top)
	got, _ := fn.Store().Header(top)
	if got.Header.AppHash != want.Header.AppHash || got.Header.Hash() != want.Header.Hash() {
		t.Fatalf("full node's block %d differs from the validators'", top)
	}
}

// verifyLedger runs offline verification on a stopped node's home.
func verifyLedger(t *testing.T, h home.Home, doc *genesis.Doc) {
	t.Helper()
	rep, err := node.VerifyDir(context.Background(), h.Ledger(), doc, node.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify %s: %v", h.Dir, rep.Problem)
	}
}

// TestCometBFTTamper changes a stopped validator's state (the rule of the
// notary policy, as a rogue operator might to refuse anchors) and
// restarts it: its next block gives a different app hash than the
// network's, and the node must stop with an error rather than go on
// silently, while the other three carry on.
func TestCometBFTTamper(t *testing.T) {
	c := runningCluster(t, 4)
	acked := c.load(200, 50, 0, 1, 2, 3)
	c.stop(3)

	db, err := pebble.Open(c.homes[3].Ledger(), &pebble.Options{Logger: quietPebble{}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(store.LatestKey(contract.PolicyKey("notary.anchor")), []byte("false"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()

	c.start(3)
	merge(acked, c.load(200, 50, 0, 1, 2))
	n := c.nodes[3]
	// Usually seconds. A node restarted in the same process can find a
	// peer still holding a half-open connection from its previous life
	// (a CometBFT 0.38 race between a peer's reconnection and the node's
	// start), which blocks its ID there until the connection's ping
	// times out (60s + 45s): allow for that.
	deadline := time.Now().Add(150 * time.Second)
	for n.Ready() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("tampered node still ready at height %d (network at %d)", n.Store().Height(), c.maxHeight())
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("tampered node stopped: %v", n.Ready())
	if err := n.Ready(); !strings.Contains(err.Error(), "AppHash") && !strings.Contains(err.Error(), "app hash") {
		t.Errorf("tampered node's error does not name the app hash: %v", err)
	}
	// It refuses transactions rather than acknowledging them.
	raws, _ := c.anchors(1)
	if _, err := n.Submit(context.Background(), raws[0]); ledger.CodeOf(err) != ledger.CodeUnavailable {
		t.Errorf("tampered node accepted a transaction: %v", err)
	}
	stuck := n.Store().Height()
	merge(acked, c.load(100, 50, 0, 1))
	if h := n.Store().Height(); h != stuck {
		t.Errorf("tampered node went on from height %d to %d", stuck, h)
	}
	c.stop(3)
	c.checkSameChain(acked)
}

// quietPebble discards Pebble's informational logging.
type quietPebble struct{}

func (quietPebble) Infof(string, ...any)  {}
func (quietPebble) Errorf(string, ...any) {}
func (quietPebble) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// TestCometBFTOpenClose opens a consortium node and closes it without
// starting it, twice (CometBFT's databases must be released), and checks
// that the configuration must agree with the genesis on the mode.
func TestCometBFTOpenClose(t *testing.T) {
	c := newCluster(t, 2)
	for range 2 {
		n, err := node.Open(c.cfgs[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := n.Consensus(); got != genesis.ConsensusCometBFT {
			t.Errorf("Consensus() = %q", got)
		}
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	cfg := c.cfgs[0]
	cfg.Consensus = genesis.ConsensusSolo
	if _, err := node.Open(cfg, nil); err == nil || !strings.Contains(err.Error(), "orders by cometbft") {
		t.Errorf("Open with --consensus solo on a cometbft genesis: %v", err)
	}
}

// TestCometBFTAddValidator adds a validator to a running network of four:
// a full node's key is proposed by org0 and approved by org1 and org2
// (three of four, more than two thirds of the power). Once the change is
// in effect, the network goes on with a former validator down only
// because the new one votes: every validator has power 10, and 0, 1 and 2
// hold 30 of 50, not more than two thirds.
func TestCometBFTAddValidator(t *testing.T) {
	c := runningCluster(t, 4)
	acked := c.load(200, 50, 0, 1, 2, 3)

	dir := t.TempDir()
	pub, err := home.InitJoin(dir, c.doc, "")
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.Config{Home: dir, Addr: "127.0.0.1:0", CometBFT: cometConfig(freePort(t))}
	// Node 3's peers are nodes 0, 1, 2; node 0's third peer is node 3.
	cfg.CometBFT.Peers = append(slices.Clone(c.cfgs[3].CometBFT.Peers), c.cfgs[0].CometBFT.Peers[2])
	fresh, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	fresh.Start()

	// govern submits one members transaction signed by org i's admin.
	govern := func(i int, method string, payload any) ledger.Hash {
		t.Helper()
		id := fmt.Sprintf("org%d/admin", i)
		key, err := c.homes[i].LoadSigner(c.homes[i].MemberKey(id), "")
		if err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(payload)
		raw, txID, err := client.Sign(client.Tx{ChainID: c.doc.ChainID, Contract: "members", Method: method, Payload: p, Signer: id}, key)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := c.nodes[i].SubmitBatch(ctx, [][]byte{raw})[0]
		if r.Err != nil || r.Receipt.Result.Code != ledger.CodeOK {
			t.Fatalf("%s by %s: %v %+v", method, id, r.Err, r.Receipt.Result)
		}
		return ledger.Hash(txID)
	}
	prop := govern(0, "propose_validator", members.ProposeValidator{Name: "org0-second", Org: "org0", PublicKey: identity.EncodePublicKey(pub), Power: 10})
	govern(1, "approve_validator", members.ApproveValidator{Proposal: prop.String()})
	// Each check reads the store of the node that acknowledged the
	// approval: it has committed that block.
	if v, ok, _ := c.nodes[1].Store().Get(contract.ValidatorKey(identity.KeyIDOf(pub))); ok {
		t.Fatalf("applied with two approvals of four: %s", v)
	}
	govern(2, "approve_validator", members.ApproveValidator{Proposal: prop.String()})
	if _, ok, _ := c.nodes[2].Store().Get(contract.ValidatorKey(identity.KeyIDOf(pub))); !ok {
		t.Fatal("not applied with three approvals of four")
	}
	// The update takes effect two blocks after the one that applied it.
	deadline := time.Now().Add(30 * time.Second)
	for c.nodes[0].Validators()[identity.KeyIDOf(pub)] != 10 || len(c.nodes[0].Validators()) != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("validators voting: %v; want the four and the new one", c.nodes[0].Validators())
		}
		merge(acked, c.load(20, 20, 0, 1))
	}

	c.stop(3)
	merge(acked, c.load(300, 50, 0, 1, 2))
	top := c.maxHeight()
	deadline = time.Now().Add(60 * time.Second)
	for fresh.Store().Height() < top {
		if time.Now().After(deadline) {
			t.Fatalf("new validator at height %d, network at %d", fresh.Store().Height(), top)
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.checkSameChain(acked)
	// Its ledger, signed with its own key, verifies.
	fresh.Close()
	verifyLedger(t, home.Home{Dir: dir}, c.doc)
}
