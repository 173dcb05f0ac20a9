// Package cometbft orders transactions by CometBFT consensus among the
// validators a genesis lists (one per organisation): consortium mode. The
// medledger state machine runs in the same process as a CometBFT node,
// plugged in as its ABCI application (App), and drives exactly the same
// execution as solo mode (package chain): no contract knows the mode.
//
// How ABCI maps onto the ledger:
//
//   - CheckTx runs solo mode's admission checks (package admit) against
//     committed state; the mempool gossips what passes.
//   - FinalizeBlock builds the medledger block from the decided CometBFT
//     block (height, CometBFT's block time, proposer's key id, the txs in
//     order) with chain.Execute and answers its app hash, which CometBFT
//     puts in the next block's header: every validator checks every other
//     validator's state that way.
//   - Commit writes the block with one fsynced batch and only then answers
//     the submitters waiting for its transactions ("acknowledged means
//     durable": the block was finalised by +2/3 of the voting power before
//     FinalizeBlock, and is on this node's disk before the answer).
//   - Info reports the stored height and app hash, so that CometBFT replays
//     into the application whatever blocks it has and the store has not.
//
// Every node builds the same header, so block hashes, tx-log roots and
// proofs agree across nodes; each node signs the header it stored with its
// own node key (ledger.SignedHeader.Signer), which is also its CometBFT
// validator key. The P2P identity is derived from the node key (P2PKey).
//
// A node whose state diverges from what the network committed (CometBFT
// finds its app hash differs) stops: Node.Err reports it, submissions are
// refused, and Node.Failed is closed.
package cometbft

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/mempool"
	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/types"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// Config tunes the CometBFT node. Zero fields take the documented defaults.
type Config struct {
	// Dir holds CometBFT's databases, consensus WAL, address book and
	// validator sign state (required).
	Dir string
	// P2PAddr is where the node listens for peers. Default
	// "tcp://0.0.0.0:26656".
	P2PAddr string
	// ExternalAddr is the address peers should dial, if P2PAddr's is not
	// reachable as such (NAT, 0.0.0.0). Default: none.
	ExternalAddr string
	// Peers are persistent peers, "nodeid@host:port" (see NodeID).
	Peers []string
	// RPCAddr, if set, serves CometBFT's RPC (status, net_info, ...),
	// e.g. "tcp://127.0.0.1:26657". Default: off.
	RPCAddr string
	// TimeoutCommit is how long a validator waits after committing a
	// block before proposing the next (CometBFT's timeout_commit): it
	// sets the block interval under load. Default 100ms (CometBFT's own
	// default, 1s, suits validators on different continents).
	TimeoutCommit time.Duration
	// TimeoutPropose is how long validators wait for a proposal before
	// moving to the next round. Default 3s.
	TimeoutPropose time.Duration
	// EmptyBlocksInterval, if positive, makes validators propose an
	// empty block when no transaction arrived for that long. Default 0:
	// blocks only when there are transactions (CometBFT's
	// create_empty_blocks = false).
	EmptyBlocksInterval time.Duration
	// MempoolSize is the most transactions waiting in the mempool; beyond
	// it submissions answer overloaded. Default 50000.
	MempoolSize int
	// PEX enables peer exchange (learning peers from peers). Default off:
	// a consortium lists its peers.
	PEX bool
	// LocalNetwork allows peers on loopback and private addresses and
	// several peers on one IP (testnets on one machine).
	LocalNetwork bool
	// GossipSleep is how long CometBFT's gossip routines sleep when there
	// is nothing to send. Default 10ms (CometBFT's own default is 100ms,
	// which adds that much to every block's latency).
	GossipSleep time.Duration
}

func (c *Config) setDefaults() {
	if c.P2PAddr == "" {
		c.P2PAddr = "tcp://0.0.0.0:26656"
	}
	if c.TimeoutCommit <= 0 {
		c.TimeoutCommit = 100 * time.Millisecond
	}
	if c.TimeoutPropose <= 0 {
		c.TimeoutPropose = 3 * time.Second
	}
	if c.MempoolSize <= 0 {
		c.MempoolSize = 50000
	}
	if c.GossipSleep <= 0 {
		c.GossipSleep = 10 * time.Millisecond
	}
}

// MaxBlockBytes bounds a block's transactions (CometBFT's block.max_bytes
// consensus parameter, fixed for every medledger network so that every
// node derives the same CometBFT genesis).
const MaxBlockBytes = 8 << 20

