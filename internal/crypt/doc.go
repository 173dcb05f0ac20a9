// Package crypt encrypts health records with envelope encryption, erases
// them by crypto-shredding, shares their keys with other organisations
// over HPKE, and derives the pseudonymous patient references that the
// ledger holds in place of real identifiers.
//
// # Key hierarchy
//
//	node master key (32 bytes; identity.LoadMasterKey; never stored here)
//	 │
//	 ├─ HKDF-SHA256, info "medledger/crypt/v1/kek-wrap" ─→ master wrapping key (AES-256-GCM)
//	 │    │
//	 │    └─ encrypts ─→ KEK keyset                            KeyStore "kek"
//	 │         tink AES-256-GCM keyset, held in memory; RotateKEK adds a
//	 │         new primary key and keeps the old ones for unwrapping
//	 │         │
//	 │         └─ wraps (AAD: subject) ─→ one DEK keyset per subject      KeyStore "dek/<subject>"
//	 │              tink AES-256-GCM keyset; subject = a patient's pseudonym
//	 │              ("pt_…") or a compartment such as "org:<id>"
//	 │              │
//	 │              └─ seals (AAD: subject + caller AAD) ─→ resource version ciphertext
//	 │                   caller AAD names the version, e.g. "Patient/123/_history/4"
//	 │
//	 ├─ HKDF-SHA256, info "medledger/crypt/v1/pseudonym" ─→ HMAC-SHA256 key ─→ Pseudonym
//	 │
//	 └─ HKDF-SHA256, random salt per file ─→ org key file key ─→ OrgKey (X25519) file
//	      the OrgKey receives DEKs that other organisations wrap to it with HPKE:
//	      DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, single-shot base mode
//
// Each arrow that encrypts authenticates what the ciphertext belongs to, so
// that no ciphertext can be moved to another place: the KEK keyset is bound
// to its role, a wrapped DEK to its subject, a resource ciphertext to its
// subject and to the caller's AAD, and an HPKE-wrapped DEK to its subject
// and the caller's info (for example the chain ID and the consent).
//
// # Stored formats
//
// A KeyStore holds opaque values under these names:
//
//	kek             0x01 ‖ tink EncryptedKeyset (KEK keyset under the master wrapping key)
//	dek/<subject>   0x01 ‖ tink EncryptedKeyset (DEK keyset under the KEK), or
//	                0x02 (tombstone: the subject was shredded)
//
// A resource ciphertext is tink's AEAD format: 0x01 ‖ DEK key ID (4 bytes)
// ‖ nonce (12) ‖ AES-256-GCM ciphertext ‖ tag (16), 33 bytes longer than
// the plaintext. A wrapped DEK for another organisation is 0x01 ‖ tink
// EncryptedKeyset whose encrypted part is HPKE's enc ‖ ciphertext.
//
// # Rotation
//
// RotateKEK makes a new KEK key the primary, without downtime. DEKs
// created afterwards are wrapped under it; existing wrapped DEKs are not
// rewritten (Rewrap does that for one subject) and still unwrap, because
// the old KEK keys stay in the keyset. RotateDEK adds a new primary key to
// one subject's DEK keyset: later Seals use it, earlier ciphertexts still
// open, and organisations holding the old keyset cannot read new versions
// (how a revoked share is cut off). The master key cannot be rotated by
// this package: the KEK keyset, org key files and pseudonyms all derive
// from it, and pseudonyms are recorded on the ledger.
//
// # Erasure
//
// Shred replaces a subject's wrapped DEK with a tombstone in one KeyStore
// write, so the subject's ciphertexts can no longer be opened and the
// subject is never silently given a new key. What Shred cannot reach is
// any other copy of the wrapped DEK: backups and snapshots of the
// KeyStore, storage files that still hold the overwritten value, and the
// copies imported by organisations the DEK was shared with. Those copies
// stay openable under the KEK (or the recipient's keys) until they are
// destroyed, so erasure must also reach them.
//
// # Concurrency and state
//
// A Keyring is safe for concurrent use and keeps no global state (tink
// itself keeps a registry of key managers, filled when its aead package is
// imported). Open one Keyring per KeyStore: a Keyring caches the KEK and
// DEKs, so a second one over the same store would not see the first's
// shreds, and a KEK rotation by the second would drop any KEK key the
// first had added, leaving the DEKs wrapped under it unreadable. Unwrapped
// DEKs are cached in a bounded LRU (Options.CacheSize subjects).
//
// No error returned by this package contains key material or plaintext.
// Errors name the operation and, for valid subjects, the subject (which is
// a pseudonym, not personal data).
package crypt
