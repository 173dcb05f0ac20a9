// Package members is the contract that keeps the consortium's identities:
// organisations, their members with roles and Ed25519 keys, and the
// validators. Organisation admins enrol, suspend, reinstate, re-key and
// re-role members of their own organisation, as the CEL policies
// members.enrol and members.manage allow; the validator organisations'
// admins change the validator set together (validators.go).
//
// It writes only under "members/"; the record types and keys are defined in
// package contract because the runtime resolves every signer from them.
package members

import (
	"encoding/base64"
	"encoding/json"
	"slices"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the members contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "members" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{
		{
			Name:    "members.enrol",
			Doc:     "who may enrol a member (request: id, org, roles)",
			Default: `signer.active && "admin" in signer.roles && signer.org == request.org`,
		},
		{
			Name:    "members.manage",
			Doc:     "who may suspend, reinstate, re-key or re-role a member (target: the member)",
			Default: `signer.active && "admin" in signer.roles && signer.org == target.org`,
		},
		{
			Name:    "members.validators",
			Doc:     "who may propose or approve a change to the validator set (request: action); the signer's organisation must also run a validator",
			Default: `signer.active && "admin" in signer.roles`,
		},
		{
			Name:    "members.org_key",
			Doc:     "who may publish an organisation's encryption key (request: org)",
			Default: `signer.active && ("admin" in signer.roles || "system" in signer.roles) && signer.org == request.org`,
		},
	}
}

// Enrol is the payload of members.enrol.
type Enrol struct {
	ID        string   `json:"id"`
	Org       string   `json:"org"`
	Roles     []string `json:"roles"`
	PublicKey string   `json:"public_key"` // base64 Ed25519
	// FHIRUser is the member's FHIR resource (optional; see
	// ledger.ValidFHIRUser).
	FHIRUser string `json:"fhir_user,omitempty"`
}

// SetOrgKey is the payload of members.set_org_key.
type SetOrgKey struct {
	Org           string `json:"org"`
	EncryptionKey string `json:"encryption_key"` // base64 X25519 public key
}

// Suspend is the payload of members.suspend.
type Suspend struct {
	ID     string `json:"id"`
	Reason string `json:"reason"` // one of SuspendReasons: a code, never free text
}

// Reinstate is the payload of members.reinstate.
type Reinstate struct {
	ID string `json:"id"`
}

// Rekey is the payload of members.rekey.
type Rekey struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"`
}

// SetRoles is the payload of members.set_roles.
type SetRoles struct {
	ID    string   `json:"id"`
	Roles []string `json:"roles"`
}

// SuspendReasons are the reasons a member may be suspended for. They are
// codes, not free text, because the payload is stored in clear on the
// ledger and free text invites personal data ("looked up Jane Doe").
var SuspendReasons = []string{"left_organisation", "leave_of_absence", "role_change", "key_compromise", "security_review", "other"}

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	switch method {
	case "enrol":
		var r Enrol
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return enrol(c, r)
	case "suspend":
		var r Suspend
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		if !slices.Contains(SuspendReasons, r.Reason) {
			return ledger.Errorf(ledger.CodeContract, "suspend: reason must be one of %v", SuspendReasons)
		}
		return manage(c, r.ID, "suspend", func(m *contract.Member) error {
			if !m.Active() {
				return ledger.Errorf(ledger.CodeContract, "member %q is already suspended", m.ID)
			}
			m.Status = contract.StatusSuspended
			c.Emit("members.suspended", "id", m.ID, "org", m.Org, "reason", r.Reason)
			return nil
		})
	case "reinstate":
		var r Reinstate
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return manage(c, r.ID, "reinstate", func(m *contract.Member) error {
			if m.Active() {
				return ledger.Errorf(ledger.CodeContract, "member %q is not suspended", m.ID)
			}
			m.Status = contract.StatusActive
			c.Emit("members.reinstated", "id", m.ID, "org", m.Org)
			return nil
		})
	case "rekey":
		var r Rekey
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		pub, err := identity.ParsePublicKey(r.PublicKey)
		if err != nil {
			return ledger.Errorf(ledger.CodeContract, "rekey: public_key: %v", err)
		}
		return manage(c, r.ID, "rekey", func(m *contract.Member) error {
			if slices.Equal(m.PublicKey, pub) {
				return ledger.Errorf(ledger.CodeContract, "rekey: member %q already has this key", m.ID)
			}
			m.PublicKey = pub
			c.Emit("members.rekeyed", "id", m.ID, "org", m.Org, "key_id", identity.KeyIDOf(pub))
			return nil
		})
	case "set_org_key":
		var r SetOrgKey
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		key, err := base64.StdEncoding.DecodeString(r.EncryptionKey)
		if err != nil || len(key) != 32 {
			return ledger.Errorf(ledger.CodeContract, "set_org_key: encryption_key must be 32 bytes (X25519) in base64")
		}
		if err := c.Allow("members.org_key", map[string]any{"org": r.Org}, nil); err != nil {
			return err
		}
		o, ok, err := contract.LookupOrg(c.State(), r.Org)
		if err != nil {
			return err
		}
		if !ok {
			return ledger.Errorf(ledger.CodeContract, "set_org_key: no organisation %q", r.Org)
		}
		o.EncryptionKey = key
		b, err := json.Marshal(o)
		if err != nil {
			return err
		}
		c.Set("o/"+r.Org, b)
		c.Emit("members.org_key_set", "org", r.Org)
		return nil
	case "set_roles":
		var r SetRoles
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		roles, err := checkRoles(r.Roles)
		if err != nil {
			return err
		}
		return manage(c, r.ID, "set_roles", func(m *contract.Member) error {
			m.Roles = roles
			c.Emit("members.roles_set", "id", m.ID, "org", m.Org, "roles", joinRoles(roles))
			return nil
		})
	case "propose_validator":
		var r ProposeValidator
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return proposeValidator(c, r)
	case "approve_validator":
		var r ApproveValidator
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return approveValidator(c, r)
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "members has no method %q (want enrol, suspend, reinstate, rekey, set_roles, set_org_key, propose_validator or approve_validator)", method)
}

