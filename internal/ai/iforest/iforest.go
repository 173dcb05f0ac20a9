// Package iforest is an isolation forest (Liu, Ting and Zhou, 2008): an
// unsupervised anomaly detector that isolates points by random axis-aligned
// splits. Points that are isolated in few splits are anomalous.
//
// Fit is deterministic for a given seed. A Forest is immutable after Fit or
// after decoding, and Score is safe for concurrent use; it allocates
// nothing. Forests encode to compact JSON (one set of parallel arrays per
// tree) and decode with full validation, so a corrupt model file is an
// error, never a panic or an endless loop.
//
// No maintained Go library implements isolation forests (gonum has none),
// hence this small one.
package iforest

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Options configures Fit. Every field's zero value selects the default.
type Options struct {
	Trees      int    // number of trees; default 100
	SampleSize int    // points per tree (ψ); default 256, capped at the data size
	Seed       uint64 // random seed; the same seed and data give the same forest
}

// Forest is a fitted isolation forest.
type Forest struct {
	// SampleSize is ψ, the subsample each tree was grown on; it sets the
	// normalising average path length c(ψ).
	SampleSize int `json:"sample_size"`
	// Features is the length of the vectors the forest scores.
	Features int    `json:"features"`
	Trees    []Tree `json:"trees"`
	norm     float64
}

// Tree is one isolation tree as parallel arrays indexed by node; node 0 is
// the root. For an internal node, Feature ≥ 0, points with x[Feature] <
// Split go to Left, others to Right. For a leaf, Feature is -1 and Size is
// the number of training points that reached it.
type Tree struct {
	Feature []int32   `json:"feature"`
	Split   []float64 `json:"split"`
	Left    []int32   `json:"left"`
	Right   []int32   `json:"right"`
	Size    []int32   `json:"size"`
}

// ErrInvalid is wrapped by errors about an invalid forest or input.
var ErrInvalid = errors.New("iforest: invalid")

// c is the average path length of an unsuccessful search in a binary
// search tree of n points: the normaliser of path lengths.
func c(n float64) float64 {
	switch {
	case n <= 1:
		return 0
	case n == 2:
		return 1
	}
	return 2*(math.Log(n-1)+0.5772156649015329) - 2*(n-1)/n
}

// Fit grows a forest on the rows of x (each of the same length). Rows
// must hold finite values.
func Fit(x [][]float64, o Options) (*Forest, error) {
	if len(x) == 0 {
		return nil, fmt.Errorf("%w: no training data", ErrInvalid)
	}
	d := len(x[0])
	if d == 0 {
		return nil, fmt.Errorf("%w: zero features", ErrInvalid)
	}
	for i, row := range x {
		if len(row) != d {
			return nil, fmt.Errorf("%w: row %d has %d features, want %d", ErrInvalid, i, len(row), d)
		}
		for _, v := range row {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%w: row %d holds a non-finite value", ErrInvalid, i)
			}
		}
	}
	if o.Trees <= 0 {
		o.Trees = 100
	}
	if o.SampleSize <= 0 {
		o.SampleSize = 256
	}
	psi := min(o.SampleSize, len(x))
	maxDepth := int(math.Ceil(math.Log2(float64(max(psi, 2)))))
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	f := &Forest{SampleSize: psi, Features: d, Trees: make([]Tree, o.Trees)}
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	for t := range f.Trees {
		// Partial Fisher-Yates: the first psi entries are a sample
		// without replacement.
		for i := range psi {
			j := i + r.IntN(len(idx)-i)
			idx[i], idx[j] = idx[j], idx[i]
		}
		sample := make([]int, psi)
		copy(sample, idx[:psi])
		var tr Tree
		grow(&tr, x, sample, 0, maxDepth, r)
		f.Trees[t] = tr
	}
	f.norm = c(float64(psi))
	return f, nil
}

