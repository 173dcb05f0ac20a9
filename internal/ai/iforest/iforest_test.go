package iforest

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
)

func blob(r *rand.Rand, n int) [][]float64 {
	x := make([][]float64, n)
	for i := range x {
		x[i] = []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
	}
	return x
}

func TestSeparatesOutliers(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	f, err := Fit(blob(r, 2000), Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := f.Score([]float64{0, 0, 0})
	out := f.Score([]float64{6, -6, 6})
	if !(out > 0.65 && in < 0.5 && out > in) {
		t.Errorf("Score(centre) = %.3f, Score(outlier) = %.3f; want outlier > 0.65 > 0.5 > centre", in, out)
	}
}

func TestDeterministic(t *testing.T) {
	x := blob(rand.New(rand.NewPCG(1, 1)), 500)
	a, _ := Fit(x, Options{Seed: 3, Trees: 10})
	b, _ := Fit(x, Options{Seed: 3, Trees: 10})
	if !reflect.DeepEqual(a, b) {
		t.Error("Fit with the same seed gave different forests")
	}
}

func TestFitErrors(t *testing.T) {
	tests := map[string][][]float64{
		"empty":    nil,
		"no cols":  {{}},
		"ragged":   {{1, 2}, {1}},
		"nan":      {{1}, {math.NaN()}},
		"infinity": {{1}, {math.Inf(-1)}},
	}
	for name, x := range tests {
		if _, err := Fit(x, Options{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Fit(%s) = %v; want ErrInvalid", name, err)
		}
	}
	// Constant data is valid: one leaf per tree.
	f, err := Fit([][]float64{{1, 1}, {1, 1}, {1, 1}}, Options{Trees: 2})
	if err != nil || len(f.Trees[0].Feature) != 1 {
		t.Errorf("Fit(constant) = %+v, %v; want single-leaf trees", f, err)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	f, _ := Fit(blob(rand.New(rand.NewPCG(2, 2)), 300), Options{Seed: 9, Trees: 5, SampleSize: 64})
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var g Forest
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	p := []float64{0.3, -2, 1}
	if f.Score(p) != g.Score(p) {
		t.Errorf("decoded forest scores %v; original %v", g.Score(p), f.Score(p))
	}
}

var invalidForests = []string{
	`{}`,
	`{"sample_size":8,"features":1,"trees":[]}`,
	`{"sample_size":8,"features":1,"trees":[{"feature":[0],"split":[0],"left":[0],"right":[0],"size":[0]}]}`,                       // self loop
	`{"sample_size":8,"features":1,"trees":[{"feature":[1,-1,-1],"split":[0,0,0],"left":[1,0,0],"right":[2,0,0],"size":[0,1,1]}]}`, // feature out of range
	`{"sample_size":8,"features":1,"trees":[{"feature":[0,-1],"split":[0,0],"left":[1,-1],"right":[5,-1],"size":[0,1]}]}`,          // child out of range
	`{"sample_size":8,"features":1,"trees":[{"feature":[-1],"split":[0],"left":[-1],"right":[-1]}]}`,                               // lengths differ
	`{"sample_size":8,"features":1,"trees":[{"feature":[-2],"split":[0],"left":[-1],"right":[-1],"size":[1]}]}`,                    // bad leaf
	`{"sample_size":0,"features":1,"trees":[{"feature":[-1],"split":[0],"left":[-1],"right":[-1],"size":[1]}]}`,
	`[1]`,
}

func TestUnmarshalInvalid(t *testing.T) {
	for _, s := range invalidForests {
		var f Forest
		if err := json.Unmarshal([]byte(s), &f); err == nil {
			t.Errorf("Unmarshal(%s) = nil error", s)
		}
	}
}

// FuzzUnmarshal checks that any forest that decodes scores without
// panicking or looping, and re-encodes to an equal forest.
func FuzzUnmarshal(f *testing.F) {
	fo, _ := Fit(blob(rand.New(rand.NewPCG(3, 3)), 50), Options{Trees: 2, SampleSize: 8})
	b, _ := json.Marshal(fo)
	f.Add(b)
	for _, s := range invalidForests {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var g Forest
		if err := json.Unmarshal(b, &g); err != nil {
			return
		}
		x := make([]float64, g.Features)
		s := g.Score(x)
		if math.IsNaN(s) {
			t.Fatalf("Score = NaN")
		}
		again, err := json.Marshal(&g)
		if err != nil {
			t.Fatal(err)
		}
		var h Forest
		if err := json.Unmarshal(again, &h); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
	})
}

func BenchmarkScore(b *testing.B) {
	f, _ := Fit(blob(rand.New(rand.NewPCG(4, 4)), 5000), Options{Seed: 1})
	p := []float64{0.1, 0.2, 0.3}
	for b.Loop() {
		f.Score(p)
	}
}
