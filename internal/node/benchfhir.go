package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/synth"
)

// FHIRBenchOptions configures BenchFHIR.
type FHIRBenchOptions struct {
	Patients int // synthetic patients imported first (the search data set); default 1000
	Creates  int // single-resource creates; default 20000
	Reads    int // reads by id; default 50000
	Searches int // searches; default 2000
	Clients  int // concurrent HTTP clients; default 64
	// SearchClients is the concurrency of the search phase, which has a
	// latency target but no throughput target; default 8.
	SearchClients int
	// Auth runs every request with an access token, a consent decision
	// and an audit event written on the ledger: writes as the node's
	// administrator with system scopes, reads and searches as a
	// practitioner whose care relationships (an in-progress Encounter per
	// patient, created before the read phase) allow them.
	Auth     bool
	Dir      string
	Progress func(phase string, done, total int)
}

// FHIRBenchResult is what BenchFHIR measured.
type FHIRBenchResult struct {
	Cores            int     `json:"cores"`
	Clients          int     `json:"clients"`
	Transport        string  `json:"transport"`
	ImportPatients   int     `json:"import_patients"`
	ImportResources  int     `json:"import_resources"`
	ImportSeconds    float64 `json:"import_seconds"`
	Creates          int     `json:"creates"`
	CreatesPerS      float64 `json:"creates_per_s"`
	CreateP99ms      float64 `json:"create_p99_ms"`
	Reads            int     `json:"reads"`
	ReadsPerS        float64 `json:"reads_per_s"`
	ReadP50ms        float64 `json:"read_p50_ms"`
	ReadP99ms        float64 `json:"read_p99_ms"`
	Searches         int     `json:"searches"`
	SearchClients    int     `json:"search_clients"`
	SearchResources  int     `json:"search_over_resources"`
	SearchP50ms      float64 `json:"search_p50_ms"`
	SearchP99ms      float64 `json:"search_p99_ms"`
	Failed           int     `json:"failed"`
	EachWriteDurable bool    `json:"each_write_validated_encrypted_anchored_durable"`
	// Auth: every request carried a token, was decided by the access
	// rules and left an AuditEvent on the ledger before it was answered.
	Auth bool `json:"auth"`
	// AuditEvents is how many AuditEvents the run committed (with Auth).
	AuditEvents int `json:"audit_events,omitempty"`
}

