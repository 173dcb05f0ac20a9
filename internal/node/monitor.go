package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/client"
	aiaccess "github.com/medledger/medledger/internal/ai/access"
	"github.com/medledger/medledger/internal/ai/model"
	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/ledger"
)

// ModelRegistration builds the models.register payload for a model file
// (its parsed form m): name, version, detector, the file's SHA-256, the
// model's parameters, training-data hash and metrics.
func ModelRegistration(file []byte, m *model.Model) (models.Register, error) {
	if m.Training.DataSHA256 == "" {
		return models.Register{}, errors.New("the model records no training data hash (training.data_sha256): train it with medledger models train")
	}
	params := map[string]any{"threshold": m.Threshold, "rules_bias": m.Rules.Bias, "features": len(m.Features), "training_events": m.Training.Events, "seed": m.Training.Seed}
	if m.Forest != nil {
		params["iforest_trees"] = len(m.Forest.Forest.Trees)
		params["iforest_sample_size"] = m.Forest.Forest.SampleSize
		params["iforest_weight"] = m.Forest.Weight
	}
	if m.Boost != nil {
		params["xgboost_weight"] = m.Boost.Weight
	}
	if len(m.Params) > 0 {
		params["detector_params"] = m.Params
	}
	pb, err := json.Marshal(params)
	if err != nil {
		return models.Register{}, err
	}
	return models.Register{Name: m.Name, Version: m.Version, Detector: m.Detector, SHA256: model.SHA256(file),
		Parameters: pb, TrainingDataSHA256: m.Training.DataSHA256, Metrics: m.Metrics}, nil
}

// monitorInterval is how often the monitor looks for new blocks: alerts
// are raised within about this long after the access commits. Short, so
// that each scan is a small slice of work: at 200ms a busy node's scans
// took a core for tens of milliseconds at a time, and requests waiting
// behind them doubled the p99 of reads.
const monitorInterval = 20 * time.Millisecond

// monitor watches the audit trail as it commits: every AuditEvent, in
// commit order, is scored by the access detector with the registered
// built-in model, and accesses that score above the model's threshold
// raise an alert on the ledger (alerts.open, signed by the node's
// service member), grouped per user and leading reason per hour.
type monitor struct {
	n     *Node
	det   *aiaccess.Detector
	grp   aiaccess.Grouper
	ref   alerts.ModelRef
	last  uint64 // the last height scored
	dir   *nodeDirectory
	alert func(ctx context.Context, o alerts.Open) error
	// Ledger activity: the transactions themselves, with their own
	// registered rule set.
	act    *ledgerActivity
	actRef alerts.ModelRef
	blockT time.Time // the time of the block being scanned
}

