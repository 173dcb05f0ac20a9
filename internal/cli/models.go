package cli

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/ai/access"
	"github.com/medledger/medledger/internal/ai/model"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
)

// total sums a map of counts.
func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func newModelsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "models", Short: "Train, register and list AI detector models (see docs/models.md)"}
	c.AddCommand(newModelsTrainCmd(g), newModelsRegisterCmd(g), newModelsListCmd(g), newModelsBuiltinCmd(g))
	return c
}

func newModelsTrainCmd(g *globals) *cobra.Command {
	var f detectFlags
	var out, labelsFile, name, version string
	var o access.TrainOptions
	var asJSON bool
	c := &cobra.Command{
		Use:   "train --in EVENTS.ndjson --context DIR --out MODEL.json",
		Short: "Fit an access-detector model (isolation forest + rule weights) on AuditEvents",
		Long: "models train runs the access detector's baselines over the AuditEvents, fits an isolation forest on a sample\n" +
			"of the feature vectors and writes a model file (docs/models.md) holding the forest, the rule weights, the\n" +
			"threshold, the SHA-256 of the training events and context, and, with --labels, its evaluation metrics on\n" +
			"the training data. Register it with medledger models register before detectors may run it.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			if f.in == "-" || f.in == "" {
				return errors.New("--in FILE is required (a file: training reads it twice with --labels)")
			}
			if !model.ValidName(name) || !model.ValidVersion(version) {
				return errors.New("--name must match [a-z0-9][a-z0-9._-]* and --version [A-Za-z0-9][A-Za-z0-9._+-]*")
			}
			ctx := c.Context()
			dir, cx, err := f.directory()
			if err != nil {
				return err
			}
			in, size, n, err := openInput(f.in)
			if err != nil {
				return err
			}
			defer in.Close()
			h := sha256.New()
			stop := byteProgress(g, "training", size, n)
			o.Name, o.Version, o.Directory, o.Workers = name, version, dir, f.workers
			m, events, err := access.Train(ctx, io.TeeReader(in, h), o)
			stop()
			if err != nil {
				return err
			}
			// The hash covers the whole file, also lines after the last event.
			if _, err := io.Copy(h, in); err != nil {
				return err
			}
			m.Training.DataSHA256 = hex.EncodeToString(h.Sum(nil))
			if cx != nil {
				ch := sha256.New()
				for _, p := range cx.Files {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					ch.Write(b)
				}
				m.Training.ContextSHA256 = hex.EncodeToString(ch.Sum(nil))
			}
			m.Training.Note = fmt.Sprintf("trained on %s", filepath.Base(f.in))
			if labelsFile != "" {
				lf, err := os.Open(labelsFile)
				if err != nil {
					return err
				}
				labels, err := access.ReadLabels(lf)
				lf.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", labelsFile, err)
				}
				rep, err := evaluate(ctx, g, &f, m, dir, labels, func([]float64) float64 { return m.Threshold })
				if err != nil {
					return err
				}
				m.Metrics = map[string]float64{"precision": r4(rep.Precision), "recall": r4(rep.Recall), "f1": r4(rep.F1),
					"roc_auc": r4(rep.ROCAUC), "pr_auc": r4(rep.PRAUC), "alert_rate": r4(rep.AlertRate), "recall_at_1pct_alert_rate": r4(rep.RecallAt1Pct)}
				for t, r := range rep.PerType {
					m.Metrics["recall_"+t] = r4(r.Recall)
				}
			}
			b, err := m.Encode()
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			sum := model.SHA256(b)
			res := map[string]any{"file": out, "sha256": sum, "name": m.Name, "version": m.Version, "events": events,
				"training_data_sha256": m.Training.DataSHA256, "metrics": m.Metrics}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "wrote model %s %s to %s\n  sha256:        %s\n  trained on:    %d events (sha256 %s)\n", m.Name, m.Version, out, sum, events, m.Training.DataSHA256)
			if m.Metrics != nil {
				fmt.Fprintf(g.stdout, "  on its training data: ROC-AUC %.4f, PR-AUC %.4f, recall %.3f at alert rate %.3f%%\n", m.Metrics["roc_auc"], m.Metrics["pr_auc"], m.Metrics["recall"], 100*m.Metrics["alert_rate"])
			}
			fmt.Fprintf(g.stdout, "Register it: medledger models register --in %s --home DIR\n", out)
			return nil
		},
	}
	f.register(c, false)
	c.Flags().StringVar(&out, "out", "", "model file to write")
	c.Flags().StringVar(&labelsFile, "labels", "", "labels NDJSON to record evaluation metrics (on the training data) in the model")
	c.Flags().StringVar(&name, "name", "access", "model name")
	c.Flags().StringVar(&version, "version", "1", "model version")
	c.Flags().IntVar(&o.Trees, "trees", 100, "isolation trees")
	c.Flags().IntVar(&o.SampleSize, "sample-size", 256, "points per isolation tree (ψ)")
	c.Flags().Uint64Var(&o.Seed, "seed", 1, "random seed of the forest and the sample")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}