// grow adds the subtree isolating rows pts of x and returns its node index.
func grow(tr *Tree, x [][]float64, pts []int, depth, maxDepth int, r *rand.Rand) int32 {
	node := int32(len(tr.Feature))
	tr.Feature = append(tr.Feature, -1)
	tr.Split = append(tr.Split, 0)
	tr.Left = append(tr.Left, -1)
	tr.Right = append(tr.Right, -1)
	tr.Size = append(tr.Size, int32(len(pts)))
	if depth >= maxDepth || len(pts) <= 1 {
		return node
	}
	d := len(x[0])
	// Pick a feature that varies among pts, trying each at most once from
	// a random start; a leaf if all are constant.
	start := r.IntN(d)
	for k := range d {
		j := (start + k) % d
		lo, hi := x[pts[0]][j], x[pts[0]][j]
		for _, p := range pts[1:] {
			lo, hi = min(lo, x[p][j]), max(hi, x[p][j])
		}
		if lo == hi {
			continue
		}
		split := lo + r.Float64()*(hi-lo)
		if split <= lo { // keep both sides non-empty
			split = math.Nextafter(lo, hi)
		}
		// Partition pts in place: < split first.
		i := 0
		for k, p := range pts {
			if x[p][j] < split {
				pts[i], pts[k] = pts[k], pts[i]
				i++
			}
		}
		tr.Feature[node] = int32(j)
		tr.Split[node] = split
		tr.Size[node] = 0
		left := grow(tr, x, pts[:i], depth+1, maxDepth, r)
		right := grow(tr, x, pts[i:], depth+1, maxDepth, r)
		tr.Left[node], tr.Right[node] = left, right
		return node
	}
	return node
}

// PathLength returns the average path length of x over the trees,
// adjusted at leaves by c(size).
func (f *Forest) PathLength(x []float64) float64 {
	var sum float64
	for i := range f.Trees {
		tr := &f.Trees[i]
		n, depth := int32(0), 0
		for tr.Feature[n] >= 0 {
			if x[tr.Feature[n]] < tr.Split[n] {
				n = tr.Left[n]
			} else {
				n = tr.Right[n]
			}
			depth++
		}
		sum += float64(depth) + c(float64(tr.Size[n]))
	}
	return sum / float64(len(f.Trees))
}

// Score returns the anomaly score 2^(-E[h(x)]/c(ψ)) in (0, 1]: near 1 for
// anomalies, about 0.5 or less for ordinary points. x must have
// f.Features values; Score panics otherwise. NaN values go right.
func (f *Forest) Score(x []float64) float64 {
	if len(x) != f.Features {
		panic("iforest: wrong number of features")
	}
	if f.norm == 0 {
		return 0.5
	}
	return math.Exp2(-f.PathLength(x) / f.norm)
}

// Limits on decoded forests.
const (
	MaxTrees = 10000
	MaxNodes = 1 << 16 // per tree
)

// UnmarshalJSON decodes and validates a forest: every tree's arrays agree
// in length, children point forward (so every path ends at a leaf),
// features are in range and splits are finite.
func (f *Forest) UnmarshalJSON(b []byte) error {
	type plain Forest
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	*f = Forest(p)
	return f.validate()
}

func (f *Forest) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
	if f.SampleSize < 1 || f.SampleSize > 1<<24 {
		return bad("sample_size %d out of range", f.SampleSize)
	}
	if f.Features < 1 || f.Features > 4096 {
		return bad("features %d out of range", f.Features)
	}
	if len(f.Trees) == 0 || len(f.Trees) > MaxTrees {
		return bad("%d trees; want 1 to %d", len(f.Trees), MaxTrees)
	}
	for t, tr := range f.Trees {
		n := len(tr.Feature)
		if n == 0 || n > MaxNodes || len(tr.Split) != n || len(tr.Left) != n || len(tr.Right) != n || len(tr.Size) != n {
			return bad("tree %d: node arrays are empty, too long or differ in length", t)
		}
		for i := range n {
			ft := tr.Feature[i]
			if ft < 0 {
				if ft != -1 || tr.Size[i] < 0 {
					return bad("tree %d node %d: bad leaf", t, i)
				}
				continue
			}
			if int(ft) >= f.Features {
				return bad("tree %d node %d: feature %d out of range", t, i, ft)
			}
			if math.IsNaN(tr.Split[i]) || math.IsInf(tr.Split[i], 0) {
				return bad("tree %d node %d: split is not finite", t, i)
			}
			l, r := tr.Left[i], tr.Right[i]
			if l <= int32(i) || r <= int32(i) || int(l) >= n || int(r) >= n {
				return bad("tree %d node %d: children must be later nodes", t, i)
			}
		}
	}
	f.norm = c(float64(f.SampleSize))
	return nil
}
