package records

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/fhir/search"
)

// TestConcurrentApplyRead runs writers and readers in parallel (run it
// with -race): writers of their own resources, writers racing on shared
// ones and on overlapping batches in opposite orders (the stripe locks
// must not deadlock), and readers of everything.
func TestConcurrentApplyRead(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("shared", "S0")), create(patient("x", "X0")), create(patient("y", "Y0")))
	const writers, writes = 3, 8
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for w := range writers {
		wg.Go(func() {
			own := fmt.Sprint("own", w)
			for i := range writes {
				ops := []Op{update(patient(own, fmt.Sprint("O", i)))}
				switch i % 3 {
				case 1:
					ops = append(ops, update(patient("shared", fmt.Sprintf("S%d-%d", w, i))))
				case 2:
					if w%2 == 0 {
						ops = append(ops, update(patient("x", "X")), update(patient("y", "Y")))
					} else {
						ops = append(ops, update(patient("y", "Y")), update(patient("x", "X")))
					}
				}
				if _, err := e.svc.Apply(ctx, "st-mary/dr-who", ops); err != nil {
					report(fmt.Errorf("writer %d: Apply(%s): %w", w, describe(ops), err))
				}
				e.clock.Advance(time.Millisecond)
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, id := range []string{"shared", "x", "own0"} {
					m, js, a, err := e.svc.Read("Patient", id)
					switch {
					case errors.Is(err, ErrNotFound) && id == "own0":
					case err != nil:
						report(fmt.Errorf("reader %d: Read(%s): %w", r, id, err))
					case HashOf(js) != a.Hash || a.Version != m.Version:
						report(fmt.Errorf("reader %d: Read(%s) v%d does not match its anchor v%d", r, id, m.Version, a.Version))
					}
				}
				if _, err := e.svc.History("Patient", "shared"); err != nil {
					report(fmt.Errorf("reader %d: History: %w", r, err))
				}
				if _, _, err := e.svc.TypeHistory("Patient", time.Time{}, 10); err != nil {
					report(fmt.Errorf("reader %d: TypeHistory: %w", r, err))
				}
				if _, err := e.index.Search("Patient", url.Values{"family": {"S0"}}, search.Options{}); err != nil {
					report(fmt.Errorf("reader %d: Search: %w", r, err))
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Every write landed, in order, with no version lost or doubled.
	wantVersions := map[string]uint64{"shared": 1 + writers*((writes+1)/3), "x": 1 + writers*(writes/3), "y": 1 + writers*(writes/3)}
	for w := range writers {
		wantVersions[fmt.Sprint("own", w)] = writes
	}
	for id, want := range wantVersions {
		h, err := e.svc.History("Patient", id)
		if err != nil || len(h) != int(want) {
			t.Errorf("History(%s) has %d versions, %v; want %d", id, len(h), err, want)
			continue
		}
		for i, m := range h {
			if m.Version != want-uint64(i) {
				t.Errorf("History(%s)[%d] = v%d; want v%d", id, i, m.Version, want-uint64(i))
			}
		}
		checkAnchored(t, e, id)
	}
	if n, err := e.svc.Sweep(); n != 0 || err != nil {
		t.Errorf("Sweep after concurrent writes = %d, %v; want nothing", n, err)
	}
}
