package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
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
	c.AddCommand(p, newSynthAccessCmd(g))
	return c
}

// newSynthAccessCmd is synth access: AuditEvents of a synthetic hospital
// with injected attacks, for the access detector (issue 6).
func newSynthAccessCmd(g *globals) *cobra.Command {
	var o synth.AccessOptions
	var out string
	var asJSON bool
	c := &cobra.Command{
		Use:   "access --days D --users U --patients P --seed S --out DIR",
		Short: "Write a synthetic hospital's FHIR AuditEvents with labelled insider attacks",
		Long: "synth access writes DIR/AuditEvent.ndjson (FHIR R4 AuditEvents, IHE Basic Audit Log Patterns shape, in time\n" +
			"order), DIR/labels.ndjson ({\"id\": ..., \"attack\": type or null}) and DIR/context/ laid out as a FHIR Bulk Data\n" +
			"export (Patient, Practitioner, PractitionerRole, Encounter, CareTeam .ndjson). Attack types: " + strings.Join(synth.AttackTypes, ", ") + ".\n" +
			"The same options write the same bytes. The defaults write about 250,000 events (400 MB: AuditEvents are about\n" +
			"1.6 KB each, as real systems write them).",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if out == "" {
				return errors.New("--out DIR is required")
			}
			if err := o.Validate(); err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Join(out, "context"), 0o755); err != nil {
				return err
			}
			names := []string{"AuditEvent.ndjson", "labels.ndjson", "context/Patient.ndjson", "context/Practitioner.ndjson",
				"context/PractitionerRole.ndjson", "context/Encounter.ndjson", "context/CareTeam.ndjson"}
			fs := make([]*os.File, len(names))
			for i, n := range names {
				f, err := os.Create(filepath.Join(out, n))
				if err != nil {
					return err
				}
				defer f.Close()
				fs[i] = f
			}
			upd, fin := progress(g.stderr, "generating access events")
			defer fin()
			sum, err := synth.WriteAccess(o, synth.AccessOutput{Events: fs[0], Labels: fs[1], Patient: fs[2], Practitioner: fs[3],
				PractitionerRole: fs[4], Encounter: fs[5], CareTeam: fs[6], Progress: upd})
			if err != nil {
				return err
			}
			for _, f := range fs {
				if err := f.Close(); err != nil {
					return err
				}
			}
			fin()
			if asJSON {
				return printJSON(g.stdout, map[string]any{"dir": out, "seed": o.Seed, "summary": sum})
			}
			fmt.Fprintf(g.stdout, "wrote %d AuditEvents (%d in %d attack episodes) over %d days, %d users, %d patients, %d encounters to %s (seed %d)\n",
				sum.Events, sum.AttackEvents, total(sum.Episodes), sum.Days, sum.Users, sum.Patients, sum.Encounters, out, o.Seed)
			return nil
		},
	}
	c.Flags().IntVar(&o.Days, "days", 0, "days of activity (default 21)")
	c.Flags().IntVar(&o.Users, "users", 0, "staff members (default 200)")
	c.Flags().IntVar(&o.Patients, "patients", 0, "patient population (default 3000)")
	c.Flags().Int64Var(&o.Seed, "seed", 1, "random seed (same seed, same output)")
	c.Flags().IntVar(&o.Episodes, "episodes", 0, "attack episodes per type (default days*users/400, at least 3; -1 for none)")
	c.Flags().StringVar(&out, "out", "", "output directory")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}
