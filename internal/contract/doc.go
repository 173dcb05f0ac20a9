// Package contract is medledger's state-machine runtime: a registry of
// contracts and the deterministic execution of a block's transactions
// against the world state.
//
// Execution sees only its inputs: the block height and time, the
// transaction, its resolved signer, and state. It never reads the wall
// clock, randomness, the network or map iteration order; state changes are
// collected in overlays and emitted sorted. The same transactions over the
// same state therefore give the same results and changes on every node,
// in solo and consensus modes alike, and when verification replays history.
//
// Rules that operators must change without a release are CEL policies
// (package policy) stored in state under "policy/", set by the built-in
// policy contract and type-checked when set.
package contract
