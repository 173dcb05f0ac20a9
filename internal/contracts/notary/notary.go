// Package notary is a generic contract that anchors a document's SHA-256
// hash on the ledger with a little metadata, so anyone holding the document
// can later prove it existed, unaltered, at a given block.
//
// The metadata is stored in clear on the ledger: it must never carry
// personal data. The contract bounds its size but cannot judge its content.
package notary

import (
	"encoding/hex"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the notary contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "notary" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{{
		Name:    "notary.anchor",
		Doc:     "who may anchor a document hash (request: hash, kind)",
		Default: `signer.active`,
	}}
}

// Anchor is the payload of notary.anchor.
type Anchor struct {
	Hash     string            `json:"hash"` // SHA-256, 64 hex digits
	Kind     string            `json:"kind"` // e.g. "discharge-summary"; [a-z0-9._-]{1,64}
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Record is what the contract stores per anchored hash.
type Record struct {
	Hash     string            `json:"hash"`
	Kind     string            `json:"kind"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Signer   string            `json:"signer"`
	Org      string            `json:"org"`
	Height   uint64            `json:"height"`
	Time     time.Time         `json:"time"`
	Tx       ledger.Hash       `json:"tx"`
}

// Limits on metadata.
const (
	MaxMetadata     = 16
	MaxMetaKeyLen   = 64
	MaxMetaValueLen = 256
)

var kindRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// Key returns the state key (within the notary namespace) of a hash.
func Key(hash string) string { return "d/" + hash }

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	if method != "anchor" {
		return ledger.Errorf(ledger.CodeUnknownMethod, "notary has no method %q (want anchor)", method)
	}
	var a Anchor
	if err := contract.DecodePayload(payload, &a); err != nil {
		return err
	}
	if err := check(&a); err != nil {
		return err
	}
	if err := c.Allow("notary.anchor", map[string]any{"hash": a.Hash, "kind": a.Kind}, nil); err != nil {
		return err
	}
	if prev, ok, err := c.Get(Key(a.Hash)); err != nil {
		return err
	} else if ok {
		var r Record
		_ = json.Unmarshal(prev, &r)
		return ledger.Errorf(ledger.CodeContract, "hash %s is already anchored at height %d", a.Hash, r.Height)
	}
	rec := Record{Hash: a.Hash, Kind: a.Kind, Metadata: a.Metadata, Signer: c.Signer.ID, Org: c.Signer.Org, Height: c.Height, Time: c.Time, Tx: c.TxID}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c.Set(Key(a.Hash), b)
	c.Emit("notary.anchored", "hash", a.Hash, "kind", a.Kind, "height", strconv.FormatUint(c.Height, 10))
	return nil
}

func check(a *Anchor) error {
	if len(a.Hash) != 64 {
		return ledger.Errorf(ledger.CodeContract, "hash must be 64 lower-case hex digits (SHA-256)")
	}
	if _, err := hex.DecodeString(a.Hash); err != nil || a.Hash != lower(a.Hash) {
		return ledger.Errorf(ledger.CodeContract, "hash must be 64 lower-case hex digits (SHA-256)")
	}
	if !kindRE.MatchString(a.Kind) {
		return ledger.Errorf(ledger.CodeContract, "kind must match [a-z0-9][a-z0-9._-]{0,63}")
	}
	if len(a.Metadata) > MaxMetadata {
		return ledger.Errorf(ledger.CodeContract, "metadata has %d entries, limit %d", len(a.Metadata), MaxMetadata)
	}
	keys := make([]string, 0, len(a.Metadata))
	for k := range a.Metadata {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same error on every node
	for _, k := range keys {
		v := a.Metadata[k]
		if k == "" || len(k) > MaxMetaKeyLen || !utf8.ValidString(k) {
			// Not quoted: an invalid key may be a misplaced value.
			return ledger.Errorf(ledger.CodeContract, "metadata keys must be 1 to %d bytes of UTF-8", MaxMetaKeyLen)
		}
		if len(v) > MaxMetaValueLen || !utf8.ValidString(v) {
			return ledger.Errorf(ledger.CodeContract, "metadata value of %q must be at most %d bytes of UTF-8", k, MaxMetaValueLen)
		}
	}
	return nil
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'F' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
