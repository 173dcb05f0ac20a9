package node

import (
	"testing"
	"time"
)

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i)*time.Millisecond, 1)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.03 {
			t.Errorf("quantile(%v) = %v; want %v within 3%%", tc.q, got, tc.want)
		}
	}
	var o latencyHist
	o.add(2*time.Hour, 5) // beyond the last bucket: counted there
	h.merge(&o)
	if h.n != 1005 || h.quantile(1) < time.Minute {
		t.Errorf("after merge n = %d, max = %v", h.n, h.quantile(1))
	}
}
