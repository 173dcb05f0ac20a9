// Package records is the contract that anchors FHIR resource versions on
// the ledger: for each version written it records the resource type, id
// and version number, the SHA-256 of the version's canonical JSON, the
// patient it belongs to as a pseudonym, the author (the authenticated user
// the node acted for), the operation and the signer's organisation. It
// never receives clear-text health data: the records themselves stay,
// encrypted, in the node's records store.
//
// Versions of a resource must follow one another (1, 2, 3, ...); a write
// carrying several anchors (a FHIR transaction Bundle) is all-or-nothing.
package records

import (
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strconv"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the records contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "records" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{{
		Name:    "records.write",
		Doc:     "who may anchor record versions (request: count, ops)",
		Default: `signer.active && ("system" in signer.roles || "admin" in signer.roles)`,
	}}
}

// Operations an anchor records.
const (
	OpCreate = "create"
	OpUpdate = "update"
	OpDelete = "delete"
)

// Anchor is one resource version's fingerprint.
type Anchor struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Version uint64 `json:"version"`
	Op      string `json:"op"`
	// Hash is the SHA-256 (hex) of the version's canonical JSON; empty
	// for a delete.
	Hash string `json:"hash,omitempty"`
	// Patient is the pseudonymous reference of the patient the resource
	// belongs to ("" for resources of no patient, such as Practitioner).
	Patient string `json:"patient,omitempty"`
	// Author is the member (or authenticated client) the node acted for.
	Author string `json:"author"`
}

// Write is the payload of records.write.
type Write struct {
	Anchors []Anchor `json:"anchors"`
}

// MaxAnchors bounds one write (a transaction Bundle).
const MaxAnchors = 10000

// Head is the stored state of a resource: its latest version.
type Head struct {
	Version uint64 `json:"version"`
	Hash    string `json:"hash,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	Patient string `json:"patient,omitempty"`
}

// Version is the stored anchor of one version.
type Version struct {
	Anchor
	Org    string      `json:"org"`
	Signer string      `json:"signer"`
	Height uint64      `json:"height"`
	Time   time.Time   `json:"time"`
	Tx     ledger.Hash `json:"tx"`
}

var (
	typeRE    = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)
	idRE      = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	patientRE = regexp.MustCompile(`^pt_[a-z0-9]{16,64}$`)
)

// HeadKey is the key (in the records namespace) of a resource's head.
func HeadKey(typ, id string) string { return "h/" + typ + "/" + id }

// VersionKey is the key of one version's anchor.
func VersionKey(typ, id string, v uint64) string {
	return "v/" + typ + "/" + id + "/" + strconv.FormatUint(v, 10)
}

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	if method != "write" {
		return ledger.Errorf(ledger.CodeUnknownMethod, "records has no method %q (want write)", method)
	}
	var w Write
	if err := contract.DecodePayload(payload, &w); err != nil {
		return err
	}
	if len(w.Anchors) == 0 || len(w.Anchors) > MaxAnchors {
		return ledger.Errorf(ledger.CodeContract, "a write holds 1 to %d anchors, got %d", MaxAnchors, len(w.Anchors))
	}
	ops := map[string]any{}
	for _, a := range w.Anchors {
		ops[a.Op] = true
	}
	if err := c.Allow("records.write", map[string]any{"count": int64(len(w.Anchors)), "ops": ops}, nil); err != nil {
		return err
	}
	// Heads as this write leaves them, so several versions of one
	// resource may follow each other within a write.
	heads := map[string]*Head{}
	for i, a := range w.Anchors {
		if err := check(a); err != nil {
			return ledger.Errorf(ledger.CodeContract, "anchors[%d]: %s", i, err.Msg)
		}
		hk := HeadKey(a.Type, a.ID)
		h, ok := heads[hk]
		if !ok {
			raw, found, err := c.Get(hk)
			if err != nil {
				return err
			}
			if found {
				h = new(Head)
				if err := json.Unmarshal(raw, h); err != nil {
					return err
				}
			}
		}
		var prev uint64
		if h != nil {
			prev = h.Version
		}
		switch {
		case a.Version != prev+1:
			return ledger.Errorf(ledger.CodeContract, "anchors[%d]: %s/%s is at version %d, the write claims version %d", i, a.Type, a.ID, prev, a.Version)
		case a.Op == OpCreate && h != nil && !h.Deleted:
			return ledger.Errorf(ledger.CodeContract, "anchors[%d]: %s/%s already exists", i, a.Type, a.ID)
		case a.Op == OpUpdate && h == nil:
			return ledger.Errorf(ledger.CodeContract, "anchors[%d]: %s/%s does not exist; create it", i, a.Type, a.ID)
		case a.Op == OpDelete && (h == nil || h.Deleted):
			return ledger.Errorf(ledger.CodeContract, "anchors[%d]: %s/%s is not there to delete", i, a.Type, a.ID)
		}
		nh := &Head{Version: a.Version, Hash: a.Hash, Deleted: a.Op == OpDelete, Patient: a.Patient}
		if nh.Deleted && h != nil {
			nh.Patient = h.Patient
		}
		heads[hk] = nh
		hb, _ := json.Marshal(nh)
		c.Set(hk, hb)
		vb, _ := json.Marshal(Version{Anchor: a, Org: c.Signer.Org, Signer: c.Signer.ID, Height: c.Height, Time: c.Time, Tx: c.TxID})
		c.Set(VersionKey(a.Type, a.ID, a.Version), vb)
	}
	c.Emit("records.written", "count", strconv.Itoa(len(w.Anchors)))
	return nil
}

func check(a Anchor) *ledger.Error {
	switch {
	case !typeRE.MatchString(a.Type):
		return ledger.Errorf(ledger.CodeContract, "type is not a FHIR resource type name")
	case !idRE.MatchString(a.ID):
		return ledger.Errorf(ledger.CodeContract, "id is not a FHIR id ([A-Za-z0-9-.]{1,64})")
	case a.Version == 0:
		return ledger.Errorf(ledger.CodeContract, "version must be at least 1")
	case a.Op != OpCreate && a.Op != OpUpdate && a.Op != OpDelete:
		return ledger.Errorf(ledger.CodeContract, "op must be create, update or delete")
	case a.Patient != "" && !patientRE.MatchString(a.Patient):
		return ledger.Errorf(ledger.CodeContract, "patient must be a pseudonym (pt_...), never a resource id")
	case a.Author == "" || len(a.Author) > 256:
		return ledger.Errorf(ledger.CodeContract, "author must be 1 to 256 bytes")
	}
	if a.Op == OpDelete {
		if a.Hash != "" {
			return ledger.Errorf(ledger.CodeContract, "a delete carries no hash")
		}
		return nil
	}
	if len(a.Hash) != 64 {
		return ledger.Errorf(ledger.CodeContract, "hash must be 64 lower-case hex digits")
	}
	if _, err := hex.DecodeString(a.Hash); err != nil {
		return ledger.Errorf(ledger.CodeContract, "hash must be 64 lower-case hex digits")
	}
	for _, ch := range a.Hash {
		if 'A' <= ch && ch <= 'F' {
			return ledger.Errorf(ledger.CodeContract, "hash must be 64 lower-case hex digits")
		}
	}
	return nil
}
