package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/node"
	"github.com/medledger/medledger/internal/synth"
)

// demoNode is a real node on a loopback port with synthetic patients and
// the demo's users (as medledger demo enrols them), serving the
// dashboard.
type demoNode struct {
	t       *testing.T
	n       *node.Node
	dir     string
	url     string // http://127.0.0.1:PORT
	doc     *genesis.Doc
	org     string
	admin   string
	patient string // the demo patient's FHIR Patient id
	name    string // and their family name
	logs    *lockedBuffer
}

// Demo users, as medledger demo names them.
func (d *demoNode) member(name string) string { return d.org + "/" + name }

func startDemoNode(t *testing.T, patients int) *demoNode {
	t.Helper()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	org := doc.Orgs[0].ID
	logs := &lockedBuffer{b: &bytes.Buffer{}}
	cfg := node.Config{Home: dir, Addr: ln.Addr().String(), DemoUsers: []auth.DemoUser{
		{Member: org + "/demo-patient", Label: "Patient (the sample patient)"},
		{Member: org + "/demo-clinician", Label: "Clinician"},
		{Member: org + "/privacy-officer", Label: "Privacy officer (auditor)"},
		{Member: doc.Members[0].ID, Label: "Administrator"},
	}}
	n, err := node.Open(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	n.Start()
	srv := &http.Server{Handler: n.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		n.Close()
	})
	d := &demoNode{t: t, n: n, dir: dir, url: "http://" + ln.Addr().String(), doc: doc, org: org, admin: doc.Members[0].ID, logs: logs}
	d.load(patients)
	return d
}

// lockedBuffer lets the node log from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// load applies synthetic patients through the FHIR API and enrols the
// demo users, with keys protected by the node's master key.
func (d *demoNode) load(patients int) {
	t := d.t
	ctx := context.Background()
	gen, err := synth.New(synth.Options{N: patients, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range patients {
		b, id := gen.Patient(i)
		status, body := d.n.ApplyBundle(ctx, b)
		if status != http.StatusOK {
			t.Fatalf("patient %d: %d %.300s", i, status, body)
		}
		if i == 0 {
			var resp struct {
				Entry []struct {
					Response struct {
						Location string `json:"location"`
					} `json:"response"`
				} `json:"entry"`
			}
			json.Unmarshal(body, &resp)
			for _, e := range resp.Entry {
				if rest, ok := strings.CutPrefix(e.Response.Location, "Patient/"); ok {
					d.patient, _, _ = strings.Cut(rest, "/")
					break
				}
			}
			d.name = id.Family[0]
		}
	}
	if d.patient == "" {
		t.Fatal("no Patient id in the first bundle's answer")
	}
	bundle := `{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Practitioner","id":"demo-clinician",` +
		`"name":[{"family":"Demo","given":["Clinician"]}]},"request":{"method":"PUT","url":"Practitioner/demo-clinician"}}]}`
	if st, body := d.n.ApplyBundle(ctx, []byte(bundle)); st != http.StatusOK {
		t.Fatalf("demo practitioner: %d %.200s", st, body)
	}
	h := home.Home{Dir: d.dir}
	mk, err := h.MasterKeyValue("")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct{ name, role, fhirUser string }{
		{"demo-patient", "patient", "Patient/" + d.patient},
		{"demo-clinician", "practitioner", "Practitioner/demo-clinician"},
		{"privacy-officer", "auditor", ""},
	} {
		k, _ := identity.GenerateKey()
		id := d.member(u.name)
		if err := identity.WriteKeyFile(h.MemberKey(id), k, identity.MasterKey(mk)); err != nil {
			t.Fatal(err)
		}
		p, _ := json.Marshal(members.Enrol{ID: id, Org: d.org, Roles: []string{u.role}, PublicKey: identity.EncodePublicKey(k.Public()), FHIRUser: u.fhirUser})
		d.submit(d.admin, "members", "enrol", p)
	}
}

// submit signs a transaction as member (whose key is in the home) and
// fails the test unless it commits with code ok.
func (d *demoNode) submit(member, contract, method string, payload []byte) ledger.Receipt {
	d.t.Helper()
	rc, err := d.trySubmit(member, contract, method, payload)
	if err != nil {
		d.t.Fatalf("%s.%s as %s: %v", contract, method, member, err)
	}
	return rc
}

func (d *demoNode) trySubmit(member, contract, method string, payload []byte) (ledger.Receipt, error) {
	h := home.Home{Dir: d.dir}
	k, err := h.LoadSigner(h.MemberKey(member), "")
	if err != nil {
		return ledger.Receipt{}, err
	}
	raw, _, err := client.Sign(client.Tx{ChainID: d.doc.ChainID, Contract: contract, Method: method, Payload: payload, Signer: member}, k)
	if err != nil {
		return ledger.Receipt{}, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rc, err := d.n.Submit(ctx, raw)
	if err != nil {
		return rc, err
	}
	if rc.Result.Code != ledger.CodeOK {
		return rc, &ledger.Error{Code: rc.Result.Code, Msg: rc.Result.Message}
	}
	return rc, nil
}

// repoRoot is the module root above the package directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
