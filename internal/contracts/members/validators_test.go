package members_test

import (
	"encoding/json"
	"testing"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// TestValidatorGovernance walks the validator set of the test genesis
// (node0 of st-mary, power 1) through additions, a power change and a
// removal, checking the two-thirds rule at its boundary and the refusals.
func TestValidatorGovernance(t *testing.T) {
	f := contracttest.NewFixture(t)
	// call applies one transaction in a block of its own and returns its
	// hash (a proposal's id).
	call := func(signer, method string, payload any, want ledger.Code) string {
		t.Helper()
		b := f.Begin()
		tx := f.Tx(contracttest.Call{Signer: signer, Contract: "members", Method: method, Payload: payload})
		if r := f.Apply(b, tx); r.Code != want {
			t.Fatalf("%s %s by %s = %s %q; want %s", method, tx.Payload, signer, r.Code, r.Message, want)
		}
		f.Commit(b)
		return tx.ID().String()
	}
	prop := func(name, org, key string, power int64) members.ProposeValidator {
		return members.ProposeValidator{Name: name, Org: org, PublicKey: contracttest.Pub(t, key), Power: power}
	}
	set := func() map[string]int64 {
		t.Helper()
		s, err := members.ReadSet(f.State)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int64{}
		for _, e := range s {
			m[e.Org+"/"+e.KeyID[:8]] += e.Power
		}
		return m
	}
	keyID := func(name string) string { return identity.KeyIDOf(contracttest.Key(t, name).Public()) }
	power := func(name string) int64 {
		t.Helper()
		v, ok, _ := f.State.Get(contract.ValidatorKey(keyID(name)))
		if !ok {
			return -1
		}
		var rec contract.Validator
		if err := json.Unmarshal(v, &rec); err != nil {
			t.Fatal(err)
		}
		return rec.Power
	}

	// Refusals while st-mary is the only validator organisation.
	call("acme/admin", "propose_validator", prop("acme-node", "acme", "acme-node", 1), ledger.CodeDenied) // acme runs none
	call("st-mary/dr-who", "propose_validator", prop("x", "st-mary", "x", 1), ledger.CodeDenied)          // not an admin
	call("st-mary/admin", "propose_validator", prop("Bad Name", "acme", "acme-node", 1), ledger.CodeContract)
	call("st-mary/admin", "propose_validator", prop("acme-node", "nowhere", "acme-node", 1), ledger.CodeContract)
	call("st-mary/admin", "propose_validator", prop("acme-node", "acme", "acme-node", members.MaxPower+1), ledger.CodeContract)
	call("st-mary/admin", "propose_validator", prop("acme-node", "acme", "acme-node", 0), ledger.CodeContract) // not a validator
	call("st-mary/admin", "propose_validator", prop("node0", "st-mary", "node0", 1), ledger.CodeContract)      // no change
	call("st-mary/admin", "propose_validator", prop("node0", "st-mary", "node0", 0), ledger.CodeContract)      // the last one
	call("st-mary/admin", "propose_validator", prop("node0", "acme", "node0", 5), ledger.CodeContract)         // another org's key
	call("st-mary/admin", "propose_validator", members.ProposeValidator{Name: "k", Org: "acme", PublicKey: smallOrderKey, Power: 1}, ledger.CodeContract)
	if power("acme-node") != -1 || len(set()) != 1 {
		t.Fatalf("refused proposals changed the set: %v", set())
	}

	// st-mary holds all the power: its proposal applies at once.
	call("st-mary/admin", "propose_validator", prop("acme-node", "acme", "acme-node", 1), ledger.CodeOK)
	if power("acme-node") != 1 {
		t.Fatalf("acme-node power %d after st-mary's proposal; want 1", power("acme-node"))
	}
	// 1 of 2: not more than two thirds; acme's approval applies it.
	id := call("st-mary/admin", "propose_validator", prop("node2", "st-mary", "node2", 1), ledger.CodeOK)
	if power("node2") != -1 {
		t.Fatalf("node2 applied with half the power")
	}
	call("st-mary/admin", "approve_validator", members.ApproveValidator{Proposal: id}, ledger.CodeContract) // twice
	call("acme/admin", "approve_validator", members.ApproveValidator{Proposal: "nope"}, ledger.CodeContract)
	call("acme/admin", "approve_validator", members.ApproveValidator{Proposal: id}, ledger.CodeOK)
	if power("node2") != 1 {
		t.Fatalf("node2 power %d after both approvals; want 1", power("node2"))
	}
	call("acme/admin", "approve_validator", members.ApproveValidator{Proposal: id}, ledger.CodeContract) // applied
	// st-mary now holds 2 of 3: exactly two thirds is not enough.
	id = call("st-mary/admin", "propose_validator", prop("acme-node", "acme", "acme-node", 0), ledger.CodeOK)
	if power("acme-node") != 1 {
		t.Fatalf("acme-node removed with exactly two thirds")
	}
	call("acme/admin", "approve_validator", members.ApproveValidator{Proposal: id}, ledger.CodeOK)
	if power("acme-node") != 0 {
		t.Fatalf("acme-node power %d after removal; want 0 (record kept)", power("acme-node"))
	}
	if got := set(); len(got) != 2 || got["st-mary/"+keyID("node0")[:8]] != 1 || got["st-mary/"+keyID("node2")[:8]] != 1 {
		t.Fatalf("set after removal = %v; want st-mary's two validators", got)
	}
	// acme runs no validator any more.
	call("acme/admin", "propose_validator", prop("acme-node", "acme", "acme-node", 1), ledger.CodeDenied)
}
