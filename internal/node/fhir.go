package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/api/fhirapi"
	"github.com/medledger/medledger/internal/auth"
	recordsc "github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/crypt"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/fhir/validate"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/records"
	"github.com/medledger/medledger/internal/web"
)

// fhirParts is the FHIR side of a node: the encrypted records store, the
// keyring, the records service and the HTTP API.
type fhirParts struct {
	store   *records.Store
	keys    *crypt.Keyring
	service *records.Service
	index   *search.Index
	api     *fhirapi.Server
	issuer  *auth.Issuer
	oauth   *auth.Server   // nil when authentication is off
	audits  *auditBatcher  // nil when authentication is off
	access  *access.Engine // nil when authentication is off
	orgKey  *crypt.OrgKey  // the organisation's encryption key (HPKE)
	org     string
	sign    func(contract, method string, payload []byte) ([]byte, error)
	monMu   sync.Mutex
	monStop func()      // stops the access monitor and waits; guarded by monMu
	svcID   string      // the node's service member
	web     *web.Server // the dashboard; nil when authentication is off (see web.go)
}

// serviceMember returns the genesis member with the system role in the
// node's organisation: the identity that signs record anchors.
func (n *Node) serviceMember() (string, bool) {
	val, _ := n.genesis.ValidatorByKeyID(n.key.KeyID())
	for _, m := range n.genesis.Members {
		if m.Org == val.Org && slices.Contains(m.Roles, string(identity.RoleSystem)) {
			return m.ID, true
		}
	}
	return "", false
}

// openFHIR opens the records store and builds the FHIR API. A home made
// before records existed (no system member) serves the ledger only.
func (n *Node) openFHIR() error {
	id, ok := n.serviceMember()
	if !ok {
		n.log.Warn("no member with the system role for this node's organisation in the genesis: the FHIR API is disabled")
		return nil
	}
	svcKey, err := n.home.LoadSigner(n.home.MemberKey(id), n.cfg.MasterKeyEnv)
	if err != nil {
		return fmt.Errorf("service key of %s: %w", id, err)
	}
	mk, err := n.home.MasterKeyValue(n.cfg.MasterKeyEnv)
	if err != nil {
		return err
	}
	rs, err := records.Open(records.Options{Dir: filepath.Join(n.home.Dir, "data", "records"), Logger: n.log})
	if err != nil {
		return err
	}
	kr, err := crypt.New(mk, rs.Keys(), crypt.Options{})
	if err != nil {
		rs.Close()
		return fmt.Errorf("records keyring: %w", err)
	}
	rs.SetSealer(kr)
	v, err := validate.New()
	if err != nil {
		rs.Close()
		return err
	}
	val, _ := n.genesis.ValidatorByKeyID(n.key.KeyID())
	chainID := n.genesis.ChainID
	ix := new(search.Index)
	svc := records.NewService(records.Config{
		Index:  ix,
		Store:  rs,
		Ledger: nodeLedger{n},
		Anchor: func(w recordsc.Write) ([]byte, error) {
			p, err := json.Marshal(w)
			if err != nil {
				return nil, err
			}
			raw, _, err := client.Sign(client.Tx{ChainID: chainID, Contract: "records", Method: "write", Payload: p, Signer: id}, svcKey)
			return raw, err
		},
		Pseudonym: kr.Pseudonym,
		Validate:  func(r *fhir.Resource) []fhir.Issue { return v.Validate(r) },
		Org:       val.Org,
	})
	n.fhir = &fhirParts{store: rs, keys: kr, service: svc, index: ix, svcID: id, org: val.Org, sign: signerFor(chainID, id, svcKey)}
	if n.fhir.orgKey, err = n.loadOrgKey(mk); err != nil {
		rs.Close()
		return fmt.Errorf("organisation key: %w", err)
	}
	if errs := n.cfg.Auth.validate(n.cfg.Addr); len(errs) > 0 {
		rs.Close()
		return errors.Join(errs...)
	}
	ad, is, err := n.authDeps(mk, id, signerFor(chainID, id, svcKey))
	if err != nil {
		rs.Close()
		return err
	}
	n.fhir.issuer = is
	if ad != nil {
		n.dashboardClient()
		if n.fhir.oauth, err = n.oauthServer(is, n.cfg.DemoUsers); err != nil {
			rs.Close()
			return err
		}
	}
	n.fhir.api = fhirapi.New(fhirapi.Deps{Service: svc, Proof: n.api.TxProof, Logger: n.log, Index: ix, Auth: ad, Ledger: latestState{n.store},
		// Bulk exports are decrypted health data on request: they stay in
		// the node home (0700), are removed after an hour or on DELETE.
		ExportDir: filepath.Join(n.home.Dir, "data", "exports")})
	if err := n.openWeb(); err != nil {
		n.fhir.api.Close()
		rs.Close()
		return err
	}
	return nil
}

// sweepFHIR removes record versions a crash left unanchored; it needs the
// sequencer's state, so it runs after Open, before serving.
func (n *Node) sweepFHIR() error {
	if n.fhir == nil {
		return nil
	}
	k, err := n.fhir.service.Sweep()
	if k > 0 {
		n.log.Warn("removed record versions that were never anchored (a crash between write and anchor)", "count", k)
	}
	if err != nil {
		return err
	}
	start := time.Now()
	indexed, err := n.fhir.service.Rebuild()
	if indexed > 0 {
		n.log.Info("search index rebuilt in memory", "resources", indexed, "seconds", time.Since(start).Seconds())
	}
	return err
}

// nodeLedger adapts the node to records.Ledger.
type nodeLedger struct{ n *Node }

func (l nodeLedger) Submit(ctx context.Context, raw []byte) (ledger.Receipt, error) {
	return l.n.seq.Submit(ctx, raw)
}

func (l nodeLedger) Get(key []byte) ([]byte, bool, error) { return l.n.store.Get(key) }

// rootHandler routes /fhir/ to the FHIR API, the OAuth endpoints to the
// authorization server, the site root and /app/ to the dashboard, and the
// rest to the ledger API.
func (n *Node) rootHandler() http.Handler {
	if n.fhir == nil {
		return n.api
	}
	mux := http.NewServeMux()
	if n.fhir.oauth != nil {
		for _, p := range n.fhir.oauth.Paths() {
			mux.Handle(p, n.fhir.oauth)
		}
	}
	if n.fhir.oauth != nil {
		mux.Handle("/v1/alerts", n.alertsAPI())
		mux.Handle("/v1/alerts/", n.alertsAPI())
	}
	mux.Handle("/fhir/", n.fhir.api)
	mux.Handle("/fhir", n.fhir.api) // POST [base] (Bundles); GET answers 404 OperationOutcome
	if n.fhir.web != nil {
		for _, p := range web.Paths() { // the site root and /app/
			mux.Handle(p, n.fhir.web)
		}
	}
	mux.Handle("/", n.api)
	return mux
}
