package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/snapshot"
)

// Describe opens the database in dir read-only and returns a manifest of
// its latest block.
func Describe(dir string, doc *genesis.Doc) (snapshot.Manifest, error) {
	st, err := store.Open(store.Options{Dir: dir, ReadOnly: true})
	if err != nil {
		return snapshot.Manifest{}, err
	}
	defer st.Close()
	last := st.Last()
	return snapshot.Manifest{
		Format: snapshot.Format, ChainID: doc.ChainID, Height: last.Header.Height,
		AppHash: last.Header.AppHash.String(), GenesisHash: doc.Hash().String(), Created: time.Now().UTC(),
	}, nil
}

// Backup writes a consistent snapshot of the ledger in h to w. If a node is
// serving from h, the snapshot is taken through its admin socket while it
// keeps serving; otherwise the database is opened directly.
func Backup(ctx context.Context, h home.Home, w io.Writer) error {
	if err := h.Check(); err != nil {
		return err
	}
	if _, err := os.Stat(h.AdminSock()); err == nil {
		err := backupViaSocket(ctx, h, w)
		if err == nil || !errors.Is(err, errNoNode) {
			return err
		}
	}
	doc, err := genesis.Load(h.Genesis())
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(h.Ledger()), "checkpoint-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	st, err := store.Open(store.Options{Dir: h.Ledger(), MustExist: true})
	if err != nil {
		return fmt.Errorf("%w (if a node is serving this home, its admin socket %s did not answer)", err, h.AdminSock())
	}
	dir := filepath.Join(tmp, "db")
	err = st.Checkpoint(dir)
	st.Close()
	if err != nil {
		return err
	}
	m, err := Describe(dir, doc)
	if err != nil {
		return err
	}
	return snapshot.Write(w, m, h.Genesis(), dir)
}

var errNoNode = errors.New("no node on the admin socket")

// AdminClient returns an HTTP client that talks to the admin socket of h.
func AdminClient(h home.Home) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", h.AdminSock())
		},
	}}
}

func backupViaSocket(ctx context.Context, h home.Home, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://admin/admin/snapshot", nil)
	if err != nil {
		return err
	}
	resp, err := AdminClient(h).Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errNoNode, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("node refused the snapshot: %s: %s", resp.Status, b)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
