package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/synth"
)

func newSynthCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "synth", Short: "Generate synthetic data (never real people)"}
	var o synth.Options
	var out string
	var asJSON bool
	p := &cobra.Command{
		Use:   "patients --n N --seed S --out DIR",
		Short: "Write deterministic synthetic patients as FHIR R4 transaction Bundles (one file each)",
		Long: "synth patients writes DIR/patient-NNNNNN.json, one FHIR transaction Bundle per patient: demographics\n" +
			"with identifiers, encounters, conditions, observations (LOINC, UCUM), medications, allergies,\n" +
			"immunizations, care plans and documents, consistent over a lifetime. The same --seed gives the same\n" +
			"files byte for byte. Load them with medledger import.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			gen, err := synth.New(o)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			upd, fin := progress(g.stderr, "generating patients")
			defer fin()
			var next, done atomic.Int64
			var bytes atomic.Int64
			var wg sync.WaitGroup
			errc := make(chan error, runtime.GOMAXPROCS(0))
			for range runtime.GOMAXPROCS(0) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= gen.N() {
							return
						}
						b, _ := gen.Patient(i)
						path := filepath.Join(out, fmt.Sprintf("patient-%06d.json", i+1))
						if err := os.WriteFile(path, b, 0o644); err != nil {
							errc <- err
							return
						}
						bytes.Add(int64(len(b)))
						upd(int(done.Add(1)), gen.N())
					}
				}()
			}
			wg.Wait()
			close(errc)
			if err := <-errc; err != nil {
				return err
			}
			fin()
			res := map[string]any{"patients": gen.N(), "seed": o.Seed, "dir": out, "bytes": bytes.Load()}
			if asJSON {
				return printJSON(g.stdout, res)
			}
			fmt.Fprintf(g.stdout, "wrote %d synthetic patients (%d MB) to %s (seed %d)\n", gen.N(), bytes.Load()>>20, out, o.Seed)
			return nil
		},
	}
	p.Flags().IntVar(&o.N, "n", 100, "number of patients")
	p.Flags().Int64Var(&o.Seed, "seed", 1, "random seed (same seed, same output)")
	p.Flags().IntVar(&o.Years, "years", 0, "years of history per patient (default 8)")
	p.Flags().StringVar(&out, "out", "", "output directory")
	p.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	c.AddCommand(p)
	return c
}
