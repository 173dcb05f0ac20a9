package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/demo"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
	"github.com/medledger/medledger/internal/synth"
)

func newDemoCmd(g *globals) *cobra.Command {
	var dir string
	var loadOnly, asJSON bool
	var docs, patients int
	var f nodeFlags
	c := &cobra.Command{
		Use:   "demo [--home DIR] [--load-only]",
		Short: "Start a node with demo data in a temporary home, and show where to look",
		Long: "demo initialises a home (a temporary one unless --home is given), starts a node, loads a few\n" +
			"hundred signed demo transactions and prints URLs and commands to explore them.\n" +
			"With --load-only it writes the data and exits, leaving a ledger to inspect and verify.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			if dir == "" {
				if dir, err = os.MkdirTemp("", "medledger-demo-"); err != nil {
					return err
				}
			}
			h := home.Home{Dir: dir}
			if h.Check() != nil {
				if _, err := home.Init(dir, home.InitOptions{MasterKeyEnv: os.Getenv("MEDLEDGER_MASTER_KEY")}); err != nil {
					return err
				}
			}
			cfg, err := loadConfig(c, dir, &f)
			if err != nil {
				return err
			}
			quiet := log
			if !c.Flags().Changed("log-level") {
				quiet = nil // keep the demo's screen for the demo
			}
			n, err := node.Open(cfg, quiet)
			if err != nil {
				return err
			}
			defer n.Close()
			n.Start()
			var ln net.Listener
			addr := cfg.Addr
			if !loadOnly {
				if addr == "" {
					addr = node.DefaultAddr
				}
				if ln, err = net.Listen("tcp", addr); err != nil {
					if c.Flags().Changed("addr") {
						return fmt.Errorf("listen on %s: %w", addr, err)
					}
					if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
						return err
					}
				}
			}
			var sum *demo.Summary
			if n.Store().Height() == 0 {
				upd, fin := progress(g.stderr, "loading demo transactions")
				sum, err = demo.Load(c.Context(), demo.Options{
					Home: h, ChainID: n.Genesis().ChainID, AdminID: n.Genesis().Members[0].ID,
					Documents: docs, MasterEnv: cfg.MasterKeyEnv, Progress: upd,
				}, submitter(n))
				fin()
				if err != nil {
					return fmt.Errorf("loading demo data: %w", err)
				}
				if patients > 0 {
					if sum.Patients, sum.SamplePatient, err = loadPatients(c.Context(), g, n, patients); err != nil {
						return fmt.Errorf("loading synthetic patients: %w", err)
					}
				}
			}
			st := n.Store()
			info := map[string]any{
				"home": dir, "chain_id": n.Genesis().ChainID, "genesis_hash": n.Genesis().Hash(),
				"height": st.Height(), "txs": st.Last().Header.TxLogSize,
			}
			base := ""
			if ln != nil {
				base = "http://" + ln.Addr().String()
				info["url"] = base
			}
			if sum != nil {
				info["loaded"] = sum
			}
			if asJSON {
				if err := printJSON(g.stdout, info); err != nil {
					return err
				}
			} else {
				printDemo(g, dir, base, n, sum)
			}
			if loadOnly {
				return nil
			}
			return n.Serve(c.Context(), ln)
		},
	}
	c.Flags().StringVar(&dir, "home", os.Getenv("MEDLEDGER_HOME"), "home directory (default: a new temporary directory)")
	c.Flags().BoolVar(&loadOnly, "load-only", false, "write the demo data into the home and exit")
	c.Flags().IntVar(&docs, "documents", 300, "number of document hashes to anchor")
	c.Flags().IntVar(&patients, "patients", 200, "number of synthetic patients to load through the FHIR API")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.register(c)
	return c
}

func submitter(n *node.Node) demo.Submitter {
	return func(ctx context.Context, raws [][]byte) ([]demo.Outcome, error) {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		res := n.SubmitBatch(ctx, raws)
		out := make([]demo.Outcome, len(res))
		for i, r := range res {
			if r.Err != nil {
				var le *ledger.Error
				if !errors.As(r.Err, &le) {
					return nil, r.Err
				}
				out[i] = demo.Outcome{Code: string(le.Code), Err: r.Err}
				continue
			}
			out[i] = demo.Outcome{Hash: r.Receipt.TxHash, Code: string(r.Receipt.Result.Code), Height: r.Receipt.Height}
		}
		return out, nil
	}
}

