package access

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/ai/model"
	"github.com/medledger/medledger/internal/synth"
)

// A tiny hospital: nurse n1 and clerk c1 live at 12 Oak Street; patient
// p-care is n1's, p-vip a celebrity in-house elsewhere, p-home lives with
// n1 (same surname and address).
var tinyContext = map[string]string{
	"Patient.ndjson": `{"resourceType":"Patient","id":"p-care","name":[{"family":"Smith"}],"address":[{"line":["1 Elm Road"],"city":"Boston"}]}
{"resourceType":"Patient","id":"p-vip","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"CELEB"}]},"name":[{"family":"Starr"}]}
{"resourceType":"Patient","id":"p-home","name":[{"family":"García"}],"address":[{"line":["12 Oak Street"],"city":"Boston"}]}
not json
`,
	"Practitioner.ndjson": `{"resourceType":"Practitioner","id":"n1","identifier":[{"value":"h/n1"}],"name":[{"family":"Garcia"}],"address":[{"line":["12  Oak Street"],"city":"boston"}]}
{"resourceType":"Practitioner","id":"d2","identifier":[{"value":"h/d2"}]}
`,
	"PractitionerRole.ndjson": `{"resourceType":"PractitionerRole","id":"r1","practitioner":{"reference":"Practitioner/n1"},"organization":{"reference":"Organization/ward"},"code":[{"coding":[{"code":"nurse"}]}]}
{"resourceType":"PractitionerRole","id":"r2","practitioner":{"reference":"Practitioner/d2"},"organization":{"reference":"Organization/icu"},"code":[{"coding":[{"code":"physician"}]}]}
`,
	"Encounter.ndjson": `{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p-care"},"period":{"start":"2026-01-01T00:00:00Z"},"serviceProvider":{"reference":"Organization/ward"}}
{"resourceType":"Encounter","id":"e2","subject":{"reference":"Patient/p-vip"},"period":{"start":"2026-01-01T00:00:00Z","end":"2026-01-20T00:00:00Z"},"participant":[{"individual":{"reference":"Practitioner/d2"}}],"serviceProvider":{"reference":"Organization/icu"}}
`,
	"CareTeam.ndjson": `{"resourceType":"CareTeam","id":"ct1","subject":{"reference":"Patient/p-care"},"encounter":{"reference":"Encounter/e1"},"participant":[{"member":{"reference":"Practitioner/n1"}}]}
`,
}

