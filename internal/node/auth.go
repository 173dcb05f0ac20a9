package node

import (
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/api/fhirapi"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

// AuthConfig configures who may call the FHIR API.
type AuthConfig struct {
	// Mode is "required" (the default: every FHIR request needs a token,
	// every access is decided and audited) or "off" (no tokens, no
	// decisions, no audit: for benchmarks and tests on a loopback address
	// only; the node refuses it on any other address).
	Mode string `json:"mode,omitempty"`
	// PublicURL is the node's base URL as clients reach it (the tokens'
	// issuer; the audience is PublicURL + "/fhir"). Default: http(s)://
	// the listen address.
	PublicURL string `json:"public_url,omitempty"`
	// Clients are the apps registered for the authorization code flow
	// (public clients with PKCE): {"id", "name", "redirect_uris"}.
	Clients []ClientConfig `json:"clients,omitempty"`
}

// ClientConfig registers an app for the authorization code flow.
type ClientConfig struct {
	ID           string   `json:"id"`
	Name         string   `json:"name,omitempty"`
	RedirectURIs []string `json:"redirect_uris"`
}

// Auth modes.
const (
	AuthRequired = "required"
	AuthOff      = "off"
)

func (a AuthConfig) validate(addr string) []error {
	var errs []error
	switch a.Mode {
	case "", AuthRequired:
	case AuthOff:
		if !loopback(addr) {
			errs = append(errs, fmt.Errorf("auth.mode: \"off\" is allowed only on a loopback address, not %q: it would serve health data to anyone", addr))
		}
	default:
		errs = append(errs, fmt.Errorf("auth.mode: %q is not %q or %q", a.Mode, AuthRequired, AuthOff))
	}
	if a.PublicURL != "" && !strings.HasPrefix(a.PublicURL, "https://") && !strings.HasPrefix(a.PublicURL, "http://") {
		errs = append(errs, fmt.Errorf("auth.public_url: %q is not an http(s) URL", a.PublicURL))
	}
	return errs
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publicURL returns the node's base URL.
func (n *Node) publicURL() string {
	if u := n.cfg.Auth.PublicURL; u != "" {
		return strings.TrimRight(u, "/")
	}
	scheme := "http"
	if n.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + n.cfg.Addr
}

// tokenKey derives the node's token-signing key from the master key, so
// that it needs no file of its own and rotates with the master key.
func tokenKey(master [32]byte) (ed25519.PrivateKey, error) {
	seed, err := hkdf.Key(sha256.New, master[:], nil, "medledger token signing key v1", ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// latestState is the committed ledger state for access decisions.
type latestState struct{ st *store.Store }

func (s latestState) Get(k []byte) ([]byte, bool, error) { return s.st.Get(k) }
func (s latestState) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	return s.st.Scan(prefix, ^uint64(0), fn)
}

// stateAt is the ledger state as of a height, to reproduce a decision.
type stateAt struct {
	st *store.Store
	h  uint64
}

func (s stateAt) Get(k []byte) ([]byte, bool, error) { return s.st.GetAt(k, s.h) }
func (s stateAt) Scan(prefix []byte, fn func(k, v []byte) bool) error {
	return s.st.Scan(prefix, s.h, fn)
}

// DecideAt reproduces an access decision from the ledger as of height h.
func (n *Node) DecideAt(h uint64, req access.Request) (access.Decision, error) {
	return access.New(n.machine).Decide(stateAt{n.store, h}, req)
}

// Issuer returns the node's token issuer (nil if the FHIR API is off).
func (n *Node) Issuer() *auth.Issuer {
	if n.fhir == nil {
		return nil
	}
	return n.fhir.issuer
}

// authDeps builds the FHIR API's authentication, authorisation and audit.
func (n *Node) authDeps(master [32]byte, service string, sign func(contract, method string, payload []byte) ([]byte, error)) (*fhirapi.Auth, *auth.Issuer, error) {
	key, err := tokenKey(master)
	if err != nil {
		return nil, nil, err
	}
	base := n.publicURL()
	is, err := auth.NewIssuer(key, base, base+"/fhir")
	if err != nil {
		return nil, nil, err
	}
	if n.cfg.Auth.Mode == AuthOff {
		return nil, is, nil
	}
	submit := func(ctx context.Context, contract, method string, payload []byte) (ledger.Hash, error) {
		raw, err := sign(contract, method, payload)
		if err != nil {
			return ledger.Hash{}, err
		}
		rc, err := nodeLedger{n}.Submit(ctx, raw)
		if err != nil {
			return ledger.Hash{}, err
		}
		if rc.Result.Code != ledger.CodeOK {
			return ledger.Hash{}, &ledger.Error{Code: rc.Result.Code, Msg: rc.Result.Message}
		}
		return rc.TxHash, nil
	}
	n.fhir.audits = newAuditBatcher(sign, nodeLedger{n}.Submit)
	n.fhir.access = access.New(n.machine)
	val, _ := n.genesis.ValidatorByKeyID(n.key.KeyID())
	a := &fhirapi.Auth{
		Issuer: is,
		Access: n.fhir.access,
		State:  func() access.State { return latestState{n.store} },
		Pseudonym: func(id string) string {
			return n.fhir.keys.Pseudonym("Patient", id)
		},
		Active: func(member string) bool {
			m, ok, err := n.machine.Member(n.store, member)
			return err == nil && ok && m.Active()
		},
		Record: func(ctx context.Context, e *audit.Event) (ledger.Hash, error) {
			return ledger.Hash{}, n.fhir.audits.record(ctx, e)
		},
		Submit: func(ctx context.Context, contract, method string, payload any) (ledger.Hash, error) {
			p, err := json.Marshal(payload)
			if err != nil {
				return ledger.Hash{}, err
			}
			return submit(ctx, contract, method, p)
		},
		Seal: func(patient string, aad, plaintext []byte) ([]byte, error) {
			return n.fhir.keys.Seal(patient, aad, plaintext)
		},
		Shred: func(patient string) error { return n.fhir.keys.Shred(patient) },
		Share: n.syncShares,
		Node:  service,
		Org:   val.Org,
	}
	return a, is, nil
}

// signer returns a function signing transactions as member id.
func signerFor(chainID, id string, key client.Signer) func(contract, method string, payload []byte) ([]byte, error) {
	return func(contract, method string, payload []byte) ([]byte, error) {
		raw, _, err := client.Sign(client.Tx{ChainID: chainID, Contract: contract, Method: method, Payload: payload, Signer: id}, key)
		return raw, err
	}
}

// TokenRequest asks MintToken for an access token.
type TokenRequest struct {
	// Member is who the token is for; "" means the administrator of the
	// node's organisation. A member not in the genesis must be described
	// by Known (the CLI fetches it from the running node).
	Member string
	Known  *TokenMember
	Scope  string
	// Patient, if set, is the FHIR id of the patient in context.
	Patient string
	TTL     time.Duration
}

// TokenMember is what a token says about its member.
type TokenMember struct {
	ID, Org, FHIRUser string
	Roles             []string
}

// MintToken issues an access token offline, with the node's token key
// (derived from the master key): for operators' scripts and tests. It
// trusts the caller with the scope, as it holds the master key anyway.
func MintToken(cfg Config, req TokenRequest) (string, *auth.Principal, error) {
	h := home.Home{Dir: cfg.Home}
	doc, err := genesis.Load(h.Genesis())
	if err != nil {
		return "", nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	key, err := h.LoadSigner(h.NodeKey(), cfg.MasterKeyEnv)
	if err != nil {
		return "", nil, fmt.Errorf("node key: %w", err)
	}
	val, _ := doc.ValidatorByKeyID(key.KeyID())
	m := req.Known
	want := req.Member
	if want == "" {
		want = orgAdmin(doc, val.Org)
	}
	for _, gm := range doc.Members {
		if m == nil && want != "" && gm.ID == want {
			m = &TokenMember{ID: gm.ID, Org: gm.Org, Roles: gm.Roles, FHIRUser: gm.FHIRUser}
		}
	}
	if m == nil {
		if req.Member == "" {
			return "", nil, fmt.Errorf("no administrator of organisation %q in the genesis; name the member with --as", val.Org)
		}
		return "", nil, fmt.Errorf("member %q is not in the genesis and was not found on the node", req.Member)
	}
	sc, err := auth.ParseScopes(req.Scope)
	if err != nil {
		return "", nil, err
	}
	mk, err := h.MasterKeyValue(cfg.MasterKeyEnv)
	if err != nil {
		return "", nil, err
	}
	tk, err := tokenKey(mk)
	if err != nil {
		return "", nil, err
	}
	n := &Node{cfg: cfg}
	base := n.publicURL()
	is, err := auth.NewIssuer(tk, base, base+"/fhir")
	if err != nil {
		return "", nil, err
	}
	p := &auth.Principal{Member: m.ID, Org: m.Org, Roles: m.Roles, Scopes: sc, FHIRUser: m.FHIRUser, Patient: req.Patient, ClientID: "medledger-cli"}
	if p.Patient == "" && strings.HasPrefix(m.FHIRUser, "Patient/") {
		p.Patient = strings.TrimPrefix(m.FHIRUser, "Patient/")
	}
	tok, err := is.Mint(p, req.TTL)
	return tok, p, err
}

// asService marks an in-process FHIR request as made by the node's
// service identity with system scopes (HL7 v2 feeds, the demo's loader).
func (n *Node) asService(ctx context.Context) context.Context {
	if n.fhir == nil || n.fhir.service == nil || n.fhir.svcID == "" {
		return ctx
	}
	sc, _ := auth.ParseScopes("system/*.cruds")
	val, _ := n.genesis.ValidatorByKeyID(n.key.KeyID())
	p := &auth.Principal{Member: n.fhir.svcID, Org: val.Org, Roles: []string{string(identity.RoleSystem)}, Scopes: sc, ClientID: "medledger-node"}
	return fhirapi.WithPrincipal(ctx, n.fhir.api, p)
}

// Token mints an access token for an active member of the ledger, with
// the given scopes (and patient context, a FHIR Patient id, if any): for
// tests, benchmarks and the demo.
func (n *Node) Token(member, scope, patient string) (string, error) {
	if n.fhir == nil || n.fhir.issuer == nil {
		return "", errors.New("this node serves no FHIR API")
	}
	m, ok, err := n.machine.Member(n.store, member)
	if err != nil {
		return "", err
	}
	if !ok || !m.Active() {
		return "", fmt.Errorf("member %q is not an active member", member)
	}
	sc, err := auth.ParseScopes(scope)
	if err != nil {
		return "", err
	}
	p := &auth.Principal{Member: m.ID, Org: m.Org, Roles: m.Roles, Scopes: sc, FHIRUser: m.FHIRUser, Patient: patient}
	if p.Patient == "" && strings.HasPrefix(m.FHIRUser, "Patient/") {
		p.Patient = strings.TrimPrefix(m.FHIRUser, "Patient/")
	}
	return n.fhir.issuer.Mint(p, 0)
}

// Height returns the height of the last committed block.
func (n *Node) Height() uint64 { return n.store.Height() }

// Pseudonym returns the ledger pseudonym of a FHIR Patient id.
func (n *Node) Pseudonym(patientID string) (string, error) {
	if n.fhir == nil {
		return "", errors.New("this node serves no FHIR API")
	}
	return n.fhir.keys.Pseudonym("Patient", patientID), nil
}

// oauthServer builds the SMART endpoints: discovery, keys, the token
// endpoint (Backend Services, authorization code with PKCE) and the
// sign-in page. demo, if not empty, lists the members offered by the
// sign-in page's demo picker.
func (n *Node) oauthServer(is *auth.Issuer, demo []auth.DemoUser) (*auth.Server, error) {
	clients := make([]auth.Client, 0, len(n.cfg.Auth.Clients))
	for _, c := range n.cfg.Auth.Clients {
		clients = append(clients, auth.Client{ID: c.ID, Name: c.Name, RedirectURIs: c.RedirectURIs})
	}
	dummy := filepath.Join(n.home.Dir, "data", "login-timing.key")
	return auth.NewServer(auth.Config{
		Issuer:  is,
		Clients: clients,
		Members: func(id string) (auth.Member, bool, error) {
			m, ok, err := n.machine.Member(n.store, id)
			if err != nil || !ok {
				return auth.Member{}, ok, err
			}
			return auth.Member{ID: m.ID, Org: m.Org, Roles: m.Roles, PublicKey: m.PublicKey, Active: m.Active(), FHIRUser: m.FHIRUser}, true, nil
		},
		Login: func(member, passphrase string) error {
			// A member signs in with the passphrase of their key file in
			// this home; members without one (or with a key protected by
			// the master key) cannot. An unknown member costs the same
			// scrypt work, on a decoy file, so timing tells nothing.
			path := n.home.MemberKey(member)
			if _, err := os.Stat(path); err != nil {
				path = dummy
				if _, err := os.Stat(dummy); err != nil {
					k, _ := identity.GenerateKey()
					var pw [16]byte
					rand.Read(pw[:])
					_ = identity.WriteKeyFile(dummy, k, identity.Passphrase(pw[:]))
				}
			}
			if _, err := identity.ReadKeyFile(path, identity.Passphrase([]byte(passphrase))); err != nil || path == dummy {
				return errors.New("sign-in refused")
			}
			return nil
		},
		// Backend services (system scopes) are this organisation's own:
		// another organisation's members get user or patient scopes at
		// most, and the access rules decide what those reach.
		Allowed: func(m auth.Member) auth.Scopes {
			sc := auth.DefaultAllowed(m)
			if m.Org == n.fhir.org {
				return sc
			}
			kept := sc.Resources[:0:0]
			for _, r := range sc.Resources {
				if r.Context != auth.ContextSystem {
					kept = append(kept, r)
				}
			}
			sc.Resources = kept
			return sc
		},
		DemoUsers: demo,
		Logger:    n.log,
	})
}

// orgAdmin returns the first genesis member with the admin role in org,
// "" if there is none.
func orgAdmin(doc *genesis.Doc, org string) string {
	for _, gm := range doc.Members {
		if gm.Org == org && slices.Contains(gm.Roles, string(identity.RoleAdmin)) {
			return gm.ID
		}
	}
	return ""
}
