package identity

import (
	"crypto/ed25519"
	"fmt"
	"testing"
)

// TestAddCachedAgrees checks that cached and uncached batches accept
// exactly the same entries, including malformed ones.
func TestAddCachedAgrees(t *testing.T) {
	var keys []*Key
	for range 4 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	type entry struct {
		pub      ed25519.PublicKey
		msg, sig []byte
	}
	var es []entry
	for i := range 40 {
		k := keys[i%len(keys)]
		msg := []byte(fmt.Sprintf("message %d", i))
		sig, _ := k.Sign(msg)
		switch i % 5 {
		case 1:
			sig[3] ^= 1 // bad signature
		case 2:
			msg = append(msg, '!') // wrong message
		case 3:
			es = append(es, entry{pub: ed25519.PublicKey(make([]byte, 31)), msg: msg, sig: sig}) // short key
			continue
		}
		es = append(es, entry{pub: k.Public(), msg: msg, sig: sig})
	}
	c := &KeyCache{MaxKeys: 2} // small, to exercise resets
	for round := range 2 {
		plain, cached := NewBatch(len(es)), NewBatch(len(es))
		for _, e := range es {
			plain.Add(e.pub, e.msg, e.sig)
			cached.AddCached(c, e.pub, e.msg, e.sig)
		}
		p, q := plain.Verify(), cached.Verify()
		for i := range p {
			if p[i] != q[i] {
				t.Fatalf("round %d entry %d: Add says %v, AddCached says %v", round, i, p[i], q[i])
			}
		}
	}
}

func BenchmarkBatchCached64(b *testing.B) {
	k, _ := GenerateKey()
	msgs := make([][]byte, 64)
	sigs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf("m%d", i))
		sigs[i], _ = k.Sign(msgs[i])
	}
	c := &KeyCache{}
	for b.Loop() {
		bv := NewBatch(64)
		for i := range msgs {
			bv.AddCached(c, k.Public(), msgs[i], sigs[i])
		}
		bv.Verify()
	}
}