// BenchFHIR measures the FHIR API over loopback HTTP: an import of
// synthetic patients (transaction Bundles), then creates, reads by id and
// searches by concurrent clients. Every write is validated, encrypted,
// anchored on the ledger and durable before it is answered.
func BenchFHIR(ctx context.Context, o FHIRBenchOptions) (*FHIRBenchResult, error) {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.Patients, 1000)
	def(&o.Creates, 20000)
	def(&o.Reads, 50000)
	def(&o.Searches, 2000)
	def(&o.Clients, 64)
	def(&o.SearchClients, 8)
	if o.Progress == nil {
		o.Progress = func(string, int, int) {}
	}
	dir := o.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "medledger-bench-fhir-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	if _, err := home.Init(dir, home.InitOptions{ChainID: "medledger-bench"}); err != nil {
		return nil, err
	}
	cfg := Config{Home: dir}
	if !o.Auth {
		cfg.Auth.Mode = AuthOff
	}
	n, err := Open(cfg, nil)
	if err != nil {
		return nil, err
	}
	defer n.Close()
	n.Start()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go n.Serve(sctx, ln)
	base := "http://" + ln.Addr().String() + "/fhir"
	// The load generator shares the node's cores, so it stays lean: one
	// transport called directly (no redirects to follow, no per-request
	// deadline timer), header maps built once per token, and read
	// bodies discarded as they arrive.
	tr := &http.Transport{MaxIdleConnsPerHost: o.Clients, MaxConnsPerHost: o.Clients, ResponseHeaderTimeout: 2 * time.Minute}
	defer tr.CloseIdleConnections()
	res := &FHIRBenchResult{Cores: runtime.NumCPU(), Clients: o.Clients, Transport: "http", EachWriteDurable: true, Auth: o.Auth}
	var failed atomic.Int64
	var token atomic.Pointer[string] // the bearer token of the phase
	if o.Auth {
		admin := n.genesis.Members[0].ID
		t, err := n.Token(admin, "system/*.cruds", "")
		if err != nil {
			return nil, err
		}
		token.Store(&t)
	}

	type headers struct {
		token     *string
		get, post http.Header
	}
	var hdrs atomic.Pointer[headers]
	headersFor := func(body bool) http.Header {
		t := token.Load()
		h := hdrs.Load()
		if h == nil || h.token != t {
			h = &headers{token: t, get: http.Header{}, post: http.Header{"Content-Type": {"application/fhir+json"}}}
			if t != nil {
				h.get["Authorization"] = []string{"Bearer " + *t}
				h.post["Authorization"] = h.get["Authorization"]
			}
			hdrs.Store(h)
		}
		if body {
			return h.post
		}
		return h.get
	}
	// do sends one request; the answer's body is returned unless discard.
	do := func(method, url string, body []byte, discard bool) (int, []byte, time.Duration) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, _ := http.NewRequestWithContext(ctx, method, url, rd)
		req.Header = headersFor(body != nil) // shared, never modified
		t0 := time.Now()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			failed.Add(1)
			return 0, nil, time.Since(t0)
		}
		var b []byte
		if discard {
			io.Copy(io.Discard, resp.Body)
		} else {
			b, _ = io.ReadAll(resp.Body)
		}
		resp.Body.Close()
		d := time.Since(t0)
		if resp.StatusCode >= 300 {
			failed.Add(1)
		}
		return resp.StatusCode, b, d
	}
	// parallel runs fn(i) for i in [0, total) on o.Clients goroutines.
	parallel := func(phase string, total int, fn func(i int)) time.Duration {
		var next, done atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		clients := o.Clients
		if phase == "search" {
			clients = o.SearchClients
		}
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= total || ctx.Err() != nil {
						return
					}
					fn(i)
					if d := int(done.Add(1)); d%500 == 0 || d == total {
						o.Progress(phase, d, total)
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}

	// 1. Import synthetic patients as transaction Bundles.
	gen, err := synth.New(synth.Options{N: o.Patients, Seed: 1})
	if err != nil {
		return nil, err
	}
	var patientIDs []string
	var mu sync.Mutex
	var resources atomic.Int64
	d := parallel("import", o.Patients, func(i int) {
		b, _ := gen.Patient(i)
		st, body, _ := do(http.MethodPost, base, b, false)
		if st != http.StatusOK {
			return
		}
		var tr struct {
			Entry []struct {
				Response struct{ Location string } `json:"response"`
			} `json:"entry"`
		}
		json.Unmarshal(body, &tr)
		resources.Add(int64(len(tr.Entry)))
		for _, e := range tr.Entry {
			if len(e.Response.Location) > 8 && e.Response.Location[:8] == "Patient/" {
				id := e.Response.Location[8:]
				if k := bytes.IndexByte([]byte(id), '/'); k > 0 {
					id = id[:k]
				}
				mu.Lock()
				patientIDs = append(patientIDs, id)
				mu.Unlock()
			}
		}
	})
	res.ImportPatients, res.ImportResources, res.ImportSeconds = o.Patients, int(resources.Load()), d.Seconds()
	if len(patientIDs) == 0 {
		return nil, fmt.Errorf("bench fhir: the import failed (%d errors)", failed.Load())
	}

	// 2. Creates: heart-rate Observations of the imported patients.
	var createH latencyHist
	var createdIDs = make([]string, o.Creates)
	d = parallel("create", o.Creates, func(i int) {
		pid := patientIDs[i%len(patientIDs)]
		obs := fmt.Sprintf(`{"resourceType":"Observation","status":"final","category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],`+
			`"code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"subject":{"reference":"Patient/%s"},`+
			`"effectiveDateTime":"2025-%02d-%02dT08:00:00Z","valueQuantity":{"value":%d,"unit":"/min","system":"http://unitsofmeasure.org","code":"/min"}}`,
			pid, 1+i%12, 1+i%28, 55+i%40)
		st, body, lat := do(http.MethodPost, base+"/Observation", []byte(obs), false)
		mu.Lock()
		createH.add(lat, 1)
		mu.Unlock()
		if st == http.StatusCreated {
			var r struct{ ID string }
			json.Unmarshal(body, &r)
			createdIDs[i] = r.ID
		}
	})
	res.Creates, res.CreatesPerS, res.CreateP99ms = o.Creates, float64(o.Creates)/d.Seconds(), createH.quantile(0.99).Seconds()*1000

	// With Auth, reads and searches are a practitioner's, with an
	// in-progress encounter at every patient.
	if o.Auth {
		audits0 := n.auditCount()
		if err := benchPractitioner(ctx, n, &token, patientIDs, func(body []byte) (int, []byte) {
			st, b, _ := do(http.MethodPost, base, body, false)
			return st, b
		}); err != nil {
			return nil, err
		}
		defer func() { res.AuditEvents = n.auditCount() - audits0 }()
	}

	// 3. Reads by id.
	var readH latencyHist
	d = parallel("read", o.Reads, func(i int) {
		id := createdIDs[rand.IntN(len(createdIDs))]
		_, _, lat := do(http.MethodGet, base+"/Observation/"+id, nil, true)
		mu.Lock()
		readH.add(lat, 1)
		mu.Unlock()
	})
	res.Reads, res.ReadsPerS = o.Reads, float64(o.Reads)/d.Seconds()
	res.ReadP50ms, res.ReadP99ms = readH.quantile(0.5).Seconds()*1000, readH.quantile(0.99).Seconds()*1000

	// 4. Searches over everything loaded: by patient, by code and date,
	// by name prefix, by birth date.
	var searchH latencyHist
	queries := []func(i int) string{
		func(i int) string { return "/Observation?patient=" + patientIDs[i%len(patientIDs)] + "&_count=50" },
		func(int) string { return "/Observation?code=http://loinc.org|8867-4&date=ge2025-06-01&_count=50" },
		func(int) string { return "/Patient?name=sm&_count=50" },
		func(i int) string { return fmt.Sprintf("/Patient?birthdate=ge19%02d-01-01&_count=50", 40+i%60) },
		func(i int) string {
			return "/Condition?patient=" + patientIDs[i%len(patientIDs)] + "&_include=Condition:patient"
		},
	}
	parallel("search", o.Searches, func(i int) {
		_, _, lat := do(http.MethodGet, base+queries[i%len(queries)](i), nil, true)
		mu.Lock()
		searchH.add(lat, 1)
		mu.Unlock()
	})
	res.Searches, res.SearchClients, res.SearchResources = o.Searches, o.SearchClients, res.ImportResources+o.Creates
	res.SearchP50ms, res.SearchP99ms = searchH.quantile(0.5).Seconds()*1000, searchH.quantile(0.99).Seconds()*1000
	res.Failed = int(failed.Load())
	return res, nil
}

