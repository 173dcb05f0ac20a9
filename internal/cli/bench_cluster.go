package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/node"
)

func newBenchClusterCmd(g *globals) *cobra.Command {
	var o node.ClusterBenchOptions
	var asJSON, noSolo bool
	var timeoutCommit time.Duration
	var cpuProfile string
	c := &cobra.Command{
		Use:   "cluster [--validators N] [--txs N] [--clients M] [--batch K] [--json]",
		Short: "Consortium-mode throughput and latency: N CometBFT validators in this process, on loopback",
		Long: "bench cluster creates a CometBFT network of N validators (one organisation each) in a temporary\n" +
			"directory and runs all of them in this process, each with its own home, ledger and CometBFT node,\n" +
			"talking over loopback TCP. Clients submit pre-signed notary anchors in batches, spread over the\n" +
			"validators; each is answered once its block is finalised by consensus and durable on the node it\n" +
			"was submitted to. The same number of transactions is then run through solo mode (bench ledger)\n" +
			"for comparison, reported under \"solo\".",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Solo = !noSolo
			o.CometBFT.TimeoutCommit = node.Duration(timeoutCommit)
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			upd, fin := progress(g.stderr, "bench cluster")
			o.Progress = upd
			res, err := node.BenchCluster(c.Context(), o)
			fin()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "%d validators in one process, %d cores, timeout_commit %.0f ms\n  %d txs by %d clients (batches of %d) in %.2fs\n  throughput: %.0f tx/s (finalised and durable)\n  latency:    p50 %.1f ms, p99 %.1f ms, max %.1f ms\n  blocks:     %d (%.0f txs each), consistent: %v\n",
				res.Validators, res.Cores, res.TimeoutCommitMs, res.Txs, res.Clients, res.Batch, res.Seconds, res.TxPerS, res.P50ms, res.P99ms, res.MaxMs, res.Blocks, res.AvgBlockTxs, res.Consistent)
			if res.Failed > 0 {
				fmt.Fprintf(g.stdout, "  failed:     %d\n", res.Failed)
			}
			if s := res.Solo; s != nil {
				fmt.Fprintf(g.stdout, "solo mode, same load size:\n  throughput: %.0f tx/s\n  latency:    p50 %.1f ms, p99 %.1f ms\n", s.TxPerS, s.P50ms, s.P99ms)
			}
			return nil
		},
	}
	c.Flags().IntVar(&o.Validators, "validators", 4, "validators (one organisation each)")
	c.Flags().IntVar(&o.Txs, "txs", 60000, "transactions to submit")
	c.Flags().IntVar(&o.Clients, "clients", 80, "concurrent clients")
	c.Flags().IntVar(&o.Batch, "batch", 50, "transactions per submission")
	c.Flags().DurationVar(&timeoutCommit, "timeout-commit", 0, "CometBFT timeout_commit of every validator (default 100ms)")
	c.Flags().IntVar(&o.CometBFT.MempoolSize, "mempool-size", 0, "mempool size of every validator (default 50000)")
	c.Flags().BoolVar(&noSolo, "no-solo", false, "skip the solo-mode comparison")
	c.Flags().StringVar(&o.Dir, "dir", "", "keep the network's homes here (default: temporary, removed)")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}
