// Package node is the composition root: it reads a home directory, opens
// the ledger store, initialises genesis state on first start, builds the
// contract machine and the ordering (the solo sequencer, or a CometBFT
// node in consortium mode), and serves the HTTP API and the local admin
// socket. Nothing imports it but the CLI.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medledger/medledger/internal/api"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/consensus/cometbft"
	"github.com/medledger/medledger/internal/consensus/solo"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/policy"
)

// Config is a node's configuration. Zero fields take the documented
// defaults; see Validate.
type Config struct {
	// Home is the node home directory (required).
	Home string `json:"-"`
	// Addr is the HTTP listen address. Default "127.0.0.1:8740".
	Addr string `json:"addr,omitempty"`
	// MLLPAddr, if set, is where HL7 v2 messages are accepted over MLLP.
	MLLPAddr string `json:"mllp_addr,omitempty"`
	// MasterKeyEnv is the value of MEDLEDGER_MASTER_KEY, if set; it
	// overrides the home's master.key file.
	MasterKeyEnv string `json:"-"`
	// Consensus is the ordering mode: "solo" or "cometbft". Default: what
	// the genesis names, else solo. It must agree with the genesis when
	// the genesis names one.
	Consensus string `json:"consensus,omitempty"`
	// Solo tunes the sequencer.
	Solo SoloConfig `json:"solo"`
	// CometBFT configures consortium mode.
	CometBFT CometBFTConfig `json:"cometbft"`
	// API tunes the HTTP API.
	API APIConfig `json:"api"`
	// Auth configures authentication of the FHIR API (see auth.go).
	Auth AuthConfig `json:"auth"`
	// TLSCert and TLSKey, if set, are PEM files: the node then serves
	// HTTPS only.
	TLSCert string `json:"tls_cert,omitempty"`
	TLSKey  string `json:"tls_key,omitempty"`
	// DemoUsers, set by medledger demo, are offered by the sign-in page's
	// one-click picker. Never from a config file.
	DemoUsers []auth.DemoUser `json:"-"`
}

// SoloConfig is the JSON form of solo.Config.
type SoloConfig struct {
	MaxTxs    int      `json:"max_txs,omitempty"`    // default 2000
	MaxDelay  Duration `json:"max_delay,omitempty"`  // default 2ms
	QueueSize int      `json:"queue_size,omitempty"` // default 50000
}

// APIConfig is the JSON form of api.Config.
type APIConfig struct {
	MaxBatch      int      `json:"max_batch,omitempty"`      // default 1000
	MaxBodyBytes  int64    `json:"max_body_bytes,omitempty"` // default 16 MiB
	CommitTimeout Duration `json:"commit_timeout,omitempty"` // default 30s
}

// Duration is a time.Duration written as a Go duration string in JSON.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// DefaultAddr is the default HTTP listen address.
const DefaultAddr = "127.0.0.1:8740"

// Validate reports every problem with c at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Home == "" {
		errs = append(errs, errors.New("home: required (--home or MEDLEDGER_HOME)"))
	}
	if c.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Addr); err != nil {
			errs = append(errs, fmt.Errorf("addr: %q is not host:port", c.Addr))
		}
	}
	if c.MLLPAddr != "" {
		if _, _, err := net.SplitHostPort(c.MLLPAddr); err != nil {
			errs = append(errs, fmt.Errorf("mllp_addr: %q is not host:port", c.MLLPAddr))
		}
	}
	if c.Solo.MaxTxs < 0 || c.Solo.MaxTxs > 100000 {
		errs = append(errs, fmt.Errorf("solo.max_txs: %d is outside 0..100000", c.Solo.MaxTxs))
	}
	if c.Solo.MaxDelay < 0 || time.Duration(c.Solo.MaxDelay) > 10*time.Second {
		errs = append(errs, fmt.Errorf("solo.max_delay: %s is outside 0..10s", time.Duration(c.Solo.MaxDelay)))
	}
	if c.Solo.QueueSize < 0 {
		errs = append(errs, fmt.Errorf("solo.queue_size: %d is negative", c.Solo.QueueSize))
	}
	switch c.Consensus {
	case "", genesis.ConsensusSolo, genesis.ConsensusCometBFT:
	default:
		errs = append(errs, fmt.Errorf("consensus: %q is not %q or %q", c.Consensus, genesis.ConsensusSolo, genesis.ConsensusCometBFT))
	}
	errs = append(errs, c.CometBFT.validate()...)
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("tls_cert and tls_key: give both (PEM files) or neither"))
	} else if c.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey); err != nil {
			errs = append(errs, fmt.Errorf("tls_cert/tls_key: %v", err))
		}
	}
	if c.API.MaxBatch < 0 || c.API.MaxBatch > 100000 {
		errs = append(errs, fmt.Errorf("api.max_batch: %d is outside 0..100000", c.API.MaxBatch))
	}
	if c.API.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("api.max_body_bytes: %d is negative", c.API.MaxBodyBytes))
	}
	if c.API.CommitTimeout < 0 {
		errs = append(errs, fmt.Errorf("api.commit_timeout: %s is negative", time.Duration(c.API.CommitTimeout)))
	}
	return errors.Join(errs...)
}