// GenesisDoc derives the CometBFT genesis from a medledger genesis: the
// same chain ID and time, the validators with their keys and power, and
// appHash (the medledger genesis app hash) as the initial app hash.
func GenesisDoc(doc *genesis.Doc, appHash ledger.Hash) (*types.GenesisDoc, error) {
	if len(doc.ChainID) > types.MaxChainIDLen {
		return nil, fmt.Errorf("chain id %q is longer than CometBFT's limit of %d characters", doc.ChainID, types.MaxChainIDLen)
	}
	params := types.DefaultConsensusParams()
	params.Block.MaxBytes = MaxBlockBytes
	g := &types.GenesisDoc{
		GenesisTime:     doc.GenesisTime.UTC(),
		ChainID:         doc.ChainID,
		InitialHeight:   1,
		ConsensusParams: params,
		AppHash:         appHash[:],
	}
	for _, v := range doc.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("validator %s: %w", v.Name, err)
		}
		pk := cmted25519.PubKey(pub)
		g.Validators = append(g.Validators, types.GenesisValidator{Address: pk.Address(), PubKey: pk, Power: v.Power, Name: v.Name})
	}
	if err := g.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("CometBFT genesis: %w", err)
	}
	return g, nil
}

// Node is a CometBFT node with the medledger application. Its methods are
// safe for concurrent use.
type Node struct {
	app *App
	cmt *cmtnode.Node
	log logger

	failOnce sync.Once
	failed   chan struct{} // closed when the app stopped on an error

	mu      sync.Mutex
	started bool // guarded by mu
	closed  bool // guarded by mu
}

// New prepares a node: it opens CometBFT's databases and replays into the
// application any blocks CometBFT has and the store has not (a crash
// between the two commits). A store whose app hash differs from the one
// CometBFT recorded is refused here. Call Start to join the network.
func New(cfg Config, deps Deps) (n *Node, err error) {
	cfg.setDefaults()
	if cfg.Dir == "" {
		return nil, errors.New("cometbft: Config.Dir is required")
	}
	app, err := NewApp(deps)
	if err != nil {
		return nil, err
	}
	gdoc, err := GenesisDoc(deps.Doc, deps.Genesis.AppHash)
	if err != nil {
		return nil, err
	}
	c := cmtcfg.DefaultConfig()
	c.SetRoot(cfg.Dir)
	c.Moniker = deps.Signer.KeyID()
	c.ProxyApp = ""
	c.DBBackend = "goleveldb"
	c.LogLevel = "info"
	c.RPC.ListenAddress = cfg.RPCAddr
	c.RPC.PprofListenAddress = ""
	c.Instrumentation.Prometheus = false
	c.P2P.ListenAddress = cfg.P2PAddr
	c.P2P.ExternalAddress = cfg.ExternalAddr
	c.P2P.PersistentPeers = strings.Join(cfg.Peers, ",")
	c.P2P.PexReactor = cfg.PEX
	c.P2P.AddrBookStrict = !cfg.LocalNetwork
	c.P2P.AllowDuplicateIP = cfg.LocalNetwork
	c.P2P.FlushThrottleTimeout = 10 * time.Millisecond
	c.P2P.MaxPacketMsgPayloadSize = 64 << 10
	c.P2P.SendRate = 100 << 20
	c.P2P.RecvRate = 100 << 20
	c.P2P.PersistentPeersMaxDialPeriod = 5 * time.Second
	c.FilterPeers = true // see App.Query
	c.Mempool.Size = cfg.MempoolSize
	c.Mempool.CacheSize = 2 * cfg.MempoolSize
	c.Mempool.Recheck = false // admission is re-judged by execution anyway
	c.Mempool.MaxTxBytes = ledger.MaxTxBytes
	c.Consensus.TimeoutCommit = cfg.TimeoutCommit
	c.Consensus.TimeoutPropose = cfg.TimeoutPropose
	c.Consensus.CreateEmptyBlocks = cfg.EmptyBlocksInterval > 0
	c.Consensus.CreateEmptyBlocksInterval = cfg.EmptyBlocksInterval
	c.Consensus.PeerGossipSleepDuration = cfg.GossipSleep
	c.TxIndex.Indexer = "null" // the medledger store indexes transactions
	c.Storage.DiscardABCIResponses = true
	if err := c.ValidateBasic(); err != nil {
		return nil, fmt.Errorf("cometbft: configuration: %w", err)
	}
	for _, d := range []string{filepath.Join(cfg.Dir, "config"), filepath.Join(cfg.Dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	pv, err := newPrivValidator(deps.Signer, c.PrivValidatorStateFile())
	if err != nil {
		return nil, err
	}
	nk, err := P2PKey(deps.Signer)
	if err != nil {
		return nil, err
	}
	n = &Node{app: app, failed: make(chan struct{})}
	n.log = logger{l: deps.Logger.With("module", "cometbft"), diverged: app.fail}
	app.onFail = func(error) { n.failOnce.Do(func() { close(n.failed) }) }
	// CometBFT panics (rather than returning an error) when the app
	// hash after replay differs from the one it recorded.
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, fmt.Errorf("cometbft: this node's ledger does not match what CometBFT recorded (state tampered with, or restored from another network?): %v", r)
		}
	}()
	cmt, err := cmtnode.NewNode(c, pv, nk, clientCreator{app},
		func() (*types.GenesisDoc, error) { return gdoc, nil },
		guardedDBProvider, cmtnode.DefaultMetricsProvider(c.Instrumentation), n.log)
	if err != nil {
		return nil, fmt.Errorf("cometbft: %w", err)
	}
	n.cmt = cmt
	return n, nil
}

