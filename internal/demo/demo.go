// Package demo writes the demonstration data set into a running node: a
// handful of members of the demo organisation with their keys, a tightened
// policy, a few hundred anchored document hashes, a re-keyed and a
// suspended member. Every write is a signed transaction submitted through
// the node's normal path, so the demo exercises what production does.
//
// The documents are synthetic random bytes; only their hashes reach the
// ledger, and no personal data is involved.
package demo

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
)

// Submitter submits a batch of signed transactions and reports, per
// transaction, its hash and result code or an error.
type Submitter func(ctx context.Context, raws [][]byte) ([]Outcome, error)

// Outcome is one submitted transaction's fate.
type Outcome struct {
	Hash   client.Hash
	Code   string
	Height uint64
	Err    error
}

// Options configures Load.
type Options struct {
	Home      home.Home
	ChainID   string
	AdminID   string
	Documents int // anchored documents; default 300
	MasterEnv string
	// Progress, if set, is told how many transactions are done of how many.
	Progress func(done, total int)
}

// Summary describes what Load wrote.
type Summary struct {
	Txs        int      `json:"txs"`
	Members    []string `json:"members"`
	SampleTx   string   `json:"sample_tx"`   // an anchored document's transaction
	SampleHash string   `json:"sample_hash"` // its document hash
	Rejected   int      `json:"rejected"`    // transactions refused by design (a suspended signer)
	// Patients, SamplePatient and SamplePatientName describe the
	// synthetic patients loaded through the FHIR API (set by the CLI).
	Patients          int    `json:"patients,omitempty"`
	SamplePatient     string `json:"sample_patient,omitempty"`
	SamplePatientName string `json:"-"`
}

type person struct {
	id    string
	roles []string
	key   *identity.Key
}

var staff = []struct {
	name  string
	roles []string
}{
	{"dr-adams", []string{"practitioner"}},
	{"dr-baker", []string{"practitioner"}},
	{"dr-chen", []string{"practitioner"}},
	{"nurse-diaz", []string{"practitioner"}},
	{"nurse-evans", []string{"practitioner"}},
	{"lab-fischer", []string{"practitioner"}},
	{"auditor-garcia", []string{"auditor"}},
	{"privacy-officer-hill", []string{"auditor"}},
	{"researcher-ito", []string{"researcher"}},
	{"billing-jones", []string{"payer"}},
}

var kinds = []string{"discharge-summary", "lab-report", "imaging-report", "referral-letter", "consent-form", "prescription"}