// Node is a running medledger node.
type Node struct {
	cfg     Config
	home    home.Home
	log     *slog.Logger
	genesis *genesis.Doc
	key     *identity.Key
	store   *store.Store
	machine *contract.Machine
	seq     orderer
	cmt     *cometbft.Node // consortium mode only
	metrics *metrics
	api     *api.Server
	fhir    *fhirParts // nil when the genesis has no system member for this node
	handler http.Handler

	closeOnce sync.Once
	closeErr  error
}

// hotPrefixes are the state prefixes whose latest values the store keeps
// in memory: read on every transaction (members, policies) or on every
// FHIR access (record heads, the version keys of patients' access
// facts). The cache is bounded (see store.Options).
var hotPrefixes = [][]byte{[]byte("members/"), []byte("policy/"), []byte("records/h/"), []byte("consent/v/")}

// NewMachine returns the contract machine for a chain: every contract this
// build ships, with its policies.
func NewMachine(chainID string) (*contract.Machine, error) {
	return contract.NewMachine(chainID, policy.NewEngine(policy.Options{}), members.Contract{}, notary.Contract{}, records.Contract{},
		consent.Contract{}, audit.Contract{}, models.Contract{}, alerts.Contract{})
}

// GenesisState returns the state changes a genesis establishes and the
// parent of block 1.
func GenesisState(doc *genesis.Doc) ([]ledger.Change, chain.Parent, error) {
	cs, err := members.GenesisChanges(doc)
	if err != nil {
		return nil, chain.Parent{}, err
	}
	gh := doc.Hash()
	return cs, chain.Parent{Hash: gh, AppHash: chain.GenesisAppHash(gh, cs), Height: 0, Time: doc.GenesisTime.UnixNano()}, nil
}

// Open opens the node in cfg.Home: it loads the genesis and the node key,
// opens (and on first start initialises) the ledger, and prepares the
// sequencer and API. Call Start, then Serve.
func Open(cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := home.Home{Dir: cfg.Home}
	if err := h.Check(); err != nil {
		return nil, err
	}
	doc, err := genesis.Load(h.Genesis())
	if err != nil {
		return nil, err
	}
	key, err := h.LoadSigner(h.NodeKey(), cfg.MasterKeyEnv)
	if err != nil {
		return nil, fmt.Errorf("node key: %w", err)
	}
	mode, err := consensusMode(cfg.Consensus, doc)
	if err != nil {
		return nil, err
	}
	if _, ok := doc.ValidatorByKeyID(key.KeyID()); !ok {
		if mode == genesis.ConsensusSolo {
			return nil, fmt.Errorf("node key %s is not a validator in %s", key.KeyID(), h.Genesis())
		}
		log.Info("this node's key is not a validator in the genesis: running as a full node", "node_key", key.KeyID())
	}
	machine, err := NewMachine(doc.ChainID)
	if err != nil {
		return nil, err
	}
	changes, parent, err := GenesisState(doc)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(store.Options{Dir: h.Ledger(), Logger: log, HotPrefixes: hotPrefixes})
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, home: h, log: log, genesis: doc, key: key, store: st, machine: machine}
	if err := n.initGenesis(changes); err != nil {
		st.Close()
		return nil, err
	}
	n.metrics = newMetrics(st)
	beforeCommit := func() error {
		if n.fhir != nil {
			return n.fhir.store.Sync()
		}
		return nil
	}
	if mode == genesis.ConsensusCometBFT {
		err = n.openCometBFT(parent, beforeCommit)
	} else {
		n.seq, err = solo.New(solo.Config{
			MaxTxs: cfg.Solo.MaxTxs, MaxDelay: time.Duration(cfg.Solo.MaxDelay), QueueSize: cfg.Solo.QueueSize,
		}, solo.Deps{
			ChainID: doc.ChainID, Store: st, Machine: machine, Signer: key, Genesis: parent,
			Logger: log, Observer: n.metrics, BeforeCommit: beforeCommit,
		})
	}
	if err != nil {
		st.Close()
		return nil, err
	}
	seq := n.seq
	n.metrics.queue = seq.Queued
	n.api = api.New(api.Config{
		MaxBatch: cfg.API.MaxBatch, MaxBodyBytes: cfg.API.MaxBodyBytes, CommitTimeout: time.Duration(cfg.API.CommitTimeout),
	}, api.Deps{
		ChainID: doc.ChainID, NodeKeyID: key.KeyID(), NodeKey: key.Public(), Store: st, Submitter: seq,
		Machine: machine, Metrics: promhttp.HandlerFor(n.metrics.reg, promhttp.HandlerOpts{}),
		Ready: n.Ready, Logger: log, Observe: n.metrics.observeHTTP,
	})
	if err := n.openFHIR(); err != nil {
		seq.Close()
		st.Close()
		return nil, err
	}
	if err := n.sweepFHIR(); err != nil {
		seq.Close()
		n.closeFHIR()
		st.Close()
		return nil, err
	}
	n.handler = n.rootHandler()
	return n, nil
}

