package node

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/consensus/cometbft"
	"github.com/medledger/medledger/internal/consensus/solo"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// CometBFTConfig is the JSON form of cometbft.Config (config.json
// "cometbft"). Zero fields take cometbft.Config's defaults.
type CometBFTConfig struct {
	P2PAddr             string   `json:"p2p_addr,omitempty"`              // default tcp://0.0.0.0:26656
	ExternalAddr        string   `json:"external_addr,omitempty"`         // address peers dial, if not P2PAddr
	Peers               []string `json:"peers,omitempty"`                 // nodeid@host:port
	RPCAddr             string   `json:"rpc_addr,omitempty"`              // CometBFT RPC; default off
	TimeoutCommit       Duration `json:"timeout_commit,omitempty"`        // default 100ms
	TimeoutPropose      Duration `json:"timeout_propose,omitempty"`       // default 3s
	EmptyBlocksInterval Duration `json:"empty_blocks_interval,omitempty"` // default 0: no empty blocks
	MempoolSize         int      `json:"mempool_size,omitempty"`          // default 50000
	PEX                 bool     `json:"pex,omitempty"`                   // peer exchange; default off
	LocalNetwork        bool     `json:"local_network,omitempty"`         // peers on loopback/private addresses
}

func (c *CometBFTConfig) validate() []error {
	var errs []error
	addr := func(name, v string) {
		if v == "" {
			return
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "tcp" || u.Port() == "" {
			errs = append(errs, fmt.Errorf("cometbft.%s: %q is not tcp://host:port", name, v))
		}
	}
	addr("p2p_addr", c.P2PAddr)
	addr("rpc_addr", c.RPCAddr)
	if c.ExternalAddr != "" {
		if _, _, err := net.SplitHostPort(strings.TrimPrefix(c.ExternalAddr, "tcp://")); err != nil {
			errs = append(errs, fmt.Errorf("cometbft.external_addr: %q is not host:port", c.ExternalAddr))
		}
	}
	for i, p := range c.Peers {
		id, hp, ok := strings.Cut(p, "@")
		if _, _, err := net.SplitHostPort(hp); !ok || len(id) != 40 || err != nil {
			errs = append(errs, fmt.Errorf("cometbft.peers[%d]: %q is not nodeid@host:port (node id: 40 hex digits, from medledger testnet or the node's log)", i, p))
		}
	}
	for name, d := range map[string]Duration{"timeout_commit": c.TimeoutCommit, "timeout_propose": c.TimeoutPropose, "empty_blocks_interval": c.EmptyBlocksInterval} {
		if d < 0 || time.Duration(d) > time.Hour {
			errs = append(errs, fmt.Errorf("cometbft.%s: %s is outside 0..1h", name, time.Duration(d)))
		}
	}
	if c.MempoolSize < 0 {
		errs = append(errs, fmt.Errorf("cometbft.mempool_size: %d is negative", c.MempoolSize))
	}
	return errs
}

// consensusMode decides the ordering mode from the configuration and the
// genesis: they must agree when both name one.
func consensusMode(configured string, doc *genesis.Doc) (string, error) {
	switch {
	case configured != "" && doc.Consensus != "" && configured != doc.Consensus:
		return "", fmt.Errorf("the genesis says this network orders by %s, but the node is configured for %s (--consensus)", doc.Consensus, configured)
	case configured != "":
		return configured, nil
	case doc.Consensus != "":
		return doc.Consensus, nil
	}
	return genesis.ConsensusSolo, nil
}

// openCometBFT prepares the CometBFT node as the node's ordering.
func (n *Node) openCometBFT(parent chain.Parent, beforeCommit func() error) error {
	c := n.cfg.CometBFT
	cn, err := cometbft.New(cometbft.Config{
		Dir:     n.home.CometBFT(),
		P2PAddr: c.P2PAddr, ExternalAddr: c.ExternalAddr, Peers: c.Peers, RPCAddr: c.RPCAddr,
		TimeoutCommit: time.Duration(c.TimeoutCommit), TimeoutPropose: time.Duration(c.TimeoutPropose),
		EmptyBlocksInterval: time.Duration(c.EmptyBlocksInterval), MempoolSize: c.MempoolSize,
		PEX: c.PEX, LocalNetwork: c.LocalNetwork,
	}, cometbft.Deps{
		Doc: n.genesis, Store: n.store, Machine: n.machine, Signer: n.key, Genesis: parent,
		Logger: n.log, Observer: n.metrics, BeforeCommit: beforeCommit,
	})
	if err != nil {
		return err
	}
	n.cmt = cn
	n.seq = &cometOrderer{n: cn, log: n.log.Info}
	return nil
}

// cometOrderer adapts the CometBFT node to the node's orderer.
type cometOrderer struct {
	n   *cometbft.Node
	log func(msg string, args ...any)

	mu       sync.Mutex
	startErr error // guarded by mu
}

func (o *cometOrderer) Start() {
	err := o.n.Start()
	o.mu.Lock()
	o.startErr = err
	o.mu.Unlock()
	if err == nil {
		o.log("joined the CometBFT network", "node_id", o.n.ID())
	}
}

func (o *cometOrderer) Err() error {
	o.mu.Lock()
	err := o.startErr
	o.mu.Unlock()
	if err != nil {
		return err
	}
	return o.n.Err()
}

func (o *cometOrderer) Submit(ctx context.Context, raw []byte) (solo.Receipt, error) {
	return o.n.Submit(ctx, raw)
}

func (o *cometOrderer) SubmitBatch(ctx context.Context, raws [][]byte) []solo.Result {
	res := o.n.SubmitBatch(ctx, raws)
	out := make([]solo.Result, len(res))
	for i, r := range res {
		out[i] = solo.Result{Receipt: r.Receipt, Err: r.Err}
	}
	return out
}

func (o *cometOrderer) Queued() int { return o.n.Queued() }

func (o *cometOrderer) Close() { o.n.Close() }

// NodeID returns the CometBFT node ID of the node whose home is h (what
// its peers write before '@'), derived from its node key.
func NodeID(h home.Home, masterKeyEnv string) (string, error) {
	k, err := h.LoadSigner(h.NodeKey(), masterKeyEnv)
	if err != nil {
		return "", err
	}
	return cometbft.NodeID(k)
}

// TestnetOptions configures Testnet.
type TestnetOptions struct {
	Dir        string // required; must not hold a testnet already
	Validators int    // default 4
	ChainID    string // default "medledger-testnet"
	// Host returns the IP address node i listens on. Default 127.0.0.<i+1>.
	Host func(i int) string
	// Ports are the HTTP, P2P and RPC ports every node uses on its own
	// address. Defaults 8740, 26656, 26657.
	HTTPPort, P2PPort, RPCPort int
}

// TestnetNode describes one node of a testnet.
type TestnetNode struct {
	Home    string `json:"home"`
	Org     string `json:"org"`
	NodeKey string `json:"node_key"`
	NodeID  string `json:"node_id"`
	HTTP    string `json:"http"`
	P2P     string `json:"p2p"`
	RPC     string `json:"rpc"`
}

// Testnet writes a ready-to-run CometBFT network on one machine: one home
// per organisation under o.Dir (node0, node1, ...), a shared genesis, and in
// each home a config.json with the node's own loopback address and ports
// and the others as persistent peers.
func Testnet(o TestnetOptions) ([]TestnetNode, *genesis.Doc, error) {
	if o.Dir == "" {
		return nil, nil, errors.New("testnet: a directory is required")
	}
	if o.Validators <= 0 {
		o.Validators = 4
	}
	if o.Validators > 200 {
		return nil, nil, errors.New("testnet: at most 200 validators")
	}
	if o.Host == nil {
		o.Host = func(i int) string { return fmt.Sprintf("127.0.0.%d", i+1) }
	}
	if o.HTTPPort == 0 {
		o.HTTPPort = 8740
	}
	if o.P2PPort == 0 {
		o.P2PPort = 26656
	}
	if o.RPCPort == 0 {
		o.RPCPort = 26657
	}
	homes, doc, err := home.InitNetwork(o.Dir, home.NetworkOptions{ChainID: o.ChainID, Validators: o.Validators})
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]TestnetNode, len(homes))
	for i, h := range homes {
		k, err := h.LoadSigner(h.NodeKey(), "")
		if err != nil {
			return nil, nil, err
		}
		id, err := cometbft.NodeID(k)
		if err != nil {
			return nil, nil, err
		}
		host := o.Host(i)
		nodes[i] = TestnetNode{
			Home: h.Dir, Org: doc.Validators[i].Org, NodeKey: identity.KeyIDOf(k.Public()), NodeID: id,
			HTTP: net.JoinHostPort(host, fmt.Sprint(o.HTTPPort)),
			P2P:  net.JoinHostPort(host, fmt.Sprint(o.P2PPort)),
			RPC:  net.JoinHostPort(host, fmt.Sprint(o.RPCPort)),
		}
	}
	for i, h := range homes {
		cfg := Config{Addr: nodes[i].HTTP, Consensus: genesis.ConsensusCometBFT, CometBFT: CometBFTConfig{
			P2PAddr: "tcp://" + nodes[i].P2P, RPCAddr: "tcp://" + nodes[i].RPC, LocalNetwork: true,
		}}
		for j, p := range nodes {
			if j != i {
				cfg.CometBFT.Peers = append(cfg.CometBFT.Peers, p.NodeID+"@"+p.P2P)
			}
		}
		b, err := json.MarshalIndent(cfg, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(h.Config(), append(b, '\n'), 0o600); err != nil {
			return nil, nil, err
		}
	}
	return nodes, doc, nil
}

