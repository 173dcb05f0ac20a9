package records

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// checkAnchored checks that every anchored version of the resources is
// stored and matches its anchor.
func checkAnchored(t *testing.T, e *env, ids ...string) {
	t.Helper()
	for _, id := range ids {
		h, err := e.svc.Head("Patient", id)
		if err != nil || h == nil {
			t.Fatalf("Head(Patient/%s) = %+v, %v", id, h, err)
		}
		for v := uint64(1); v <= h.Version; v++ {
			m, js, a, err := e.svc.VRead("Patient", id, v)
			if m.Deleted && errors.Is(err, ErrGone) {
				continue
			}
			if err != nil {
				t.Errorf("VRead(Patient/%s/_history/%d) of an anchored version: %v", id, v, err)
				continue
			}
			if HashOf(js) != a.Hash {
				t.Errorf("Patient/%s/_history/%d does not match its anchor", id, v)
			}
		}
	}
}

// TestReopen checks a clean restart: everything anchored is there, and
// Rebuild fills the new (empty) index with the latest live versions.
func TestReopen(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("p1", "Alpha")), create(patient("p2", "Beta")), create(observation("o1", "p1", 60)))
	e.apply(update(patient("p1", "Gamma")))
	e.apply(del("Patient", "p2"))
	e.reopen()
	checkAnchored(t, e, "p1", "p2")
	if _, js, _, err := e.svc.Read("Patient", "p1"); err != nil || family(t, js) != "Gamma" {
		t.Errorf("Read after reopen: %v", err)
	}
	if n := e.index.Len(); n != 0 {
		t.Fatalf("a fresh index holds %d resources", n)
	}
	n, err := e.svc.Rebuild()
	if err != nil || n != 2 {
		t.Errorf("Rebuild = %d, %v; want 2 (p1, o1; p2 is deleted)", n, err)
	}
	if got := searchIDs(t, e.index, "Patient", "family=Gamma"); !slices.Equal(got, []string{"p1@2"}) {
		t.Errorf("index after Rebuild: family=Gamma finds %v; want p1@2", got)
	}
	if got := searchIDs(t, e.index, "Patient", "family=Alpha"); len(got) != 0 {
		t.Errorf("index after Rebuild finds the old version: %v", got)
	}
	// Writes go on from the anchored versions.
	if ws := e.apply(update(patient("p1", "Delta")), create(patient("p2", "Beta"))); ws[0].Meta.Version != 3 || ws[1].Meta.Version != 3 {
		t.Errorf("writes after reopen = %+v; want versions 3", ws)
	}
}