func (n *Node) closeFHIR() {
	if n.fhir != nil {
		n.stopMonitor()
		if n.fhir.api != nil {
			n.fhir.api.Close()
		}
		if n.fhir.audits != nil {
			n.fhir.audits.close()
		}
		n.fhir.store.Close()
	}
}

func (n *Node) initGenesis(changes []ledger.Change) error {
	canon := n.genesis.Canonical()
	stored, err := n.store.Genesis()
	if errors.Is(err, store.ErrNotFound) {
		n.log.Info("initialising ledger from genesis", "chain_id", n.genesis.ChainID, "genesis_hash", n.genesis.Hash().String())
		return n.store.InitGenesis(canon, changes)
	}
	if err != nil {
		return err
	}
	if string(stored) != string(canon) {
		return fmt.Errorf("%s differs from the genesis this ledger was created with; restore the original file", n.home.Genesis())
	}
	return nil
}

// orderer is what the node needs from its ordering mode:
// *solo.Sequencer, or the CometBFT node (cometOrderer).
type orderer interface {
	Start()
	Submit(ctx context.Context, raw []byte) (solo.Receipt, error)
	SubmitBatch(ctx context.Context, raws [][]byte) []solo.Result
	Err() error
	Queued() int
	Close()
}

var _ orderer = (*solo.Sequencer)(nil)

// Start starts the sequencer, or joins the CometBFT network. A failure to
// start is reported by Ready (and Serve).
func (n *Node) Start() { n.seq.Start() }

// Ready returns nil when the node accepts transactions.
func (n *Node) Ready() error { return n.seq.Err() }

// Handler returns the node's HTTP handler.
func (n *Node) Handler() http.Handler { return n.handler }

// Store returns the ledger store (for in-process tools such as bench).
func (n *Node) Store() *store.Store { return n.store }

// Submit submits one encoded transaction and waits for its receipt.
func (n *Node) Submit(ctx context.Context, raw []byte) (solo.Receipt, error) {
	return n.seq.Submit(ctx, raw)
}

// SubmitBatch submits many transactions and waits for all outcomes.
func (n *Node) SubmitBatch(ctx context.Context, raws [][]byte) []solo.Result {
	return n.seq.SubmitBatch(ctx, raws)
}

// Genesis returns the genesis document.
func (n *Node) Genesis() *genesis.Doc { return n.genesis }

// KeyID returns the node key's id.
func (n *Node) KeyID() string { return n.key.KeyID() }

// Validators returns, in consortium mode, the validator set that voted on
// the last block this node finalised (key id → voting power); nil in solo
// mode.
func (n *Node) Validators() map[string]int64 {
	if n.cmt == nil {
		return nil
	}
	return n.cmt.Validators()
}

// Serve serves HTTP on ln and the admin socket until ctx is done, then
// shuts down gracefully (in-flight requests get up to 10s).
func (n *Node) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           n.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(n.log.Handler(), slog.LevelWarn),
	}
	if err := n.seq.Err(); err != nil && n.cmt != nil {
		return err // consortium mode did not start
	}
	admin, err := n.listenAdmin()
	if err != nil {
		return err
	}
	go func() {
		// Others share patients' data keys with this organisation once
		// its encryption key is on the ledger.
		if err := n.PublishOrgKey(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("the organisation's encryption key was not published; consents cannot share keys with it yet", "err", err)
		}
		if n.fhir != nil && n.fhir.audits != nil {
			if err := n.StartMonitor(ctx, 0); err != nil && ctx.Err() == nil {
				n.log.Warn("the access monitor did not start: no alerts will be raised", "err", err)
			}
		}
	}()
	errc := make(chan error, 2)
	if n.cfg.TLSCert != "" {
		go func() { errc <- srv.ServeTLS(ln, n.cfg.TLSCert, n.cfg.TLSKey) }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}
	go func() { errc <- admin.Serve() }()
	var failed <-chan struct{} // never closed in solo mode
	if n.cmt != nil {
		failed = n.cmt.Failed()
	}
	var stopErr error
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			n.log.Error("server stopped", "err", err)
		}
	case <-failed:
		// Refuse to go on silently: a node that diverged from the
		// network (or cannot write its ledger) stops serving.
		stopErr = fmt.Errorf("consensus stopped: %w", n.cmt.Err())
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	admin.Close()
	if err := srv.Shutdown(sctx); stopErr == nil {
		stopErr = err
	}
	return stopErr
}

// Close stops the sequencer and closes the store.
// Close stops the sequencer and closes the stores. It may be called more
// than once.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.seq.Close()
		n.closeFHIR()
		n.closeErr = n.store.Close()
	})
	return n.closeErr
}

// Checkpoint writes a consistent copy of the ledger database to dir.
func (n *Node) Checkpoint(dir string) error { return n.store.Checkpoint(dir) }

func removeStale(path string) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
}
