package members

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// Changing the validator set of a running network.
//
// An administrator of an organisation that runs a validator proposes a
// change (members.propose_validator): a new validator, a new voting
// power, or power 0 to remove one. Administrators of the other validator
// organisations approve it (members.approve_validator). The change is
// applied in the transaction that brings the approving organisations'
// voting power above two thirds of the total, the same majority that
// commits blocks. Applying it rewrites the validator's record
// (members/v/<key id>, kept with power 0 once removed) and the set
// (members/vset); in consortium mode the node turns that into a CometBFT
// validator update, effective two blocks later.

// SetEntry is one validator in the set record.
type SetEntry struct {
	KeyID string `json:"key_id"`
	Org   string `json:"org"`
	Power int64  `json:"power"`
}

// ProposeValidator is the payload of members.propose_validator.
type ProposeValidator struct {
	Name      string `json:"name"`       // the node's name (syntax of an org id)
	Org       string `json:"org"`        // the organisation that runs it
	PublicKey string `json:"public_key"` // the node key, base64 Ed25519
	Power     int64  `json:"power"`      // 1 to MaxPower; 0 removes it
}

// ApproveValidator is the payload of members.approve_validator.
type ApproveValidator struct {
	Proposal string `json:"proposal"` // the proposing transaction's hash
}

// Proposal is the record of a proposed change, members/p/<id>.
type Proposal struct {
	ID         string             `json:"id"`
	Validator  contract.Validator `json:"validator"`
	ProposedBy string             `json:"proposed_by"`
	Proposed   time.Time          `json:"proposed"`
	Approvals  []string           `json:"approvals"` // organisations, sorted
	Status     string             `json:"status"`    // "open" or "applied"
	AppliedAt  uint64             `json:"applied_at,omitempty"`
}

// Limits of validator changes.
const (
	MaxPower = 1_000_000
	// ProposalTTL is how long a proposal may collect approvals.
	ProposalTTL = 14 * 24 * time.Hour
)

// SetKey is the state key of the validator set record.
const SetKey = "members/vset"

// ProposalKey is the state key of proposal id.
func ProposalKey(id string) []byte { return []byte("members/p/" + id) }

// ReadSet reads the validator set from r.
func ReadSet(r contract.StateReader) ([]SetEntry, error) {
	v, ok, err := r.Get([]byte(SetKey))
	if err != nil || !ok {
		return nil, err
	}
	var set []SetEntry
	if err := json.Unmarshal(v, &set); err != nil {
		return nil, ledger.Errorf(ledger.CodeUnavailable, "validator set record: %v", err)
	}
	return set, nil
}

func marshalSet(set []SetEntry) []byte {
	slices.SortFunc(set, func(a, b SetEntry) int { return strings.Compare(a.KeyID, b.KeyID) })
	b, err := json.Marshal(set)
	if err != nil {
		panic(err) // cannot happen: plain struct
	}
	return b
}

// runsValidator reports whether org runs a validator with power in set.
func runsValidator(set []SetEntry, org string) bool {
	return slices.ContainsFunc(set, func(e SetEntry) bool { return e.Org == org && e.Power > 0 })
}

// allowValidators authorises a validator change: the policy, then the
// rule that only organisations holding voting power decide.
func allowValidators(c *contract.Context, set []SetEntry, action string) error {
	if err := c.Allow("members.validators", map[string]any{"action": action}, nil); err != nil {
		return err
	}
	if !runsValidator(set, c.Signer.Org) {
		return ledger.Errorf(ledger.CodeDenied, "%s: only organisations that run a validator decide on the validator set, and %s runs none", action, c.Signer.Org)
	}
	return nil
}