// TestCrash checks the write path's durability on a file system that
// loses what was not synced: a version is written without an fsync, and
// is synced before the block that anchors it commits.
func TestCrash(t *testing.T) {
	t.Run("unsynced orphan is lost", func(t *testing.T) {
		e, mfs := newMemEnv(t)
		e.apply(create(patient("p1", "Alpha")))
		// A write whose anchor never reached a block: nothing synced it.
		orphan := Version{Meta: meta("Patient", "p1", 2, e.keys.Pseudonym("Patient", "p1"), false), JSON: []byte(`{}`)}
		if err := e.store.Put([]Version{orphan}); err != nil {
			t.Fatal(err)
		}
		e.crash(mfs)
		checkAnchored(t, e, "p1")
		if ms, _ := e.store.Versions("Patient", "p1"); len(ms) != 1 {
			t.Errorf("after the crash, stored versions = %+v; want v1 only", ms)
		}
		if n, err := e.svc.Sweep(); n != 0 || err != nil {
			t.Errorf("Sweep = %d, %v; want nothing to sweep", n, err)
		}
	})
	t.Run("synced orphan is swept", func(t *testing.T) {
		e, mfs := newMemEnv(t)
		e.apply(create(patient("p1", "Alpha")))
		// A write synced by the next block, whose own anchor was lost.
		e.ledger.setFates(drop)
		if _, err := e.svc.Apply(context.Background(), "x", []Op{update(patient("p1", "Beta")), del("Patient", "p1")}); err == nil {
			t.Fatal("Apply with the ledger down succeeded")
		}
		e.apply(create(patient("p2", "Two")))
		e.crash(mfs)
		if ms, _ := e.store.Versions("Patient", "p1"); len(ms) != 3 {
			t.Fatalf("after the crash, stored versions = %+v; want v1 and the two synced orphans", ms)
		}
		if n, err := e.svc.Rebuild(); n != 2 || err != nil {
			t.Errorf("Rebuild before Sweep = %d, %v; want 2", n, err)
		}
		if got := searchIDs(t, e.index, "Patient", ""); !slices.Equal(got, []string{"p1@1", "p2@1"}) {
			t.Errorf("Rebuild with unswept orphans indexed %v; want the anchored versions p1@1 p2@1", got)
		}
		if n, err := e.svc.Sweep(); n != 2 || err != nil {
			t.Errorf("Sweep = %d, %v; want the 2 orphans", n, err)
		}
		checkAnchored(t, e, "p1", "p2")
		if ms, _ := e.store.Versions("Patient", "p1"); len(ms) != 1 {
			t.Errorf("after Sweep, stored versions = %+v; want v1", ms)
		}
		if ws := e.apply(update(patient("p1", "Gamma"))); ws[0].Meta.Version != 2 {
			t.Errorf("write after Sweep got version %d; want 2", ws[0].Meta.Version)
		}
	})
	t.Run("anchored versions survive any crash", func(t *testing.T) {
		for seed := range uint64(4) {
			e, mfs := newMemEnv(t)
			rng := rand.New(rand.NewPCG(seed, 1))
			ids := []string{"a", "b", "c"}
			for i := range 12 {
				id := ids[rng.IntN(len(ids))]
				op := update(patient(id, fmt.Sprint("N", i)))
				if h, _ := e.svc.Head("Patient", id); h != nil && !h.Deleted && rng.IntN(4) == 0 {
					op = del("Patient", id)
				}
				e.apply(op)
			}
			// Unsynced writes in flight at the crash.
			orphan := Version{Meta: meta("Patient", "z", 1, "org:x", false), JSON: []byte(`{}`)}
			if err := e.store.Put([]Version{orphan}); err != nil {
				t.Fatal(err)
			}
			clone := mfs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rand.New(rand.NewPCG(seed, 2))})
			e.close()
			e.fs = clone
			e.open()
			var live []string
			for _, id := range ids {
				if h, _ := e.svc.Head("Patient", id); h != nil {
					live = append(live, id)
				}
			}
			checkAnchored(t, e, live...)
			if _, err := e.svc.Sweep(); err != nil {
				t.Fatal(err)
			}
			if _, err := e.svc.Rebuild(); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("without the per-block sync an anchored version can be lost", func(t *testing.T) {
		// What the BeforeCommit sync protects against: with it removed,
		// the ledger holds an anchor whose version a crash erased.
		e, mfs := newMemEnv(t)
		e.apply(create(patient("p1", "Alpha")))
		e.ledger.setBeforeCommit(nil)
		e.apply(update(patient("p1", "Beta")))
		e.crash(mfs)
		if _, _, _, err := e.svc.Read("Patient", "p1"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read of an anchored version that was never synced: err = %v; want ErrNotFound (lost)", err)
		}
	})
	t.Run("keys are durable on their own", func(t *testing.T) {
		e, mfs := newMemEnv(t)
		e.apply(create(patient("p1", "Alpha")))
		p := e.keys.Pseudonym("Patient", "p1")
		if err := e.keys.Shred(p); err != nil {
			t.Fatal(err)
		}
		e.crash(mfs)
		if shredded, err := e.keys.Shredded(p); !shredded || err != nil {
			t.Errorf("after a crash, Shredded(%s) = %v, %v; want true: a shred must be durable when it returns", p, shredded, err)
		}
	})
}

// TestRebuild checks what Rebuild indexes from the stored versions.
func TestRebuild(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("live", "Live")), create(patient("gone", "Gone")), create(patient("shred", "Shred")),
		create(patient("orphan", "Anchored")), create(patient("orphandel", "Anchored")), create(practitioner("dr", "Who")))
	e.apply(del("Patient", "gone"))
	e.apply(update(patient("live", "Live2")))
	if err := e.keys.Shred(e.keys.Pseudonym("Patient", "shred")); err != nil {
		t.Fatal(err)
	}
	// Unswept orphans newer than the anchored heads: an update and a
	// deletion whose anchors were lost.
	e.ledger.setFates(drop, drop)
	for _, op := range []Op{update(patient("orphan", "Orphan")), del("Patient", "orphandel")} {
		if _, err := e.svc.Apply(context.Background(), "x", []Op{op}); err == nil {
			t.Fatal("Apply with the ledger down succeeded")
		}
	}
	e.reopen()
	n, err := e.svc.Rebuild()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"live@2", "orphan@1", "orphandel@1"}
	if got := searchIDs(t, e.index, "Patient", ""); !slices.Equal(got, want) || n != len(want)+1 {
		t.Errorf("Rebuild = %d, indexed Patients %v; want %d, %v (no deleted, no shredded, anchored versions only)", n, got, len(want)+1, want)
	}
	if got := searchIDs(t, e.index, "Practitioner", ""); !slices.Equal(got, []string{"dr@1"}) {
		t.Errorf("indexed Practitioners %v; want dr@1", got)
	}
	// Without an index there is nothing to rebuild.
	svc := NewService(Config{Store: e.store, Ledger: e.ledger})
	if n, err := svc.Rebuild(); n != 0 || err != nil {
		t.Errorf("Rebuild without an index = %d, %v", n, err)
	}
}

// TestSweep checks which stored versions Sweep removes.
func TestSweep(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("p1", "A")), create(observation("o1", "p1", 1)))
	pseudo := e.keys.Pseudonym("Patient", "p1")
	orphans := []Version{
		{Meta: meta("Patient", "p1", 2, pseudo, false), JSON: []byte(`{}`)},
		{Meta: meta("Patient", "p1", 3, pseudo, true)},
		{Meta: meta("Patient", "never", 1, pseudo, false), JSON: []byte(`{}`)},
		{Meta: meta("Observation", "o1", 9, "org:"+org, false), JSON: []byte(`{}`)},
	}
	if err := e.store.Put(orphans); err != nil {
		t.Fatal(err)
	}
	// A shredded subject's orphans are swept too: Sweep needs no key.
	if err := e.keys.Shred(pseudo); err != nil {
		t.Fatal(err)
	}
	n, err := e.svc.Sweep()
	if err != nil || n != len(orphans) {
		t.Errorf("Sweep = %d, %v; want %d", n, err, len(orphans))
	}
	var left []string
	e.store.Each(func(m Meta, _ []byte, _ error) error {
		left = append(left, fmt.Sprintf("%s/%s/%d", m.Type, m.ID, m.Version))
		return nil
	})
	if want := []string{"Observation/o1/1", "Patient/p1/1"}; !slices.Equal(left, want) {
		t.Errorf("after Sweep the store holds %v; want %v", left, want)
	}
	// The heads are untouched.
	if h, _ := e.svc.Head("Patient", "p1"); h == nil || h.Version != 1 {
		t.Errorf("head after Sweep = %+v", h)
	}
}
