package access

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/ai/iforest"
	"github.com/medledger/medledger/internal/ai/metrics"
	"github.com/medledger/medledger/internal/ai/model"
)

// LineError is a line of an NDJSON stream that could not be used.
type LineError struct {
	Line int // 1-based
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

type batch struct {
	nums  []int // 1-based line numbers
	lines [][]byte
	evs   []*Event
	errs  []error
	long  map[int]bool // lines longer than MaxEventBytes, not kept
	done  chan struct{}
}

// lineReader reads lines of any length; a line longer than max is
// consumed but not kept.
type lineReader struct {
	r   *bufio.Reader
	max int
}

// next returns the next line without its newline (nil at the end), and
// whether it was too long to keep.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > lr.max+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch err {
		case bufio.ErrBufferFull:
			continue
		case nil:
			return bytes.TrimSuffix(line, []byte("\n")), tooLong, nil
		case io.EOF:
			if len(line) == 0 && !tooLong {
				return nil, false, io.EOF
			}
			return line, tooLong, nil
		}
		return nil, false, err
	}
}

// ReadEvents reads NDJSON AuditEvents from r, parsing them on up to
// workers goroutines (0: GOMAXPROCS), and calls fn with each in input
// order: the parsed event, or a *LineError for a line that is not an
// AuditEvent (blank lines are skipped). fn runs on one goroutine; an error
// from fn, from r or ctx stops the reading and is returned.
func ReadEvents(ctx context.Context, r io.Reader, workers int, fn func(e *Event, err error) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	const batchLines = 256
	work := make(chan *batch, workers*2)
	ordered := make(chan *batch, workers*4)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.evs = make([]*Event, len(b.lines))
				b.errs = make([]error, len(b.lines))
				for i, l := range b.lines {
					if b.long[i] {
						b.errs[i] = &LineError{Line: b.nums[i], Err: fmt.Errorf("%w: larger than %d bytes", ErrNotAuditEvent, MaxEventBytes)}
						continue
					}
					if b.evs[i], b.errs[i] = Parse(l); b.errs[i] != nil {
						b.errs[i] = &LineError{Line: b.nums[i], Err: b.errs[i]}
					}
				}
				close(b.done)
			}
		}()
	}
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		lr := &lineReader{r: bufio.NewReaderSize(r, 256<<10), max: MaxEventBytes}
		line := 0
		b := &batch{done: make(chan struct{})}
		send := func() bool {
			select {
			case ordered <- b:
			case <-stop:
				return false
			}
			work <- b
			return true
		}
		for {
			raw, long, err := lr.next()
			if err != nil && err != io.EOF {
				readErr <- err
				return
			}
			if raw == nil && !long && err == io.EOF {
				break
			}
			line++
			l := bytes.TrimSpace(raw)
			if len(l) == 0 && !long {
				continue
			}
			if long {
				if b.long == nil {
					b.long = map[int]bool{}
				}
				b.long[len(b.lines)] = true
			}
			b.lines = append(b.lines, bytes.Clone(l))
			b.nums = append(b.nums, line)
			if len(b.lines) == batchLines {
				if !send() {
					readErr <- nil
					return
				}
				b = &batch{done: make(chan struct{})}
			}
		}
		if len(b.lines) > 0 && !send() {
			readErr <- nil
			return
		}
		readErr <- nil
	}()
	var err error
	for b := range ordered {
		if err == nil {
			if err = ctx.Err(); err == nil {
				<-b.done
				for i := range b.lines {
					if err = fn(b.evs[i], b.errs[i]); err != nil {
						break
					}
				}
			}
			if err != nil {
				close(stop)
			}
		}
	}
	wg.Wait()
	if rerr := <-readErr; err == nil && rerr != nil {
		err = fmt.Errorf("read events: %w", rerr)
	}
	return err
}

