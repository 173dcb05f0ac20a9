package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/consent"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/crypt"
)

// orgKeyPath is the node's organisation encryption key (X25519, HPKE),
// encrypted under the master key.
func (n *Node) orgKeyPath() string { return filepath.Join(n.home.Dir, "keys", "org.key") }

// loadOrgKey reads the organisation key, creating it on first use.
func (n *Node) loadOrgKey(master [32]byte) (*crypt.OrgKey, error) {
	k, err := crypt.ReadOrgKeyFile(n.orgKeyPath(), master)
	if errors.Is(err, fs.ErrNotExist) {
		if k, err = crypt.GenerateOrgKey(); err != nil {
			return nil, err
		}
		if err := crypt.WriteOrgKeyFile(n.orgKeyPath(), k, master); err != nil {
			return nil, err
		}
		return k, nil
	}
	return k, err
}

// PublishOrgKey puts the organisation's encryption key on the ledger
// (members.set_org_key) unless it is there already, so that others can
// share patients' data keys with this organisation.
func (n *Node) PublishOrgKey(ctx context.Context) error {
	if n.fhir == nil || n.fhir.orgKey == nil {
		return nil
	}
	o, ok, err := contract.LookupOrg(n.store, n.fhir.org)
	if err != nil || !ok {
		return err
	}
	pub := n.fhir.orgKey.PublicKey()
	if bytes.Equal(o.EncryptionKey, pub) {
		return nil
	}
	p, _ := json.Marshal(members.SetOrgKey{Org: n.fhir.org, EncryptionKey: base64.StdEncoding.EncodeToString(pub)})
	return n.submitAsService(ctx, "members", "set_org_key", p)
}

// submitAsService signs a transaction as the node's service member and
// waits for it to commit successfully.
func (n *Node) submitAsService(ctx context.Context, contractName, method string, payload []byte) error {
	raw, err := n.fhir.sign(contractName, method, payload)
	if err != nil {
		return err
	}
	rc, err := nodeLedger{n}.Submit(ctx, raw)
	if err != nil {
		return err
	}
	if rc.Result.Code != "ok" {
		return fmt.Errorf("%s.%s: %s: %s", contractName, method, rc.Result.Code, rc.Result.Message)
	}
	return nil
}

// shareInfo binds a wrap to the chain, the consent and the recipient.
func shareInfo(chainID, consentID, org string) []byte {
	return []byte(chainID + "\x00" + consentID + "\x00" + org)
}

// syncShares makes the ledger's shares of patient's data key follow
// Consent consentID, which now grants orgs: it wraps the key to each
// newly granted organisation that has published an encryption key, and
// for each organisation the consent no longer grants, records the end of
// the share and rotates the patient's data key, so that versions written
// from now on are not readable with the key shared before.
func (n *Node) syncShares(ctx context.Context, patient, consentID string, orgs []string) error {
	current := map[string]consent.Share{}
	err := n.store.Scan([]byte("consent/"+consent.SharePrefix(patient)), ^uint64(0), func(_, v []byte) bool {
		var s consent.Share
		if json.Unmarshal(v, &s) == nil {
			current[s.Org] = s
		}
		return true
	})
	if err != nil {
		return err
	}
	for _, org := range orgs {
		if org == n.fhir.org {
			continue // the custodian holds the key already
		}
		o, ok, err := contract.LookupOrg(n.store, org)
		if err != nil {
			return err
		}
		if !ok || len(o.EncryptionKey) != 32 {
			n.log.Debug("a consent grants an organisation that has published no encryption key: not shared yet", "org", org)
			continue
		}
		kid := crypt.OrgKeyID(o.EncryptionKey)
		if s, ok := current[org]; ok && s.KeyID == kid && s.Consent == consentID {
			continue
		}
		wrapped, err := n.fhir.keys.WrapFor(patient, o.EncryptionKey, shareInfo(n.genesis.ChainID, consentID, org))
		if errors.Is(err, crypt.ErrNoKey) {
			continue // no record of the patient here yet: nothing to share
		}
		if err != nil {
			return err
		}
		p, _ := json.Marshal(consent.Share{Patient: patient, Org: org, Consent: consentID, KeyID: kid, Wrapped: base64.StdEncoding.EncodeToString(wrapped)})
		if err := n.submitAsService(ctx, "consent", consent.MethodShare, p); err != nil {
			return err
		}
	}
	for org, s := range current {
		if s.Consent != consentID || slices.Contains(orgs, org) {
			continue
		}
		p, _ := json.Marshal(consent.Unshare{Patient: patient, Org: org})
		if err := n.submitAsService(ctx, "consent", consent.MethodUnshare, p); err != nil {
			return err
		}
		if err := n.fhir.keys.RotateDEK(patient); err != nil && !errors.Is(err, crypt.ErrNoKey) {
			return err
		}
	}
	return nil
}

// ImportShares imports into this node's keyring every patient data key
// that other organisations shared with this node's organisation on the
// ledger; it returns how many it imported. The custodian need not be
// online: the wrapped keys are ledger state.
func (n *Node) ImportShares() (int, error) {
	if n.fhir == nil {
		return 0, errors.New("this node keeps no records")
	}
	var shares []consent.Share
	err := n.store.Scan([]byte("consent/s/"), ^uint64(0), func(k, v []byte) bool {
		if !strings.HasSuffix(string(k), "/"+n.fhir.org) {
			return true
		}
		var s consent.Share
		if json.Unmarshal(v, &s) == nil && s.Org == n.fhir.org {
			shares = append(shares, s)
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	imported := 0
	for _, s := range shares {
		if s.KeyID != n.fhir.orgKey.KeyID() {
			continue // wrapped to a key this node no longer holds
		}
		w, err := base64.StdEncoding.DecodeString(s.Wrapped)
		if err != nil {
			return imported, err
		}
		if err := n.fhir.keys.ImportWrapped(s.Patient, w, n.fhir.orgKey, shareInfo(n.genesis.ChainID, s.Consent, s.Org)); err != nil {
			return imported, fmt.Errorf("import the data key shared for %s: %w", s.Patient, err)
		}
		imported++
	}
	return imported, nil
}

// OrgKey returns the organisation's encryption key.
func (n *Node) OrgKey() *crypt.OrgKey {
	if n.fhir == nil {
		return nil
	}
	return n.fhir.orgKey
}

// Keyring returns the records' keyring (for tests and tools).
func (n *Node) Keyring() *crypt.Keyring {
	if n.fhir == nil {
		return nil
	}
	return n.fhir.keys
}
