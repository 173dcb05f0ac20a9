package fhirapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/fhir/search"
)

func putObs(ix *search.Index, id string) {
	ix.Put("Observation", id, 1, time.Unix(0, 0), map[string]any{"resourceType": "Observation", "id": id, "status": "final"})
}

// TestEachMatchUnderChurn pages through an index that changes between
// and during pages (deletions before and after the cursor, insertions
// anywhere) and checks that every resource present throughout is visited
// exactly once, against the naive expectation.
func TestEachMatchUnderChurn(t *testing.T) {
	for seed := range uint64(5) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 1))
			ix := new(search.Index)
			live := map[string]bool{}
			for i := range 3*exportPage + 17 {
				id := fmt.Sprintf("o%06d", i*10)
				putObs(ix, id)
				live[id] = true
			}
			throughout := map[string]bool{}
			for id := range live {
				throughout[id] = true
			}
			s := &Server{deps: Deps{Index: ix}}
			seen := map[string]int{}
			n := 0
			err := s.eachMatch(context.Background(), "Observation", url.Values{}, nil, func(id string, _ uint64) error {
				seen[id]++
				if n++; n%(exportPage/4) != 0 {
					return nil
				}
				// Churn: delete 100 random resources, insert 60.
				for range 100 {
					id := fmt.Sprintf("o%06d", rng.IntN(len(throughout))*10)
					if live[id] {
						ix.Delete("Observation", id)
						delete(live, id)
						delete(throughout, id)
					}
				}
				for range 60 {
					id := fmt.Sprintf("o%06d", rng.IntN(len(throughout)*10)|1)
					putObs(ix, id)
					live[id] = true
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for id, k := range seen {
				if k != 1 {
					t.Errorf("%s visited %d times", id, k)
				}
			}
			for id := range throughout {
				if seen[id] == 0 {
					t.Errorf("%s, present throughout, was skipped", id)
				}
			}
		})
	}
}

func TestEachMatchCancel(t *testing.T) {
	ix := new(search.Index)
	for i := range 50 {
		putObs(ix, fmt.Sprint(i))
	}
	s := &Server{deps: Deps{Index: ix}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	err := s.eachMatch(ctx, "Observation", url.Values{}, nil, func(string, uint64) error {
		if calls++; calls == 10 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || calls != 10 {
		t.Errorf("eachMatch after cancel = %v after %d calls; want context.Canceled after 10", err, calls)
	}
}

func testExporter(t *testing.T) (*exporter, time.Time) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	e := newExporter(New(Deps{ExportDir: filepath.Join(t.TempDir(), "export")}))
	e.now = func() time.Time { return now }
	return e, now
}

func TestExportSweep(t *testing.T) {
	e, now := testExporter(t)
	if err := e.ensureRoot(); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, age time.Duration) string {
		dir := filepath.Join(e.root, name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		f := filepath.Join(dir, "x.ndjson")
		os.WriteFile(f, []byte("{}\n"), 0o600)
		old := now.Add(-age)
		os.Chtimes(f, old, old)
		os.Chtimes(dir, old, old)
		return dir
	}
	stale := mk("0123456789abcdef0123456789abcdef", 2*exportTTL)
	fresh := mk("fedcba9876543210fedcba9876543210", exportTTL/2)
	other := mk("not-a-job", 2*exportTTL)
	e.sweep()
	for dir, want := range map[string]bool{stale: false, fresh: true, other: true} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("after sweep, %s exists = %v; want %v", filepath.Base(dir), err == nil, want)
		}
	}
}

func TestExportRoot(t *testing.T) {
	e, _ := testExporter(t)
	if err := os.Mkdir(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.ensureRoot(); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(e.root); fi.Mode().Perm() != 0o700 {
		t.Errorf("export directory mode %v; want it tightened to 0700", fi.Mode().Perm())
	}
	link, _ := testExporter(t)
	if err := os.Symlink(e.root, link.root); err != nil {
		t.Skip(err)
	}
	if err := link.ensureRoot(); err == nil {
		t.Error("a symbolic link was accepted as the export directory")
	}
}

// TestExportExpiry checks that a finished job's files go after the TTL.
func TestExportExpiry(t *testing.T) {
	e, now := testExporter(t)
	e.ttl = 10 * time.Millisecond
	if err := e.ensureRoot(); err != nil {
		t.Fatal(err)
	}
	j := &exportJob{id: newJobID(), dir: filepath.Join(e.root, "job"), txTime: now, done: make(chan struct{})}
	os.Mkdir(j.dir, 0o700)
	os.WriteFile(filepath.Join(j.dir, "f"), nil, 0o600)
	e.mu.Lock()
	e.jobs[j.id] = j
	e.mu.Unlock()
	e.finish(context.Background(), j, nil, nil, nil)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		e.mu.Lock()
		n := len(e.jobs)
		e.mu.Unlock()
		_, err := os.Stat(j.dir)
		if n == 0 && os.IsNotExist(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the TTL: %d jobs kept, directory stat %v", n, err)
		}
	}
}

// TestExportClose checks that close cancels a running job, waits for its
// worker, removes every job's files and refuses new jobs.
func TestExportClose(t *testing.T) {
	e, now := testExporter(t)
	if err := e.ensureRoot(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	running := &exportJob{id: newJobID(), dir: filepath.Join(e.root, "running"), txTime: now, done: make(chan struct{}), cancel: cancel}
	finished := &exportJob{id: newJobID(), dir: filepath.Join(e.root, "finished"), txTime: now, done: make(chan struct{}), cancel: func() {}, state: jobComplete}
	close(finished.done)
	for _, j := range []*exportJob{running, finished} {
		os.Mkdir(j.dir, 0o700)
		os.WriteFile(filepath.Join(j.dir, "Patient.ndjson"), []byte("{}\n"), 0o600)
		e.mu.Lock()
		e.jobs[j.id] = j
		e.mu.Unlock()
	}
	workerSawCancel := false
	go func() { // a worker that runs until cancelled
		defer close(running.done)
		<-ctx.Done()
		workerSawCancel = true
	}()
	e.close()
	if !workerSawCancel {
		t.Error("close returned before the running worker did")
	}
	for _, j := range []*exportJob{running, finished} {
		if _, err := os.Stat(j.dir); !os.IsNotExist(err) {
			t.Errorf("after close, %s job directory: stat err %v; want removed", filepath.Base(j.dir), err)
		}
	}
	if _, apiErr := e.newJob("a", nil, "/fhir/$export", levelSystem, nil, time.Time{}); apiErr == nil || apiErr.status != 503 {
		t.Errorf("kick-off after close: %v; want 503", apiErr)
	}
}