func checkRoles(roles []string) ([]string, error) {
	if len(roles) == 0 {
		return nil, ledger.Errorf(ledger.CodeContract, "roles: at least one role is required")
	}
	for i, r := range roles {
		if !identity.ValidRole(r) {
			// Not quoted: a result message never repeats payload contents.
			return nil, ledger.Errorf(ledger.CodeContract, "roles[%d] is not a role", i)
		}
	}
	out := slices.Clone(roles)
	slices.Sort(out)
	return slices.Compact(out), nil
}

func joinRoles(rs []string) string {
	b, _ := json.Marshal(rs)
	return string(b)
}

func enrol(c *contract.Context, r Enrol) error {
	if !ledger.ValidMemberID(r.ID) {
		return ledger.Errorf(ledger.CodeContract, "enrol: id is not a valid member id")
	}
	roles, err := checkRoles(r.Roles)
	if err != nil {
		return err
	}
	pub, err := identity.ParsePublicKey(r.PublicKey)
	if err != nil {
		return ledger.Errorf(ledger.CodeContract, "enrol: public_key: %v", err)
	}
	if r.FHIRUser != "" && !ledger.ValidFHIRUser(r.FHIRUser) {
		return ledger.Errorf(ledger.CodeContract, "enrol: fhir_user must be a Practitioner, PractitionerRole, Patient or RelatedPerson reference")
	}
	if err := c.Allow("members.enrol", map[string]any{"id": r.ID, "org": r.Org, "roles": roles}, nil); err != nil {
		return err
	}
	if _, ok, err := contract.LookupOrg(c.State(), r.Org); err != nil {
		return err
	} else if !ok {
		return ledger.Errorf(ledger.CodeContract, "enrol: no organisation %q", r.Org)
	}
	if _, ok, err := contract.LookupMember(c.State(), r.ID); err != nil {
		return err
	} else if ok {
		return ledger.Errorf(ledger.CodeContract, "enrol: member %q already exists", r.ID)
	}
	m := &contract.Member{
		ID: r.ID, Org: r.Org, Roles: roles, PublicKey: pub, FHIRUser: r.FHIRUser,
		Status: contract.StatusActive, EnrolledAt: c.Height, UpdatedAt: c.Height,
	}
	put(c, m)
	c.Emit("members.enrolled", "id", m.ID, "org", m.Org, "roles", joinRoles(roles), "key_id", identity.KeyIDOf(pub))
	return nil
}

func manage(c *contract.Context, id, action string, apply func(*contract.Member) error) error {
	m, ok, err := contract.LookupMember(c.State(), id)
	if err != nil {
		return err
	}
	// Authorise before revealing whether the member exists: a missing
	// member is an empty record (not an empty map, on which the default
	// rule fails with a different message).
	target := contract.SignerVars(nil)
	if ok {
		target = contract.SignerVars(m)
	}
	if err := c.Allow("members.manage", map[string]any{"id": id, "action": action}, target); err != nil {
		return err
	}
	if !ok {
		return ledger.Errorf(ledger.CodeContract, "%s: no member %q", action, id)
	}
	if err := apply(m); err != nil {
		return err
	}
	m.UpdatedAt = c.Height
	put(c, m)
	return nil
}

func put(c *contract.Context, m *contract.Member) {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // cannot happen: plain struct
	}
	c.Set("m/"+m.ID, b)
}

// GenesisChanges returns the state that a genesis document establishes:
// its organisations, members and validators, sorted by key.
func GenesisChanges(doc *genesis.Doc) ([]ledger.Change, error) {
	var cs []ledger.Change
	add := func(k []byte, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		cs = append(cs, ledger.Change{Key: k, Value: b})
		return nil
	}
	for _, o := range doc.Orgs {
		if err := add(contract.OrgKey(o.ID), contract.Org{ID: o.ID, Name: o.Name, Kind: o.Kind}); err != nil {
			return nil, err
		}
	}
	for _, m := range doc.Members {
		pub, err := identity.ParsePublicKey(m.PublicKey)
		if err != nil {
			return nil, err
		}
		roles := slices.Clone(m.Roles)
		slices.Sort(roles)
		rec := contract.Member{ID: m.ID, Org: m.Org, Roles: roles, PublicKey: pub, Status: contract.StatusActive, FHIRUser: m.FHIRUser}
		if err := add(contract.MemberKey(m.ID), rec); err != nil {
			return nil, err
		}
	}
	var set []SetEntry
	for _, v := range doc.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			return nil, err
		}
		rec := contract.Validator{Name: v.Name, Org: v.Org, KeyID: identity.KeyIDOf(pub), PublicKey: pub, Power: v.Power}
		if err := add(contract.ValidatorKey(rec.KeyID), rec); err != nil {
			return nil, err
		}
		set = append(set, SetEntry{KeyID: rec.KeyID, Org: rec.Org, Power: rec.Power})
	}
	cs = append(cs, ledger.Change{Key: []byte(SetKey), Value: marshalSet(set)})
	ledger.SortChanges(cs)
	return cs, nil
}
