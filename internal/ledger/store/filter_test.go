package store

import (
	"encoding/binary"
	"sync"
	"testing"
)

func TestKeyFilter(t *testing.T) {
	f := newKeyFilter(0)
	f.chain.Load() // initial capacity is 1<<20; force growth with a small one
	small := newBloom(1000)
	chain := []*bloomFilter{small}
	f.chain.Store(&chain)
	key := func(i int) []byte { return binary.BigEndian.AppendUint64([]byte("k"), uint64(i)) }
	const n = 20000 // grows the chain several times
	for i := 0; i < n; i += 2 {
		f.add(key(i))
	}
	if got := len(*f.chain.Load()); got < 3 {
		t.Errorf("chain has %d filters after %d adds to capacity 1000; want growth", got, n/2)
	}
	fp := 0
	for i := 0; i < n; i++ {
		in := f.mayContain(key(i))
		if i%2 == 0 && !in {
			t.Fatalf("mayContain(added key %d) = false: a false negative", i)
		}
		if i%2 == 1 && in {
			fp++
		}
	}
	if rate := float64(fp) / (n / 2); rate > 0.05 {
		t.Errorf("false-positive rate %.3f; want about 0.01 per filter", rate)
	}
}

func TestKeyFilterConcurrent(t *testing.T) {
	f := newKeyFilter(100)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k := []byte{byte(w), byte(i), byte(i >> 8)}
				f.add(k)
				if !f.mayContain(k) {
					t.Errorf("key %v added but not found", k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkKeyFilterMiss(b *testing.B) {
	f := newKeyFilter(1 << 20)
	for i := range 1 << 20 {
		f.add(binary.BigEndian.AppendUint64(nil, uint64(i)))
	}
	k := make([]byte, 8)
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(k, uint64(i)|1<<62)
		f.mayContain(k)
	}
}
