package node

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/medledger/medledger/internal/snapshot"
)

// adminServer serves the local admin socket (home/admin.sock, mode 0600):
// operations only the node's operator may run while it serves, such as
// taking a consistent backup.
type adminServer struct {
	ln  net.Listener
	srv *http.Server
}

func (n *Node) listenAdmin() (*adminServer, error) {
	p := n.home.AdminSock()
	removeStale(p)
	ln, err := net.Listen("unix", p)
	if err != nil {
		return nil, fmt.Errorf("admin socket %s: %w", p, err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/snapshot", n.serveSnapshot)
	mux.HandleFunc("POST /admin/rotate", n.serveRotate)
	return &adminServer{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

func (a *adminServer) Serve() error { return a.srv.Serve(a.ln) }
func (a *adminServer) Close() error { return a.srv.Close() }

// serveSnapshot streams a consistent snapshot of the ledger.
func (n *Node) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	tmp, err := os.MkdirTemp(filepath.Dir(n.home.Ledger()), "checkpoint-")
	if err != nil {
		http.Error(w, "cannot create a temporary directory", http.StatusInternalServerError)
		return
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "db")
	m, err := n.snapshotTo(dir)
	if err != nil {
		n.log.Error("snapshot failed", "err", err)
		http.Error(w, "snapshot failed; see the node log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/gzip")
	if err := snapshot.Write(w, m, n.home.Genesis(), dir); err != nil {
		n.log.Error("snapshot stream failed", "err", err)
	}
}

// snapshotTo checkpoints the store to dir and returns its manifest.
func (n *Node) snapshotTo(dir string) (snapshot.Manifest, error) {
	if err := n.store.Checkpoint(dir); err != nil {
		return snapshot.Manifest{}, err
	}
	// The checkpoint holds at least what was committed before it started;
	// describe it from its own contents after the fact.
	return Describe(dir, n.genesis)
}