func r4(v float64) float64 { return float64(int64(v*1e4+0.5)) / 1e4 }

func newModelsBuiltinCmd(g *globals) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "builtin --out MODEL.json",
		Short: "Write the built-in access model, e.g. to register it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out FILE is required")
			}
			b := access.DefaultModel()
			if err := os.WriteFile(out, b, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "wrote the built-in model to %s (sha256 %s)\n", out, model.SHA256(b))
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "file to write")
	return c
}

// signerFlags select the member who signs a transaction: a member key in
// a node home (--home, --as), or a passphrase-protected key file (--key,
// --passphrase-file, --signer).
type signerFlags struct {
	home, as, keyFile, passFile, signer, node string
}

func (s *signerFlags) register(c *cobra.Command) {
	c.Flags().StringVar(&s.home, "home", os.Getenv("MEDLEDGER_HOME"), "node home holding the member's key (keys/members/) and genesis (env MEDLEDGER_HOME)")
	c.Flags().StringVar(&s.as, "as", "", "member id to sign as, with --home (default: the organisation's admin)")
	c.Flags().StringVar(&s.keyFile, "key", "", "member key file (medledger key new), instead of --home")
	c.Flags().StringVar(&s.passFile, "passphrase-file", "", "passphrase of --key (or MEDLEDGER_PASSPHRASE)")
	c.Flags().StringVar(&s.signer, "signer", "", "member id of --key")
	c.Flags().StringVar(&s.node, "node", "http://127.0.0.1:8740", "node URL")
}

