// Package genesis reads, checks, writes and hashes the genesis document:
// the JSON file that names a medledger network (its chain ID), its
// founding organisations, their initial members and keys, and the
// validators allowed to sign blocks.
//
// Every node of a network must hold the same document. Its identity is
// Doc.Hash, a hash over a canonical encoding (Doc.Canonical) rather than
// over the file's bytes, so re-indenting the file or changing a time
// zone offset does not change the network. Block 1's previous-block hash
// is this value.
//
// Parse and Load are strict: unknown or mis-cased fields, duplicate
// fields, trailing data, invalid UTF-8 and documents over MaxSize are
// refused, and Validate lists every problem at once with its location
// (for example "members[2].roles[0]").
package genesis
