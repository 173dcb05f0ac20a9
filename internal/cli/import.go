package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/hl7v2"
	"github.com/medledger/medledger/internal/node"
)

func newImportCmd(g *globals) *cobra.Command {
	var nodeURL, dir string
	var workers, ndjsonBatch int
	var asJSON bool
	c := &cobra.Command{
		Use:   "import FILE|DIR... [--node URL]",
		Short: "Load FHIR Bundles (.json), NDJSON (.ndjson) and HL7 v2 messages (.hl7, .er7) into a running node",
		Long: "import posts each .json file (a transaction or batch Bundle, or a single resource) and each line of\n" +
			"each .ndjson file (grouped into transaction Bundles; resources with an id are PUT, others POSTed) to\n" +
			"the node's FHIR API. Directories are read recursively. Every write is validated, encrypted and\n" +
			"anchored by the node; a file that fails is reported and the others go on.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if nodeURL == "" {
				nodeURL = "http://" + node.DefaultAddr
				if dir != "" {
					if cfg, err := loadConfig(c, dir, nil); err == nil && cfg.Addr != "" {
						nodeURL = "http://" + cfg.Addr
					}
				}
			}
			files, err := collect(args)
			if err != nil {
				return err
			}
			if len(files) == 0 {
				return errors.New("no .json or .ndjson files found")
			}
			var jobs []importJob
			for _, f := range files {
				js, err := jobsOf(f, ndjsonBatch)
				if err != nil {
					return err
				}
				jobs = append(jobs, js...)
			}
			upd, fin := progress(g.stderr, "importing")
			start := time.Now()
			var done, resources, failed atomic.Int64
			var mu sync.Mutex
			var failures []string
			hc := &http.Client{Timeout: 5 * time.Minute}
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= len(jobs) || c.Context().Err() != nil {
							return
						}
						n, err := postJob(c.Context(), hc, nodeURL, jobs[i])
						if err != nil {
							failed.Add(1)
							mu.Lock()
							failures = append(failures, fmt.Sprintf("%s: %v", jobs[i].name, err))
							mu.Unlock()
						} else {
							resources.Add(int64(n))
						}
						upd(int(done.Add(1)), len(jobs))
					}
				}()
			}
			wg.Wait()
			fin()
			secs := time.Since(start).Seconds()
			slices.Sort(failures)
			res := map[string]any{"files": len(files), "requests": len(jobs), "resources": resources.Load(), "failed": failed.Load(),
				"seconds": secs, "resources_per_s": float64(resources.Load()) / secs, "failures": failures}
			if asJSON {
				if err := printJSON(g.stdout, res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "imported %d resources from %d files in %.1fs (%.0f resources/s)\n", resources.Load(), len(files), secs, float64(resources.Load())/secs)
				for _, f := range failures {
					fmt.Fprintln(g.stdout, "  failed:", f)
				}
			}
			if failed.Load() > 0 {
				return &exitError{code: 1, msg: fmt.Sprintf("%d of %d requests failed", failed.Load(), len(jobs))}
			}
			return nil
		},
	}
	c.Flags().StringVar(&nodeURL, "node", "", "node base URL (default: the home's address or http://"+node.DefaultAddr+")")
	c.Flags().StringVar(&dir, "home", os.Getenv("MEDLEDGER_HOME"), "node home (to find its address)")
	c.Flags().IntVar(&workers, "concurrency", 8, "requests in flight")
	c.Flags().IntVar(&ndjsonBatch, "ndjson-batch", 200, "NDJSON resources per transaction Bundle")
	c.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	return c
}

type importJob struct {
	name string
	body []byte
	path string // "" for a Bundle to the base, else "/<Type>"
	n    int    // resources in the request
}

func collect(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".json") || strings.HasSuffix(p, ".ndjson") || isHL7File(p)) {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(out)
	return out, nil
}

func isHL7File(p string) bool { return strings.HasSuffix(p, ".hl7") || strings.HasSuffix(p, ".er7") }

// hl7Jobs converts each HL7 v2 message of a file to a transaction Bundle.
func hl7Jobs(path string) ([]importJob, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var jobs []importJob
	for i, raw := range hl7v2.Split(b) {
		m, err := hl7v2.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("%s message %d: %v", path, i+1, err)
		}
		bundle, issues, err := hl7v2.Convert(m, hl7v2.Options{})
		if err != nil {
			return nil, fmt.Errorf("%s message %d: %v", path, i+1, err)
		}
		for _, is := range issues {
			fmt.Fprintf(os.Stderr, "%s message %d: warning: %s %s\n", path, i+1, strings.Join(is.Expression, ","), is.Diagnostics)
		}
		var entries struct {
			Entry []json.RawMessage `json:"entry"`
		}
		json.Unmarshal(bundle, &entries)
		jobs = append(jobs, importJob{name: fmt.Sprintf("%s message %d", path, i+1), body: bundle, n: len(entries.Entry)})
	}
	return jobs, nil
}

func jobsOf(path string, batch int) ([]importJob, error) {
	if strings.HasSuffix(path, ".ndjson") {
		return ndjsonJobs(path, batch)
	}
	if isHL7File(path) {
		return hl7Jobs(path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var head struct {
		ResourceType string          `json:"resourceType"`
		Entry        json.RawMessage `json:"entry"`
	}
	if err := json.Unmarshal(b, &head); err != nil || head.ResourceType == "" {
		return nil, fmt.Errorf("%s: not a FHIR JSON resource", path)
	}
	if head.ResourceType == "Bundle" {
		var entries []json.RawMessage
		json.Unmarshal(head.Entry, &entries)
		return []importJob{{name: path, body: b, n: len(entries)}}, nil
	}
	return []importJob{{name: path, body: b, path: "/" + head.ResourceType, n: 1}}, nil
}

func ndjsonJobs(path string, batch int) ([]importJob, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var jobs []importJob
	var entries []any
	line := 0
	flush := func() {
		if len(entries) == 0 {
			return
		}
		b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		jobs = append(jobs, importJob{name: fmt.Sprintf("%s (lines %d-%d)", path, line-len(entries)+1, line), body: b, n: len(entries)})
		entries = nil
	}
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var r struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(l, &r); err != nil || r.ResourceType == "" {
			return nil, fmt.Errorf("%s line %d: not a FHIR JSON resource", path, line)
		}
		req := map[string]any{"method": "POST", "url": r.ResourceType}
		if r.ID != "" {
			req = map[string]any{"method": "PUT", "url": r.ResourceType + "/" + r.ID}
		}
		entries = append(entries, map[string]any{"resource": json.RawMessage(bytes.Clone(l)), "request": req})
		if len(entries) >= batch {
			flush()
		}
	}
	flush()
	return jobs, sc.Err()
}

func postJob(ctx context.Context, hc *http.Client, base string, j importJob) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/fhir"+j.path, bytes.NewReader(j.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Prefer", "return=minimal")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 300 {
		return 0, fmt.Errorf("%s: %s", resp.Status, fhir.SummarizeOutcome(b))
	}
	return j.n, nil
}
