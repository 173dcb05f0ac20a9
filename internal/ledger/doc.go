// Package ledger holds medledger's domain types: signed transactions, block
// headers, per-transaction results, state changes, and the hashes that bind
// them together (transaction IDs, RFC 6962 Merkle roots, header hashes and
// the chained application hash).
//
// It owns the canonical binary encodings of these types. Every encoding is
// the protobuf wire format with a fixed shape: every field is present, in
// field-number order, with minimal varints, and nothing else. Decoders
// reject any other byte string, so each value has exactly one encoding and
// hashes over encodings are well defined.
//
// The package performs no I/O, reads no clock and imports no other medledger
// package; storage, ordering and execution live elsewhere and depend on it.
package ledger
