package client

import (
	"crypto/ed25519"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// verifyZIP215 applies the ZIP-215 rules the nodes use, for the rare
// signature the standard library's stricter check rejects.
func verifyZIP215(pub ed25519.PublicKey, msg, sig []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, &voi.Options{Verify: voi.VerifyOptionsZIP_215})
}