// Load writes the demo data through submit.
func Load(ctx context.Context, o Options, submit Submitter) (*Summary, error) {
	if o.Documents <= 0 {
		o.Documents = 300
	}
	mk, err := o.Home.MasterKeyValue(o.MasterEnv)
	if err != nil {
		return nil, err
	}
	admin, err := identity.ReadKeyFile(o.Home.MemberKey(o.AdminID), identity.MasterKey(mk))
	if err != nil {
		return nil, fmt.Errorf("demo needs the admin key of %s: %w", o.AdminID, err)
	}
	org := orgOf(o.AdminID)
	sum := &Summary{}
	total := len(staff) + 1 + o.Documents + 3
	done := 0
	progress := func(n int) {
		done += n
		if o.Progress != nil {
			o.Progress(done, total)
		}
	}
	run := func(raws [][]byte, wantOK bool) ([]Outcome, error) {
		out, err := submit(ctx, raws)
		if err != nil {
			return nil, err
		}
		for _, x := range out {
			if x.Err != nil {
				return nil, x.Err
			}
			if wantOK && x.Code != "ok" {
				return nil, fmt.Errorf("demo transaction %s failed: %s", x.Hash, x.Code)
			}
		}
		sum.Txs += len(out)
		progress(len(out))
		return out, nil
	}
	sign := func(s *identity.Key, signer, contractName, method string, payload any) ([]byte, error) {
		p, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		raw, _, err := client.Sign(client.Tx{ChainID: o.ChainID, Contract: contractName, Method: method, Payload: p, Signer: signer}, s)
		return raw, err
	}

	// 1. Enrol the staff, with keys kept (encrypted) in the home.
	var people []person
	var raws [][]byte
	for _, s := range staff {
		id := org + "/" + s.name
		k, err := loadOrCreate(o.Home, id, mk)
		if err != nil {
			return nil, err
		}
		people = append(people, person{id: id, roles: s.roles, key: k})
		raw, err := sign(admin, o.AdminID, "members", "enrol", members.Enrol{ID: id, Org: org, Roles: s.roles, PublicKey: identity.EncodePublicKey(k.Public())})
		if err != nil {
			return nil, err
		}
		raws = append(raws, raw)
		sum.Members = append(sum.Members, id)
	}
	if _, err := run(raws, true); err != nil {
		return nil, err
	}

	// 2. Only practitioners and admins may anchor clinical documents.
	raw, err := sign(admin, o.AdminID, "policy", "set", contract.PolicySet{
		Name: "notary.anchor",
		Rule: `signer.active && ("practitioner" in signer.roles || "admin" in signer.roles)`,
	})
	if err != nil {
		return nil, err
	}
	if _, err := run([][]byte{raw}, true); err != nil {
		return nil, err
	}

	// 3. Anchor documents, in batches like an integration engine would.
	var clinicians []person
	for _, p := range people {
		if p.roles[0] == "practitioner" {
			clinicians = append(clinicians, p)
		}
	}
	for start := 0; start < o.Documents; start += 100 {
		raws = raws[:0]
		var hashes []string
		for i := start; i < min(start+100, o.Documents); i++ {
			doc := make([]byte, 256)
			rand.Read(doc)
			h := sha256.Sum256(doc)
			p := clinicians[i%len(clinicians)]
			raw, err := sign(p.key, p.id, "notary", "anchor", notary.Anchor{
				Hash: hex.EncodeToString(h[:]), Kind: kinds[i%len(kinds)],
				Metadata: map[string]string{"system": "demo-ehr", "seq": fmt.Sprint(i)},
			})
			if err != nil {
				return nil, err
			}
			raws = append(raws, raw)
			hashes = append(hashes, hex.EncodeToString(h[:]))
		}
		out, err := run(raws, true)
		if err != nil {
			return nil, err
		}
		if sum.SampleTx == "" {
			sum.SampleTx, sum.SampleHash = out[0].Hash.String(), hashes[0]
		}
	}

	// 4. A nurse gets a new key; a departing doctor is suspended, and a
	//    transaction signed by them afterwards is refused.
	nurse := people[3]
	nk, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	raw, err = sign(admin, o.AdminID, "members", "rekey", members.Rekey{ID: nurse.id, PublicKey: identity.EncodePublicKey(nk.Public())})
	if err != nil {
		return nil, err
	}
	if _, err := run([][]byte{raw}, true); err != nil {
		return nil, err
	}
	leaver := people[2]
	raw, err = sign(admin, o.AdminID, "members", "suspend", members.Suspend{ID: leaver.id, Reason: "left_organisation"})
	if err != nil {
		return nil, err
	}
	if _, err := run([][]byte{raw}, true); err != nil {
		return nil, err
	}
	doc := make([]byte, 64)
	rand.Read(doc)
	h := sha256.Sum256(doc)
	raw, err = sign(leaver.key, leaver.id, "notary", "anchor", notary.Anchor{Hash: hex.EncodeToString(h[:]), Kind: "lab-report"})
	if err != nil {
		return nil, err
	}
	out, err := submit(ctx, [][]byte{raw})
	if err != nil {
		return nil, err
	}
	if out[0].Err == nil {
		return nil, fmt.Errorf("a suspended member's transaction was accepted (%s)", out[0].Code)
	}
	sum.Rejected++
	progress(1)
	return sum, nil
}

func orgOf(memberID string) string {
	for i := 0; i < len(memberID); i++ {
		if memberID[i] == '/' {
			return memberID[:i]
		}
	}
	return memberID
}

func loadOrCreate(h home.Home, id string, mk [32]byte) (*identity.Key, error) {
	p := h.MemberKey(id)
	if k, err := identity.ReadKeyFile(p, identity.MasterKey(mk)); err == nil {
		return k, nil
	}
	k, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := identity.WriteKeyFile(p, k, identity.MasterKey(mk)); err != nil {
		return nil, err
	}
	return k, nil
}