// benchPractitioner enrols a practitioner, opens an in-progress encounter
// naming them at every patient (transaction Bundles of 100, as the
// administrator), and switches the phase token to the practitioner's.
func benchPractitioner(ctx context.Context, n *Node, token *atomic.Pointer[string], patients []string, post func([]byte) (int, []byte)) error {
	prac := "bench-practitioner"
	org := n.genesis.Members[0].Org
	member := org + "/hospitalist"
	k, err := identity.GenerateKey()
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(members.Enrol{ID: member, Org: org, Roles: []string{string(identity.RolePractitioner)}, PublicKey: identity.EncodePublicKey(k.Public()), FHIRUser: "Practitioner/" + prac})
	adminKey, err := n.home.LoadSigner(n.home.MemberKey(n.genesis.Members[0].ID), n.cfg.MasterKeyEnv)
	if err != nil {
		return err
	}
	raw, _, err := client.Sign(client.Tx{ChainID: n.genesis.ChainID, Contract: "members", Method: "enrol", Payload: payload, Signer: n.genesis.Members[0].ID}, adminKey)
	if err != nil {
		return err
	}
	if rc, err := n.Submit(ctx, raw); err != nil || rc.Result.Code != ledger.CodeOK {
		return fmt.Errorf("bench fhir: enrolling the practitioner: %v %v", err, rc.Result.Message)
	}
	entries := []string{fmt.Sprintf(`{"resource":{"resourceType":"Practitioner","id":%q,"name":[{"family":"Hospitalist"}]},"request":{"method":"PUT","url":"Practitioner/%s"}}`, prac, prac)}
	flush := func() error {
		if len(entries) == 0 {
			return nil
		}
		b := `{"resourceType":"Bundle","type":"transaction","entry":[` + strings.Join(entries, ",") + `]}`
		entries = entries[:0]
		if st, body := post([]byte(b)); st != http.StatusOK {
			return fmt.Errorf("bench fhir: opening encounters: %d %.300s", st, body)
		}
		return nil
	}
	for i, p := range patients {
		entries = append(entries, fmt.Sprintf(`{"resource":{"resourceType":"Encounter","status":"in-progress","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"IMP"},`+
			`"subject":{"reference":"Patient/%s"},"participant":[{"individual":{"reference":"Practitioner/%s"}}]},"request":{"method":"POST","url":"Encounter"}}`, p, prac))
		if (i+1)%100 == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	t, err := n.Token(member, "user/*.rs", "")
	if err != nil {
		return err
	}
	token.Store(&t)
	return nil
}

// auditCount counts the AuditEvents on the ledger.
func (n *Node) auditCount() int {
	c := 0
	n.store.Scan([]byte("audit/"+audit.TimePrefix), ^uint64(0), func(_, v []byte) bool { c += audit.IndexCount(v); return true })
	return c
}
