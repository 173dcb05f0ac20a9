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

// TestBenchFHIRSmall runs bench fhir end to end on a tiny data set, with
// and without authentication: every request must succeed, and with
// authentication every read and search must have left an AuditEvent.
func TestBenchFHIRSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node and imports patients")
	}
	for _, auth := range []bool{false, true} {
		o := FHIRBenchOptions{Patients: 4, Creates: 40, Reads: 120, Searches: 10, Clients: 4, SearchClients: 2, Auth: auth, Dir: t.TempDir()}
		res, err := BenchFHIR(t.Context(), o)
		if err != nil {
			t.Fatalf("auth=%v: %v", auth, err)
		}
		if res.Failed != 0 {
			t.Errorf("auth=%v: %d requests failed", auth, res.Failed)
		}
		if res.ImportPatients != 4 || res.ImportResources < 4 || res.Creates != 40 || res.Reads != 120 || res.Searches != 10 {
			t.Errorf("auth=%v: counts %+v", auth, res)
		}
		if res.ReadsPerS <= 0 || res.ReadP99ms <= 0 || res.ReadP99ms < res.ReadP50ms {
			t.Errorf("auth=%v: read figures %v/s p50 %v p99 %v", auth, res.ReadsPerS, res.ReadP50ms, res.ReadP99ms)
		}
		if want := o.Reads + o.Searches; auth && res.AuditEvents < want {
			t.Errorf("auth=%v: %d AuditEvents; want at least one per read and search (%d)", auth, res.AuditEvents, want)
		}
	}
}
