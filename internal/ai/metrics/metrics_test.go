package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-12 || (math.IsNaN(a) && math.IsNaN(b)) }

func TestROCAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		pos    []bool
		want   float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.1, 0.2}, []bool{true, true, false, false}, 1},
		{"inverted", []float64{0.1, 0.2, 0.9, 0.8}, []bool{true, true, false, false}, 0},
		// Pairs (pos, neg): (0.8,0.7)=1 (0.8,0.3)=1 (0.4,0.7)=0 (0.4,0.3)=1 → 3/4.
		{"hand", []float64{0.8, 0.7, 0.4, 0.3}, []bool{true, false, true, false}, 0.75},
		// All tied: every pair counts one half.
		{"ties", []float64{0.5, 0.5, 0.5}, []bool{true, false, false}, 0.5},
		// Pos 0.5 ties neg 0.5 (½), beats neg 0.1 (1); pos 0.9 beats both → 3.5/4.
		{"partial ties", []float64{0.9, 0.5, 0.5, 0.1}, []bool{true, true, false, false}, 0.875},
		{"no positives", []float64{0.1, 0.2}, []bool{false, false}, math.NaN()},
		{"no negatives", []float64{0.1}, []bool{true}, math.NaN()},
	}
	for _, tt := range tests {
		if got := ROCAUC(tt.scores, tt.pos); !near(got, tt.want) {
			t.Errorf("ROCAUC(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestPRAUC(t *testing.T) {
	tests := []struct {
		name   string
		scores []float64
		pos    []bool
		want   float64
	}{
		{"perfect", []float64{0.9, 0.8, 0.1}, []bool{true, true, false}, 1},
		// Ranked: P N P N. Precision at the positives: 1/1, 2/3 → AP = (1 + 2/3)/2.
		{"hand", []float64{0.8, 0.7, 0.4, 0.3}, []bool{true, false, true, false}, (1 + 2.0/3) / 2},
		// Ranked: N P P. Precision 1/2 then 2/3 → (1/2 + 2/3)/2.
		{"negative first", []float64{0.9, 0.5, 0.4}, []bool{false, true, true}, (0.5 + 2.0/3) / 2},
		// One tied group of 1 P and 1 N: precision 1/2 for all recall.
		{"tied", []float64{0.5, 0.5}, []bool{true, false}, 0.5},
		{"no positives", []float64{0.5}, []bool{false}, math.NaN()},
	}
	for _, tt := range tests {
		if got := PRAUC(tt.scores, tt.pos); !near(got, tt.want) {
			t.Errorf("PRAUC(%s) = %v; want %v", tt.name, got, tt.want)
		}
	}
}

func TestAt(t *testing.T) {
	scores := []float64{0.9, 0.8, 0.6, 0.4, 0.2}
	pos := []bool{true, false, true, true, false}
	c := At(scores, pos, 0.6)
	if c != (Confusion{TP: 2, FP: 1, TN: 1, FN: 1}) {
		t.Fatalf("At(0.6) = %+v", c)
	}
	if !near(c.Precision(), 2.0/3) || !near(c.Recall(), 2.0/3) || !near(c.F1(), 2.0/3) || !near(c.AlertRate(), 3.0/5) {
		t.Errorf("P %v R %v F1 %v rate %v; want 2/3 2/3 2/3 3/5", c.Precision(), c.Recall(), c.F1(), c.AlertRate())
	}
	if z := (Confusion{}); z.Precision() != 0 || z.Recall() != 0 || z.F1() != 0 || z.AlertRate() != 0 {
		t.Errorf("zero confusion gives non-zero measures")
	}
}

func TestThresholdForRate(t *testing.T) {
	scores := []float64{0.1, 0.9, 0.5, 0.7, 0.3, 0.5, 0.2, 0.8, 0.4, 0.6}
	tests := []struct {
		rate      float64
		wantAlert int
	}{
		{0, 0}, {0.1, 1}, {0.2, 2}, {0.35, 3}, {0.5, 4}, {0.6, 6}, {1, 10},
	}
	for _, tt := range tests {
		th := ThresholdForRate(scores, tt.rate)
		n := At(scores, make([]bool, len(scores)), th).FP
		if n != tt.wantAlert {
			t.Errorf("ThresholdForRate(%v) = %v alerts %d; want %d", tt.rate, th, n, tt.wantAlert)
		}
	}
	// Ties: asking for 5 of [.., 0.5, 0.5] at the cut gives 4 (not 6).
	tied := []float64{0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.1, 0.1, 0.1, 0.1}
	if n := At(tied, make([]bool, 10), ThresholdForRate(tied, 0.5)).FP; n != 4 {
		t.Errorf("tied cut alerts %d; want 4", n)
	}
}

// TestROCAUCDifferential checks ROCAUC against the O(n²) definition.
func TestROCAUCDifferential(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		n := 2 + r.IntN(40)
		s := make([]float64, n)
		p := make([]bool, n)
		for i := range s {
			s[i] = float64(r.IntN(6)) // many ties
			p[i] = r.IntN(3) == 0
		}
		var num, pairs float64
		for i := range s {
			for j := range s {
				if p[i] && !p[j] {
					pairs++
					switch {
					case s[i] > s[j]:
						num++
					case s[i] == s[j]:
						num += 0.5
					}
				}
			}
		}
		want := math.NaN()
		if pairs > 0 {
			want = num / pairs
		}
		if got := ROCAUC(s, p); !near(got, want) && math.Abs(got-want) > 1e-9 {
			t.Fatalf("ROCAUC(%v, %v) = %v; naive %v", s, p, got, want)
		}
	}
}