// Start joins the network: CometBFT starts listening, dialling peers,
// syncing and voting.
func (n *Node) Start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.started || n.closed {
		return nil
	}
	if err := n.cmt.Start(); err != nil {
		return fmt.Errorf("cometbft: start: %w", err)
	}
	n.started = true
	return nil
}

// Close stops CometBFT and answers every waiting submitter
// CodeUnavailable (their transactions may still be committed by the
// network). It may be called more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var err error
	n.app.closing.Store(true)
	if n.started {
		err = n.cmt.Stop()
		n.cmt.Wait()
	} else {
		// NewNode opened the databases; OnStop closes them, so stop the
		// never-started node through its OnStop.
		n.cmt.OnStop()
	}
	n.app.fail(errShutdown)
	return err
}

// Err returns why the node stopped accepting transactions, or nil.
func (n *Node) Err() error { return n.app.Err() }

// Failed is closed when the node stops on an error (Err says which),
// including a divergence from the network's state.
func (n *Node) Failed() <-chan struct{} { return n.failed }

// Queued returns the number of transactions in the mempool.
func (n *Node) Queued() int { return n.cmt.Mempool().Size() }

// Height returns the last block height CometBFT stored.
func (n *Node) Height() int64 { return n.cmt.BlockStore().Height() }

// Validators returns the validator set that voted on the last block
// this node finalised (from the commit CometBFT decided): each
// validator's medledger key id and voting power.
func (n *Node) Validators() map[string]int64 {
	if m := n.app.voters.Load(); m != nil {
		return maps.Clone(*m)
	}
	return nil
}

// ID returns the node's CometBFT node ID.
func (n *Node) ID() string { return string(n.cmt.NodeInfo().ID()) }

// Submit admits one encoded transaction into the mempool (which gossips
// it to the other validators) and waits until a block holding it is
// committed on this node, or it is rejected. Rejections are *ledger.Error
// values. If ctx ends first, Submit returns ctx's error: the transaction
// may still commit, and its hash can be looked up later.
func (n *Node) Submit(ctx context.Context, raw []byte) (ledger.Receipt, error) {
	o := n.SubmitBatch(ctx, [][]byte{raw})[0]
	return o.Receipt, o.Err
}

// SubmitBatch submits many transactions and waits for all of them. Each
// succeeds or fails on its own. Unlike solo mode, a batch cannot carry a member's
// enrolment and that member's first transaction: admission judges signers
// by committed state only.
func (n *Node) SubmitBatch(ctx context.Context, raws [][]byte) []Outcome {
	out := make([]Outcome, len(raws))
	if n.app.Err() != nil {
		for i := range out {
			out[i].Err = errNotAccepting
		}
		return out
	}
	a := n.app
	chans := make([]chan Outcome, len(raws))
	ids := make([]ledger.Hash, len(raws))
	mp := n.cmt.Mempool()
	for i, raw := range raws {
		tx, err := a.check.Decode(raw)
		if err != nil {
			a.reject(err)
			out[i].Err = err
			continue
		}
		id := tx.ID()
		ids[i] = id
		c := make(chan Outcome, 1)
		if !a.wait(id, c) {
			out[i].Err = errNotAccepting
			continue
		}
		// The answer comes later, from the checker: a rejection is
		// delivered to c, an admitted transaction waits for its block.
		err = mp.CheckTx(raw, func(r *abci.ResponseCheckTx) {
			if r.Code != abci.CodeTypeOK {
				a.unwait(id, c)
				code := codeOf(r.Code)
				deliver(c, Outcome{Err: &ledger.Error{Code: code, Msg: strings.TrimPrefix(r.Log, string(code)+": ")}})
			}
		}, mempool.TxInfo{})
		switch {
		case errors.Is(err, mempool.ErrTxInCache):
			// Already in this node's mempool (submitted twice, or gossiped
			// from another node): wait for it like the first submitter.
			if done, herr := a.deps.Store.Has(id); herr == nil && done {
				a.unwait(id, c)
				out[i].Err = ledger.Errorf(ledger.CodeReplay, "transaction %s is already committed", id)
				continue
			}
		case err != nil:
			a.unwait(id, c)
			var full mempool.ErrMempoolIsFull
			if errors.As(err, &full) {
				out[i].Err = ledger.Errorf(ledger.CodeOverloaded, "the mempool is full; retry shortly")
			} else {
				out[i].Err = ledger.Errorf(ledger.CodeUnavailable, "the mempool refused the transaction: %v", err)
			}
			a.reject(out[i].Err)
			continue
		}
		chans[i] = c
	}
	for i, c := range chans {
		if c == nil {
			continue
		}
		select {
		case o := <-c:
			out[i] = o
		case <-ctx.Done():
			a.unwait(ids[i], c)
			out[i].Err = ctx.Err()
		}
	}
	return out
}
