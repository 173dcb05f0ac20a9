// Package txlog maintains medledger's transaction log: one RFC 6962 Merkle
// tree over every committed transaction since genesis, as in Certificate
// Transparency. It appends leaves, reports the perfect-subtree node hashes
// that must be persisted, and builds inclusion and consistency proofs from
// persisted nodes.
//
// It owns no storage: callers persist the nodes Append reports and supply a
// NodeReader for proofs. Proof verification lives in the public client
// package, which must not depend on a node.
package txlog

import (
	"errors"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/medledger/medledger/internal/ledger"
)

// NodeID names a perfect subtree: the node at Level covering leaves
// [Index<<Level, (Index+1)<<Level). Level 0 nodes are leaf hashes.
type NodeID = compact.NodeID

// NodeReader returns persisted node hashes. Implementations must return an
// error (never a zero hash) for a node they do not hold.
type NodeReader interface {
	Node(id NodeID) (ledger.Hash, error)
}

var factory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Log is the right edge of the tree: enough to append and compute the root.
// It is not safe for concurrent use.
type Log struct {
	r *compact.Range
}

// New returns an empty log.
func New() *Log { return &Log{r: factory.NewEmptyRange(0)} }

// Open restores a log of the given size from persisted nodes.
func Open(size uint64, nr NodeReader) (*Log, error) {
	ids := compact.RangeNodes(0, size, nil)
	hashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := nr.Node(id)
		if err != nil {
			return nil, fmt.Errorf("txlog: open at size %d: node %d/%d: %w", size, id.Level, id.Index, err)
		}
		hashes[i] = h[:]
	}
	r, err := factory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("txlog: open at size %d: %w", size, err)
	}
	return &Log{r: r}, nil
}

// Size returns the number of leaves.
func (l *Log) Size() uint64 { return l.r.End() }

// Root returns the RFC 6962 root hash (EmptyRoot for an empty log).
func (l *Log) Root() ledger.Hash {
	root, err := l.r.GetRootHash(nil)
	if err != nil {
		panic(err) // cannot happen: the range starts at 0
	}
	if root == nil {
		return ledger.EmptyRoot
	}
	var h ledger.Hash
	copy(h[:], root)
	return h
}

// Append adds a leaf hash (see ledger.LeafHash) and calls emit for every
// new perfect-subtree node, the leaf included; callers persist them.
func (l *Log) Append(leaf ledger.Hash, emit func(id NodeID, h ledger.Hash)) {
	var visit compact.VisitFn
	if emit != nil {
		visit = func(id compact.NodeID, h []byte) {
			var v ledger.Hash
			copy(v[:], h)
			emit(id, v)
		}
	}
	lh := leaf
	if err := l.r.Append(lh[:], visit); err != nil {
		panic(err) // cannot happen: the range is well formed
	}
}

// Clone returns an independent copy, for building a block speculatively.
func (l *Log) Clone() *Log {
	hs := slices.Clone(l.r.Hashes())
	r, err := factory.NewRange(0, l.r.End(), hs)
	if err != nil {
		panic(err)
	}
	return &Log{r: r}
}

// ErrRange is wrapped when a proof is requested for sizes or indexes
// outside the log.
var ErrRange = errors.New("txlog: out of range")

// Inclusion returns the RFC 6962 audit path for leaf index in the tree of
// the given size, reading nodes from nr.
func Inclusion(nr NodeReader, index, size uint64) ([]ledger.Hash, error) {
	if index >= size {
		return nil, fmt.Errorf("inclusion of leaf %d in tree of size %d: %w", index, size, ErrRange)
	}
	n, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion of leaf %d in tree of size %d: %w", index, size, err)
	}
	return fetch(nr, n)
}

// Consistency returns the RFC 6962 consistency proof between tree sizes
// size1 <= size2.
func Consistency(nr NodeReader, size1, size2 uint64) ([]ledger.Hash, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("consistency from %d to %d: %w", size1, size2, ErrRange)
	}
	n, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("consistency from %d to %d: %w", size1, size2, err)
	}
	return fetch(nr, n)
}

func fetch(nr NodeReader, n proof.Nodes) ([]ledger.Hash, error) {
	hs := make([][]byte, len(n.IDs))
	for i, id := range n.IDs {
		h, err := nr.Node(id)
		if err != nil {
			return nil, fmt.Errorf("txlog: node %d/%d: %w", id.Level, id.Index, err)
		}
		hs[i] = h[:]
	}
	hs, err := n.Rehash(hs, rfc6962.DefaultHasher.HashChildren)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Hash, len(hs))
	for i, h := range hs {
		copy(out[i][:], h)
	}
	return out, nil
}
