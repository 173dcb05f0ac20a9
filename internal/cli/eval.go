package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/ai/access"
	"github.com/medledger/medledger/internal/ai/metrics"
	"github.com/medledger/medledger/internal/ai/model"
)

func newEvalCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "eval", Short: "Measure a detector against ground-truth labels"}
	var f detectFlags
	var labelsFile string
	var asJSON bool
	var threshold, rate float64
	a := &cobra.Command{
		Use:   "access --in EVENTS.ndjson --labels LABELS.ndjson [--context DIR] --json",
		Short: "Precision, recall, F1, ROC-AUC and PR-AUC of the access detector, overall and per attack type",
		Long: "eval access scores the AuditEvents like detect access and compares the scores with a labels file (NDJSON\n" +
			"{\"id\": <AuditEvent id>, \"attack\": <type or null>}, as synth access writes). Precision, recall, F1 and the\n" +
			"alert rate are at the chosen threshold: the model's, --threshold, or the one that alerts on --alert-rate of\n" +
			"the events; ROC-AUC and PR-AUC do not depend on it. per_type compares each attack type with the normal events.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if labelsFile == "" {
				return errors.New("--labels FILE is required")
			}
			if c.Flags().Changed("threshold") && c.Flags().Changed("alert-rate") {
				return errors.New("--threshold and --alert-rate are exclusive")
			}
			if rate < 0 || rate > 1 {
				return errors.New("--alert-rate is a share of events between 0 and 1")
			}
			ctx := c.Context()
			m, sha, err := f.loadModel(ctx)
			if err != nil {
				return err
			}
			lf, err := os.Open(labelsFile)
			if err != nil {
				return err
			}
			labels, err := access.ReadLabels(lf)
			lf.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", labelsFile, err)
			}
			dir, _, err := f.directory()
			if err != nil {
				return err
			}
			rep, err := evaluate(ctx, g, &f, m, dir, labels, func(scores []float64) float64 {
				switch {
				case c.Flags().Changed("threshold"):
					return threshold
				case c.Flags().Changed("alert-rate"):
					return metrics.ThresholdForRate(scores, rate)
				}
				return m.Threshold
			})
			if err != nil {
				return err
			}
			out := map[string]any{
				"precision": rep.Precision, "recall": rep.Recall, "f1": rep.F1, "roc_auc": rep.ROCAUC, "pr_auc": rep.PRAUC,
				"alert_rate": rep.AlertRate, "threshold": rep.Threshold, "alerts": rep.Alerts, "events": rep.Events,
				"attack_events": rep.Attacks, "per_type": rep.PerType, "recall_at_1pct_alert_rate": rep.RecallAt1Pct,
				"model": map[string]string{"name": m.Name, "version": m.Version, "sha256": sha},
			}
			if rep.Unlabelled > 0 {
				out["unlabelled"] = rep.Unlabelled
			}
			if asJSON {
				return printJSON(g.stdout, out)
			}
			printReport(g, rep, m, sha)
			return nil
		},
	}
	f.register(a, true)
	a.Flags().StringVar(&labelsFile, "labels", "", "labels NDJSON: {\"id\": ..., \"attack\": type or null}")
	a.Flags().Float64Var(&threshold, "threshold", 0, "alert threshold (default: the model's)")
	a.Flags().Float64Var(&rate, "alert-rate", 0, "choose the threshold that alerts on this share of events, e.g. 0.01")
	a.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	c.AddCommand(a)
	return c
}

// evaluate scores --in with m and compares with labels; choose picks the
// threshold from all scores.
func evaluate(ctx context.Context, g *globals, f *detectFlags, m *model.Model, dir access.Directory, labels map[string]string, choose func([]float64) float64) (access.Report, error) {
	det, err := access.New(m, access.Config{Directory: dir})
	if err != nil {
		return access.Report{}, err
	}
	in, size, n, err := openInput(f.in)
	if err != nil {
		return access.Report{}, err
	}
	defer in.Close()
	stop := byteProgress(g, "scoring", size, n)
	var scores []float64
	var attacks []string
	unlabelled := 0
	err = access.ReadEvents(ctx, in, f.workers, func(e *access.Event, perr error) error {
		if perr != nil {
			unlabelled++
			return nil
		}
		s := det.Observe(e)
		a, ok := labels[e.ID]
		if !ok {
			unlabelled++
			return nil
		}
		scores = append(scores, s.Score)
		attacks = append(attacks, a)
		return nil
	})
	stop()
	if err != nil {
		return access.Report{}, err
	}
	if len(scores) == 0 {
		return access.Report{}, errors.New("no AuditEvent has a label: do --in and --labels belong together?")
	}
	rep := access.Evaluate(scores, attacks, choose(scores))
	rep.Unlabelled = unlabelled
	return rep, nil
}

func printReport(g *globals, rep access.Report, m *model.Model, sha string) {
	w := g.stdout
	fmt.Fprintf(w, "model %s %s (sha256 %s…), %d events, %d attack events (%.2f%%)\n", m.Name, m.Version, sha[:12], rep.Events, rep.Attacks, 100*float64(rep.Attacks)/float64(max(rep.Events, 1)))
	fmt.Fprintf(w, "threshold %.4f: %d alerts (alert rate %.3f%%), precision %.3f, recall %.3f, F1 %.3f\n", rep.Threshold, rep.Alerts, 100*rep.AlertRate, rep.Precision, rep.Recall, rep.F1)
	fmt.Fprintf(w, "ROC-AUC %.4f, PR-AUC %.4f, recall at a 1%% alert rate %.3f\n", rep.ROCAUC, rep.PRAUC, rep.RecallAt1Pct)
	types := make([]string, 0, len(rep.PerType))
	for t := range rep.PerType {
		types = append(types, t)
	}
	slices.Sort(types)
	fmt.Fprintf(w, "%-20s %7s %7s %7s %8s %7s\n", "attack", "events", "alerted", "recall", "ROC-AUC", "PR-AUC")
	for _, t := range types {
		r := rep.PerType[t]
		fmt.Fprintf(w, "%-20s %7d %7d %7.3f %8.4f %7.4f\n", t, r.Events, r.Alerted, r.Recall, r.ROCAUC, r.PRAUC)
	}
	if rep.Unlabelled > 0 {
		fmt.Fprintf(w, "%d events had no label (or were not AuditEvents) and were left out\n", rep.Unlabelled)
	}
}
