package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/node"
)

func newTestnetCmd(g *globals) *cobra.Command {
	var o node.TestnetOptions
	var asJSON bool
	c := &cobra.Command{
		Use:   "testnet --validators N --dir DIR",
		Short: "Write a ready-to-run CometBFT consortium on this machine (one home per organisation)",
		Long: "testnet writes DIR/node0 ... DIR/node<N-1>: each a node home with its own organisation, keys and\n" +
			"config.json (HTTP on 127.0.0.<i+1>:8740, CometBFT P2P on :26656 and RPC on :26657 of the same\n" +
			"address, the other nodes as persistent peers), all sharing one genesis that lists every\n" +
			"organisation, its admin and service members, and its validator. Start the nodes one by one with\n" +
			"medledger serve --home DIR/node<i>, or all at once with medledger testnet up --dir DIR.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if o.Dir == "" {
				return errors.New("--dir is required")
			}
			nodes, doc, err := node.Testnet(o)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, map[string]any{"dir": o.Dir, "chain_id": doc.ChainID, "genesis_hash": doc.Hash(), "nodes": nodes})
			}
			fmt.Fprintf(g.stdout, "Wrote a %d-validator CometBFT network in %s\n  chain: %s (genesis %s)\n", len(nodes), o.Dir, doc.ChainID, doc.Hash())
			for _, n := range nodes {
				fmt.Fprintf(g.stdout, "  %-6s %-5s http://%s  p2p %s@%s\n", filepath.Base(n.Home), n.Org, n.HTTP, n.NodeID, n.P2P)
			}
			fmt.Fprintf(g.stdout, "Start all nodes:  medledger testnet up --dir %s\n", o.Dir)
			fmt.Fprintf(g.stdout, "or each one:      medledger serve --home %s\n", filepath.Join(o.Dir, "node0"))
			fmt.Fprintf(g.stdout, "Each organisation's admin key is in DIR/node<i>/keys/members/org<i>~admin.key.\n")
			return nil
		},
	}
	c.Flags().IntVar(&o.Validators, "validators", 4, "number of organisations, each running one validator")
	c.Flags().StringVar(&o.Dir, "dir", "", "directory to write the node homes into")
	c.Flags().StringVar(&o.ChainID, "chain-id", "", "chain id (default medledger-testnet)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.AddCommand(newTestnetUpCmd(g))
	return c
}

func newTestnetUpCmd(g *globals) *cobra.Command {
	var dir, logLevel string
	c := &cobra.Command{
		Use:   "up --dir DIR",
		Short: "Start every node of a testnet as a child process; Ctrl-C stops them all cleanly",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			homes, err := testnetHomes(dir)
			if err != nil {
				return err
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			return runChildren(c.Context(), g.stderr, exe, homes, logLevel)
		},
	}
	c.Flags().StringVar(&dir, "dir", "", "directory written by medledger testnet")
	c.Flags().StringVar(&logLevel, "node-log-level", "info", "log level of the nodes")
	return c
}

// testnetHomes lists the node homes under dir, in order.
func testnetHomes(dir string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("--dir is required")
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var homes []string
	for _, e := range ents {
		h := home.Home{Dir: filepath.Join(dir, e.Name())}
		if e.IsDir() && strings.HasPrefix(e.Name(), "node") && h.Check() == nil {
			homes = append(homes, h.Dir)
		}
	}
	if len(homes) == 0 {
		return nil, fmt.Errorf("%s holds no node homes (create them with medledger testnet --dir %s)", dir, dir)
	}
	sort.Slice(homes, func(i, j int) bool {
		a, b := filepath.Base(homes[i]), filepath.Base(homes[j])
		return len(a) < len(b) || len(a) == len(b) && a < b
	})
	return homes, nil
}

