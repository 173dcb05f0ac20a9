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

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/demo"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
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
			doc, err := genesis.Load(h.Genesis())
			if err != nil {
				return err
			}
			cfg.DemoUsers = demoUsers(doc)
			quiet := log
			if !c.Flags().Changed("log-level") {
				quiet = nil // keep the demo's screen for the demo
			}
			// Listen first: the node's public URL (token issuer and the
			// dashboard's sign-in redirect) must name the port it serves.
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
				cfg.Addr = ln.Addr().String()
			}
			n, err := node.Open(cfg, quiet)
			if err != nil {
				if ln != nil {
					ln.Close()
				}
				return err
			}
			defer n.Close()
			n.Start()
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
					if sum.Patients, sum.SamplePatient, sum.SamplePatientName, err = loadPatients(c.Context(), g, n, patients); err != nil {
						return fmt.Errorf("loading synthetic patients: %w", err)
					}
					if err := enrolDemoUsers(c.Context(), n, h, cfg, sum.SamplePatient); err != nil {
						return fmt.Errorf("enrolling the demo users: %w", err)
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
// It returns how many were loaded, the first patient's id, and the first
// three letters of their family name (for the printed search example).
func loadPatients(ctx context.Context, g *globals, n *node.Node, count int) (int, string, string, error) {
	gen, err := synth.New(synth.Options{N: count, Seed: 1})
	if err != nil {
		return 0, "", "", err
	}
	upd, fin := progress(g.stderr, "loading synthetic patients")
	defer fin()
	first, name := "", ""
	for i := range count {
		b, _ := gen.Patient(i)
		status, body := n.ApplyBundle(ctx, b)
		if status != http.StatusOK {
			return i, first, name, fmt.Errorf("patient %d: status %d", i+1, status)
		}
		if first == "" {
			name = familyPrefix(b)
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
	return count, first, name, nil
}

// familyPrefix returns the first three letters of the family name of the
// Patient in a transaction Bundle, lower-case; "" if none.
func familyPrefix(bundle []byte) string {
	var b struct {
		Entry []struct {
			Resource struct {
				ResourceType string          `json:"resourceType"`
				Name         json.RawMessage `json:"name"` // a string in other resources
			} `json:"resource"`
		} `json:"entry"`
	}
	if json.Unmarshal(bundle, &b) != nil {
		return ""
	}
	for _, e := range b.Entry {
		var names []struct {
			Family string `json:"family"`
		}
		if e.Resource.ResourceType == "Patient" && json.Unmarshal(e.Resource.Name, &names) == nil && len(names) > 0 {
			f := []rune(strings.ToLower(names[0].Family))
			return string(f[:min(3, len(f))])
		}
	}
	return ""
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
		org := n.Genesis().Orgs[0].ID
		fmt.Fprintf(w, "  API:     %s\n", base)
		fmt.Fprintf(w, "  web:     %s/ (sign in as a demo patient, clinician, privacy officer or admin)\n\nTry:\n", base)
		auth := `-H "Authorization: Bearer $TOKEN" `
		tokenAddr := "" // the token's audience must name the port the demo serves
		if a := strings.TrimPrefix(base, "http://"); a != node.DefaultAddr {
			tokenAddr = " --addr " + a
		}
		for _, l := range []string{
			"TOKEN=$(" + progName() + " token --home " + dir + tokenAddr + " --scope 'system/*.rs')   # the admin's backend token; 5 minutes",
			"curl -s " + base + "/v1/status",
			"curl -s " + base + "/v1/blocks/latest",
			"curl -s " + base + "/v1/sth                      # the signed tree head",
			"curl -s " + base + "/v1/tx/" + tx + "   # a tx, its receipt and inclusion proof",
			"curl -s " + base + "/v1/members/" + strings.ReplaceAll(n.Genesis().Members[0].ID, " ", "%20"),
			"curl -s " + base + "/metrics | grep ^medledger_",
			"curl -s " + base + "/fhir/metadata",
			"curl -s " + auth + "'" + base + "/fhir/Patient?name=" + samplePatientName(sum) + "&_count=3'",
			"curl -s " + auth + "'" + base + "/fhir/Observation?patient=" + samplePatient(sum) + "&code=http://loinc.org|29463-7&_sort=-date'",
			"curl -s " + auth + "'" + base + "/fhir/Patient/" + samplePatient(sum) + "/_history/1/$verify'   # stored = anchored, with proof",
			"curl -s -o /dev/null -w '%{http_code}\\n' " + base + "/fhir/Patient   # no token: 401",
			"TOKEN=$(" + progName() + " token --home " + dir + tokenAddr + " --as " + org + "/demo-patient --scope 'patient/*.rs')",
			"curl -s " + auth + "'" + base + "/fhir/AuditEvent?patient=" + samplePatient(sum) + "'   # who looked at my record",
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

// demoUsers are the members the demo's sign-in page offers.
func demoUsers(doc *genesis.Doc) []auth.DemoUser {
	org := doc.Orgs[0].ID
	return []auth.DemoUser{
		{Member: org + "/demo-patient", Label: "Patient (the sample patient)"},
		{Member: org + "/demo-clinician", Label: "Clinician (no access until the patient consents or declares care)"},
		{Member: org + "/privacy-officer", Label: "Privacy officer (auditor)"},
		{Member: doc.Members[0].ID, Label: "Administrator"},
	}
}

// enrolDemoUsers enrols the demo's patient (the sample patient's member),
// clinician (with a Practitioner resource of their own) and privacy
// officer, with fresh keys kept in the home.
func enrolDemoUsers(ctx context.Context, n *node.Node, h home.Home, cfg node.Config, patient string) error {
	doc := n.Genesis()
	org := doc.Orgs[0].ID
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Practitioner","id":"demo-clinician",` +
		`"name":[{"family":"Demo","given":["Clinician"]}]},"request":{"method":"PUT","url":"Practitioner/demo-clinician"}}]}`
	if st, body := n.ApplyBundle(ctx, []byte(bundle)); st != http.StatusOK {
		return fmt.Errorf("demo practitioner: %d %.200s", st, body)
	}
	admin, err := h.LoadSigner(h.MemberKey(doc.Members[0].ID), cfg.MasterKeyEnv)
	if err != nil {
		return err
	}
	mk, err := h.MasterKeyValue(cfg.MasterKeyEnv)
	if err != nil {
		return err
	}
	var raws [][]byte
	for _, u := range []struct{ name, role, fhirUser string }{
		{"demo-patient", "patient", "Patient/" + patient},
		{"demo-clinician", "practitioner", "Practitioner/demo-clinician"},
		{"privacy-officer", "auditor", ""},
	} {
		k, err := identity.GenerateKey()
		if err != nil {
			return err
		}
		id := org + "/" + u.name
		if err := identity.WriteKeyFile(h.MemberKey(id), k, identity.MasterKey(mk)); err != nil {
			return err
		}
		p, _ := json.Marshal(members.Enrol{ID: id, Org: org, Roles: []string{u.role}, PublicKey: identity.EncodePublicKey(k.Public()), FHIRUser: u.fhirUser})
		raw, _, err := client.Sign(client.Tx{ChainID: doc.ChainID, Contract: "members", Method: "enrol", Payload: p, Signer: doc.Members[0].ID}, admin)
		if err != nil {
			return err
		}
		raws = append(raws, raw)
	}
	for _, r := range n.SubmitBatch(ctx, raws) {
		if r.Err != nil {
			return r.Err
		}
		if r.Receipt.Result.Code != ledger.CodeOK {
			return fmt.Errorf("enrol: %s", r.Receipt.Result.Message)
		}
	}
	return nil
}
