// Package home owns the layout of a node's home directory and creates new
// ones (medledger init):
//
//	config.json          optional settings (see node.Config)
//	genesis.json         the network's genesis document
//	master.key           node master key (0600) unless MEDLEDGER_MASTER_KEY is set
//	keys/node.key        the node's block-signing key, encrypted under the master key
//	keys/members/*.key   member keys held on this node (dev and demo only)
//	data/ledger/         the ledger database
//	data/cometbft/       consortium mode: CometBFT's block store, state, consensus WAL
//	                     and validator sign state (the P2P key is derived from the node key)
//	admin.sock           while serving: local admin socket (backup, checkpoint)
//
// Key files are encrypted and mode 0600; the directory is 0700.
package home

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
)

// Home is a node home directory.
type Home struct{ Dir string }

// Paths inside the home.
func (h Home) Config() string    { return filepath.Join(h.Dir, "config.json") }
func (h Home) Genesis() string   { return filepath.Join(h.Dir, "genesis.json") }
func (h Home) MasterKey() string { return filepath.Join(h.Dir, "master.key") }
func (h Home) NodeKey() string   { return filepath.Join(h.Dir, "keys", "node.key") }
func (h Home) Ledger() string    { return filepath.Join(h.Dir, "data", "ledger") }
func (h Home) AdminSock() string { return filepath.Join(h.Dir, "admin.sock") }
func (h Home) CometBFT() string  { return filepath.Join(h.Dir, "data", "cometbft") }
func (h Home) MembersDir() string {
	return filepath.Join(h.Dir, "keys", "members")
}

// MemberKey returns the key file path of member id ('/' becomes '~').
func (h Home) MemberKey(id string) string {
	return filepath.Join(h.MembersDir(), strings.ReplaceAll(id, "/", "~")+".key")
}

// ErrNoHome is returned (wrapped) when a directory is not an initialised
// home.
var ErrNoHome = errors.New("not a medledger home (run medledger init --home DIR first)")

// Check reports whether h looks initialised.
func (h Home) Check() error {
	if _, err := os.Stat(h.Genesis()); err != nil {
		return fmt.Errorf("%s: %w", h.Dir, ErrNoHome)
	}
	return nil
}

// MasterKeyValue loads the master key: env (MEDLEDGER_MASTER_KEY's value)
// if non-empty, else the master.key file.
func (h Home) MasterKeyValue(env string) ([32]byte, error) {
	return identity.LoadMasterKey(h.MasterKey(), env)
}

// LoadSigner loads an encrypted key file with the master key.
func (h Home) LoadSigner(path, env string) (*identity.Key, error) {
	mk, err := h.MasterKeyValue(env)
	if err != nil {
		return nil, err
	}
	return identity.ReadKeyFile(path, identity.MasterKey(mk))
}

// InitOptions configures Init. Zero fields take the defaults shown.
type InitOptions struct {
	ChainID string // "medledger-dev"
	OrgID   string // "general-hospital"
	OrgName string // "General Hospital"
	OrgKind string // "hospital"
	AdminID string // "<org>/admin"
	// ServiceID is the node's service identity (role system), which signs
	// the records the node writes for its users. Default "<org>/node".
	ServiceID string
	// MasterKeyEnv, if set, is used instead of creating master.key.
	MasterKeyEnv string
	Now          func() time.Time
}

