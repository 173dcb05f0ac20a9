package client_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"testing"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// memTree is a tx log over an in-memory node map, as the node keeps one
// over its store: the source of genuine proofs for the fuzz seeds.
type memTree struct {
	nodes  map[txlog.NodeID]ledger.Hash
	leaves [][]byte
	roots  []ledger.Hash // roots[n] is the root of the first n leaves
}

func (m *memTree) Node(id txlog.NodeID) (ledger.Hash, error) {
	h, ok := m.nodes[id]
	if !ok {
		return ledger.Hash{}, fmt.Errorf("no node %d/%d", id.Level, id.Index)
	}
	return h, nil
}

const treeLeaves = 21

func newMemTree(tb testing.TB) *memTree {
	m := &memTree{nodes: make(map[txlog.NodeID]ledger.Hash), roots: []ledger.Hash{ledger.EmptyRoot}}
	l := txlog.New()
	for i := range treeLeaves {
		leaf := fmt.Appendf(nil, "tx-%d", i)
		l.Append(ledger.LeafHash(leaf), func(id txlog.NodeID, h ledger.Hash) { m.nodes[id] = h })
		m.leaves = append(m.leaves, leaf)
		m.roots = append(m.roots, l.Root())
	}
	if got, want := m.roots[1], ledger.LeafHash(m.leaves[0]); got != want {
		tb.Fatalf("root of one leaf = %s; want its leaf hash %s", got, want)
	}
	return m
}

func (m *memTree) inclusion(tb testing.TB, index, size uint64) []ledger.Hash {
	p, err := txlog.Inclusion(m, index, size)
	if err != nil {
		tb.Fatalf("txlog.Inclusion(%d, %d): %v", index, size, err)
	}
	return p
}

func (m *memTree) consistency(tb testing.TB, size1, size2 uint64) []ledger.Hash {
	p, err := txlog.Consistency(m, size1, size2)
	if err != nil {
		tb.Fatalf("txlog.Consistency(%d, %d): %v", size1, size2, err)
	}
	return p
}

