package ledger

import (
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// LeafHash returns the RFC 6962 leaf hash of an encoded transaction or
// result: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	var h Hash
	copy(h[:], rfc6962.DefaultHasher.HashLeaf(data))
	return h
}

// EmptyRoot is the RFC 6962 root of an empty tree: SHA-256 of nothing.
var EmptyRoot = func() Hash {
	var h Hash
	copy(h[:], rfc6962.DefaultHasher.EmptyRoot())
	return h
}()

var rangeFactory = compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// MerkleRoot returns the RFC 6962 Merkle tree hash over the given leaves
// (each hashed with LeafHash). It is used for a block's tx and result roots.
func MerkleRoot(leaves [][]byte) Hash {
	if len(leaves) == 0 {
		return EmptyRoot
	}
	r := rangeFactory.NewEmptyRange(0)
	for _, l := range leaves {
		lh := LeafHash(l)
		if err := r.Append(lh[:], nil); err != nil {
			panic(err) // cannot happen: appending to a range starting at 0
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	var h Hash
	copy(h[:], root)
	return h
}
