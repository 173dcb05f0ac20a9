// Package identity holds what medledger knows about a member's identity:
// roles, Ed25519 signing keys, signature verification, and the encrypted
// files that keep private keys at rest.
//
// Private keys live behind the Signer interface; the package never hands
// out private key bytes. Keys are generated with crypto/ed25519 and
// stored as AES-256-GCM–encrypted seeds, protected either by a passphrase
// (scrypt) or by a node master key (HKDF-SHA256).
//
// Verification follows ZIP-215 (the rules CometBFT uses), both for single
// signatures (Verify) and for batches (Batch), so the two accept exactly
// the same signatures and a block's validity never depends on how it was
// checked.
//
// The package reads no environment variables and no clock; file paths,
// passphrases and master key text come from the caller.
package identity