func join(hs []ledger.Hash) []byte {
	var b []byte
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

// split cuts b into hashes, ignoring a trailing partial one.
func split(b []byte) []ledger.Hash {
	hs := make([]ledger.Hash, len(b)/ledger.HashSize)
	for i := range hs {
		copy(hs[i][:], b[i*ledger.HashSize:])
	}
	return hs
}

// hashChildren is RFC 6962's interior node hash, written out here rather
// than taken from the library the client uses.
func hashChildren(l, r ledger.Hash) ledger.Hash {
	d := sha256.New()
	d.Write([]byte{1})
	d.Write(l[:])
	d.Write(r[:])
	var h ledger.Hash
	d.Sum(h[:0])
	return h
}

// split2 returns the largest power of two less than n (n >= 2): where RFC
// 6962 splits a tree of n leaves.
func split2(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// naiveRoot recomputes the root an audit path implies, top-down from RFC
// 6962's recursive definition of PATH(m, D[n]); the client's verifier works
// bottom-up with bit arithmetic, so the two are independent.
func naiveRoot(leaf ledger.Hash, index, size uint64, path []ledger.Hash) (ledger.Hash, bool) {
	if index >= size {
		return ledger.Hash{}, false
	}
	if size == 1 {
		return leaf, len(path) == 0
	}
	if len(path) == 0 {
		return ledger.Hash{}, false
	}
	k := split2(size)
	sib, rest := path[len(path)-1], path[:len(path)-1]
	if index < k {
		l, ok := naiveRoot(leaf, index, k, rest)
		return hashChildren(l, sib), ok
	}
	r, ok := naiveRoot(leaf, index-k, size-k, rest)
	return hashChildren(sib, r), ok
}

// naiveSubproof checks SUBPROOF(m, D[n], b) of RFC 6962 section 2.1.2
// top-down, consuming proof from its end. It returns the hashes of the old
// tree's part of this subtree and of the whole subtree, and what is left of
// the proof.
func naiveSubproof(m, n uint64, b bool, proof []ledger.Hash, root1 ledger.Hash) (old, cur ledger.Hash, rest []ledger.Hash, ok bool) {
	if m == n {
		if b {
			return root1, root1, proof, true
		}
		if len(proof) == 0 {
			return old, cur, nil, false
		}
		h := proof[len(proof)-1]
		return h, h, proof[:len(proof)-1], true
	}
	if len(proof) == 0 {
		return old, cur, nil, false
	}
	k := split2(n)
	x, proof := proof[len(proof)-1], proof[:len(proof)-1]
	if m <= k {
		o, l, rest, ok := naiveSubproof(m, k, b, proof, root1)
		return o, hashChildren(l, x), rest, ok
	}
	o, r, rest, ok := naiveSubproof(m-k, n-k, false, proof, root1)
	return hashChildren(x, o), hashChildren(x, r), rest, ok
}

// naiveConsistent reports whether proof shows that (size2, root2) extends
// (size1, root1).
func naiveConsistent(size1, size2 uint64, root1, root2 ledger.Hash, proof []ledger.Hash) bool {
	switch {
	case size1 > size2:
		return false
	case size1 == 0:
		return len(proof) == 0 && root1 == ledger.EmptyRoot && (size2 > 0 || root2 == ledger.EmptyRoot)
	case size1 == size2:
		return len(proof) == 0 && root1 == root2
	}
	old, cur, rest, ok := naiveSubproof(size1, size2, true, proof, root1)
	return ok && len(rest) == 0 && old == root1 && cur == root2
}

// TestNaiveVerifiers checks the reference verifiers on every genuine proof
// of the fixture tree, so the fuzz oracles are known to accept what they
// must.
func TestNaiveVerifiers(t *testing.T) {
	m := newMemTree(t)
	for size := uint64(1); size <= treeLeaves; size++ {
		for i := range size {
			p := m.inclusion(t, i, size)
			if r, ok := naiveRoot(ledger.LeafHash(m.leaves[i]), i, size, p); !ok || r != m.roots[size] {
				t.Errorf("naiveRoot(leaf %d, size %d) = %s %v; want %s", i, size, r, ok, m.roots[size])
			}
		}
	}
	for s2 := uint64(0); s2 <= treeLeaves; s2++ {
		for s1 := uint64(0); s1 <= s2; s1++ {
			if !naiveConsistent(s1, s2, m.roots[s1], m.roots[s2], m.consistency(t, s1, s2)) {
				t.Errorf("naiveConsistent(%d, %d) rejects the genuine proof", s1, s2)
			}
		}
	}
}

// FuzzVerifyInclusion checks VerifyInclusion against the naive verifier:
// it never panics, fails only with ErrVerify, accepts exactly what the
// naive one accepts, and accepts for a root of the fixture tree only the
// genuine leaf and proof.
func FuzzVerifyInclusion(f *testing.F) {
	m := newMemTree(f)
	for size := uint64(1); size <= treeLeaves; size++ {
		for i := uint64(0); i < size; i += 1 + size/5 {
			leaf, p, root := m.leaves[i], m.inclusion(f, i, size), m.roots[size]
			f.Add(leaf, i, size, join(p), root[:])
			// Near misses, so that plain `go test` exercises rejection too.
			other := m.leaves[(i+1)%treeLeaves]
			f.Add(other, i, size, join(p), root[:])
			f.Add(leaf, i+1, size, join(p), root[:])
			f.Add(leaf, i, size+1, join(p), root[:])
			f.Add(leaf, i, size-1, join(p), root[:])
			f.Add(leaf, i, size, join(p), m.roots[size-1][:])
			if len(p) > 0 {
				f.Add(leaf, i, size, join(p[1:]), root[:])
				f.Add(leaf, i, size, join(append(slices.Clone(p), p[0])), root[:])
				tampered := join(p)
				tampered[len(tampered)-1] ^= 0x80
				f.Add(leaf, i, size, tampered, root[:])
			}
		}
	}
	f.Add([]byte{}, uint64(0), uint64(0), []byte{}, ledger.EmptyRoot[:])
	f.Add([]byte("x"), ^uint64(0)-1, ^uint64(0), make([]byte, 64*32), make([]byte, 32))

	f.Fuzz(func(t *testing.T, leaf []byte, index, size uint64, proof, root []byte) {
		r, err := ledger.HashFromSlice(root)
		if err != nil {
			return
		}
		p := split(proof)
		err = client.VerifyInclusion(leaf, index, size, p, r)
		if err != nil && !errors.Is(err, client.ErrVerify) {
			t.Fatalf("VerifyInclusion: %v does not wrap ErrVerify", err)
		}
		want, ok := naiveRoot(ledger.LeafHash(leaf), index, size, p)
		if naive := ok && want == r; naive != (err == nil) {
			t.Fatalf("VerifyInclusion(leaf, %d, %d, %d hashes) = %v; naive verifier accepts: %v", index, size, len(p), err, naive)
		}
		if err == nil && size <= treeLeaves && r == m.roots[size] {
			if ledger.LeafHash(leaf) != ledger.LeafHash(m.leaves[index]) || !slices.Equal(p, m.inclusion(t, index, size)) {
				t.Fatalf("VerifyInclusion accepted a leaf or proof other than the genuine one for leaf %d of %d", index, size)
			}
		}
	})
}

// FuzzVerifyConsistency checks VerifyConsistency the same way.
func FuzzVerifyConsistency(f *testing.F) {
	m := newMemTree(f)
	for s2 := uint64(0); s2 <= treeLeaves; s2++ {
		for s1 := uint64(0); s1 <= s2; s1 += 1 + s2/6 {
			p, r1, r2 := m.consistency(f, s1, s2), m.roots[s1], m.roots[s2]
			f.Add(s1, s2, join(p), r1[:], r2[:])
			f.Add(s1, s2, join(p), r2[:], r1[:])
			f.Add(s2, s1, join(p), r2[:], r1[:])
			f.Add(s1+1, s2, join(p), r1[:], r2[:])
			f.Add(s1, s2+1, join(p), r1[:], r2[:])
			if len(p) > 0 {
				f.Add(s1, s2, join(p[:len(p)-1]), r1[:], r2[:])
				tampered := join(p)
				tampered[0] ^= 1
				f.Add(s1, s2, tampered, r1[:], r2[:])
			}
			if s1 > 0 {
				f.Add(s1-1, s2, join(p), r1[:], r2[:])
			}
		}
	}
	f.Add(uint64(0), uint64(0), []byte{}, make([]byte, 32), make([]byte, 32))
	f.Add(uint64(0), uint64(5), []byte{}, make([]byte, 32), make([]byte, 32))
	f.Add(^uint64(0)-1, ^uint64(0), make([]byte, 64*32), make([]byte, 32), make([]byte, 32))

	f.Fuzz(func(t *testing.T, size1, size2 uint64, proof, root1, root2 []byte) {
		r1, err1 := ledger.HashFromSlice(root1)
		r2, err2 := ledger.HashFromSlice(root2)
		if err1 != nil || err2 != nil {
			return
		}
		p := split(proof)
		err := client.VerifyConsistency(size1, size2, r1, r2, p)
		if err != nil && !errors.Is(err, client.ErrVerify) {
			t.Fatalf("VerifyConsistency: %v does not wrap ErrVerify", err)
		}
		if naive := naiveConsistent(size1, size2, r1, r2, p); naive != (err == nil) {
			t.Fatalf("VerifyConsistency(%d, %d, %d hashes) = %v; naive verifier accepts: %v", size1, size2, len(p), err, naive)
		}
		if err == nil && size1 > 0 && size2 <= treeLeaves && r1 == m.roots[size1] && r2 == m.roots[size2] {
			if !slices.Equal(p, m.consistency(t, size1, size2)) {
				t.Fatalf("VerifyConsistency accepted a proof other than the genuine one for %d..%d", size1, size2)
			}
		}
	})
}
