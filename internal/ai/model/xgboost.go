package model

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Booster is a gradient-boosted tree ensemble read from XGBoost's JSON
// model format (Booster.save_model("m.json"), XGBoost 1.0 and later). It
// is immutable and safe for concurrent use.
//
// Supported: gbtree boosters with numerical splits, objectives
// binary:logistic and reg:logistic (Predict returns a probability),
// binary:logitraw and reg:squarederror (Predict returns the raw margin).
// Categorical splits, multi-class objectives and dart boosters are
// refused when decoding.
type Booster struct {
	// FeatureNames are the names the model was trained with, if it
	// recorded them; a caller maps its features by these names.
	FeatureNames []string
	NumFeature   int
	Objective    string
	baseMargin   float64
	logistic     bool
	trees        []xgbTree
}

type xgbTree struct {
	left, right []int32
	feature     []int32
	cond        []float32 // split condition, or the leaf value at leaves
	defLeft     []bool
}

// boolOrInt decodes default_left entries, written as booleans by
// XGBoost 1.x and as 0/1 by 2.x.
type boolOrInt bool

func (b *boolOrInt) UnmarshalJSON(p []byte) error {
	switch string(p) {
	case "true", "1":
		*b = true
	case "false", "0":
		*b = false
	default:
		return fmt.Errorf("default_left entry %.20s is not a boolean or 0/1", p)
	}
	return nil
}

// numString decodes numbers XGBoost writes as strings ("5E-1").
type numString float64

func (n *numString) UnmarshalJSON(p []byte) error {
	var s string
	if err := json.Unmarshal(p, &s); err != nil {
		var f float64
		if err2 := json.Unmarshal(p, &f); err2 != nil {
			return fmt.Errorf("not a number: %w", err)
		}
		*n = numString(f)
		return nil
	}
	// XGBoost ≥ 2.1 may write a vector "[5E-1]" for multi-target models.
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", s)
	}
	*n = numString(f)
	return nil
}

