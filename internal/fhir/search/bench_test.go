package search

import (
	"fmt"
	"net/url"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// benchN is the size of the benchmark index: 10,000 patients and 90,000
// observations (synth.resource).
const benchN = 100_000

var bench struct {
	once sync.Once
	ix   *Index
}

func benchIndex() *Index {
	bench.once.Do(func() {
		ix := &Index{}
		g := newSynth(42)
		for i := range benchN {
			typ, id, tree := g.resource(i)
			ix.Put(typ, id, 1, base.Add(time.Duration(i)*time.Second), tree)
		}
		bench.ix = ix
	})
	return bench.ix
}

// BenchmarkSearch times the queries over 100,000 resources with
// _count=50 and an exact total, and reports the 99th percentile latency.
func BenchmarkSearch(b *testing.B) {
	ix := benchIndex()
	cases := []struct {
		name, typ string
		q         func(i int) string
	}{
		{"Observation?patient=X", "Observation", func(i int) string { return fmt.Sprintf("patient=pat-%d", i*7919%(benchN/10)) }},
		{"Observation?code=loinc|8867-4&date=ge2020-01-01", "Observation", func(int) string {
			return "code=http://loinc.org|8867-4&date=ge2020-01-01"
		}},
		{"Patient?name=smi", "Patient", func(int) string { return "name=smi" }},
		{"Patient?birthdate=1970-01-01", "Patient", func(int) string { return "birthdate=1970-01-01" }},
		// More: the worst kinds of plan.
		{"Observation?date=ge2020-01-01", "Observation", func(int) string { return "date=ge2020-01-01" }},
		{"Observation?status=final&_sort=-date", "Observation", func(int) string { return "status=final&_sort=-date" }},
		{"Patient?name:contains=son", "Patient", func(int) string { return "name:contains=son" }},
		{"Observation?_offset=85000 (deep page)", "Observation", func(int) string { return "_offset=85000" }},
		{"Observation?patient=X&_include=Observation:patient", "Observation", func(i int) string {
			return fmt.Sprintf("patient=pat-%d&_include=Observation:patient", i*7919%(benchN/10))
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var lat []time.Duration
			total := 0
			i := 0
			for b.Loop() {
				q, _ := url.ParseQuery(c.q(i) + "&_count=50")
				t0 := time.Now()
				res, err := ix.Search(c.typ, q, Options{})
				lat = append(lat, time.Since(t0))
				if err != nil {
					b.Fatal(err)
				}
				total += res.Total
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(total)/float64(i), "matches/op")
		})
	}
}

// BenchmarkSearchParallel measures throughput with every core searching.
func BenchmarkSearchParallel(b *testing.B) {
	ix := benchIndex()
	qs := []string{"patient=pat-17", "code=http://loinc.org|8867-4&date=ge2020-01-01", "name=smi", "birthdate=1970-01-01"}
	typs := []string{"Observation", "Observation", "Patient", "Patient"}
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			q, _ := url.ParseQuery(qs[i%4] + "&_count=50")
			if _, err := ix.Search(typs[i%4], q, Options{}); err != nil {
				b.Error(err)
			}
			i++
		}
	})
}

// BenchmarkBuild indexes 100,000 resources (the rebuild at start) and
// reports the heap the index keeps per resource once the trees are gone.
func BenchmarkBuild(b *testing.B) {
	g := newSynth(42)
	var perResource float64
	var inPut time.Duration // the time in Put, without making the trees
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := &Index{}
		for i := range benchN {
			typ, id, tree := g.resource(i)
			t0 := time.Now()
			ix.Put(typ, id, 1, base.Add(time.Duration(i)*time.Second), tree)
			inPut += time.Since(t0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perResource = float64(after.HeapAlloc-before.HeapAlloc) / benchN
		runtime.KeepAlive(ix)
	}
	b.ReportMetric(perResource, "heap-B/resource")
	b.ReportMetric(float64(inPut.Nanoseconds())/float64(b.N)/benchN, "put-ns/resource")
}

// BenchmarkPut times indexing one resource into a full index (an update of
// an existing observation: the write path's cost).
func BenchmarkPut(b *testing.B) {
	ix := benchIndex()
	g := newSynth(42)
	trees := make([]map[string]any, 1000)
	for i := range trees {
		_, _, trees[i] = g.resource(i*10 + 1)
	}
	v := uint64(1)
	i := 0
	for b.Loop() {
		v++
		ix.Put("Observation", fmt.Sprintf("obs-%d", (i%1000)*10+1), v, base, trees[(i+1)%1000])
		i++
	}
}