// submit signs a transaction calling contract.method with payload (as
// JSON) as s selects, submits it and waits for its commit. A transaction
// committed with a failure code is an error naming it.
func (s *signerFlags) submit(ctx context.Context, contract, method string, payload any) (ledger.Receipt, error) {
	signer, id, chain, err := s.load(ctx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	p, err := json.Marshal(payload)
	if err != nil {
		return ledger.Receipt{}, err
	}
	raw, _, err := client.Sign(client.Tx{ChainID: chain, Contract: contract, Method: method, Payload: p, Signer: id}, signer)
	if err != nil {
		return ledger.Receipt{}, err
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	rc, err := client.New(s.node, nil).Submit(cctx, raw)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("submit to %s: %w", s.node, err)
	}
	if rc.Result.Code != ledger.CodeOK {
		msg := fmt.Sprintf("%s.%s: %s: %s", contract, method, rc.Result.Code, rc.Result.Message)
		if rc.Result.Code == ledger.CodeUnknownContract {
			msg += fmt.Sprintf(" (this node does not run the %s contract yet)", contract)
		}
		return rc, &exitError{code: 1, msg: msg}
	}
	return rc, nil
}

// load returns the signer, its member id and the chain id.
func (s *signerFlags) load(ctx context.Context) (client.Signer, string, string, error) {
	switch {
	case s.keyFile != "":
		if s.signer == "" {
			return nil, "", "", errors.New("--signer MEMBER-ID is required with --key")
		}
		pass, err := readPassphrase(s.passFile)
		if err != nil {
			return nil, "", "", err
		}
		k, err := identity.ReadKeyFile(s.keyFile, identity.Passphrase(pass))
		if err != nil {
			return nil, "", "", err
		}
		st, err := nodeStatus(ctx, s.node)
		if err != nil {
			return nil, "", "", err
		}
		return k, s.signer, st.ChainID, nil
	case s.home != "":
		h := home.Home{Dir: s.home}
		if err := h.Check(); err != nil {
			return nil, "", "", err
		}
		doc, err := genesis.Load(h.Genesis())
		if err != nil {
			return nil, "", "", err
		}
		id := s.as
		if id == "" {
			for _, m := range doc.Members {
				if slices.Contains(m.Roles, string(identity.RoleAdmin)) {
					id = m.ID
					break
				}
			}
		}
		k, err := h.LoadSigner(h.MemberKey(id), os.Getenv("MEDLEDGER_MASTER_KEY"))
		if err != nil {
			return nil, "", "", fmt.Errorf("key of %s: %w", id, err)
		}
		return k, id, doc.ChainID, nil
	}
	return nil, "", "", errors.New("say who signs: --home DIR [--as MEMBER], or --key FILE --signer MEMBER")
}

type statusAnswer struct {
	ChainID   string   `json:"chain_id"`
	Height    uint64   `json:"height"`
	Contracts []string `json:"contracts"`
}

func getJSON(ctx context.Context, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e apitype.ErrorBody
		if json.Unmarshal(body, &e) == nil && e.Error.Code != "" {
			return fmt.Errorf("GET %s: %d %s: %s", url, resp.StatusCode, e.Error.Code, e.Error.Message)
		}
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(body, out)
}

func nodeStatus(ctx context.Context, node string) (statusAnswer, error) {
	var st statusAnswer
	err := getJSON(ctx, strings.TrimRight(node, "/")+"/v1/status", &st)
	return st, err
}

func newModelsRegisterCmd(g *globals) *cobra.Command {
	var s signerFlags
	var in string
	var asJSON bool
	c := &cobra.Command{
		Use:   "register --in MODEL.json (--home DIR [--as MEMBER] | --key FILE --signer MEMBER) [--node URL]",
		Short: "Register a model version on the ledger (models contract) by the SHA-256 of its file",
		Long: "models register signs a models.register transaction (name, version, detector, the file's SHA-256, its\n" +
			"parameters, training-data SHA-256 and metrics) and submits it to a node, which answers once it is committed.\n" +
			"The models.register policy decides who may (default: an admin).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if in == "" {
				return errors.New("--in MODEL.json is required")
			}
			ctx := c.Context()
			file, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			m, err := model.Parse(file)
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			reg, err := node.ModelRegistration(file, m)
			if err != nil {
				return err
			}
			rc, err := s.submit(ctx, "models", "register", reg)
			if err != nil {
				return err
			}
			res := map[string]any{"sha256": reg.SHA256, "name": reg.Name, "version": reg.Version, "tx_hash": rc.TxHash.String(), "height": rc.Height}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "registered %s %s (sha256 %s) at height %d, tx %s\n", reg.Name, reg.Version, reg.SHA256, rc.Height, rc.TxHash)
			return nil
		},
	}
	s.register(c)
	c.Flags().StringVar(&in, "in", "", "model file")
	c.Flags().BoolVar(&asJSON, "json", false, "print the receipt as JSON")
	return c
}

// listedModel is one registration found on the ledger.
type listedModel struct {
	models.Register
	Status string      `json:"status"`
	Reason string      `json:"reason,omitempty"`
	Signer string      `json:"signer"`
	Height uint64      `json:"height"`
	Tx     ledger.Hash `json:"tx"`
}