// StartMonitor runs the access monitor until ctx ends. It first makes
// sure the built-in model is registered (with the administrator's key,
// when the home holds it), then scores the audit trail from the given
// height on (0: only what commits from now).
func (n *Node) StartMonitor(ctx context.Context, from uint64) error {
	if n.fhir == nil || n.fhir.audits == nil {
		return errors.New("the monitor needs the FHIR API with authentication on")
	}
	file := aiaccess.DefaultModel()
	m, err := model.Parse(file)
	if err != nil {
		return err
	}
	sha := model.SHA256(file)
	if err := n.ensureModel(ctx, file, m, sha); err != nil {
		return err
	}
	dir := &nodeDirectory{n: n, patients: map[string]string{}}
	det, err := aiaccess.New(m, aiaccess.Config{Directory: dir})
	if err != nil {
		return err
	}
	if err := n.ensureRules(ctx); err != nil {
		return err
	}
	mon := &monitor{n: n, det: det, dir: dir, ref: alerts.ModelRef{Name: m.Name, Version: m.Version, SHA256: sha},
		act: newLedgerActivity(), actRef: alerts.ModelRef{Name: "ledger-activity", Version: "1", SHA256: model.SHA256(ledgerRulesFile)}}
	onReject := mon.act.reject
	n.metrics.onReject.Store(&onReject)
	mon.last = from
	if from == 0 {
		mon.last = n.store.Height()
	}
	mon.alert = func(ctx context.Context, o alerts.Open) error {
		p, err := json.Marshal(o)
		if err != nil {
			return err
		}
		return n.submitAsService(ctx, "alerts", "open", p)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	n.fhir.monMu.Lock()
	if n.fhir.monStop != nil {
		n.fhir.monMu.Unlock()
		cancel()
		return errors.New("the access monitor is already running")
	}
	n.fhir.monStop = func() { cancel(); <-done }
	n.fhir.monMu.Unlock()
	go func() {
		defer close(done)
		mon.run(ctx)
	}()
	return nil
}

// stopMonitor stops the access monitor, if running, and waits for it.
func (n *Node) stopMonitor() {
	if n.fhir == nil {
		return
	}
	n.fhir.monMu.Lock()
	stop := n.fhir.monStop
	n.fhir.monStop = nil
	n.fhir.monMu.Unlock()
	if stop != nil {
		stop()
		n.metrics.onReject.Store(nil)
	}
}

// ensureModel registers the built-in model if it is not on the ledger.
func (n *Node) ensureModel(ctx context.Context, file []byte, m *model.Model, sha string) error {
	if _, ok, err := models.Lookup(n.store, sha); err != nil || ok {
		return err
	}
	reg, err := ModelRegistration(file, m)
	if err != nil {
		return err
	}
	if err := n.registerAsAdmin(ctx, reg); err != nil {
		return err
	}
	n.log.Info("built-in access model registered", "name", m.Name, "version", m.Version, "sha256", sha)
	return nil
}

// registerAsAdmin registers a model version signed by the administrator
// of the node's organisation, whose key must be in the home.
func (n *Node) registerAsAdmin(ctx context.Context, reg models.Register) error {
	admin := orgAdmin(n.genesis, n.fhir.org)
	key, err := n.home.LoadSigner(n.home.MemberKey(admin), n.cfg.MasterKeyEnv)
	if err != nil {
		return fmt.Errorf("%s is not registered and the administrator's key is not in this home: register it with medledger models register (%v)", reg.Name, err)
	}
	p, _ := json.Marshal(reg)
	raw, _, err := client.Sign(client.Tx{ChainID: n.genesis.ChainID, Contract: "models", Method: "register", Payload: p, Signer: admin}, key)
	if err != nil {
		return err
	}
	rc, err := nodeLedger{n}.Submit(ctx, raw)
	if err != nil {
		return err
	}
	if rc.Result.Code != ledger.CodeOK {
		return fmt.Errorf("registering %s: %s", reg.Name, rc.Result.Message)
	}
	return nil
}

func (mon *monitor) run(ctx context.Context) {
	t := time.NewTicker(monitorInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := mon.scan(ctx); err != nil && ctx.Err() == nil {
			mon.n.log.Error("access monitor", "err", err)
		}
		for _, o := range mon.act.rejections(time.Now()) {
			mon.raise(ctx, o)
		}
	}
}

// scan scores the audit events of the blocks committed since the last
// scan.
func (mon *monitor) scan(ctx context.Context) error {
	top := mon.n.store.Height()
	for h := mon.last + 1; h <= top; h++ {
		hdr, err := mon.n.store.Header(h)
		if err != nil {
			return err
		}
		mon.blockT = time.Unix(0, hdr.Header.Time).UTC()
		for i := uint32(0); i < uint32(hdr.Header.TxCount); i++ {
			if err := mon.tx(ctx, h, i); err != nil {
				return err
			}
		}
		mon.last = h
	}
	return nil
}

func (mon *monitor) tx(ctx context.Context, h uint64, i uint32) error {
	// The stored transaction is read in place (an audit batch is tens of
	// kilobytes): nothing below keeps it. Alerts are raised after.
	var (
		opens  []alerts.Open
		events []*aiaccess.Event
	)
	err := mon.n.store.ViewTx(h, i, func(raw []byte) error {
		tx, err := ledger.DecodeTx(raw, ledger.MaxTxBytes)
		if err != nil {
			return err
		}
		txID := tx.ID()              // hashes the whole transaction: once
		if tx.Contract != "alerts" { // its own alerts do not count as activity
			opens = mon.act.observe(tx, txID, mon.blockT)
		}
		if tx.Contract != "audit" {
			return nil
		}
		rb, err := mon.n.store.Result(h, i)
		if err != nil {
			return err
		}
		res, err := ledger.DecodeResult(rb)
		if err != nil || res.Code != ledger.CodeOK {
			return err
		}
		switch tx.Method {
		case "record":
			// Not scorable if not parsed; the contract accepted it, so it
			// is well-formed.
			if e, err := aiaccess.Parse(tx.Payload); err == nil {
				e.ID = txID.String()
				events = []*aiaccess.Event{e}
			}
		case "record_batch":
			if events, err = aiaccess.ParseBatch(tx.Payload); err != nil {
				return err
			}
			for k, e := range events {
				if e != nil {
					e.ID = audit.BatchEventID(txID, k)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, o := range opens {
		mon.raise(ctx, o)
	}
	for _, e := range events {
		if e == nil {
			continue
		}
		s := mon.det.Observe(e)
		if !s.Alert {
			continue
		}
		opens, _ := mon.grp.Add(e, s)
		if !opens {
			continue
		}
		o := alerts.Open{Detector: "access", Events: []string{e.ID}, Score: s.Score, Model: mon.ref, User: userMember(e.User)}
		for r := range s.Reasons {
			if r < len(s.Codes) && len(o.Reasons) < alerts.MaxReasons {
				o.Reasons = append(o.Reasons, alerts.Reason{Code: s.Codes[r], Text: s.Reasons[r]})
			}
		}
		mon.raise(ctx, o)
	}
	return nil
}

// raise records an alert; ledger-activity alerts name their rule set.
func (mon *monitor) raise(ctx context.Context, o alerts.Open) {
	if o.Detector == "ledger" {
		o.Model = mon.actRef
	}
	if err := mon.alert(ctx, o); err != nil {
		mon.n.log.Error("alert not recorded", "detector", o.Detector, "err", err)
	}
}

// ensureRules registers the ledger-activity rule set if it is not on the
// ledger (with the administrator's key, as for the built-in model).
func (n *Node) ensureRules(ctx context.Context) error {
	sha := model.SHA256(ledgerRulesFile)
	if _, ok, err := models.Lookup(n.store, sha); err != nil || ok {
		return err
	}
	params, _ := json.Marshal(map[string]any{"min_per_minute": rateMin, "factor_over_median": rateFactor, "history_minutes": historyMinutes,
		"consent_burst_min": consentBurstMin, "break_glass_per_hour": breakGlassPerHr, "rejected_per_minute": rejectedPerMin})
	reg := models.Register{Name: "ledger-activity", Version: "1", Detector: "ledger", SHA256: sha, Parameters: params,
		TrainingDataSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	return n.registerAsAdmin(ctx, reg)
}

func userMember(u string) string {
	if ledger.ValidMemberID(u) {
		return u
	}
	return ""
}

// nodeDirectory answers the detector's questions from the node's own
// records and ledger: who a member is (roles, and the name and address on
// their Practitioner resource), who a patient is (by pseudonym: name,
// address, VIP or staff security labels), and whether a care relationship
// explains an access. Safe for concurrent use.
type nodeDirectory struct {
	n        *Node
	mu       sync.Mutex
	patients map[string]string // pseudonym → Patient id; guarded by mu
	scanned  time.Time         // last rebuild of patients; guarded by mu
	// Looked-up people, kept for a minute: the detector asks about the
	// same users and patients again and again. Guarded by mu.
	people map[string]cachedPerson
}

type cachedPerson struct {
	at time.Time
	u  aiaccess.User
	p  aiaccess.Patient
	ok bool
}

// cached returns a fresh cache entry for key, or calls load and keeps
// its result.
func (d *nodeDirectory) cached(key string, load func() cachedPerson) cachedPerson {
	d.mu.Lock()
	c, hit := d.people[key]
	d.mu.Unlock()
	if hit && time.Since(c.at) < time.Minute {
		return c
	}
	c = load()
	c.at = time.Now()
	d.mu.Lock()
	if d.people == nil || len(d.people) > 1<<16 {
		d.people = map[string]cachedPerson{}
	}
	d.people[key] = c
	d.mu.Unlock()
	return c
}

func (d *nodeDirectory) User(user string) (aiaccess.User, bool) {
	c := d.cached("u:"+user, func() cachedPerson {
		u, ok := d.user(user)
		return cachedPerson{u: u, ok: ok}
	})
	return c.u, c.ok
}

func (d *nodeDirectory) user(user string) (aiaccess.User, bool) {
	m, ok, err := d.n.machine.Member(d.n.store, user)
	if err != nil || !ok {
		return aiaccess.User{}, false
	}
	u := aiaccess.User{}
	if len(m.Roles) > 0 {
		u.Role = m.Roles[0]
	}
	if typ, id, ok := strings.Cut(m.FHIRUser, "/"); ok && typ == "Practitioner" {
		if _, js, _, err := d.n.fhir.service.Read("Practitioner", id); err == nil {
			u.Family, u.Addr, _ = aiaccess.PractitionerFromJSON(js)
		}
	}
	return u, true
}

func (d *nodeDirectory) Patient(pseudonym string) (aiaccess.Patient, bool) {
	c := d.cached("p:"+pseudonym, func() cachedPerson {
		p, ok := d.patient(pseudonym)
		return cachedPerson{p: p, ok: ok}
	})
	return c.p, c.ok
}

func (d *nodeDirectory) patient(pseudonym string) (aiaccess.Patient, bool) {
	id, ok := d.patientID(pseudonym)
	if !ok {
		return aiaccess.Patient{}, false
	}
	_, js, _, err := d.n.fhir.service.Read("Patient", id)
	if err != nil {
		return aiaccess.Patient{}, false
	}
	p, err := aiaccess.PatientFromJSON(js)
	return p, err == nil
}

// patientID maps a pseudonym back to a Patient id, rebuilding the map
// from the search index at most once every ten seconds on a miss.
func (d *nodeDirectory) patientID(pseudonym string) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id, ok := d.patients[pseudonym]; ok {
		return id, true
	}
	if time.Since(d.scanned) < 10*time.Second {
		return "", false
	}
	d.scanned = time.Now()
	q := url.Values{"_count": {"1000"}, "_sort": {"_id"}}
	for off := 0; ; {
		q.Set("_offset", fmt.Sprint(off))
		res, err := d.n.fhir.index.Search("Patient", q, search.Options{})
		if err != nil || len(res.IDs) == 0 {
			break
		}
		for _, id := range res.IDs {
			d.patients[d.n.fhir.keys.Pseudonym("Patient", id)] = id
		}
		off += len(res.IDs)
		if res.Next == 0 {
			break
		}
	}
	id, ok := d.patients[pseudonym]
	return id, ok
}

func (d *nodeDirectory) Relation(user, pseudonym string, at time.Time) aiaccess.Relation {
	m, ok, err := d.n.machine.Member(d.n.store, user)
	if err != nil || !ok {
		return aiaccess.RelUnknown
	}
	f, err := d.n.fhir.access.Facts(latestState{d.n.store}, pseudonym)
	if err != nil {
		return aiaccess.RelUnknown
	}
	rel := aiaccess.RelNone
	t := at.Unix()
	for _, c := range f.Care {
		within := (c.Start == 0 || t >= c.Start-int64(aiaccess.RelationBefore/time.Second)) &&
			(c.End == 0 || t < c.End+int64(aiaccess.RelationAfter/time.Second))
		if !within {
			continue
		}
		if m.FHIRUser != "" && slices.Contains(c.Practitioners, m.FHIRUser) {
			return aiaccess.RelCare
		}
		rel = aiaccess.RelFacility
	}
	for _, c := range f.Consents {
		if c.Status == "active" {
			for _, p := range c.Provisions {
				for _, a := range p.Actors {
					if a.Value == m.ID || (m.FHIRUser != "" && a.Value == m.FHIRUser) {
						return aiaccess.RelCare
					}
				}
			}
		}
	}
	return rel
}