// ReadLabels reads a labels file: NDJSON objects {"id": string, "attack":
// string or null}, one per AuditEvent. It returns the attack type of each
// id ("" for null). Malformed lines and repeated ids are errors naming the
// line.
func ReadLabels(r io.Reader) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := bytes.TrimSpace(sc.Bytes())
		if len(l) == 0 {
			continue
		}
		var v struct {
			ID     *string `json:"id"`
			Attack *string `json:"attack"`
		}
		d := json.NewDecoder(bytes.NewReader(l))
		d.DisallowUnknownFields()
		if err := d.Decode(&v); err != nil || d.More() {
			return nil, &LineError{Line: line, Err: errors.New(`want {"id": string, "attack": string or null}`)}
		}
		if v.ID == nil || *v.ID == "" {
			return nil, &LineError{Line: line, Err: errors.New("id is missing")}
		}
		if _, dup := out[*v.ID]; dup {
			return nil, &LineError{Line: line, Err: errors.New("id repeats an earlier line")}
		}
		a := ""
		if v.Attack != nil {
			a = *v.Attack
		}
		out[*v.ID] = a
	}
	return out, sc.Err()
}

// ForestFeatures are the continuous features the built-in training feeds
// the isolation forest.
var ForestFeatures = []string{
	"rel_surprisal", "off_hours", "net_rare_org", "denied_hour", "search_size_z", "searches_hour",
	"volume_hour_z", "patients_today_z", "unexplained_2h", "type_surprisal", "break_glass_surprisal", "export_surprisal",
}

// TrainOptions configures Train. Zero values select the defaults.
type TrainOptions struct {
	Name, Version string // default "access", "1"
	Directory     Directory
	Trees         int     // isolation trees (default 100)
	SampleSize    int     // ψ (default 256)
	Seed          uint64  // forest and sampling seed
	MaxSample     int     // feature vectors kept to fit the forest (default 50000)
	ForestWeight  float64 // weight of the forest in the score (default 4)
	Base          *model.Model
	Workers       int
	Progress      func(events int)
}

// Train fits a model on an AuditEvent stream: it runs the detector with
// the base rules (o.Base, default BaseModel) over the events, keeps a
// uniform sample of feature vectors, fits an isolation forest on them and
// centres its contribution on the sample's median forest score. Training
// is unsupervised; labels only serve to evaluate the result (Evaluate).
func Train(ctx context.Context, events io.Reader, o TrainOptions) (*model.Model, int, error) {
	base := o.Base
	if base == nil {
		base = BaseModel()
	}
	if o.MaxSample <= 0 {
		o.MaxSample = 50000
	}
	if o.ForestWeight == 0 {
		o.ForestWeight = 4
	}
	bm := *base
	bm.Forest, bm.Boost = nil, nil
	d, err := New(&bm, Config{Directory: o.Directory})
	if err != nil {
		return nil, 0, err
	}
	fidx := make([]int, len(ForestFeatures))
	for i, n := range ForestFeatures {
		fidx[i] = FeatureIndex(n)
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x7a11))
	var sample [][]float64
	n := 0
	err = ReadEvents(ctx, events, o.Workers, func(e *Event, perr error) error {
		if perr != nil {
			return nil // counted by the caller's own pass if it cares
		}
		x := d.Features(e)
		n++
		if o.Progress != nil && n%10000 == 0 {
			o.Progress(n)
		}
		row := make([]float64, len(fidx))
		for k, i := range fidx {
			row[k] = x[i]
		}
		// Reservoir sampling: a uniform sample of at most MaxSample rows.
		if len(sample) < o.MaxSample {
			sample = append(sample, row)
		} else if j := r.IntN(n); j < o.MaxSample {
			sample[j] = row
		}
		return nil
	})
	if err != nil {
		return nil, n, err
	}
	if n == 0 {
		return nil, 0, errors.New("access: no AuditEvents to train on")
	}
	f, err := iforest.Fit(sample, iforest.Options{Trees: o.Trees, SampleSize: o.SampleSize, Seed: o.Seed})
	if err != nil {
		return nil, n, err
	}
	scores := make([]float64, len(sample))
	for i, row := range sample {
		scores[i] = f.Score(row)
	}
	slices.Sort(scores)
	m := bm
	m.Name, m.Version = "access", "1"
	if o.Name != "" {
		m.Name = o.Name
	}
	if o.Version != "" {
		m.Version = o.Version
	}
	m.Forest = &model.ForestPart{Weight: o.ForestWeight, Center: round6(median(scores)), Features: ForestFeatures, Forest: f}
	m.Training = model.Training{Events: n, Seed: o.Seed}
	roundForest(f)
	return &m, n, nil
}