type xgbJSON struct {
	Learner struct {
		FeatureNames    []string `json:"feature_names"`
		GradientBooster struct {
			Name  string `json:"name"`
			Model struct {
				Trees []struct {
					LeftChildren    []int32     `json:"left_children"`
					RightChildren   []int32     `json:"right_children"`
					SplitIndices    []int32     `json:"split_indices"`
					SplitConditions []float32   `json:"split_conditions"`
					DefaultLeft     []boolOrInt `json:"default_left"`
					BaseWeights     []float32   `json:"base_weights"`
					SplitType       []int32     `json:"split_type"`
				} `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
		LearnerModelParam struct {
			BaseScore  numString `json:"base_score"`
			NumClass   numString `json:"num_class"`
			NumFeature numString `json:"num_feature"`
		} `json:"learner_model_param"`
		Objective struct {
			Name string `json:"name"`
		} `json:"objective"`
	} `json:"learner"`
}

// MaxBoosterNodes bounds the total nodes of a decoded booster.
const MaxBoosterNodes = 1 << 22

// ParseXGBoost decodes and validates an XGBoost JSON model. Errors wrap
// ErrInvalid.
func ParseXGBoost(b []byte) (*Booster, error) {
	var j xgbJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: xgboost model: %v", ErrInvalid, err)
	}
	bad := func(format string, args ...any) (*Booster, error) {
		return nil, fmt.Errorf("%w: xgboost model: "+format, append([]any{ErrInvalid}, args...)...)
	}
	l := j.Learner
	if name := l.GradientBooster.Name; name != "gbtree" {
		return bad("booster %q is not supported (want gbtree)", name)
	}
	if nc := float64(l.LearnerModelParam.NumClass); nc > 1 {
		return bad("multi-class models are not supported")
	}
	bo := &Booster{FeatureNames: l.FeatureNames, Objective: l.Objective.Name}
	nf := float64(l.LearnerModelParam.NumFeature)
	if nf < 0 || nf > 1<<20 || nf != math.Trunc(nf) {
		return bad("num_feature out of range")
	}
	bo.NumFeature = int(nf)
	if len(bo.FeatureNames) > 0 && len(bo.FeatureNames) != bo.NumFeature {
		return bad("%d feature names for %d features", len(bo.FeatureNames), bo.NumFeature)
	}
	base := float64(l.LearnerModelParam.BaseScore)
	if math.IsNaN(base) || math.IsInf(base, 0) {
		return bad("base_score is not finite")
	}
	switch bo.Objective {
	case "binary:logistic", "reg:logistic":
		if base <= 0 || base >= 1 {
			return bad("base_score %v must be in (0, 1) for %s", base, bo.Objective)
		}
		bo.logistic = true
		bo.baseMargin = math.Log(base / (1 - base))
	case "binary:logitraw", "reg:squarederror":
		bo.baseMargin = base
	default:
		return bad("objective %q is not supported", bo.Objective)
	}
	total := 0
	for t, tj := range l.GradientBooster.Model.Trees {
		n := len(tj.LeftChildren)
		total += n
		if n == 0 || total > MaxBoosterNodes || len(tj.RightChildren) != n || len(tj.SplitIndices) != n || len(tj.SplitConditions) != n || len(tj.DefaultLeft) != n {
			return bad("tree %d: node arrays are empty, too large or differ in length", t)
		}
		if len(tj.BaseWeights) != 0 && len(tj.BaseWeights) != n {
			return bad("tree %d: base_weights has %d entries for %d nodes", t, len(tj.BaseWeights), n)
		}
		tr := xgbTree{left: tj.LeftChildren, right: tj.RightChildren, feature: tj.SplitIndices, cond: tj.SplitConditions, defLeft: make([]bool, n)}
		for i := range n {
			tr.defLeft[i] = bool(tj.DefaultLeft[i])
			if len(tj.SplitType) > i && tj.SplitType[i] != 0 {
				return bad("tree %d node %d: categorical splits are not supported", t, i)
			}
			if c := float64(tj.SplitConditions[i]); math.IsNaN(c) || math.IsInf(c, 0) {
				return bad("tree %d node %d: split condition is not finite", t, i)
			}
			lc, rc := tr.left[i], tr.right[i]
			if lc == -1 {
				if rc != -1 {
					return bad("tree %d node %d: a leaf has a right child", t, i)
				}
				continue
			}
			// XGBoost numbers children after their parents; requiring it
			// rules out cycles.
			if lc <= int32(i) || rc <= int32(i) || int(lc) >= n || int(rc) >= n {
				return bad("tree %d node %d: children must be later nodes", t, i)
			}
			if f := tj.SplitIndices[i]; f < 0 || f >= 1<<20 || (bo.NumFeature > 0 && int(f) >= bo.NumFeature) {
				return bad("tree %d node %d: split index %d out of range", t, i, f)
			}
		}
		bo.trees = append(bo.trees, tr)
	}
	if len(bo.trees) == 0 {
		return bad("no trees")
	}
	if bo.NumFeature == 0 {
		// Older files may omit num_feature: derive it from the splits.
		for _, tr := range bo.trees {
			for i, f := range tr.feature {
				if tr.left[i] != -1 {
					bo.NumFeature = max(bo.NumFeature, int(f)+1)
				}
			}
		}
	}
	return bo, nil
}

// Margin returns the sum of the trees' leaf values plus the base margin.
// x holds one value per feature (NaN for missing, which follows each
// split's default direction); Margin panics if x is shorter than
// NumFeature.
func (b *Booster) Margin(x []float64) float64 {
	if len(x) < b.NumFeature {
		panic("model: feature vector shorter than the booster's")
	}
	m := b.baseMargin
	for i := range b.trees {
		tr := &b.trees[i]
		n := int32(0)
		for tr.left[n] != -1 {
			v := x[tr.feature[n]]
			var left bool
			if math.IsNaN(v) {
				left = tr.defLeft[n]
			} else {
				// XGBoost compares in float32.
				left = float32(v) < tr.cond[n]
			}
			if left {
				n = tr.left[n]
			} else {
				n = tr.right[n]
			}
		}
		m += float64(tr.cond[n])
	}
	return m
}

// Predict returns the model's output for x: a probability for logistic
// objectives, the margin otherwise.
func (b *Booster) Predict(x []float64) float64 {
	m := b.Margin(x)
	if b.logistic {
		return 1 / (1 + math.Exp(-m))
	}
	return m
}

// Logistic reports whether Predict returns a probability.
func (b *Booster) Logistic() bool { return b.logistic }
