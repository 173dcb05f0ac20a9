package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/node"
)

func newBenchCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "bench",
		Short: "Measure performance (see the README's Performance section)",
	}
	c.AddCommand(newBenchLedgerCmd(g), newBenchFHIRCmd(g), newBenchClusterCmd(g))
	return c
}

func newBenchLedgerCmd(g *globals) *cobra.Command {
	var o node.BenchOptions
	var asJSON, noVerify bool
	var maxTxs int
	var maxDelay time.Duration
	var cpuProfile, memProfile string
	c := &cobra.Command{
		Use:   "ledger [--txs N] [--clients M] [--json]",
		Short: "Durable, signature-verified transaction throughput and commit latency",
		Long: "bench ledger starts a node in a temporary home, enrols one member per client, signs N notary\n" +
			"transactions before the clock starts (as clients sign on their own machines), then has M clients\n" +
			"submit them concurrently. Each is acknowledged only after its block is fsynced; the node verifies\n" +
			"every signature. Afterwards the ledger is verified offline and that speed is reported too.\n" +
			"--duration runs a sustained load instead, with clients signing as they go, and samples memory.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Verify = !noVerify
			o.Solo = node.SoloConfig{MaxTxs: maxTxs, MaxDelay: node.Duration(maxDelay)}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			upd, fin := progress(g.stderr, "benchmark")
			o.Progress = upd
			if memProfile != "" {
				o.AtEnd = func() error {
					f, err := os.Create(memProfile)
					if err != nil {
						return err
					}
					defer f.Close()
					runtime.GC()
					return pprof.WriteHeapProfile(f)
				}
			}
			res, err := node.Bench(c.Context(), o)
			fin()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "%d txs by %d clients (%s) in %.2fs on %d cores\n  throughput: %.0f tx/s (durable, signatures verified)\n  latency:    p50 %.1f ms, p99 %.1f ms, max %.1f ms\n  blocks:     %d (%.0f txs each)\n",
				res.Txs, res.Clients, res.Transport, res.Seconds, res.Cores, res.TxPerS, res.P50ms, res.P99ms, res.MaxMs, res.Blocks, res.AvgBlockTxs)
			if res.VerifyTxPerS > 0 {
				fmt.Fprintf(g.stdout, "  verify:     %.0f tx/s (re-hash, signatures, re-execution)\n", res.VerifyTxPerS)
			}
			if len(res.RSSMB) > 1 {
				fmt.Fprintf(g.stdout, "  memory:     RSS %.0f MB → %.0f MB, heap %.0f MB → %.0f MB\n", res.RSSMB[0], res.RSSMB[len(res.RSSMB)-1], res.HeapMB[0], res.HeapMB[len(res.HeapMB)-1])
			}
			if res.Failed > 0 {
				fmt.Fprintf(g.stdout, "  failed:     %d\n", res.Failed)
			}
			return nil
		},
	}
	c.Flags().IntVar(&o.Txs, "txs", 200000, "transactions to submit")
	c.Flags().IntVar(&o.Clients, "clients", 1000, "concurrent clients")
	c.Flags().BoolVar(&o.HTTP, "http", false, "submit over loopback HTTP (POST /v1/txs batches) instead of in process")
	c.Flags().IntVar(&o.Batch, "batch", 50, "transactions per HTTP request with --http")
	c.Flags().DurationVar(&o.Duration, "duration", 0, "run a sustained load for this long (clients sign as they go)")
	c.Flags().StringVar(&o.Dir, "home", "", "keep the benchmark's home here (default: temporary, removed)")
	c.Flags().BoolVar(&noVerify, "no-verify", false, "skip verifying the ledger afterwards")
	c.Flags().IntVar(&maxTxs, "max-txs", 0, "most transactions per block (default 2000)")
	c.Flags().DurationVar(&maxDelay, "max-delay", 0, "longest wait to fill a block (default 2ms)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	c.Flags().StringVar(&memProfile, "memprofile", "", "write a heap profile, taken at the end of the load (node still open), to this file")
	return c
}

func newBenchFHIRCmd(g *globals) *cobra.Command {
	var o node.FHIRBenchOptions
	var asJSON bool
	var cpuProfile string
	c := &cobra.Command{
		Use:   "fhir [--patients N] [--creates N] [--reads N] [--searches N] [--clients M] [--auth] [--json]",
		Short: "FHIR API throughput and latency over loopback HTTP (import, create, read, search)",
		Long: "bench fhir starts a node in a temporary home, imports synthetic patients as transaction Bundles,\n" +
			"then has concurrent clients create Observations, read resources by id and search. Every write is\n" +
			"validated, encrypted, anchored on the ledger and durable before it is answered.\n\n" +
			"With --auth every request carries an access token and is decided by the access rules, and every\n" +
			"access leaves an AuditEvent on the ledger before it is answered; reads and searches are then a\n" +
			"practitioner's, allowed by an in-progress encounter at each patient.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			upd, fin := progress(g.stderr, "bench fhir")
			o.Progress = func(_ string, d, t int) { upd(d, t) }
			res, err := node.BenchFHIR(c.Context(), o)
			fin()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			mode := "no authentication"
			if res.Auth {
				mode = fmt.Sprintf("tokens + access decisions + %d audit events on the ledger", res.AuditEvents)
			}
			fmt.Fprintf(g.stdout, "FHIR over HTTP (%s), %d clients, %d cores\n  import:  %d patients (%d resources) in %.1fs\n  creates: %.0f/s (p99 %.1f ms)\n  reads:   %.0f/s (p50 %.2f ms, p99 %.2f ms)\n  search:  p50 %.2f ms, p99 %.2f ms over %d resources\n",
				mode, res.Clients, res.Cores, res.ImportPatients, res.ImportResources, res.ImportSeconds, res.CreatesPerS, res.CreateP99ms, res.ReadsPerS, res.ReadP50ms, res.ReadP99ms, res.SearchP50ms, res.SearchP99ms, res.SearchResources)
			if res.Failed > 0 {
				fmt.Fprintf(g.stdout, "  failed:  %d requests\n", res.Failed)
			}
			return nil
		},
	}
	c.Flags().IntVar(&o.Patients, "patients", 1000, "synthetic patients to import first")
	c.Flags().IntVar(&o.Creates, "creates", 20000, "single-resource creates")
	c.Flags().IntVar(&o.Reads, "reads", 50000, "reads by id")
	c.Flags().IntVar(&o.Searches, "searches", 2000, "searches")
	c.Flags().IntVar(&o.Clients, "clients", 64, "concurrent HTTP clients (import, create, read)")
	c.Flags().IntVar(&o.SearchClients, "search-clients", 8, "concurrent clients in the search phase")
	c.Flags().BoolVar(&o.Auth, "auth", false, "authenticate, decide and audit every request")
	c.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	c.Flags().StringVar(&o.Dir, "home", "", "keep the benchmark's home here (default: temporary, removed)")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return c
}

// startCPUProfile writes a CPU profile to path until stop is called; an
// empty path profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