// scanModels reads the model registrations and revocations committed on a
// node by walking its blocks from height from (the ledger API has no
// models endpoint yet). Each transaction is fetched with its proof; the
// payloads are the signed originals.
func scanModels(ctx context.Context, node string, from uint64) ([]listedModel, error) {
	node = strings.TrimRight(node, "/")
	st, err := nodeStatus(ctx, node)
	if err != nil {
		return nil, err
	}
	byHash := map[string]int{}
	var out []listedModel
	for h := max(from, 1); h <= st.Height; h++ {
		var blk apitype.BlockAnswer
		if err := getJSON(ctx, node+"/v1/blocks/"+strconv.FormatUint(h, 10), &blk); err != nil {
			return nil, err
		}
		for _, tx := range blk.Txs {
			if tx.Contract != "models" || tx.Result.Code != ledger.CodeOK {
				continue
			}
			var ans apitype.TxAnswer
			if err := getJSON(ctx, node+"/v1/tx/"+tx.Hash.String(), &ans); err != nil {
				return nil, err
			}
			payload, err := base64.StdEncoding.DecodeString(ans.Tx.Payload)
			if err != nil {
				return nil, fmt.Errorf("tx %s: payload is not base64", tx.Hash)
			}
			switch tx.Method {
			case "register":
				var r models.Register
				if err := json.Unmarshal(payload, &r); err != nil {
					return nil, fmt.Errorf("tx %s: %w", tx.Hash, err)
				}
				byHash[r.SHA256] = len(out)
				out = append(out, listedModel{Register: r, Status: models.StatusActive, Signer: tx.Signer, Height: h, Tx: tx.Hash})
			case "revoke":
				var r models.Revoke
				if err := json.Unmarshal(payload, &r); err == nil {
					if i, ok := byHash[r.SHA256]; ok {
						out[i].Status, out[i].Reason = models.StatusRevoked, r.Reason
					}
				}
			}
		}
	}
	return out, nil
}

// registryLookup checks model files against a node's ledger: by
// GET /v1/models/{sha256}, or, from a node without that endpoint, by
// walking its blocks.
func registryLookup(ctx context.Context, node string) model.Lookup {
	var cache []listedModel
	var loaded bool
	return func(sum string) (model.Registration, bool, error) {
		var rec models.Record
		switch err := getJSON(ctx, strings.TrimRight(node, "/")+"/v1/models/"+sum, &rec); {
		case err == nil:
			return model.Registration{Name: rec.Name, Version: rec.Version, SHA256: rec.SHA256, Revoked: rec.Status == models.StatusRevoked}, true, nil
		case strings.Contains(err.Error(), "404") && strings.Contains(err.Error(), "not_found"):
			return model.Registration{}, false, nil
		}
		if !loaded {
			var err error
			if cache, err = scanModels(ctx, node, 1); err != nil {
				return model.Registration{}, false, err
			}
			loaded = true
		}
		for _, m := range cache {
			if m.SHA256 == sum {
				return model.Registration{Name: m.Name, Version: m.Version, SHA256: m.SHA256, Revoked: m.Status == models.StatusRevoked}, true, nil
			}
		}
		return model.Registration{}, false, nil
	}
}

func newModelsListCmd(g *globals) *cobra.Command {
	var node string
	var from uint64
	var asJSON bool
	c := &cobra.Command{
		Use:   "list [--node URL] [--from-height H]",
		Short: "List the model versions registered on the ledger",
		Long: "models list walks the node's committed blocks (from --from-height) and lists every models.register\n" +
			"transaction that succeeded, with its status (active or revoked).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ms, err := scanModels(c.Context(), node, from)
			if err != nil {
				return err
			}
			if asJSON {
				if ms == nil {
					ms = []listedModel{}
				}
				return printJSON(g.stdout, map[string]any{"models": ms})
			}
			if len(ms) == 0 {
				fmt.Fprintln(g.stdout, "no models registered")
				return nil
			}
			fmt.Fprintf(g.stdout, "%-20s %-10s %-8s %-8s %-64s %s\n", "name", "version", "detector", "status", "sha256", "height")
			for _, m := range ms {
				fmt.Fprintf(g.stdout, "%-20s %-10s %-8s %-8s %-64s %d\n", m.Name, m.Version, m.Detector, m.Status, m.SHA256, m.Height)
			}
			return nil
		},
	}
	c.Flags().StringVar(&node, "node", "http://127.0.0.1:8740", "node URL")
	c.Flags().Uint64Var(&from, "from-height", 1, "first block to read")
	c.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return c
}