// runChildren runs "exe serve --home H" for every home, prefixing each
// line of their logs with the home's name, until ctx ends or a node exits;
// then it interrupts the others and waits for them (killing any that
// has not stopped after 20s).
func runChildren(ctx context.Context, logs io.Writer, exe string, homes []string, logLevel string) error {
	var mu sync.Mutex // serialises lines from the children
	type exit struct {
		name string
		err  error
	}
	exits := make(chan exit, len(homes))
	var cmds []*exec.Cmd
	var pipes sync.WaitGroup
	stopAll := func() {
		for _, cmd := range cmds {
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	for _, h := range homes {
		name := filepath.Base(h)
		cmd := exec.Command(exe, "serve", "--home", h, "--log-level", logLevel, "--log-format", "text")
		cmd.Env = os.Environ()
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			stopAll()
			return fmt.Errorf("start %s: %w", name, err)
		}
		cmds = append(cmds, cmd)
		pipes.Go(func() {
			sc := bufio.NewScanner(out)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				mu.Lock()
				fmt.Fprintf(logs, "[%s] %s\n", name, sc.Text())
				mu.Unlock()
			}
		})
		go func() { exits <- exit{name, cmd.Wait()} }()
	}
	fmt.Fprintf(logs, "started %d nodes; Ctrl-C stops them\n", len(cmds))
	var first error
	running := len(cmds)
	select {
	case <-ctx.Done():
	case e := <-exits:
		running--
		first = fmt.Errorf("%s exited: %v", e.name, e.err)
		fmt.Fprintf(logs, "%v; stopping the others\n", first)
	}
	stopAll()
	kill := time.AfterFunc(20*time.Second, func() {
		for _, cmd := range cmds {
			cmd.Process.Kill()
		}
	})
	defer kill.Stop()
	for ; running > 0; running-- {
		if e := <-exits; e.err != nil && first == nil && ctx.Err() == nil {
			first = fmt.Errorf("%s exited: %v", e.name, e.err)
		}
	}
	pipes.Wait()
	fmt.Fprintln(logs, "all nodes stopped")
	return first
}

func newJoinCmd(g *globals) *cobra.Command {
	var dir, genesisFile string
	var asJSON bool
	c := &cobra.Command{
		Use:   "join --genesis FILE --home DIR",
		Short: "Create a home for a full node (not a validator) of an existing consortium network",
		Long: "join creates a node home with a master key, a node key and a copy of the network's genesis, and\n" +
			"prints the node's P2P id. List some of the network's nodes as cometbft.peers in DIR/config.json\n" +
			"and start it with medledger serve: it syncs every block from genesis, re-executes it and checks\n" +
			"its app hash against the network's.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if genesisFile == "" {
				return errors.New("--genesis is required")
			}
			doc, err := genesis.Load(genesisFile)
			if err != nil {
				return err
			}
			env := os.Getenv("MEDLEDGER_MASTER_KEY")
			pub, err := home.InitJoin(dir, doc, env)
			if err != nil {
				return err
			}
			id, err := node.NodeID(home.Home{Dir: dir}, env)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, map[string]any{"home": dir, "chain_id": doc.ChainID, "genesis_hash": doc.Hash(), "node_public_key": identity.EncodePublicKey(pub), "p2p_node_id": id})
			}
			fmt.Fprintf(g.stdout, "Initialised %s to join %s (genesis %s) as a full node\n  node key: %s\n  p2p id:   %s\nList peers as cometbft.peers in %s, then: medledger serve --home %s\n",
				dir, doc.ChainID, doc.Hash(), identity.EncodePublicKey(pub), id, home.Home{Dir: dir}.Config(), dir)
			return nil
		},
	}
	homeFlag(c, &dir, true)
	c.Flags().StringVar(&genesisFile, "genesis", "", "the network's genesis.json")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

func newNodeIDCmd(g *globals) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "node-id --home DIR",
		Short: "Print the node's CometBFT P2P id (what peers write before '@' in cometbft.peers)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			id, err := node.NodeID(home.Home{Dir: dir}, os.Getenv("MEDLEDGER_MASTER_KEY"))
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, id)
			return nil
		},
	}
	homeFlag(c, &dir, true)
	return c
}