func proposeValidator(c *contract.Context, r ProposeValidator) error {
	set, err := ReadSet(c.State())
	if err != nil {
		return err
	}
	if err := allowValidators(c, set, "propose_validator"); err != nil {
		return err
	}
	switch {
	case !genesis.ValidID(r.Name):
		return ledger.Errorf(ledger.CodeContract, "propose_validator: name must be 1 to 63 of a-z, 0-9 and '-'")
	case r.Power < 0 || r.Power > MaxPower:
		return ledger.Errorf(ledger.CodeContract, "propose_validator: power must be 0 (remove) to %d", MaxPower)
	}
	if _, ok, err := contract.LookupOrg(c.State(), r.Org); err != nil {
		return err
	} else if !ok {
		return ledger.Errorf(ledger.CodeContract, "propose_validator: no organisation %q", r.Org)
	}
	pub, err := identity.ParsePublicKey(r.PublicKey)
	if err != nil {
		return ledger.Errorf(ledger.CodeContract, "propose_validator: public_key: %v", err)
	}
	keyID := identity.KeyIDOf(pub)
	i := slices.IndexFunc(set, func(e SetEntry) bool { return e.KeyID == keyID })
	switch {
	case i >= 0 && set[i].Org != r.Org:
		return ledger.Errorf(ledger.CodeContract, "propose_validator: that key is the validator of organisation %q", set[i].Org)
	case i >= 0 && set[i].Power == r.Power:
		return ledger.Errorf(ledger.CodeContract, "propose_validator: that validator already has power %d", r.Power)
	case i < 0 && r.Power == 0:
		return ledger.Errorf(ledger.CodeContract, "propose_validator: power 0 removes a validator, and that key is not one")
	case r.Power == 0 && len(set) == 1:
		return ledger.Errorf(ledger.CodeContract, "propose_validator: the last validator cannot be removed")
	}
	p := &Proposal{
		ID:         c.TxID.String(),
		Validator:  contract.Validator{Name: r.Name, Org: r.Org, KeyID: keyID, PublicKey: pub, Power: r.Power},
		ProposedBy: c.Signer.ID,
		Proposed:   c.Time,
		Approvals:  []string{c.Signer.Org},
		Status:     "open",
	}
	c.Emit("members.validator_proposed", "proposal", p.ID, "key_id", keyID, "org", r.Org, "power", strconv.FormatInt(r.Power, 10))
	return decide(c, set, p)
}

func approveValidator(c *contract.Context, r ApproveValidator) error {
	set, err := ReadSet(c.State())
	if err != nil {
		return err
	}
	if err := allowValidators(c, set, "approve_validator"); err != nil {
		return err
	}
	v, ok, err := c.State().Get(ProposalKey(r.Proposal))
	if err != nil {
		return err
	}
	if !ok {
		return ledger.Errorf(ledger.CodeContract, "approve_validator: no proposal %q", r.Proposal)
	}
	var p Proposal
	if err := json.Unmarshal(v, &p); err != nil {
		return ledger.Errorf(ledger.CodeUnavailable, "proposal record: %v", err)
	}
	switch {
	case p.Status != "open":
		return ledger.Errorf(ledger.CodeContract, "approve_validator: the proposal was applied at height %d", p.AppliedAt)
	case c.Time.Sub(p.Proposed) > ProposalTTL:
		return ledger.Errorf(ledger.CodeContract, "approve_validator: the proposal expired (proposals are open for %s); propose it again", ProposalTTL)
	case slices.Contains(p.Approvals, c.Signer.Org):
		return ledger.Errorf(ledger.CodeContract, "approve_validator: %s already approved it", c.Signer.Org)
	}
	p.Approvals = append(p.Approvals, c.Signer.Org)
	slices.Sort(p.Approvals)
	c.Emit("members.validator_approved", "proposal", p.ID, "org", c.Signer.Org)
	return decide(c, set, &p)
}

// decide stores p, applying it first if its approvals now hold more than
// two thirds of the voting power.
func decide(c *contract.Context, set []SetEntry, p *Proposal) error {
	var total, yes int64
	for _, e := range set {
		total += e.Power
		if slices.Contains(p.Approvals, e.Org) {
			yes += e.Power
		}
	}
	if 3*yes > 2*total {
		val := p.Validator
		i := slices.IndexFunc(set, func(e SetEntry) bool { return e.KeyID == val.KeyID })
		switch {
		case val.Power == 0:
			set = slices.Delete(set, i, i+1)
		case i >= 0:
			set[i].Power = val.Power
		default:
			set = append(set, SetEntry{KeyID: val.KeyID, Org: val.Org, Power: val.Power})
		}
		b, err := json.Marshal(val)
		if err != nil {
			return err
		}
		c.Set("v/"+val.KeyID, b)
		c.Set("vset", marshalSet(set))
		p.Status, p.AppliedAt = "applied", c.Height
		c.Emit("members.validator_set", "key_id", val.KeyID, "org", val.Org, "power", strconv.FormatInt(val.Power, 10))
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	c.Set("p/"+p.ID, b)
	return nil
}