func writeContext(t testing.TB) string {
	dir := t.TempDir()
	for name, s := range tinyContext {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestContext(t *testing.T) {
	c, err := LoadContext(writeContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Skipped != 1 {
		t.Errorf("Skipped = %d; want 1", c.Skipped)
	}
	at := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		user, patient string
		at            time.Time
		want          Relation
	}{
		{"h/n1", "p-care", at, RelCare},
		{"Practitioner/n1", "p-care", at, RelCare},
		{"h/d2", "p-care", at, RelFacility},
		{"h/d2", "p-vip", at, RelCare},
		{"h/n1", "p-vip", at, RelFacility},
		{"h/n1", "p-vip", at.AddDate(0, 2, 0), RelNone}, // long after discharge
		{"h/n1", "p-home", at, RelNone},
		{"h/unknown", "p-care", at, RelFacility},
	}
	for _, tt := range tests {
		if got := c.Relation(tt.user, tt.patient, tt.at); got != tt.want {
			t.Errorf("Relation(%s, %s) = %v; want %v", tt.user, tt.patient, got, tt.want)
		}
	}
	u, ok := c.User("h/n1")
	p, _ := c.Patient("p-home")
	if !ok || u.Role != "nurse" || u.Dept != "Organization/ward" || u.Family != p.Family || u.Addr.Line != p.Addr.Line || u.Addr.City != p.Addr.City {
		t.Errorf("User(h/n1) = %+v, Patient(p-home) = %+v; want a nurse at the patient's address", u, p)
	}
	if v, _ := c.Patient("p-vip"); !v.VIP {
		t.Error("p-vip is not VIP")
	}
	empty, err := LoadContext(t.TempDir())
	if err != nil || empty.Relation("h/n1", "p-care", at) != RelUnknown {
		t.Errorf("an empty context: %v, relation %v; want unknown", err, empty.Relation("h/n1", "p-care", at))
	}
	if _, err := LoadContext(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("LoadContext of a missing directory succeeded")
	}
}

func ev(id, user, patient, typ string, t time.Time, addr, purpose string) []byte {
	ents := ""
	if patient != "" {
		ents = `{"what":{"reference":"Patient/` + patient + `"},"role":{"code":"1"}}`
		if typ != "Patient" {
			ents += `,{"what":{"reference":"` + typ + `/x"},"role":{"code":"4"}}`
		}
	}
	return []byte(fmt.Sprintf(`{"resourceType":"AuditEvent","id":%q,"subtype":[{"code":"read"}],"recorded":%q,"outcome":"0",`+
		`"purposeOfEvent":[{"coding":[{"code":%q}]}],"agent":[{"who":{"identifier":{"value":%q}},"requestor":true,"network":{"address":%q}}],"entity":[%s]}`,
		id, t.Format(time.RFC3339), purpose, user, addr, ents))
}

// TestDetectorScenario trains the nurse's habits, then checks the
// attacks stand out, with reasons that name no one.
func TestDetectorScenario(t *testing.T) {
	c, err := LoadContext(writeContext(t))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(nil, Config{Directory: c})
	if err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC)
	n := 0
	observe := func(b []byte) Score {
		e, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		n++
		return d.Observe(e)
	}
	for k := range 300 { // ten days of day-shift work on the nurse's own patient
		at := day.Add(time.Duration(k/30)*24*time.Hour + time.Duration(k%30)*15*time.Minute)
		observe(ev(fmt.Sprint("n", k), "h/n1", "p-care", "Observation", at, "10.1.1.5", "TREAT"))
	}
	at := day.AddDate(0, 0, 11)
	normal := observe(ev("ok", "h/n1", "p-care", "Observation", at, "10.1.1.5", "TREAT"))
	tests := []struct {
		name, id string
		b        []byte
		reason   string
	}{
		{"vip", "a1", ev("a1", "h/n1", "p-vip", "Condition", at.Add(time.Minute), "10.1.1.5", "TREAT"), "vip_outside_care"},
		{"family", "a2", ev("a2", "h/n1", "p-home", "Patient", at.Add(2*time.Minute), "10.1.1.5", "TREAT"), "same_address"},
		{"stolen", "a3", ev("a3", "h/n1", "p-care", "Patient", at.Add(15*time.Hour), "203.0.113.9", "TREAT"), "off_hours"},
	}
	for _, tt := range tests {
		s := observe(tt.b)
		if s.Score <= normal.Score+0.2 || s.ID != tt.id {
			t.Errorf("%s: Score = %.3f (id %s); want well above the normal %.3f", tt.name, s.Score, s.ID, normal.Score)
		}
		found := false
		for _, code := range s.Codes {
			found = found || code == tt.reason
		}
		if !found {
			t.Errorf("%s: reasons %q (codes %v) do not include %s", tt.name, s.Reasons, s.Codes, tt.reason)
		}
		for _, r := range s.Reasons {
			for _, pii := range []string{"Garcia", "García", "Starr", "Oak", "p-vip", "p-home"} {
				if strings.Contains(r, pii) {
					t.Errorf("%s: reason %q names %q", tt.name, r, pii)
				}
			}
		}
	}
	if normal.Alert || len(normal.Reasons) > 1 {
		t.Errorf("normal access = %+v; want no alert", normal)
	}
}

func TestNoDirectory(t *testing.T) {
	d, err := New(nil, Config{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		e, _ := Parse(ev(fmt.Sprint(i), "u", "p", "Observation", time.Time{}, "", "TREAT"))
		if s := d.Observe(e); s.Score < 0 || s.Score > 1 {
			t.Fatalf("Score = %v", s.Score)
		}
	}
}

func TestNewRejectsModel(t *testing.T) {
	m := BaseModel()
	m.Detector = "claims"
	if _, err := New(m, Config{}); !errors.Is(err, ErrModel) {
		t.Errorf("New(claims model) = %v; want ErrModel", err)
	}
	m = BaseModel()
	m.Params = []byte(`{"nope":1}`)
	if _, err := New(m, Config{}); !errors.Is(err, ErrModel) {
		t.Errorf("New(unknown params) = %v; want ErrModel", err)
	}
	m = BaseModel()
	m.Features = append(m.Features, "future_feature")
	m.Rules.Weights["future_feature"] = 1
	if _, err := New(m, Config{}); !errors.Is(err, ErrModel) {
		t.Errorf("New(unknown feature) = %v; want ErrModel", err)
	}
}

func TestDefaultModel(t *testing.T) {
	m, err := model.Parse(DefaultModel())
	if err != nil {
		t.Fatal(err)
	}
	if m.Forest == nil || m.Training.DataSHA256 == "" || m.Metrics["roc_auc"] < 0.95 {
		t.Errorf("the built-in model lacks a forest, training hash or metrics: %+v", m.Training)
	}
}

var (
	synthOnce   sync.Once
	synthEvents []byte
	synthLabels []byte
	synthDir    string
)

// smallSynth is a small synthetic hospital, written once per test binary.
func smallSynth(t testing.TB) ([]byte, []byte, string) {
	synthOnce.Do(func() {
		dir, err := os.MkdirTemp("", "access-test")
		if err != nil {
			t.Fatal(err)
		}
		var ev, lb bytes.Buffer
		files := map[string]*os.File{}
		for _, n := range ContextFiles {
			f, err := os.Create(filepath.Join(dir, n))
			if err != nil {
				t.Fatal(err)
			}
			files[n] = f
		}
		_, err = synth.WriteAccess(synth.AccessOptions{Days: 6, Users: 40, Patients: 400, Seed: 11, Episodes: 3},
			synth.AccessOutput{Events: &ev, Labels: &lb, Patient: files["Patient.ndjson"], Practitioner: files["Practitioner.ndjson"],
				PractitionerRole: files["PractitionerRole.ndjson"], Encounter: files["Encounter.ndjson"], CareTeam: files["CareTeam.ndjson"]})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			f.Close()
		}
		synthEvents, synthLabels, synthDir = ev.Bytes(), lb.Bytes(), dir
	})
	return synthEvents, synthLabels, synthDir
}

// TestSyntheticQuality is a small end-to-end smoke check (a tiny hospital
// with a week of history: baselines are still cold) of the built-in model
// on a synthetic hospital (the quality bar itself is measured with
// medledger eval access on full-size scenarios; see the README).
func TestSyntheticQuality(t *testing.T) {
	evs, lbs, dir := smallSynth(t)
	labels, err := ReadLabels(bytes.NewReader(lbs))
	if err != nil {
		t.Fatal(err)
	}
	c, err := LoadContext(dir)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(nil, Config{Directory: c})
	if err != nil {
		t.Fatal(err)
	}
	var scores []float64
	var attacks []string
	err = ReadEvents(context.Background(), bytes.NewReader(evs), 2, func(e *Event, err error) error {
		if err != nil {
			return err
		}
		scores = append(scores, d.Observe(e).Score)
		attacks = append(attacks, labels[e.ID])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rep := Evaluate(scores, attacks, d.Threshold())
	if rep.ROCAUC < 0.95 || rep.RecallAt1Pct < 0.5 {
		t.Errorf("ROC-AUC %.3f, recall at 1%% %.3f on a small hospital; want ≥ 0.95 and ≥ 0.5", rep.ROCAUC, rep.RecallAt1Pct)
	}
}

func TestTrain(t *testing.T) {
	evs, _, dir := smallSynth(t)
	c, _ := LoadContext(dir)
	m, n, err := Train(context.Background(), bytes.NewReader(evs), TrainOptions{Directory: c, Trees: 10, SampleSize: 64, Seed: 3, Name: "t", Version: "2"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.Parse(b); err != nil || n == 0 || m.Forest == nil || m.Name != "t" || m.Version != "2" {
		t.Fatalf("Train = %s %s (%d events), parse %v", m.Name, m.Version, n, err)
	}
	m2, _, _ := Train(context.Background(), bytes.NewReader(evs), TrainOptions{Directory: c, Trees: 10, SampleSize: 64, Seed: 3, Name: "t", Version: "2"})
	b2, _ := m2.Encode()
	if !bytes.Equal(b, b2) {
		t.Error("Train is not deterministic")
	}
	if _, _, err := Train(context.Background(), strings.NewReader(""), TrainOptions{}); err == nil {
		t.Error("Train on nothing succeeded")
	}
}

func TestReadEvents(t *testing.T) {
	var in bytes.Buffer
	for i := range 1000 {
		if i == 500 {
			in.WriteString("not an audit event\n\n")
		}
		if i == 700 { // a line too long to keep, at line 703
			in.WriteString(`{"resourceType":"AuditEvent","id":"` + strings.Repeat("x", MaxEventBytes) + "\"}\n")
		}
		in.Write(ev(fmt.Sprint(i), "u", "p", "Patient", time.Unix(int64(i), 0), "", "TREAT"))
		in.WriteByte('\n')
	}
	var ids []string
	bad := 0
	err := ReadEvents(context.Background(), &in, 3, func(e *Event, err error) error {
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || (le.Line != 501 && le.Line != 703) {
				t.Errorf("error %v; want a LineError at line 501 or 703", err)
			}
			bad++
			return nil
		}
		ids = append(ids, e.ID)
		return nil
	})
	if err != nil || bad != 2 || len(ids) != 1000 {
		t.Fatalf("ReadEvents = %v, %d bad, %d events", err, bad, len(ids))
	}
	// The last line need not end in a newline.
	last := 0
	ReadEvents(context.Background(), strings.NewReader(string(ev("only", "u", "p", "Patient", time.Unix(1, 0), "", "TREAT"))), 1, func(e *Event, err error) error {
		if err == nil && e.ID == "only" {
			last++
		}
		return nil
	})
	if last != 1 {
		t.Errorf("a final line without newline was read %d times", last)
	}
	for i, id := range ids {
		if id != fmt.Sprint(i) {
			t.Fatalf("event %d has id %s: out of order", i, id)
		}
	}
	stop := errors.New("stop")
	in.Reset()
	for i := range 5000 {
		in.Write(ev(fmt.Sprint(i), "u", "p", "Patient", time.Unix(int64(i), 0), "", "TREAT"))
		in.WriteByte('\n')
	}
	k := 0
	if err := ReadEvents(context.Background(), &in, 2, func(*Event, error) error {
		if k++; k == 10 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || k != 10 {
		t.Errorf("ReadEvents with a failing callback = %v after %d; want stop after 10", err, k)
	}
}

// BenchmarkObserve measures scoring one parsed AuditEvent with the
// built-in model (features, baselines, rules, isolation forest, reasons).
func BenchmarkObserve(b *testing.B) {
	evs, _, dir := smallSynth(b)
	c, _ := LoadContext(dir)
	var parsed []*Event
	ReadEvents(context.Background(), bytes.NewReader(evs), 2, func(e *Event, err error) error {
		if err == nil {
			parsed = append(parsed, e)
		}
		return nil
	})
	d, _ := New(nil, Config{Directory: c})
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(parsed) {
			i = 0
			d, _ = New(nil, Config{Directory: c})
		}
		d.Observe(parsed[i])
		i++
	}
}

// BenchmarkParseObserve adds parsing the AuditEvent JSON.
func BenchmarkParseObserve(b *testing.B) {
	evs, _, dir := smallSynth(b)
	c, _ := LoadContext(dir)
	lines := bytes.Split(bytes.TrimSpace(evs), []byte("\n"))
	d, _ := New(nil, Config{Directory: c})
	b.ReportAllocs()
	b.SetBytes(int64(len(evs) / len(lines)))
	i := 0
	for b.Loop() {
		if i == len(lines) {
			i = 0
			d, _ = New(nil, Config{Directory: c})
		}
		e, err := Parse(lines[i])
		if err != nil {
			b.Fatal(err)
		}
		d.Observe(e)
		i++
	}
}

func TestGrouper(t *testing.T) {
	var g Grouper
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	s := Score{Codes: []string{"unexplained_2h"}}
	tests := []struct {
		user string
		at   time.Duration
		s    Score
		want bool
	}{
		{"a", 0, s, true},
		{"a", 10 * time.Minute, s, false}, // same spree
		{"a", 20 * time.Minute, Score{Codes: []string{"export"}}, true}, // another reason
		{"b", 20 * time.Minute, s, true},                                // another user
		{"a", 61 * time.Minute, s, true},                                // window over
		{"a", 70 * time.Minute, Score{}, true},                          // no reason code
	}
	for i, tt := range tests {
		if got, _ := g.Add(&Event{User: tt.user, Time: t0.Add(tt.at)}, tt.s); got != tt.want {
			t.Errorf("step %d: Add(%s at %v) = %v; want %v", i, tt.user, tt.at, got, tt.want)
		}
	}
}

// TestXGBoostPart runs a model whose XGBoost ensemble names its inputs by
// feature name: one stump adding 3 to the margin of VIP accesses outside
// the care team.
func TestXGBoostPart(t *testing.T) {
	const booster = `{"learner":{"feature_names":["same_address","vip_outside_care"],
	 "gradient_booster":{"name":"gbtree","model":{"trees":[{"left_children":[1,-1,-1],"right_children":[2,-1,-1],
	  "split_indices":[1,0,0],"split_conditions":[0.5,0,3],"default_left":[true,false,false],"base_weights":[0,0,3]}]}},
	 "learner_model_param":{"base_score":"0","num_feature":"2"},"objective":{"name":"reg:squarederror"}}}`
	c, err := LoadContext(writeContext(t))
	if err != nil {
		t.Fatal(err)
	}
	score := func(m *model.Model) float64 {
		d, err := New(m, Config{Directory: c})
		if err != nil {
			t.Fatal(err)
		}
		e, _ := Parse(ev("v", "h/n1", "p-vip", "Condition", time.Date(2026, 1, 10, 10, 0, 0, 0, time.UTC), "10.1.1.5", "TREAT"))
		return d.Observe(e).Score
	}
	base := BaseModel()
	with := BaseModel()
	with.Boost = &model.BoosterPart{Weight: 1, Model: []byte(booster)}
	b, err := with.Encode()
	if err != nil {
		t.Fatal(err)
	}
	with, err = model.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	s0, s1 := score(base), score(with)
	// The stump adds 3 to the evidence: logit(s1) - logit(s0) = 3.
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	if d := logit(s1) - logit(s0); math.Abs(d-3) > 1e-6 {
		t.Errorf("booster moved the evidence by %v; want 3", d)
	}
}
