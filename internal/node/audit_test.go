package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/node"
)

func fhirReq(t *testing.T, h http.Handler, method, path, token, body string) (int, []byte) {
	t.Helper()
	ts := httptest.NewServer(h)
	defer ts.Close()
	req, _ := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestAuditTrailDurableAndVerified checks that the audit trail of
// accesses, denied ones included, survives a restart, and that verify
// catches an AuditEvent edited in the ledger files.
func TestAuditTrailDurableAndVerified(t *testing.T) {
	th := newHome(t)
	n, closeNode := th.open(t)
	sys, err := n.Token(th.adminID, "system/*.cruds", "")
	if err != nil {
		t.Fatal(err)
	}
	st, b := fhirReq(t, n.Handler(), "POST", "/fhir/Patient", sys, `{"resourceType":"Patient","gender":"female"}`)
	if st != 201 {
		t.Fatalf("create: %d %s", st, b)
	}
	var p struct{ ID string }
	json.Unmarshal(b, &p)
	if st, _ := fhirReq(t, n.Handler(), "GET", "/fhir/Patient/"+p.ID, sys, ""); st != 200 {
		t.Fatalf("read: %d", st)
	}
	// A practitioner-less admin with user scopes is refused: audited too.
	user, _ := n.Token(th.adminID, "user/*.rs", "")
	if st, _ := fhirReq(t, n.Handler(), "GET", "/fhir/Patient/"+p.ID, user, ""); st != 404 {
		t.Fatalf("denied read: %d", st)
	}
	closeNode()

	n, closeNode = th.open(t)
	// The trail's indexes, read from the reopened ledger.
	var ids []string
	n.Store().Scan([]byte("audit/"+audit.TimePrefix), ^uint64(0), func(k, v []byte) bool {
		evs, err := audit.IndexEvents(k, v)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, evs...)
		return true
	})
	if len(ids) < 3 {
		t.Fatalf("after restart, %d audit events; want the create, the read and the denied read", len(ids))
	}
	denied := false
	for _, id := range ids {
		tx, _, _, err := audit.ParseEventID(id)
		if err != nil {
			t.Fatal(err)
		}
		loc, err := n.Store().Locate(tx)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := n.Store().Tx(loc.Height, loc.Index)
		if bytes.Contains(raw, []byte(`"outcome":"4"`)) {
			denied = true
		}
	}
	if !denied {
		t.Error("the denied read left no AuditEvent")
	}
	// Find the newest event's transaction, then edit it in a copy.
	tx, _, _, _ := audit.ParseEventID(ids[0])
	loc, err := n.Store().Locate(tx)
	if err != nil {
		t.Fatal(err)
	}
	closeNode()

	dir := filepath.Join(t.TempDir(), "ledger")
	if err := os.CopyFS(dir, os.DirFS(th.home.Ledger())); err != nil {
		t.Fatal(err)
	}
	db, err := pebble.Open(dir, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	key := store.TxKey(loc.Height, loc.Index)
	v, c, err := db.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(bytes.Clone(v), []byte(`"outcome":"4"`), []byte(`"outcome":"0"`), 1)
	if bytes.Equal(edited, v) {
		edited = bytes.Replace(bytes.Clone(v), []byte(`"action":"R"`), []byte(`"action":"C"`), 1)
	}
	c.Close()
	if err := db.Set(key, edited, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	db.Close()
	rep, err := node.VerifyDir(context.Background(), dir, th.doc, node.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || rep.Problem == nil || rep.Problem.Height != loc.Height {
		t.Errorf("verify of an edited AuditEvent: ok=%v problem=%+v; want a problem at height %d", rep.OK, rep.Problem, loc.Height)
	}
	// The untouched home still verifies.
	if rep := verifyHome(t, th); !rep.OK {
		t.Errorf("pristine ledger: %+v", rep.Problem)
	}
}