// Init creates a new single-organisation development home in dir: master
// key, node key, an admin member key, and a genesis naming them. It refuses
// a directory that already holds a genesis.
func Init(dir string, o InitOptions) (*genesis.Doc, error) {
	if o.ChainID == "" {
		o.ChainID = "medledger-dev"
	}
	if o.OrgID == "" {
		o.OrgID = "general-hospital"
	}
	if o.OrgName == "" {
		o.OrgName = "General Hospital"
	}
	if o.OrgKind == "" {
		o.OrgKind = "hospital"
	}
	if o.AdminID == "" {
		o.AdminID = o.OrgID + "/admin"
	}
	if o.ServiceID == "" {
		o.ServiceID = o.OrgID + "/node"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := Home{Dir: dir}
	ks, err := h.create(o.MasterKeyEnv, o.AdminID, o.ServiceID)
	if err != nil {
		return nil, err
	}
	nodeKey, admin, service := ks[0], ks[1], ks[2]
	doc := &genesis.Doc{
		ChainID:     o.ChainID,
		GenesisTime: o.Now().UTC().Truncate(time.Second),
		Orgs:        []genesis.Org{{ID: o.OrgID, Name: o.OrgName, Kind: o.OrgKind}},
		Members: []genesis.Member{{
			ID: o.AdminID, Org: o.OrgID, Roles: []string{string(identity.RoleAdmin)},
			PublicKey: identity.EncodePublicKey(admin.Public()),
		}, {
			ID: o.ServiceID, Org: o.OrgID, Roles: []string{string(identity.RoleSystem)},
			PublicKey: identity.EncodePublicKey(service.Public()),
		}},
		Validators: []genesis.Validator{{
			Name: "node0", Org: o.OrgID, PublicKey: identity.EncodePublicKey(nodeKey.Public()), Power: 10,
		}},
	}
	if err := doc.Validate(); err != nil {
		return nil, err
	}
	if err := doc.Save(h.Genesis()); err != nil {
		return nil, err
	}
	return doc, nil
}

// create makes the directories, master key (unless env, the value of
// MEDLEDGER_MASTER_KEY, is set) and node key of a new home, and a key file
// for each of the given member IDs. It returns the node key, then the
// members' keys. It refuses a directory that already holds a genesis.
func (h Home) create(env string, memberIDs ...string) ([]*identity.Key, error) {
	if _, err := os.Stat(h.Genesis()); err == nil {
		return nil, fmt.Errorf("%s already holds a genesis; choose another --home or remove it", h.Dir)
	}
	for _, d := range []string{h.Dir, filepath.Join(h.Dir, "keys"), h.MembersDir(), filepath.Join(h.Dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if env == "" {
		if err := identity.CreateMasterKey(h.MasterKey()); err != nil {
			return nil, err
		}
	}
	mk, err := h.MasterKeyValue(env)
	if err != nil {
		return nil, err
	}
	keys := make([]*identity.Key, 0, 1+len(memberIDs))
	for i, path := range append([]string{h.NodeKey()}, memberIDs...) {
		if i > 0 {
			path = h.MemberKey(path)
		}
		k, err := identity.GenerateKey()
		if err != nil {
			return nil, err
		}
		if err := identity.WriteKeyFile(path, k, identity.MasterKey(mk)); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// NetworkOptions configures InitNetwork. Zero fields take the defaults
// shown.
type NetworkOptions struct {
	ChainID    string // "medledger-testnet"
	Validators int    // organisations, each running one validator; default 4
	Power      int64  // each validator's voting power; default 10
	Now        func() time.Time
}

// networkKinds are the organisation kinds a test network cycles through.
var networkKinds = []string{"hospital", "clinic", "payer", "regulator", "research", "pharmacy"}

// InitNetwork creates a consortium in dir: one home per organisation
// (dir/node0, dir/node1, ...), each with its own master key, node key and
// the organisation's admin and service members, and one genesis, written
// into every home, that lists all organisations, members and validators
// and names CometBFT as the consensus engine. Organisation i is "org<i>"
// with admin "org<i>/admin" and service member "org<i>/node".
func InitNetwork(dir string, o NetworkOptions) ([]Home, *genesis.Doc, error) {
	if o.ChainID == "" {
		o.ChainID = "medledger-testnet"
	}
	if o.Validators <= 0 {
		o.Validators = 4
	}
	if o.Power <= 0 {
		o.Power = 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	doc := &genesis.Doc{ChainID: o.ChainID, GenesisTime: o.Now().UTC().Truncate(time.Second), Consensus: genesis.ConsensusCometBFT}
	homes := make([]Home, o.Validators)
	for i := range homes {
		homes[i] = Home{Dir: filepath.Join(dir, fmt.Sprintf("node%d", i))}
		org := fmt.Sprintf("org%d", i)
		admin, service := org+"/admin", org+"/node"
		ks, err := homes[i].create("", admin, service)
		if err != nil {
			return nil, nil, err
		}
		kind := networkKinds[i%len(networkKinds)]
		doc.Orgs = append(doc.Orgs, genesis.Org{ID: org, Name: fmt.Sprintf("Organisation %d (%s)", i, kind), Kind: kind})
		doc.Members = append(doc.Members,
			genesis.Member{ID: admin, Org: org, Roles: []string{string(identity.RoleAdmin)}, PublicKey: identity.EncodePublicKey(ks[1].Public())},
			genesis.Member{ID: service, Org: org, Roles: []string{string(identity.RoleSystem)}, PublicKey: identity.EncodePublicKey(ks[2].Public())})
		doc.Validators = append(doc.Validators, genesis.Validator{Name: fmt.Sprintf("node%d", i), Org: org, PublicKey: identity.EncodePublicKey(ks[0].Public()), Power: o.Power})
	}
	if err := doc.Validate(); err != nil {
		return nil, nil, err
	}
	for _, h := range homes {
		if err := doc.Save(h.Genesis()); err != nil {
			return nil, nil, err
		}
	}
	return homes, doc, nil
}

// InitJoin creates a home in dir for a node that joins an existing network
// as a full node (not a validator): a master key (unless env, the value of
// MEDLEDGER_MASTER_KEY, is set), a node key and a copy of the network's
// genesis. It returns the node key's public key, which the network adds
// if the node is to become a validator.
func InitJoin(dir string, doc *genesis.Doc, env string) (ed25519.PublicKey, error) {
	h := Home{Dir: dir}
	ks, err := h.create(env)
	if err != nil {
		return nil, err
	}
	if err := doc.Save(h.Genesis()); err != nil {
		return nil, err
	}
	return ks[0].Public(), nil
}
