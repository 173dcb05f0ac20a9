package model

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/ai/iforest"
)

// handXGB is a hand-written XGBoost 2.x JSON model: two trees over two
// features, binary:logistic, base_score 0.5 (margin 0).
//
//	tree 0: f0 < 0.5 ? -0.4 : 0.6                         (missing → left)
//	tree 1: f1 < 1.0 ? 0.1 : (f0 < 2 ? -0.2 : 0.3)        (missing → right, then left)
const handXGB = `{
 "learner": {
  "attributes": {},
  "feature_names": [],
  "feature_types": [],
  "gradient_booster": {
   "model": {
    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": "2"},
    "iteration_indptr": [0, 1, 2],
    "tree_info": [0, 0],
    "trees": [
     {"base_weights": [0, -0.4, 0.6], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
      "default_left": [1, 0, 0], "id": 0, "left_children": [1, -1, -1], "loss_changes": [1, 0, 0], "parents": [2147483647, 0, 0],
      "right_children": [2, -1, -1], "split_conditions": [0.5, -0.4, 0.6], "split_indices": [0, 0, 0], "split_type": [0, 0, 0],
      "sum_hessian": [4, 2, 2], "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "3", "size_leaf_vector": "1"}},
     {"base_weights": [0, 0.1, 0, -0.2, 0.3], "categories": [], "categories_nodes": [], "categories_segments": [], "categories_sizes": [],
      "default_left": [false, false, true, false, false], "id": 1, "left_children": [1, -1, 3, -1, -1], "loss_changes": [1, 0, 1, 0, 0],
      "parents": [2147483647, 0, 0, 2, 2], "right_children": [2, -1, 4, -1, -1], "split_conditions": [1.0, 0.1, 2.0, -0.2, 0.3],
      "split_indices": [1, 0, 0, 0, 0], "split_type": [0, 0, 0, 0, 0], "sum_hessian": [4, 2, 2, 1, 1],
      "tree_param": {"num_deleted": "0", "num_feature": "2", "num_nodes": "5", "size_leaf_vector": "1"}}
    ]
   },
   "name": "gbtree"
  },
  "learner_model_param": {"base_score": "5E-1", "boost_from_average": "1", "num_class": "0", "num_feature": "2", "num_target": "1"},
  "objective": {"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}
 },
 "version": [2, 0, 3]
}`

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func TestXGBoostHandModel(t *testing.T) {
	b, err := ParseXGBoost([]byte(handXGB))
	if err != nil {
		t.Fatal(err)
	}
	nan := math.NaN()
	tests := []struct {
		x          []float64
		wantMargin float64
	}{
		{[]float64{0.2, 0.5}, -0.4 + 0.1},
		{[]float64{3, 2}, 0.6 + 0.3},
		{[]float64{1, 5}, 0.6 - 0.2},
		{[]float64{0.5, 1}, 0.6 - 0.2}, // equal to the split goes right
		{[]float64{nan, nan}, -0.4 - 0.2},
	}
	for _, tt := range tests {
		m := b.Margin(tt.x)
		if math.Abs(m-tt.wantMargin) > 1e-6 {
			t.Errorf("Margin(%v) = %v; want %v", tt.x, m, tt.wantMargin)
		}
		if p := b.Predict(tt.x); math.Abs(p-sigmoid(tt.wantMargin)) > 1e-6 {
			t.Errorf("Predict(%v) = %v; want %v", tt.x, p, sigmoid(tt.wantMargin))
		}
	}
	// base_score 0.25 shifts the margin by logit(0.25).
	b2, err := ParseXGBoost([]byte(strings.Replace(handXGB, `"5E-1"`, `"2.5E-1"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := b2.Margin([]float64{3, 2}), 0.9+math.Log(0.25/0.75); math.Abs(got-want) > 1e-6 {
		t.Errorf("Margin with base_score 0.25 = %v; want %v", got, want)
	}
	// reg:squarederror: raw margin, base score added as is.
	b3, err := ParseXGBoost([]byte(strings.Replace(handXGB, `"binary:logistic"`, `"reg:squarederror"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if got := b3.Predict([]float64{3, 2}); math.Abs(got-1.4) > 1e-6 {
		t.Errorf("reg:squarederror Predict = %v; want 1.4", got)
	}
}

var badXGB = map[string]string{
	"not json":          `{`,
	"dart":              strings.Replace(handXGB, `"name": "gbtree"`, `"name": "dart"`, 1),
	"multiclass":        strings.Replace(handXGB, `"num_class": "0"`, `"num_class": "3"`, 1),
	"softmax":           strings.Replace(handXGB, `"binary:logistic"`, `"multi:softprob"`, 1),
	"base out of range": strings.Replace(handXGB, `"5E-1"`, `"1.5"`, 1),
	"categorical":       strings.Replace(handXGB, `"split_type": [0, 0, 0]`, `"split_type": [1, 0, 0]`, 1),
	"cycle":             strings.Replace(handXGB, `"left_children": [1, -1, -1]`, `"left_children": [0, -1, -1]`, 1),
	"child range":       strings.Replace(handXGB, `"right_children": [2, -1, -1]`, `"right_children": [9, -1, -1]`, 1),
	"length":            strings.Replace(handXGB, `"split_indices": [0, 0, 0]`, `"split_indices": [0, 0]`, 1),
	"feature range":     strings.Replace(handXGB, `"split_indices": [1, 0, 0, 0, 0]`, `"split_indices": [7, 0, 0, 0, 0]`, 1),
	"default_left":      strings.Replace(handXGB, `"default_left": [1, 0, 0]`, `"default_left": [2, 0, 0]`, 1),
	"no trees":          `{"learner":{"gradient_booster":{"name":"gbtree","model":{"trees":[]}},"learner_model_param":{"base_score":"0.5"},"objective":{"name":"binary:logistic"}}}`,
}

func TestXGBoostInvalid(t *testing.T) {
	for name, s := range badXGB {
		if _, err := ParseXGBoost([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseXGBoost(%s) = %v; want ErrInvalid", name, err)
		}
	}
}

func FuzzParseXGBoost(f *testing.F) {
	f.Add([]byte(handXGB))
	for _, s := range badXGB {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		bo, err := ParseXGBoost(b)
		if err != nil {
			return
		}
		x := make([]float64, bo.NumFeature)
		bo.Predict(x) // must not panic or loop
		for i := range x {
			x[i] = math.NaN()
		}
		bo.Predict(x)
	})
}

func testModel(t testing.TB) *Model {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([][]float64, 200)
	for i := range x {
		x[i] = []float64{r.Float64(), r.Float64()}
	}
	fo, err := iforest.Fit(x, iforest.Options{Trees: 3, SampleSize: 16, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	return &Model{
		Format: Format, Name: "access-test", Version: "1.0.0", Detector: "access",
		Features:  []string{"a", "b"},
		Params:    json.RawMessage(`{"history_days":28}`),
		Rules:     Rules{Bias: -4, Weights: map[string]float64{"a": 2, "b": 1}},
		Forest:    &ForestPart{Weight: 3, Center: 0.45, Features: []string{"b", "a"}, Forest: fo},
		Boost:     &BoosterPart{Weight: 0.5, Model: json.RawMessage(handXGB)},
		Threshold: 0.5,
		Training:  Training{DataSHA256: strings.Repeat("ab", 32), Events: 200, Seed: 1},
		Metrics:   map[string]float64{"roc_auc": 0.97},
	}
}

func TestModelRoundTrip(t *testing.T) {
	m := testModel(t)
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Parse(b)
	if err != nil {
		t.Fatalf("Parse(Encode(m)): %v", err)
	}
	b2, _ := got.Encode()
	if string(b) != string(b2) {
		t.Errorf("Encode(Parse(Encode(m))) differs from Encode(m)")
	}
	if got.Boost.Booster() == nil || got.Forest.Forest.Score([]float64{0.1, 0.2}) != m.Forest.Forest.Score([]float64{0.1, 0.2}) {
		t.Errorf("decoded parts differ")
	}
}

func TestModelInvalid(t *testing.T) {
	mods := map[string]func(m *Model){
		"format":         func(m *Model) { m.Format = "x" },
		"name":           func(m *Model) { m.Name = "Bad Name" },
		"version":        func(m *Model) { m.Version = "" },
		"dup feature":    func(m *Model) { m.Features = []string{"a", "a"} },
		"weight unknown": func(m *Model) { m.Rules.Weights["zz"] = 1 },
		"forest unknown": func(m *Model) { m.Forest.Features = []string{"a", "zz"} },
		"forest width":   func(m *Model) { m.Forest.Features = []string{"a"} },
		"threshold":      func(m *Model) { m.Threshold = 2 },
		"params":         func(m *Model) { m.Params = json.RawMessage(`[1]`) },
		"data hash":      func(m *Model) { m.Training.DataSHA256 = "AB" },
		"booster":        func(m *Model) { m.Boost.Model = json.RawMessage(badXGB["cycle"]) },
		"booster width":  func(m *Model) { m.Features = []string{"a"}; m.Rules.Weights = nil; m.Forest = nil },
	}
	for name, mod := range mods {
		m := testModel(t)
		mod(m)
		b, _ := json.Marshal(m)
		if _, err := Parse(b); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v; want ErrInvalid", name, err)
		}
	}
	for name, s := range map[string]string{"unknown field": `{"format":"medledger.model/v1","extra":1}`, "trailing": `{} {}`, "empty": ``} {
		if _, err := Parse([]byte(s)); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%s) = %v; want ErrInvalid", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, _ := testModel(f).Encode()
	f.Add(b)
	f.Add([]byte(`{"format":"medledger.model/v1"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		if _, err := m.Encode(); err != nil {
			t.Fatalf("Encode of a parsed model: %v", err)
		}
	})
}

func TestCheckRegistered(t *testing.T) {
	m := testModel(t)
	file, _ := m.Encode()
	sum := SHA256(file)
	errAsk := errors.New("node down")
	tests := []struct {
		name   string
		lookup Lookup
		want   error
	}{
		{"registered", func(s string) (Registration, bool, error) {
			return Registration{Name: m.Name, Version: m.Version, SHA256: s}, s == sum, nil
		}, nil},
		{"unknown", func(string) (Registration, bool, error) { return Registration{}, false, nil }, ErrUnregistered},
		{"revoked", func(s string) (Registration, bool, error) {
			return Registration{Name: m.Name, Version: m.Version, SHA256: s, Revoked: true}, true, nil
		}, ErrUnregistered},
		{"other version", func(s string) (Registration, bool, error) {
			return Registration{Name: m.Name, Version: "2.0.0", SHA256: s}, true, nil
		}, ErrUnregistered},
		{"lookup fails", func(string) (Registration, bool, error) { return Registration{}, false, errAsk }, errAsk},
	}
	for _, tt := range tests {
		err := CheckRegistered(file, m, tt.lookup)
		if (tt.want == nil) != (err == nil) || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckRegistered(%s) = %v; want %v", tt.name, err, tt.want)
		}
	}
}
