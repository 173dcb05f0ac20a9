package records

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	recordsc "github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/ledger"
)

// TestLifecycle drives one resource through create, update, delete,
// re-creation and conditional updates, then checks what every read
// returns for each version.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	steps := []struct {
		name    string
		op      Op
		want    uint64 // version written (or reported, for a no-op)
		deleted bool
		family  string // name of the written version
		err     error  // wanted error; nothing is written then
	}{
		{"create", create(patient("p1", "Alpha")), 1, false, "Alpha", nil},
		{"create taken id", create(patient("p1", "Other")), 0, false, "", ErrExists},
		{"update", update(patient("p1", "Beta")), 2, false, "Beta", nil},
		{"update with stale If-Match", Op{Kind: recordsc.OpUpdate, Resource: patient("p1", "Other"), IfMatch: 1}, 0, false, "", ErrConflict},
		{"update with If-Match", Op{Kind: recordsc.OpUpdate, Resource: patient("p1", "Gamma"), IfMatch: 2}, 3, false, "Gamma", nil},
		{"delete", del("Patient", "p1"), 4, true, "", nil},
		{"delete again changes nothing", del("Patient", "p1"), 4, true, "", nil},
		{"update of a deleted resource re-creates it", update(patient("p1", "Delta")), 5, false, "Delta", nil},
		{"delete", del("Patient", "p1"), 6, true, "", nil},
		{"create after delete", create(patient("p1", "Epsilon")), 7, false, "Epsilon", nil},
		{"invalid", update(mustParse(`{"resourceType":"Patient","id":"p1","gender":"robot"}`)), 0, false, "", ErrInvalid},
		{"delete of a missing resource", del("Patient", "nobody"), 0, false, "", ErrNotFound},
		{"update of a missing id creates it", update(patient("p2", "Zeta")), 1, false, "Zeta", nil},
	}
	families := map[uint64]string{} // Patient/p1 version → family; "" for a deletion
	for _, s := range steps {
		e.clock.Advance(time.Second)
		ws, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{s.op})
		if s.err != nil {
			if !errors.Is(err, s.err) {
				t.Fatalf("%s: Apply err = %v; want %v", s.name, err, s.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Apply: %v", s.name, err)
		}
		w := ws[0]
		if len(ws) != 1 || w.Meta.Version != s.want || w.Meta.Deleted != s.deleted {
			t.Fatalf("%s: Apply = %+v; want version %d deleted %v", s.name, ws, s.want, s.deleted)
		}
		if w.Meta.ID == "p1" {
			families[w.Meta.Version] = s.family
		}
		if s.deleted {
			if w.JSON != nil || w.Hash != "" {
				t.Errorf("%s: a deletion returned JSON %q hash %q", s.name, w.JSON, w.Hash)
			}
			continue
		}
		if w.Hash != HashOf(w.JSON) || w.Height == 0 || w.Tx == (ledger.Hash{}) {
			t.Errorf("%s: Written hash %s height %d tx %s; want the JSON's hash and the anchor", s.name, w.Hash, w.Height, w.Tx)
		}
		if !w.Meta.LastUpdated.Equal(e.clock.Now()) {
			t.Errorf("%s: lastUpdated %v; want %v", s.name, w.Meta.LastUpdated, e.clock.Now())
		}
		var tree struct {
			ID   string `json:"id"`
			Meta struct {
				VersionID   string `json:"versionId"`
				LastUpdated string `json:"lastUpdated"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(w.JSON, &tree); err != nil || tree.ID != w.Meta.ID ||
			tree.Meta.VersionID != fmt.Sprint(s.want) || tree.Meta.LastUpdated != e.clock.Now().Format("2006-01-02T15:04:05.000Z07:00") {
			t.Errorf("%s: stored JSON id/meta = %+v, %v; want id %s versionId %d", s.name, tree, err, w.Meta.ID, s.want)
		}
	}

	// History: every anchored version, newest first, deletions included.
	hist, err := e.svc.History("Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range hist {
		got = append(got, fmt.Sprintf("%d%s", m.Version, map[bool]string{true: "d"}[m.Deleted]))
	}
	if want := []string{"7", "6d", "5", "4d", "3", "2", "1"}; !slices.Equal(got, want) {
		t.Errorf("History(Patient/p1) = %v; want %v", got, want)
	}
	for i := 1; i < len(hist); i++ {
		if hist[i].LastUpdated.After(hist[i-1].LastUpdated) {
			t.Errorf("History not newest first: v%d at %v after v%d at %v", hist[i].Version, hist[i].LastUpdated, hist[i-1].Version, hist[i-1].LastUpdated)
		}
	}

	// VRead of each version: the content written then, a deletion as
	// ErrGone with its marker, and the anchor of that version.
	for v := uint64(1); v <= 7; v++ {
		m, js, a, err := e.svc.VRead("Patient", "p1", v)
		if f := families[v]; f == "" {
			if !errors.Is(err, ErrGone) || !m.Deleted || m.Version != v || js != nil || a == nil || a.Op != recordsc.OpDelete {
				t.Errorf("VRead(v%d) = %+v, %q, %+v, %v; want the deletion marker with ErrGone", v, m, js, a, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("VRead(v%d): %v", v, err)
		}
		if got := family(t, js); got != families[v] || m.Version != v {
			t.Errorf("VRead(v%d) = version %d family %q; want %q", v, m.Version, got, families[v])
		}
		if a == nil || a.Version != v || a.Hash != HashOf(js) || a.Author != "st-mary/dr-who" || a.Org != org ||
			a.Signer != serviceMember || a.Patient != e.keys.Pseudonym("Patient", "p1") {
			t.Errorf("VRead(v%d) anchor = %+v", v, a)
		}
	}
	for _, v := range []uint64{0, 8, 1 << 63} {
		if _, _, _, err := e.svc.VRead("Patient", "p1", v); !errors.Is(err, ErrNotFound) {
			t.Errorf("VRead(v%d) err = %v; want ErrNotFound", v, err)
		}
	}
	m, js, _, err := e.svc.Read("Patient", "p1")
	if err != nil || m.Version != 7 || family(t, js) != "Epsilon" {
		t.Errorf("Read(Patient/p1) = v%d, %v; want v7 Epsilon", m.Version, err)
	}
	for _, id := range []string{"nobody", "p"} {
		if _, _, _, err := e.svc.Read("Patient", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(Patient/%s) err = %v; want ErrNotFound", id, err)
		}
		if _, err := e.svc.History("Patient", id); !errors.Is(err, ErrNotFound) {
			t.Errorf("History(Patient/%s) err = %v; want ErrNotFound", id, err)
		}
	}
}

func TestInvalidError(t *testing.T) {
	e := newEnv(t)
	_, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{
		create(patient("ok", "Fine")),
		create(mustParse(`{"resourceType":"Patient","id":"bad","gender":"robot"}`)),
		create(mustParse(`{"resourceType":"Observation","id":"bad2"}`)),
	})
	var ie *InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("Apply of invalid resources: err = %v; want an *InvalidError", err)
	}
	if len(ie.Issues) < 2 {
		t.Fatalf("issues = %+v; want at least one per invalid entry", ie.Issues)
	}
	for _, is := range ie.Issues {
		if !slices.Contains([]string{"entry 1: ", "entry 2: "}, is.Diagnostics[:9]) {
			t.Errorf("issue %q does not name its bundle entry", is.Diagnostics)
		}
	}
	// All or nothing: the valid entry was not written either.
	if _, _, _, err := e.svc.Read("Patient", "ok"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read of the valid entry of a refused batch: err = %v; want ErrNotFound", err)
	}
	if ms, _ := e.store.Versions("Patient", "ok"); len(ms) != 0 {
		t.Errorf("a refused batch left %d stored versions", len(ms))
	}
}

// TestReadAfterDelete checks every read of a deleted resource.
func TestReadAfterDelete(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("p1", "Alpha")), create(observation("o1", "p1", 60)))
	e.apply(update(observation("o1", "p1", 70)))
	e.clock.Advance(time.Second)
	e.apply(del("Observation", "o1"))

	m, js, a, err := e.svc.Read("Observation", "o1")
	if !errors.Is(err, ErrGone) || !m.Deleted || m.Version != 3 || js != nil || a == nil || a.Op != recordsc.OpDelete {
		t.Errorf("Read of a deleted resource = %+v, %q, %+v, %v; want its v3 marker with ErrGone", m, js, a, err)
	}
	// The deletion keeps the patient compartment of the resource.
	if p := e.keys.Pseudonym("Patient", "p1"); m.Subject != p || a.Patient != p {
		t.Errorf("deletion subject %q, anchor patient %q; want the patient's pseudonym %q", m.Subject, a.Patient, p)
	}
	if _, _, err := e.svc.Stored("Observation", "o1", 3); !errors.Is(err, ErrGone) {
		t.Errorf("Stored(deleted version) err = %v; want ErrGone", err)
	}
	if _, js, err := e.svc.Stored("Observation", "o1", 2); err != nil || js == nil {
		t.Errorf("Stored(v2) = %q, %v; want the version", js, err)
	}
	for v := uint64(1); v <= 2; v++ {
		if _, js, _, err := e.svc.VRead("Observation", "o1", v); err != nil || js == nil {
			t.Errorf("VRead(v%d) after delete = %q, %v; want the old version", v, js, err)
		}
	}
	if h, err := e.svc.History("Observation", "o1"); err != nil || len(h) != 3 || !h[0].Deleted {
		t.Errorf("History after delete = %+v, %v; want 3 versions, the deletion first", h, err)
	}
	if n := searchIDs(t, e.index, "Observation", ""); len(n) != 0 {
		t.Errorf("the index still finds the deleted resource: %v", n)
	}
	if n := searchIDs(t, e.index, "Patient", ""); !slices.Equal(n, []string{"p1@1"}) {
		t.Errorf("the index holds %v; want p1@1", n)
	}
}

// searchIDs returns id@version of the indexed resources of typ matching q.
func searchIDs(t testing.TB, ix *search.Index, typ, q string) []string {
	t.Helper()
	vals, err := url.ParseQuery(q)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ix.Search(typ, vals, search.Options{})
	if err != nil {
		t.Fatalf("Search(%s?%s): %v", typ, q, err)
	}
	var out []string
	for i, id := range res.IDs {
		out = append(out, fmt.Sprintf("%s@%d", id, res.Versions[i]))
	}
	slices.Sort(out)
	return out
}

// TestSubjects checks which key each resource is sealed under.
func TestSubjects(t *testing.T) {
	e := newEnv(t)
	ws := e.apply(create(patient("p1", "Alpha")), create(observation("o1", "p1", 60)), create(practitioner("dr1", "Who")),
		create(mustParse(`{"resourceType":"Observation","id":"o2","status":"final","code":{"text":"x"},"subject":{"reference":"Group/g1"}}`)))
	p := e.keys.Pseudonym("Patient", "p1")
	want := []string{p, p, "org:" + org, "org:" + org}
	for i, w := range ws {
		if w.Meta.Subject != want[i] {
			t.Errorf("%s/%s sealed under %q; want %q", w.Meta.Type, w.Meta.ID, w.Meta.Subject, want[i])
		}
		_, _, a, err := e.svc.Read(w.Meta.Type, w.Meta.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wantPt := map[bool]string{true: p}[want[i] == p]; a.Patient != wantPt {
			t.Errorf("%s/%s anchored with patient %q; want %q", w.Meta.Type, w.Meta.ID, a.Patient, wantPt)
		}
	}
	tests := []struct {
		name string
		r    *fhir.Resource
		want string
	}{
		{"patient itself", patient("x", "A"), "x"},
		{"subject", observation("o", "x", 1), "x"},
		{"patient element", mustParse(`{"resourceType":"AllergyIntolerance","patient":{"reference":"Patient/y"}}`), "y"},
		// Forms a search also takes as the patient: the record is theirs
		// (encrypted under their key, decided by their consents).
		{"versioned reference", mustParse(`{"resourceType":"Observation","subject":{"reference":"Patient/y/_history/2"}}`), "y"},
		{"absolute reference", mustParse(`{"resourceType":"Observation","subject":{"reference":"http://x/Patient/y"}}`), "y"},
		{"absolute versioned reference", mustParse(`{"resourceType":"Observation","subject":{"reference":"https://x/fhir/Patient/y/_history/3"}}`), "y"},
		{"provenance target", mustParse(`{"resourceType":"Provenance","target":[{"reference":"Observation/o"},{"reference":"Patient/y"}]}`), "y"},
		{"query, not a reference", mustParse(`{"resourceType":"Observation","subject":{"reference":"Patient?identifier=x"}}`), ""},
		{"group", mustParse(`{"resourceType":"Observation","subject":{"reference":"Group/y"}}`), ""},
		{"reference not a string", mustParse(`{"resourceType":"Observation","subject":{"reference":7}}`), ""},
		{"subject not an object", mustParse(`{"resourceType":"Observation","subject":"Patient/y"}`), ""},
		{"none", practitioner("z", "Q"), ""},
	}
	for _, tt := range tests {
		if got := PatientOf(tt.r); got != tt.want {
			t.Errorf("PatientOf(%s) = %q; want %q", tt.name, got, tt.want)
		}
	}
}

// TestBatch checks a transaction: several resources, and several versions
// of one resource, anchored in one ledger transaction.
func TestBatch(t *testing.T) {
	e := newEnv(t)
	ws := e.apply(create(patient("p1", "Alpha")), update(patient("p1", "Beta")), create(observation("o1", "p1", 1)), del("Observation", "o1"))
	var got []string
	for _, w := range ws {
		got = append(got, fmt.Sprintf("%s/%s/%d", w.Meta.Type, w.Meta.ID, w.Meta.Version))
		if w.Tx != ws[0].Tx || w.Height != ws[0].Height {
			t.Errorf("batch entries anchored in different transactions: %+v", ws)
		}
	}
	if want := []string{"Patient/p1/1", "Patient/p1/2", "Observation/o1/1", "Observation/o1/2"}; !slices.Equal(got, want) {
		t.Errorf("Apply(batch) = %v; want %v", got, want)
	}
	if _, js, _, err := e.svc.Read("Patient", "p1"); err != nil || family(t, js) != "Beta" {
		t.Errorf("Read after the batch = %v; want Beta", err)
	}
	if n := searchIDs(t, e.index, "Patient", ""); !slices.Equal(n, []string{"p1@2"}) {
		t.Errorf("index after the batch = %v; want p1@2", n)
	}
}

// TestAnchorRefused checks that a write the ledger refuses leaves no
// stored version, and one whose outcome is unknown is left for Sweep.
func TestAnchorRefused(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("p1", "Alpha")))

	// Another writer anchors version 2 between our head read and our
	// anchor: the contract refuses ours.
	e.ledger.setBefore(func() {
		raw, _ := anchor(t)(recordsc.Write{Anchors: []recordsc.Anchor{{Type: "Patient", ID: "p1", Version: 2, Op: recordsc.OpDelete, Author: "x"}}})
		if _, err := e.ledger.Submit(context.Background(), raw); err != nil {
			t.Error(err)
		}
	})
	_, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Beta")), create(patient("p2", "Two"))})
	var le *ledger.Error
	if !errors.As(err, &le) || le.Code != ledger.CodeContract {
		t.Fatalf("Apply refused by the contract: err = %v; want a CodeContract *ledger.Error", err)
	}
	if ms, _ := e.store.Versions("Patient", "p2"); len(ms) != 0 {
		t.Errorf("a refused write left %+v", ms)
	}

	// The node stops before anchoring: the outcome is final, but only
	// the ledger knows it, so the versions stay for Sweep.
	e.ledger.setFates(drop)
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{create(patient("p3", "Three"))}); err == nil {
		t.Fatal("Apply with the ledger unavailable succeeded")
	}
	if ms, _ := e.store.Versions("Patient", "p3"); len(ms) != 1 {
		t.Errorf("an unavailable ledger: stored versions %+v; want the orphan kept", ms)
	}
	if _, _, _, err := e.svc.Read("Patient", "p3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read of an unanchored version: err = %v; want ErrNotFound", err)
	}
	if ms, _, _ := e.svc.TypeHistory("Patient", time.Time{}, 0); len(ms) != 1 || ms[0].ID != "p1" {
		t.Errorf("TypeHistory = %+v; want only Patient/p1 v1 (p2 refused, p3 not anchored)", ms)
	}

	// A timeout after the anchor committed: the write is there.
	e.ledger.setFates(commitLost)
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{create(patient("p4", "Four"))}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply err = %v; want the timeout", err)
	}
	if _, js, _, err := e.svc.Read("Patient", "p4"); err != nil || family(t, js) != "Four" {
		t.Errorf("Read of a write whose receipt was lost: %v", err)
	}

	n, err := e.svc.Sweep()
	if err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want 1 orphan (p3)", n, err)
	}
	if ms, _ := e.store.Versions("Patient", "p3"); len(ms) != 0 {
		t.Errorf("after Sweep, p3 still has %+v", ms)
	}
	if n, err := e.svc.Sweep(); n != 0 || err != nil {
		t.Errorf("second Sweep = %d, %v; want 0", n, err)
	}
	if _, _, _, err := e.svc.Read("Patient", "p4"); err != nil {
		t.Errorf("Sweep removed an anchored version: %v", err)
	}
}

// TestRetryAfterTimeout: a write times out while its anchor is still
// queued (the solo sequencer keeps it), and the client retries before it
// commits. The retry must not replace the stored version that the queued
// anchor names, and the anchored version must stay readable.
func TestRetryAfterTimeout(t *testing.T) {
	e := newEnv(t)
	e.apply(create(patient("p1", "Alpha")))
	e.ledger.setFates(late)
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Beta"))}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Apply err = %v; want the timeout", err)
	}
	// The retry runs while the first anchor is still queued; it commits
	// first, in the block before the retry's.
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Gamma"))}); !errors.Is(err, ErrConflict) {
		t.Errorf("retry while the first anchor is queued: err = %v; want ErrConflict", err)
	}
	if err := e.ledger.commitHeld(); err != nil {
		t.Fatal(err)
	}
	h, err := e.svc.Head("Patient", "p1")
	if err != nil || h == nil {
		t.Fatalf("Head = %+v, %v", h, err)
	}
	for v := uint64(1); v <= h.Version; v++ {
		_, js, a, err := e.svc.VRead("Patient", "p1", v)
		if err != nil {
			t.Errorf("VRead(v%d) of an anchored version: %v", v, err)
			continue
		}
		if HashOf(js) != a.Hash {
			t.Errorf("VRead(v%d) returns %s; it does not match the anchored hash %s", v, family(t, js), a.Hash)
		}
	}
	// Once the queued anchor landed, a retry succeeds.
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Gamma"))}); err != nil {
		t.Errorf("retry after the queued anchor committed: %v", err)
	}

	// An anchor that never commits (the node was stopping) keeps its
	// version stored: writes of that resource wait for the restart's
	// Sweep, and other resources are not held up.
	e.ledger.setFates(drop)
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Delta"))}); err == nil {
		t.Fatal("Apply with the ledger unavailable succeeded")
	}
	if _, err := e.svc.Apply(context.Background(), "st-mary/dr-who", []Op{update(patient("p1", "Delta"))}); !errors.Is(err, ErrConflict) {
		t.Errorf("write over an unswept orphan: err = %v; want ErrConflict", err)
	}
	e.apply(create(patient("p2", "Other")))
	e.reopen()
	if n, err := e.svc.Sweep(); n != 1 || err != nil {
		t.Errorf("Sweep = %d, %v; want 1", n, err)
	}
	if ws := e.apply(update(patient("p1", "Delta"))); ws[0].Meta.Version != 4 {
		t.Errorf("write after Sweep = v%d; want v4", ws[0].Meta.Version)
	}
}

// TestTypeHistory checks order, _since and _count.
func TestTypeHistory(t *testing.T) {
	e := newEnv(t)
	type step struct {
		at  time.Duration // after t0
		ops []Op
	}
	steps := []step{
		{1 * time.Second, []Op{create(patient("a", "A1"))}},
		{2 * time.Second, []Op{create(patient("b", "B1"))}},
		{3 * time.Second, []Op{update(patient("a", "A2"))}},
		{4 * time.Second, []Op{create(practitioner("dr", "D1"))}},
		{5 * time.Second, []Op{del("Patient", "b")}},
		// Two versions of one resource in one transaction share a time.
		{6 * time.Second, []Op{update(patient("c", "C1")), update(patient("c", "C2")), create(patient("bb", "BB"))}},
	}
	for _, s := range steps {
		e.clock.Advance(s.at - e.clock.Now().Sub(t0))
		e.apply(s.ops...)
	}
	// An orphan (never anchored) is not history.
	e.ledger.setFates(drop)
	e.clock.Advance(time.Second)
	if _, err := e.svc.Apply(context.Background(), "x", []Op{update(patient("a", "A3"))}); err == nil {
		t.Fatal("Apply with the ledger down succeeded")
	}

	// Newest first; ties on time by id, then newest version first.
	all := []string{"bb/1", "c/2", "c/1", "b/2d", "a/2", "b/1", "a/1"}
	tests := []struct {
		name  string
		typ   string
		since time.Duration // after t0; 0: zero time
		count int
		want  []string
		total int
	}{
		{"all", "Patient", 0, 0, all, 7},
		{"count", "Patient", 0, 2, all[:2], 7},
		{"count above total", "Patient", 0, 100, all, 7},
		{"since is inclusive", "Patient", 3 * time.Second, 0, all[:5], 5},
		{"since between versions", "Patient", 2500 * time.Millisecond, 0, all[:5], 5},
		{"since and count", "Patient", 3 * time.Second, 1, all[:1], 5},
		{"since after everything", "Patient", time.Hour, 10, nil, 0},
		{"since before everything", "Patient", -time.Hour, 0, all, 7},
		{"other type", "Practitioner", 0, 0, []string{"dr/1"}, 1},
		{"type that is a prefix", "Patien", 0, 0, nil, 0},
		{"unknown type", "Nothing", 0, 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var since time.Time
			if tt.since != 0 {
				since = t0.Add(tt.since)
			}
			ms, total, err := e.svc.TypeHistory(tt.typ, since, tt.count)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, fmt.Sprintf("%s/%d%s", m.ID, m.Version, map[bool]string{true: "d"}[m.Deleted]))
			}
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("TypeHistory(%s, %v, %d) = %v total %d; want %v total %d", tt.typ, tt.since, tt.count, got, total, tt.want, tt.total)
			}
		})
	}
}

func TestHeadPatient(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
	}{
		{`{"version":1,"hash":"ab","patient":"pt_0123456789abcdef"}`, "pt_0123456789abcdef"},
		{`{"version":2,"hash":"ab"}`, ""},
		{`{"version":3,"deleted":true,"patient":"pt_0123456789abcdef"}`, "pt_0123456789abcdef"},
	} {
		svc := NewService(Config{Ledger: fixedLedger{"records/h/Observation/o1": tc.raw}})
		p, ok, err := svc.HeadPatient("Observation", "o1")
		if err != nil || !ok || p != tc.want {
			t.Errorf("HeadPatient(%s) = %q, %v, %v; want %q", tc.raw, p, ok, err, tc.want)
		}
		if h, _ := svc.Head("Observation", "o1"); h.Patient != p {
			t.Errorf("HeadPatient %q differs from Head's %q", p, h.Patient)
		}
	}
	svc := NewService(Config{Ledger: fixedLedger{}})
	if _, ok, err := svc.HeadPatient("Observation", "none"); ok || err != nil {
		t.Errorf("HeadPatient of nothing: %v %v", ok, err)
	}
}

// fixedLedger answers Get from a map.
type fixedLedger map[string]string

func (l fixedLedger) Get(k []byte) ([]byte, bool, error) {
	v, ok := l[string(k)]
	return []byte(v), ok, nil
}
func (l fixedLedger) Submit(context.Context, []byte) (ledger.Receipt, error) {
	return ledger.Receipt{}, errors.New("read-only")
}