// ClusterBenchOptions configures BenchCluster.
type ClusterBenchOptions struct {
	Validators int // default 4
	Txs        int // pre-signed notary anchors; default 60000
	Clients    int // concurrent submitters; default 80
	Batch      int // transactions per submission (as POST /v1/txs); default 50
	// CometBFT tunes every validator (TimeoutCommit, MempoolSize, ...).
	CometBFT CometBFTConfig
	// Solo, if set, also runs Bench (solo mode) with the same number of
	// transactions and reports it under "solo".
	Solo     bool
	Dir      string // default a temporary directory, removed after
	Progress func(done, total int)
}

// ClusterBenchResult is what BenchCluster measured.
type ClusterBenchResult struct {
	Validators      int          `json:"validators"`
	Txs             int          `json:"txs"`
	Clients         int          `json:"clients"`
	Batch           int          `json:"batch"`
	TxPerS          float64      `json:"tx_per_s"`
	P50ms           float64      `json:"p50_ms"`
	P99ms           float64      `json:"p99_ms"`
	MaxMs           float64      `json:"max_ms"`
	Blocks          uint64       `json:"blocks"`
	AvgBlockTxs     float64      `json:"avg_block_txs"`
	TimeoutCommitMs float64      `json:"timeout_commit_ms"`
	Consistent      bool         `json:"consistent"` // every validator ended with the same block hash
	InProcess       bool         `json:"in_process"`
	Cores           int          `json:"cores"`
	Seconds         float64      `json:"seconds"`
	Failed          int          `json:"failed"`
	Solo            *BenchResult `json:"solo,omitempty"`
}

