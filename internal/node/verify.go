package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/verify"
	"github.com/medledger/medledger/internal/snapshot"
)

// VerifyOptions configures VerifyHome.
type VerifyOptions = verify.Options

// VerifyReport is the outcome of a verification.
type VerifyReport = verify.Report

// TreeHead is a trusted tree head for verification.
type TreeHead = verify.TreeHead

// VerifyDir verifies the ledger database in dir against doc.
func VerifyDir(ctx context.Context, dir string, doc *genesis.Doc, o VerifyOptions) (*VerifyReport, error) {
	st, err := store.Open(store.Options{Dir: dir, ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	m, err := NewMachine(doc.ChainID)
	if err != nil {
		return nil, err
	}
	changes, _, err := GenesisState(doc)
	if err != nil {
		return nil, err
	}
	return verify.Run(ctx, st, doc, m, changes, o)
}

// VerifyHome verifies the ledger of home h offline. If a node is serving
// from h, a consistent snapshot is taken through its admin socket and
// verified instead, so verification never disturbs the node.
func VerifyHome(ctx context.Context, h home.Home, o VerifyOptions) (*VerifyReport, error) {
	if err := h.Check(); err != nil {
		return nil, err
	}
	doc, err := genesis.Load(h.Genesis())
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(h.Ledger()); err != nil {
		return nil, fmt.Errorf("%s has no ledger yet (start the node or run medledger demo --load-only): %w", h.Dir, err)
	}
	if _, err := os.Stat(h.AdminSock()); err == nil {
		tmp, err := os.MkdirTemp("", "medledger-verify-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(tmp)
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(backupViaSocket(ctx, h, pw)) }()
		_, err = snapshot.Extract(pr, tmp)
		pr.Close()
		if err == nil {
			return VerifyDir(ctx, filepath.Join(tmp, snapshot.LedgerDir), doc, o)
		}
		if !errors.Is(err, errNoNode) && !isNoNode(err) {
			return nil, err
		}
		os.RemoveAll(tmp)
	}
	return VerifyDir(ctx, h.Ledger(), doc, o)
}

func isNoNode(err error) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.Is(e, errNoNode) {
			return true
		}
	}
	return false
}

// RestoreOptions configures Restore.
type RestoreOptions struct {
	// Force replaces an existing ledger in the home.
	Force bool
	// Progress is passed to verification.
	Progress func(done, last uint64)
}

// Restore installs a snapshot into home h after verifying it completely.
// A snapshot that fails verification, or whose genesis differs from the
// home's, is refused and nothing in h changes. The node must not be
// running.
func Restore(ctx context.Context, h home.Home, in io.Reader, o RestoreOptions) (*VerifyReport, error) {
	if _, err := os.Stat(h.AdminSock()); err == nil {
		if c, err := AdminClient(h).Get("http://admin/admin/snapshot"); err == nil {
			c.Body.Close()
			return nil, fmt.Errorf("a node is serving %s: stop it before restoring", h.Dir)
		}
	}
	if err := os.MkdirAll(filepath.Join(h.Dir, "data"), 0o700); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Join(h.Dir, "data"), "restore-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m, err := snapshot.Extract(in, tmp)
	if err != nil {
		return nil, err
	}
	doc, err := genesis.Load(filepath.Join(tmp, snapshot.GenesisName))
	if err != nil {
		return nil, fmt.Errorf("snapshot genesis: %w", err)
	}
	if doc.Hash().String() != m.GenesisHash {
		return nil, errors.New("snapshot manifest names a different genesis than the one it carries")
	}
	if h.Check() == nil {
		cur, err := genesis.Load(h.Genesis())
		if err != nil {
			return nil, err
		}
		if cur.Hash() != doc.Hash() {
			return nil, fmt.Errorf("the snapshot is of chain %q (genesis %s), this home is of %q (genesis %s)", doc.ChainID, doc.Hash(), cur.ChainID, cur.Hash())
		}
	}
	rep, err := VerifyDir(ctx, filepath.Join(tmp, snapshot.LedgerDir), doc, VerifyOptions{Progress: o.Progress})
	if err != nil {
		return nil, err
	}
	if !rep.OK {
		return rep, fmt.Errorf("snapshot refused: it fails verification: %v", rep.Problem)
	}
	if rep.Height != m.Height {
		return rep, fmt.Errorf("snapshot refused: manifest says height %d, the ledger holds %d", m.Height, rep.Height)
	}
	if _, err := os.Stat(h.Ledger()); err == nil {
		if !o.Force {
			return rep, fmt.Errorf("%s already holds a ledger; pass --force to replace it", h.Dir)
		}
		old := h.Ledger() + ".replaced"
		os.RemoveAll(old)
		if err := os.Rename(h.Ledger(), old); err != nil {
			return rep, err
		}
		defer os.RemoveAll(old)
	}
	if h.Check() != nil {
		if err := doc.Save(h.Genesis()); err != nil {
			return rep, err
		}
	}
	if err := os.Rename(filepath.Join(tmp, snapshot.LedgerDir), h.Ledger()); err != nil {
		return rep, err
	}
	return rep, nil
}

// Hash is a ledger hash (re-exported for the CLI).
type Hash = ledger.Hash

// ParseHash parses a 64-hex-digit hash.
func ParseHash(s string) (Hash, error) { return ledger.ParseHash(s) }