// progName is how the user can run this program again: "go run
// ./cmd/medledger" when started by go run (a binary in the go-build cache),
// else "medledger".
func progName() string {
	exe, err := os.Executable()
	if err == nil && strings.Contains(exe, "go-build") {
		return "go run ./cmd/medledger"
	}
	return "medledger"
}

func samplePatient(s *demo.Summary) string {
	if s == nil || s.SamplePatient == "" {
		return "PATIENT_ID"
	}
	return s.SamplePatient
}

func samplePatientName(s *demo.Summary) string {
	if s == nil || s.SamplePatientName == "" {
		return "smi"
	}
	return s.SamplePatientName
}

// loadPatients generates synthetic patients and applies each as a FHIR
// transaction through the node.
func loadPatients(ctx context.Context, g *globals, n *node.Node, count int) (int, string, error) {
	gen, err := synth.New(synth.Options{N: count, Seed: 1})
	if err != nil {
		return 0, "", err
	}
	upd, fin := progress(g.stderr, "loading synthetic patients")
	defer fin()
	first := ""
	for i := range count {
		b, _ := gen.Patient(i)
		status, body := n.ApplyBundle(ctx, b)
		if status != http.StatusOK {
			return i, first, fmt.Errorf("patient %d: status %d", i+1, status)
		}
		if first == "" {
			var resp struct {
				Entry []struct {
					Response struct {
						Location string `json:"location"`
					} `json:"response"`
				} `json:"entry"`
			}
			json.Unmarshal(body, &resp)
			for _, e := range resp.Entry {
				if t, rest, ok := strings.Cut(e.Response.Location, "/"); ok && t == "Patient" {
					first, _, _ = strings.Cut(rest, "/")
					break
				}
			}
		}
		upd(i+1, count)
	}
	return count, first, nil
}

func printDemo(g *globals, dir, base string, n *node.Node, sum *demo.Summary) {
	w := g.stdout
	st := n.Store()
	fmt.Fprintf(w, "\nmedledger demo\n")
	fmt.Fprintf(w, "  home:    %s\n", dir)
	fmt.Fprintf(w, "  chain:   %s (genesis %s)\n", n.Genesis().ChainID, n.Genesis().Hash())
	fmt.Fprintf(w, "  ledger:  %d transactions in %d blocks\n", st.Last().Header.TxLogSize, st.Height())
	if sum != nil {
		fmt.Fprintf(w, "  loaded:  %d transactions (%d members enrolled, a policy set, documents anchored,\n"+
			"           a member re-keyed, one suspended; %d transaction refused by design)\n", sum.Txs, len(sum.Members), sum.Rejected)
		if sum.Patients > 0 {
			fmt.Fprintf(w, "           %d synthetic patients through the FHIR API, each resource validated, encrypted, anchored\n", sum.Patients)
		}
	}
	tx := "TX_HASH"
	if sum != nil {
		tx = sum.SampleTx
	}
	if base != "" {
		fmt.Fprintf(w, "  API:     %s\n\nTry:\n", base)
		for _, l := range []string{
			"curl -s " + base + "/v1/status",
			"curl -s " + base + "/v1/blocks/latest",
			"curl -s " + base + "/v1/sth                      # the signed tree head",
			"curl -s " + base + "/v1/tx/" + tx + "   # a tx, its receipt and inclusion proof",
			"curl -s " + base + "/v1/members/" + strings.ReplaceAll(n.Genesis().Members[0].ID, " ", "%20"),
			"curl -s " + base + "/metrics | grep ^medledger_",
			"curl -s " + base + "/fhir/metadata",
			"curl -s '" + base + "/fhir/Patient?name=" + samplePatientName(sum) + "&_count=3'",
			"curl -s '" + base + "/fhir/Observation?patient=" + samplePatient(sum) + "&code=http://loinc.org|29463-7&_sort=-date'",
			"curl -s '" + base + "/fhir/Patient/" + samplePatient(sum) + "/_history/1/$verify'   # stored = anchored, with proof",
			progName() + " proof --home " + dir + " --node " + base + " --tx " + tx + "   # check the proof yourself",
			progName() + " verify --home " + dir + "   # re-check the whole ledger",
		} {
			fmt.Fprintf(w, "  %s\n", l)
		}
		fmt.Fprintf(w, "\nPress Ctrl-C to stop. The data stays in %s.\n", dir)
		return
	}
	fmt.Fprintf(w, "\nThe ledger is in %s. Next:\n  %s verify --home %s\n  %s serve --home %s\n", dir, progName(), dir, progName(), dir)
}
