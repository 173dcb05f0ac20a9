package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/ai/access"
	"github.com/medledger/medledger/internal/ai/model"
)

// detectFlags are the flags detect, eval and models train share.
type detectFlags struct {
	in, context, modelFile, registry string
	allowUnregistered                bool
	workers                          int
}

func (f *detectFlags) register(c *cobra.Command, withModel bool) {
	c.Flags().StringVar(&f.in, "in", "", "AuditEvent NDJSON file (- for standard input)")
	c.Flags().StringVar(&f.context, "context", "", "directory laid out as a FHIR Bulk Data export: Patient, Practitioner, PractitionerRole, Encounter, CareTeam .ndjson (each optional)")
	c.Flags().IntVar(&f.workers, "workers", 0, "goroutines parsing events (default: one per core)")
	if withModel {
		c.Flags().StringVar(&f.modelFile, "model", "", "model file (default: the built-in model)")
		c.Flags().StringVar(&f.registry, "registry", "", "node URL whose ledger must have the --model file registered (models contract)")
		c.Flags().BoolVar(&f.allowUnregistered, "allow-unregistered", false, "run a --model file without checking the ledger (offline experiments only)")
	}
}

// directory loads --context, or returns nil.
func (f *detectFlags) directory() (access.Directory, *access.Context, error) {
	if f.context == "" {
		return nil, nil, nil
	}
	c, err := access.LoadContext(f.context)
	if err != nil {
		return nil, nil, fmt.Errorf("--context: %w", err)
	}
	return c, c, nil
}

// loadModel returns the model to run and its file's SHA-256: the built-in
// model, or --model checked against the registry of --registry unless
// --allow-unregistered.
func (f *detectFlags) loadModel(ctx context.Context) (*model.Model, string, error) {
	if f.modelFile == "" {
		b := access.DefaultModel()
		m, err := model.Parse(b)
		return m, model.SHA256(b), err
	}
	b, err := os.ReadFile(f.modelFile)
	if err != nil {
		return nil, "", err
	}
	m, err := model.Parse(b)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", f.modelFile, err)
	}
	switch {
	case f.registry != "":
		if err := model.CheckRegistered(b, m, registryLookup(ctx, f.registry)); err != nil {
			return nil, "", err
		}
	case !f.allowUnregistered:
		return nil, "", fmt.Errorf("refusing to run %s (SHA-256 %s) without checking it is registered: pass --registry URL of a node, or --allow-unregistered for an offline experiment", f.modelFile, model.SHA256(b))
	}
	return m, model.SHA256(b), nil
}

// openInput opens --in and returns a reader that counts bytes for the
// progress bar, and the size (0 if unknown).
func openInput(path string) (io.ReadCloser, int64, *atomic.Int64, error) {
	if path == "" {
		return nil, 0, nil, errors.New("--in FILE is required (- for standard input)")
	}
	var n atomic.Int64
	if path == "-" {
		return io.NopCloser(&countingReader{r: os.Stdin, n: &n}), 0, &n, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, nil, err
	}
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return struct {
		io.Reader
		io.Closer
	}{&countingReader{r: f, n: &n}, f}, size, &n, nil
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// byteProgress draws a progress bar of bytes read until stop is called.
func byteProgress(g *globals, what string, size int64, n *atomic.Int64) (stop func()) {
	if size <= 0 || !isTerminal(g.stderr) {
		return func() {}
	}
	upd, fin := progress(g.stderr, what)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				upd(int(size>>10), int(size>>10))
				fin()
				return
			case <-t.C:
				upd(int(n.Load()>>10), int(size>>10))
			}
		}
	}()
	return func() { close(done); <-finished }
}

func newDetectCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "detect", Short: "Score events for suspicious activity with the AI detectors"}
	var f detectFlags
	var asJSON, alertsOnly bool
	var threshold float64
	a := &cobra.Command{
		Use:   "access --in EVENTS.ndjson [--context DIR] [--model FILE] --json",
		Short: "Score each FHIR AuditEvent for suspicious access to patient records",
		Long: "detect access reads FHIR R4 AuditEvents (NDJSON, IHE Basic Audit Log Patterns shape) in time order and scores\n" +
			"each access in [0, 1] with the top reasons in plain language. With --json it writes one line per event:\n" +
			"{\"id\", \"score\", \"reasons\"}; without, it lists the alerts (score >= the model's threshold).\n" +
			"--context gives the hospital's people and care relationships (a FHIR Bulk Data export); without it the\n" +
			"relationship, VIP and family features have no evidence. The built-in model is used unless --model names a\n" +
			"file, which must be registered on the ledger (--registry URL) or explicitly allowed (--allow-unregistered).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx := c.Context()
			m, sha, err := f.loadModel(ctx)
			if err != nil {
				return err
			}
			dir, _, err := f.directory()
			if err != nil {
				return err
			}
			det, err := access.New(m, access.Config{Directory: dir})
			if err != nil {
				return err
			}
			th := m.Threshold
			if c.Flags().Changed("threshold") {
				th = threshold
			}
			in, size, n, err := openInput(f.in)
			if err != nil {
				return err
			}
			defer in.Close()
			stop := byteProgress(g, "scoring", size, n)
			w := bufio.NewWriterSize(g.stdout, 1<<20)
			var events, alerts, bad int
			var buf []byte
			err = access.ReadEvents(ctx, in, f.workers, func(e *access.Event, perr error) error {
				if perr != nil {
					bad++
					return nil
				}
				s := det.Observe(e)
				events++
				alert := s.Score >= th
				if alert {
					alerts++
				}
				switch {
				case asJSON && (alert || !alertsOnly):
					buf = appendScore(buf[:0], s)
					_, err := w.Write(buf)
					return err
				case !asJSON && alert:
					_, err := fmt.Fprintf(w, "%.3f  %s  %s  %s\n", s.Score, e.Time.Format(time.RFC3339), e.ID, strings.Join(s.Reasons, "; "))
					return err
				}
				return nil
			})
			stop()
			if err != nil {
				return err
			}
			if err := w.Flush(); err != nil {
				return err
			}
			summary := fmt.Sprintf("scored %d AuditEvents with model %s %s (sha256 %s…): %d alerts (%.2f%%) at threshold %.3f", events, m.Name, m.Version, sha[:12], alerts, 100*float64(alerts)/float64(max(events, 1)), th)
			if bad > 0 {
				summary += fmt.Sprintf("; %d lines were not AuditEvents and were skipped", bad)
			}
			if asJSON {
				fmt.Fprintln(g.stderr, summary)
			} else {
				fmt.Fprintln(g.stdout, summary)
			}
			return nil
		},
	}
	f.register(a, true)
	a.Flags().BoolVar(&asJSON, "json", false, "one JSON line per event: {\"id\", \"score\", \"reasons\"}")
	a.Flags().BoolVar(&alertsOnly, "alerts-only", false, "with --json, write only events at or above the threshold")
	a.Flags().Float64Var(&threshold, "threshold", 0, "alert threshold (default: the model's)")
	c.AddCommand(a)
	return c
}

// appendScore writes {"id":...,"score":...,"reasons":[...]} and a newline.
func appendScore(b []byte, s access.Score) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, s.ID)
	b = append(b, `,"score":`...)
	b = strconv.AppendFloat(b, s.Score, 'f', 6, 64)
	b = append(b, `,"reasons":[`...)
	for i, r := range s.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, r)
	}
	return append(b, "]}\n"...)
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}
