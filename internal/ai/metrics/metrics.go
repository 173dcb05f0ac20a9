// Package metrics computes the evaluation measures of a binary detector
// from its scores and ground-truth labels: ROC-AUC, PR-AUC (average
// precision), and precision, recall and F1 at a threshold, plus the
// threshold that yields a given alert rate.
//
// Functions are pure, allocate only what they return or sort, and are safe
// for concurrent use. A higher score means "more likely positive"; an
// event alerts when its score is at or above the threshold.
package metrics

import (
	"math"
	"slices"
)

// Confusion counts the outcomes of alerting at a threshold.
type Confusion struct {
	TP, FP, TN, FN int
}

// At counts outcomes when every score ≥ threshold alerts. scores and
// positives must have the same length; At panics otherwise.
func At(scores []float64, positives []bool, threshold float64) Confusion {
	mustSameLen(scores, positives)
	var c Confusion
	for i, s := range scores {
		alert := s >= threshold
		switch {
		case alert && positives[i]:
			c.TP++
		case alert:
			c.FP++
		case positives[i]:
			c.FN++
		default:
			c.TN++
		}
	}
	return c
}

// Precision is TP/(TP+FP), or 0 when nothing alerted.
func (c Confusion) Precision() float64 { return ratio(c.TP, c.TP+c.FP) }

// Recall is TP/(TP+FN), or 0 when there are no positives.
func (c Confusion) Recall() float64 { return ratio(c.TP, c.TP+c.FN) }

// F1 is the harmonic mean of precision and recall, or 0 if both are 0.
func (c Confusion) F1() float64 {
	p, r := c.Precision(), c.Recall()
	if p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// AlertRate is the share of all events that alerted, or 0 for none.
func (c Confusion) AlertRate() float64 { return ratio(c.TP+c.FP, c.TP+c.FP+c.TN+c.FN) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func mustSameLen(scores []float64, positives []bool) {
	if len(scores) != len(positives) {
		panic("metrics: scores and labels differ in length")
	}
}

// order returns the indexes of scores sorted by descending score.
func order(scores []float64) []int {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		sa, sb := scores[a], scores[b]
		switch {
		case sa > sb:
			return -1
		case sa < sb:
			return 1
		}
		return 0
	})
	return idx
}

// ROCAUC is the area under the ROC curve: the probability that a random
// positive scores higher than a random negative, ties counting one half
// (the Mann-Whitney statistic). It is NaN if either class is empty.
func ROCAUC(scores []float64, positives []bool) float64 {
	mustSameLen(scores, positives)
	idx := order(scores)
	var pos, neg int
	for _, p := range positives {
		if p {
			pos++
		} else {
			neg++
		}
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	// Walk from the highest score down; for each group of tied scores,
	// every negative in it is outranked by the positives seen before the
	// group and ties with the group's positives.
	var seenPos, groupPos, groupNeg int
	var area float64
	for i := 0; i < len(idx); {
		j := i
		groupPos, groupNeg = 0, 0
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if positives[idx[j]] {
				groupPos++
			} else {
				groupNeg++
			}
			j++
		}
		area += float64(groupNeg) * (float64(seenPos) + float64(groupPos)/2)
		seenPos += groupPos
		i = j
	}
	return area / (float64(pos) * float64(neg))
}

// PRAUC is the area under the precision-recall curve computed as average
// precision: the mean, over thresholds at each distinct score, of the
// precision there weighted by the recall it adds (tied scores form one
// step, as in scikit-learn's average_precision_score). It is NaN if there
// are no positives.
func PRAUC(scores []float64, positives []bool) float64 {
	mustSameLen(scores, positives)
	idx := order(scores)
	pos := 0
	for _, p := range positives {
		if p {
			pos++
		}
	}
	if pos == 0 {
		return math.NaN()
	}
	var tp, fp int
	var ap float64
	for i := 0; i < len(idx); {
		j := i
		added := 0
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			if positives[idx[j]] {
				tp++
				added++
			} else {
				fp++
			}
			j++
		}
		if added > 0 {
			ap += float64(added) / float64(pos) * float64(tp) / float64(tp+fp)
		}
		i = j
	}
	return ap
}

// ThresholdForRate returns the lowest threshold at which at most rate (a
// share in [0, 1]) of the scores alert. Ties can make the rate lower than
// asked: all scores equal to the threshold alert together. For an empty
// slice or rate 0 it returns +Inf (nothing alerts).
func ThresholdForRate(scores []float64, rate float64) float64 {
	n := int(math.Floor(rate * float64(len(scores))))
	if n <= 0 || len(scores) == 0 {
		return math.Inf(1)
	}
	s := slices.Clone(scores)
	slices.SortFunc(s, func(a, b float64) int {
		switch {
		case a > b:
			return -1
		case a < b:
			return 1
		}
		return 0
	})
	if n >= len(s) {
		return s[len(s)-1]
	}
	t := s[n-1]
	if s[n] == t {
		// Taking t would alert more than n: move just above it.
		return math.Nextafter(t, math.Inf(1))
	}
	return t
}
