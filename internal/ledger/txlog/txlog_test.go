package txlog

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/medledger/medledger/internal/ledger"
)

type memNodes map[NodeID]ledger.Hash

func (m memNodes) Node(id NodeID) (ledger.Hash, error) {
	h, ok := m[id]
	if !ok {
		return h, fmt.Errorf("no node %v", id)
	}
	return h, nil
}

func leaf(i uint64) ledger.Hash {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], i)
	return ledger.LeafHash(b[:])
}

func raw(hs []ledger.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// TestProofs builds logs of many sizes and checks every root against the
// naive block Merkle root, and sampled proofs with the reference verifier.
func TestProofs(t *testing.T) {
	nodes := memNodes{}
	l := New()
	roots := []ledger.Hash{ledger.EmptyRoot}
	var leaves [][]byte
	for i := uint64(0); i < 70; i++ {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], i)
		leaves = append(leaves, b[:])
		l.Append(leaf(i), func(id NodeID, h ledger.Hash) { nodes[id] = h })
		roots = append(roots, l.Root())
		if got, want := l.Root(), ledger.MerkleRoot(leaves); got != want {
			t.Fatalf("size %d: root %v, naive %v", i+1, got, want)
		}
	}
	for size := uint64(1); size <= 70; size++ {
		for idx := uint64(0); idx < size; idx++ {
			p, err := Inclusion(nodes, idx, size)
			if err != nil {
				t.Fatalf("Inclusion(%d,%d): %v", idx, size, err)
			}
			lh := leaf(idx)
			r := roots[size]
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, lh[:], raw(p), r[:]); err != nil {
				t.Fatalf("VerifyInclusion(%d,%d): %v", idx, size, err)
			}
		}
		for s1 := uint64(0); s1 <= size; s1++ {
			p, err := Consistency(nodes, s1, size)
			if err != nil {
				t.Fatalf("Consistency(%d,%d): %v", s1, size, err)
			}
			r1, r2 := roots[s1], roots[size]
			if s1 == 0 {
				continue // RFC 6962 defines no proof from the empty tree
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, s1, size, raw(p), r1[:], r2[:]); err != nil {
				t.Fatalf("VerifyConsistency(%d,%d): %v", s1, size, err)
			}
		}
	}
	// Reopen from nodes at every size and keep appending identically.
	for size := uint64(0); size <= 70; size++ {
		o, err := Open(size, nodes)
		if err != nil {
			t.Fatalf("Open(%d): %v", size, err)
		}
		if o.Root() != roots[size] {
			t.Fatalf("Open(%d).Root() = %v; want %v", size, o.Root(), roots[size])
		}
		c := o.Clone()
		if size < 70 {
			c.Append(leaf(size), nil)
			if c.Root() != roots[size+1] || o.Root() != roots[size] {
				t.Fatalf("Clone at %d not independent", size)
			}
		}
	}
}

func TestOutOfRange(t *testing.T) {
	if _, err := Inclusion(memNodes{}, 5, 5); err == nil {
		t.Error("Inclusion(5,5) succeeded")
	}
	if _, err := Consistency(memNodes{}, 6, 5); err == nil {
		t.Error("Consistency(6,5) succeeded")
	}
	if _, err := Open(3, memNodes{}); err == nil {
		t.Error("Open(3) from no nodes succeeded")
	}
}

func BenchmarkAppend(b *testing.B) {
	l := New()
	n := 0
	for i := 0; b.Loop(); i++ {
		l.Append(leaf(uint64(i)), func(NodeID, ledger.Hash) { n++ })
	}
}
