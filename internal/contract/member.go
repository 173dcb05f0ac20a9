package contract

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
)

// Member statuses.
const (
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// Member is the state record of an enrolled member, kept by the members
// contract under MemberKey(id) as JSON. The runtime reads it to resolve
// every transaction's signer.
type Member struct {
	ID         string   `json:"id"`
	Org        string   `json:"org"`
	Roles      []string `json:"roles"`
	PublicKey  []byte   `json:"public_key"` // Ed25519, 32 bytes (base64 in JSON)
	Status     string   `json:"status"`
	EnrolledAt uint64   `json:"enrolled_at"` // height; 0 for genesis members
	UpdatedAt  uint64   `json:"updated_at"`
	// FHIRUser is the member's own FHIR resource, "Practitioner/123" or
	// "Patient/456" (see ledger.ValidFHIRUser): it ties a user to the care
	// relationships that name them, or a patient to their record.
	FHIRUser string `json:"fhir_user,omitempty"`
}

// Active reports whether m may sign transactions.
func (m *Member) Active() bool { return m.Status == StatusActive }

// HasRole reports whether m holds role r.
func (m *Member) HasRole(r string) bool { return slices.Contains(m.Roles, r) }

// Org is the state record of an organisation, under OrgKey(id).
type Org struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Kind string `json:"kind"`
	// EncryptionKey is the organisation's X25519 public key (32 bytes):
	// data keys shared with it under a patient's consent are wrapped to
	// it with HPKE. Set by members.set_org_key; empty until then.
	EncryptionKey []byte `json:"encryption_key,omitempty"`
}

// Validator is the state record of a node allowed to sign blocks, under
// ValidatorKey(keyID).
type Validator struct {
	Name      string `json:"name"`
	Org       string `json:"org"`
	KeyID     string `json:"key_id"`
	PublicKey []byte `json:"public_key"`
	Power     int64  `json:"power"`
}

// State keys of identity records. They live in the members contract's
// namespace; the runtime knows them because it resolves signers.
func MemberKey(id string) []byte       { return []byte("members/m/" + id) }
func OrgKey(id string) []byte          { return []byte("members/o/" + id) }
func ValidatorKey(keyID string) []byte { return []byte("members/v/" + keyID) }

// LookupMember reads member id from r. ok is false if it does not exist.
func LookupMember(r StateReader, id string) (m *Member, ok bool, err error) {
	v, ok, err := r.Get(MemberKey(id))
	if err != nil || !ok {
		return nil, false, err
	}
	m, err = decodeMember(id, v)
	return m, err == nil, err
}

func decodeMember(id string, v []byte) (*Member, error) {
	m := new(Member)
	if err := json.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("member record %q: %w", id, err)
	}
	if len(m.PublicKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("member record %q: public key is %d bytes", id, len(m.PublicKey))
	}
	return m, nil
}

// memberCache memoises decoded member records by their encoded bytes, so
// the signer of every transaction is not JSON-decoded again. A record's
// bytes determine its decoding, so the cache can never be stale.
type memberCache struct {
	mu sync.RWMutex
	m  map[string]*Member // guarded by mu: encoded record → decoded
}

func (c *memberCache) lookup(r StateReader, id string) (*Member, bool, error) {
	v, ok, err := r.Get(MemberKey(id))
	if err != nil || !ok {
		return nil, false, err
	}
	c.mu.RLock()
	m, hit := c.m[string(v)]
	c.mu.RUnlock()
	if hit {
		return m, true, nil
	}
	m, err = decodeMember(id, v)
	if err != nil {
		return nil, false, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) > 1<<16 {
		c.m = make(map[string]*Member)
	}
	c.m[string(v)] = m
	c.mu.Unlock()
	return m, true, nil
}

// LookupOrg reads organisation id from r.
func LookupOrg(r StateReader, id string) (o *Org, ok bool, err error) {
	v, ok, err := r.Get(OrgKey(id))
	if err != nil || !ok {
		return nil, false, err
	}
	o = new(Org)
	if err := json.Unmarshal(v, o); err != nil {
		return nil, false, fmt.Errorf("org record %q: %w", id, err)
	}
	return o, true, nil
}