func round6(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// roundForest rounds split points to 6 decimals so model files stay
// compact; Score is computed with the rounded values from then on.
func roundForest(f *iforest.Forest) {
	for t := range f.Trees {
		for i, s := range f.Trees[t].Split {
			f.Trees[t].Split[i] = round6(s)
		}
	}
}

// Report is an evaluation against ground truth.
type Report struct {
	Events    int                   `json:"events"`
	Attacks   int                   `json:"attack_events"`
	Threshold float64               `json:"threshold"`
	Precision float64               `json:"precision"`
	Recall    float64               `json:"recall"`
	F1        float64               `json:"f1"`
	ROCAUC    float64               `json:"roc_auc"`
	PRAUC     float64               `json:"pr_auc"`
	AlertRate float64               `json:"alert_rate"`
	Alerts    int                   `json:"alerts"`
	PerType   map[string]TypeReport `json:"per_type"`
	// RecallAt1Pct is the recall when the top 1% of events alert.
	RecallAt1Pct float64 `json:"recall_at_1pct_alert_rate"`
	Unlabelled   int     `json:"unlabelled,omitempty"`
}

// TypeReport is the evaluation of one attack type against the normal
// events.
type TypeReport struct {
	Events    int     `json:"events"`
	Alerted   int     `json:"alerted"`
	Recall    float64 `json:"recall"`
	ROCAUC    float64 `json:"roc_auc"`
	PRAUC     float64 `json:"pr_auc"`
	Precision float64 `json:"precision"` // among alerts on this type or normal events
	F1        float64 `json:"f1"`
}

// Evaluate compares scores with attack labels ("" for a normal event) at
// threshold.
func Evaluate(scores []float64, attacks []string, threshold float64) Report {
	pos := make([]bool, len(scores))
	types := map[string]bool{}
	for i, a := range attacks {
		pos[i] = a != ""
		if a != "" {
			types[a] = true
		}
	}
	c := metrics.At(scores, pos, threshold)
	rep := Report{Events: len(scores), Attacks: c.TP + c.FN, Threshold: threshold,
		Precision: c.Precision(), Recall: c.Recall(), F1: c.F1(), AlertRate: c.AlertRate(), Alerts: c.TP + c.FP,
		ROCAUC: nanZero(metrics.ROCAUC(scores, pos)), PRAUC: nanZero(metrics.PRAUC(scores, pos)), PerType: map[string]TypeReport{}}
	rep.RecallAt1Pct = metrics.At(scores, pos, metrics.ThresholdForRate(scores, 0.01)).Recall()
	for typ := range types {
		var s []float64
		var p []bool
		for i, a := range attacks {
			if a == "" || a == typ {
				s = append(s, scores[i])
				p = append(p, a == typ)
			}
		}
		tc := metrics.At(s, p, threshold)
		rep.PerType[typ] = TypeReport{Events: tc.TP + tc.FN, Alerted: tc.TP, Recall: tc.Recall(), Precision: tc.Precision(), F1: tc.F1(),
			ROCAUC: nanZero(metrics.ROCAUC(s, p)), PRAUC: nanZero(metrics.PRAUC(s, p))}
	}
	return rep
}

func nanZero(v float64) float64 {
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// Grouper decides which alerting accesses open a new alert, so that a
// browsing spree or an export session raises one alert per user and
// leading reason within Window instead of one per event. The first
// alerting access of a group opens the alert at once (alerts must appear
// within a second); later ones in the window join it. It is not safe for
// concurrent use; feed it in commit order, after Detector.Observe.
type Grouper struct {
	Window time.Duration // default one hour
	open   map[string]int64
	n      int
}

// Add reports whether s (an alerting score for e) opens a new alert, and
// the group key it belongs to.
func (g *Grouper) Add(e *Event, s Score) (opens bool, key string) {
	w := int64(g.Window / time.Second)
	if w <= 0 {
		w = 3600
	}
	if g.open == nil {
		g.open = map[string]int64{}
	}
	reason := ""
	if len(s.Codes) > 0 {
		reason = s.Codes[0]
	}
	key = e.User + "\x00" + reason
	t := e.Time.Unix()
	if g.n++; g.n%1024 == 0 { // forget closed groups
		for k, start := range g.open {
			if t-start >= w {
				delete(g.open, k)
			}
		}
	}
	if start, ok := g.open[key]; ok && t-start < w && t >= start {
		return false, key
	}
	g.open[key] = t
	return true, key
}
