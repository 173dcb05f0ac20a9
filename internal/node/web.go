package node

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/web"
)

// dashboardClient registers the web dashboard as a public client of the
// node's authorization server (authorization code with PKCE), with
// redirect URI <public URL>/app/callback, unless the configuration already
// names a client with its id (whose redirect URIs are then the
// operator's).
func (n *Node) dashboardClient() {
	for _, c := range n.cfg.Auth.Clients {
		if c.ID == web.DefaultClientID {
			return
		}
	}
	n.cfg.Auth.Clients = append(slices.Clone(n.cfg.Auth.Clients), ClientConfig{
		ID: web.DefaultClientID, Name: "medledger dashboard", RedirectURIs: []string{web.RedirectURI(n.publicURL())},
	})
}

// openWeb builds the dashboard. It needs the FHIR API with
// authentication on (the dashboard signs users in through it); without,
// the node serves no dashboard.
func (n *Node) openWeb() error {
	if n.fhir == nil || n.fhir.oauth == nil || n.fhir.api == nil {
		return nil
	}
	vals := map[string]ed25519.PublicKey{}
	for _, v := range n.genesis.Validators {
		pub, err := identity.ParsePublicKey(v.PublicKey)
		if err != nil {
			return fmt.Errorf("genesis validator %s: %w", v.Name, err)
		}
		vals[identity.KeyIDOf(pub)] = pub
	}
	engine := access.New(n.machine)
	w, err := web.New(web.Config{PublicURL: n.publicURL(), Demo: len(n.cfg.DemoUsers) > 0}, web.Deps{
		FHIR:       n.fhir.api,
		OAuth:      n.fhir.oauth,
		Issuer:     n.fhir.issuer,
		Ledger:     n.api,
		State:      latestState{n.store},
		Machine:    n.machine,
		ChainID:    n.genesis.ChainID,
		Validators: vals,
		Decide: func(p *auth.Principal, patientID, typ string) (access.Decision, error) {
			a := access.Actor{ID: p.Member, Org: p.Org, Roles: p.Roles, FHIRUser: p.FHIRUser, Context: string(auth.ContextUser)}
			purpose := "TREAT"
			if p.Patient != "" {
				a.Patient, a.Context, purpose = n.fhir.keys.Pseudonym("Patient", p.Patient), string(auth.ContextPatient), "PATRQT"
			}
			return engine.Decide(latestState{n.store}, access.Request{Actor: a, Interaction: access.Read, Type: typ,
				Patient: n.fhir.keys.Pseudonym("Patient", patientID), Purpose: purpose, Time: time.Now()})
		},
		Submit:    n.submitAs,
		Verify:    n.verifyCopy,
		BlockTime: n.blockTime,
		Height:    n.store.Height,
		Logger:    n.log,
	})
	if err != nil {
		return err
	}
	n.fhir.web = w
	return nil
}

// submitAs signs a transaction with member's key file in the node home,
// if it is protected by the master key (the demo's users and the
// genesis members the home was made with), and submits it. A member
// whose key the node does not hold gets web.ErrNoKey.
func (n *Node) submitAs(ctx context.Context, member, contract, method string, payload []byte) (ledger.Receipt, error) {
	if !ledger.ValidMemberID(member) || strings.Contains(member, "..") {
		return ledger.Receipt{}, web.ErrNoKey
	}
	key, err := n.home.LoadSigner(n.home.MemberKey(member), n.cfg.MasterKeyEnv)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, identity.ErrWrongKey) {
		return ledger.Receipt{}, fmt.Errorf("%w: %s", web.ErrNoKey, member)
	}
	if err != nil {
		return ledger.Receipt{}, err
	}
	raw, _, err := client.Sign(client.Tx{ChainID: n.genesis.ChainID, Contract: contract, Method: method, Payload: payload, Signer: member}, key)
	if err != nil {
		return ledger.Receipt{}, err
	}
	return n.seq.Submit(ctx, raw)
}

// verifyCopy verifies a consistent copy of the ledger (a checkpoint in
// the node's data directory), as medledger verify does.
func (n *Node) verifyCopy(ctx context.Context, progress func(done, last uint64)) (web.VerifyResult, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(n.home.Ledger()), "verify-")
	if err != nil {
		return web.VerifyResult{}, err
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "db")
	if err := n.store.Checkpoint(dir); err != nil {
		return web.VerifyResult{}, err
	}
	rep, err := VerifyDir(ctx, dir, n.genesis, VerifyOptions{Progress: progress})
	if err != nil {
		return web.VerifyResult{}, err
	}
	res := web.VerifyResult{OK: rep.OK, Height: rep.Height, Txs: rep.Txs, AppHash: rep.AppHash.String(), Root: rep.TxLogRoot.String(),
		Seconds: rep.Duration.Seconds(), Checked: time.Now()}
	if rep.Problem != nil {
		res.Problem = rep.Problem.Error()
	}
	return res, nil
}

// blockTime returns the time of block h.
func (n *Node) blockTime(h uint64) (time.Time, error) {
	sh, err := n.store.Header(h)
	if err != nil {
		return time.Time{}, err
	}
	return sh.Header.Timestamp(), nil
}