// BenchCluster measures consortium mode: a CometBFT network of
// o.Validators nodes in this process, on loopback, each with its own home,
// store and CometBFT node. Clients submit pre-signed notary anchors in
// batches, spread over the validators, and each is answered once its
// block is finalised and durable on the node it was submitted to.
func BenchCluster(ctx context.Context, o ClusterBenchOptions) (*ClusterBenchResult, error) {
	if o.Validators <= 0 {
		o.Validators = 4
	}
	if o.Txs <= 0 {
		o.Txs = 60000
	}
	if o.Clients <= 0 {
		o.Clients = 80
	}
	if o.Batch <= 0 {
		o.Batch = 50
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "medledger-bench-cluster-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	cfgs, doc, err := localNetwork(dir, o.Validators, o.CometBFT)
	if err != nil {
		return nil, err
	}
	nodes := make([]*Node, len(cfgs))
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Close()
			}
		}
	}()
	for i, c := range cfgs {
		if nodes[i], err = Open(c, nil); err != nil {
			return nil, err
		}
	}
	for _, n := range nodes {
		n.Start()
		if err := n.Ready(); err != nil {
			return nil, err
		}
	}
	// Each organisation's admin signs the anchors submitted to its node.
	admins := make([]*identity.Key, len(cfgs))
	for i, c := range cfgs {
		h := home.Home{Dir: c.Home}
		if admins[i], err = h.LoadSigner(h.MemberKey(doc.Members[2*i].ID), ""); err != nil {
			return nil, err
		}
	}
	sign := func(i int) ([]byte, error) {
		v := i % len(admins)
		var hb [32]byte
		rand.Read(hb[:])
		p, _ := json.Marshal(notary.Anchor{Hash: fmt.Sprintf("%x", hb), Kind: "bench"})
		raw, _, err := client.Sign(client.Tx{ChainID: doc.ChainID, Contract: "notary", Method: "anchor", Payload: p, Signer: doc.Members[2*v].ID}, admins[v])
		return raw, err
	}
	// Warm up: the network is formed once a transaction commits.
	warm, err := sign(0)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	_, err = nodes[0].Submit(wctx, warm)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench cluster: the network did not commit a first transaction: %w", err)
	}
	// Batches of pre-signed transactions, batch b for validator b%n.
	nb := (o.Txs + o.Batch - 1) / o.Batch
	batches := make([][][]byte, nb)
	for b := range batches {
		lo, hi := b*o.Batch, min((b+1)*o.Batch, o.Txs)
		batches[b] = make([][]byte, 0, hi-lo)
		for i := lo; i < hi; i++ {
			raw, err := sign(b % len(nodes)) // signed by the admin of the batch's node

			if err != nil {
				return nil, err
			}
			batches[b] = append(batches[b], raw)
		}
	}
	startHeight := nodes[0].Store().Height()
	work := make(chan int, nb)
	for b := range nb {
		work <- b
	}
	close(work)
	var mu sync.Mutex
	var hist latencyHist
	var failed, done int
	start := time.Now()
	var wg sync.WaitGroup
	for range o.Clients {
		wg.Go(func() {
			var h latencyHist
			var f, d int
			for b := range work {
				if ctx.Err() != nil {
					break
				}
				t0 := time.Now()
				res := nodes[b%len(nodes)].SubmitBatch(ctx, batches[b])
				lat := time.Since(t0)
				for _, r := range res {
					if r.Err != nil || r.Receipt.Result.Code != ledger.CodeOK {
						f++
						continue
					}
					h.add(lat, 1)
					d++
				}
				if o.Progress != nil {
					mu.Lock()
					done += len(res)
					o.Progress(done, o.Txs)
					mu.Unlock()
				}
			}
			mu.Lock()
			hist.merge(&h)
			failed += f
			mu.Unlock()
			_ = d
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res := &ClusterBenchResult{
		Validators: len(nodes), Txs: o.Txs, Clients: o.Clients, Batch: o.Batch,
		TxPerS: float64(int(hist.n)) / elapsed.Seconds(),
		P50ms:  ms(hist.quantile(0.50)), P99ms: ms(hist.quantile(0.99)), MaxMs: ms(hist.quantile(1)),
		TimeoutCommitMs: ms(time.Duration(cfgs[0].CometBFT.TimeoutCommit)),
		InProcess:       true, Cores: runtime.GOMAXPROCS(0), Seconds: elapsed.Seconds(), Failed: failed,
	}
	if res.TimeoutCommitMs == 0 {
		res.TimeoutCommitMs = 100
	}
	top := nodes[0].Store().Height()
	res.Blocks = top - startHeight
	if res.Blocks > 0 {
		res.AvgBlockTxs = float64(hist.n) / float64(res.Blocks)
	}
	// All validators must end on the same block.
	res.Consistent = true
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for n.Store().Height() < top && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		a, err1 := nodes[0].Store().Header(top)
		b, err2 := n.Store().Header(top)
		if err1 != nil || err2 != nil || a.Header.Hash() != b.Header.Hash() {
			res.Consistent = false
		}
	}
	for i, n := range nodes {
		n.Close()
		nodes[i] = nil
	}
	if o.Solo {
		if res.Solo, err = Bench(ctx, BenchOptions{Txs: o.Txs}); err != nil {
			return nil, fmt.Errorf("solo bench: %w", err)
		}
	}
	return res, nil
}

// localNetwork creates a CometBFT network of n validators in dir, every
// node on 127.0.0.1 with ports the system just had free, and returns the
// nodes' configurations (tuned by cc: TimeoutCommit and the like).
func localNetwork(dir string, n int, cc CometBFTConfig) ([]Config, *genesis.Doc, error) {
	homes, doc, err := home.InitNetwork(dir, home.NetworkOptions{Validators: n, ChainID: "medledger-bench-cluster"})
	if err != nil {
		return nil, nil, err
	}
	ports := make([]int, n)
	ids := make([]string, n)
	for i, h := range homes {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ids[i], err = NodeID(h, ""); err != nil {
			return nil, nil, err
		}
	}
	cfgs := make([]Config, n)
	for i, h := range homes {
		c := cc
		c.P2PAddr = fmt.Sprintf("tcp://127.0.0.1:%d", ports[i])
		c.LocalNetwork = true
		c.Peers = nil
		for j := range homes {
			if j != i {
				c.Peers = append(c.Peers, fmt.Sprintf("%s@127.0.0.1:%d", ids[j], ports[j]))
			}
		}
		cfgs[i] = Config{Home: h.Dir, Addr: "127.0.0.1:0", Consensus: genesis.ConsensusCometBFT, CometBFT: c}
	}
	return cfgs, doc, nil
}

// Consensus returns the node's ordering mode: "solo" or "cometbft".
func (n *Node) Consensus() string {
	if n.cmt != nil {
		return genesis.ConsensusCometBFT
	}
	return genesis.ConsensusSolo
}
