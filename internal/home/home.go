// Package home owns the layout of a node's home directory and creates new
// ones (medledger init):
//
//	config.json          optional settings (see node.Config)
//	genesis.json         the network's genesis document
//	master.key           node master key (0600) unless MEDLEDGER_MASTER_KEY is set
//	keys/node.key        the node's block-signing key, encrypted under the master key
//	keys/members/*.key   member keys held on this node (dev and demo only)
//	data/ledger/         the ledger database
//	admin.sock           while serving: local admin socket (backup, checkpoint)
//
// Key files are encrypted and mode 0600; the directory is 0700.
package home

import (
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
	if _, err := os.Stat(h.Genesis()); err == nil {
		return nil, fmt.Errorf("%s already holds a genesis; choose another --home or remove it", dir)
	}
	for _, d := range []string{dir, filepath.Join(dir, "keys"), h.MembersDir(), filepath.Join(dir, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	if o.MasterKeyEnv == "" {
		if err := identity.CreateMasterKey(h.MasterKey()); err != nil {
			return nil, err
		}
	}
	mk, err := h.MasterKeyValue(o.MasterKeyEnv)
	if err != nil {
		return nil, err
	}
	nodeKey, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := identity.WriteKeyFile(h.NodeKey(), nodeKey, identity.MasterKey(mk)); err != nil {
		return nil, err
	}
	admin, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := identity.WriteKeyFile(h.MemberKey(o.AdminID), admin, identity.MasterKey(mk)); err != nil {
		return nil, err
	}
	service, err := identity.GenerateKey()
	if err != nil {
		return nil, err
	}
	if err := identity.WriteKeyFile(h.MemberKey(o.ServiceID), service, identity.MasterKey(mk)); err != nil {
		return nil, err
	}
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
