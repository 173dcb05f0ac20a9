package cli

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/node"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var dir, sthFile string
	var asJSON bool
	c := &cobra.Command{
		Use:   "verify --home DIR [--json] [--sth FILE]",
		Short: "Re-check the whole ledger offline: hashes, links, signatures, Merkle roots, re-execution",
		Long: "verify re-hashes every block, checks links, block and transaction signatures and Merkle roots,\n" +
			"re-executes every transaction from genesis and compares app hashes, then checks the stored state\n" +
			"and indexes. It exits 1 naming the first bad height and what is wrong.\n" +
			"If a node is serving the home, a consistent snapshot is verified without stopping it.\n" +
			"--sth FILE (as written by medledger proof --save-sth) also checks that history a client\n" +
			"once saw was not removed or rewritten.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o := node.VerifyOptions{}
			if sthFile != "" {
				t, err := readTrusted(sthFile)
				if err != nil {
					return err
				}
				o.Trusted = &node.TreeHead{Size: t.Size, Root: t.Root}
			}
			upd, fin := progress(g.stderr, "verifying blocks")
			o.Progress = func(done, last uint64) { upd(int(done), int(last)) }
			rep, err := node.VerifyHome(c.Context(), home.Home{Dir: dir}, o)
			fin()
			if err != nil {
				return err
			}
			if asJSON {
				if err := printJSON(g.stdout, rep); err != nil {
					return err
				}
			} else if rep.OK {
				fmt.Fprintf(g.stdout, "ledger OK: %d blocks, %d transactions, %d state versions verified in %.2fs (%.0f tx/s)\n  app hash:   %s\n  txlog root: %s\n",
					rep.Height, rep.Txs, rep.StateVersions, rep.Seconds, rep.TxPerSec, rep.AppHash, rep.TxLogRoot)
			} else {
				fmt.Fprintf(g.stdout, "ledger FAILED verification at height %d: %s: %s\n", rep.Problem.Height, rep.Problem.Kind, rep.Problem.What)
			}
			if !rep.OK {
				return &exitError{code: 1}
			}
			return nil
		},
	}
	homeFlag(c, &dir, true)
	c.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.Flags().StringVar(&sthFile, "sth", "", "a saved, verified tree head the ledger must contain")
	return c
}

// savedHead is a verified tree head saved by medledger proof --save-sth.
type savedHead struct {
	ChainID string    `json:"chain_id"`
	Height  uint64    `json:"height"`
	Size    uint64    `json:"tree_size"`
	Root    node.Hash `json:"root_hash"`
}

func readTrusted(path string) (*savedHead, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t savedHead
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: not a saved tree head: %v", path, err)
	}
	return &t, nil
}
