package records

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/ledger"
)

// Ledger is what the write path needs of the node: submit a signed
// transaction and read ledger state. *node.Node provides it.
type Ledger interface {
	Submit(ctx context.Context, raw []byte) (ledger.Receipt, error)
	Get(key []byte) ([]byte, bool, error)
}

// Anchorer signs a records.write transaction for the node's service
// identity.
type Anchorer func(w records.Write) ([]byte, error)

// Config wires a Service.
type Config struct {
	Store *Store
	// Ledger commits anchors and reads their state.
	Ledger Ledger
	// Anchor builds the signed anchoring transaction.
	Anchor Anchorer
	// Pseudonym maps a patient id to its ledger pseudonym ("pt_...").
	Pseudonym func(kind, id string) string
	// Validate checks a resource; nil issues means valid.
	Validate func(*fhir.Resource) []fhir.Issue
	// Org is this node's organisation: the key subject of resources that
	// belong to no patient.
	Org string
	// Now is the clock for meta.lastUpdated; default time.Now.
	Now func() time.Time
	// Index, if set, is kept up to date with every anchored write.
	Index Indexer
}

// Indexer is a search index over the latest versions (*search.Index).
type Indexer interface {
	Put(typ, id string, version uint64, lastUpdated time.Time, tree map[string]any)
	Delete(typ, id string)
}

// Service is the FHIR record write and read path. Safe for concurrent use.
type Service struct {
	cfg     Config
	locks   [256]sync.Mutex // striped by type/id: serialises versions of one resource
	anchors *anchorCache
}

// NewService returns a Service.
func NewService(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{cfg: cfg, anchors: newAnchorCache(1 << 17)}
}

// Errors the service returns (wrapped), for the API to map to statuses.
var (
	ErrInvalid  = errors.New("records: invalid resource") // 422 (with Issues)
	ErrConflict = errors.New("records: version conflict") // 412 (If-Match) or 409
	ErrGone     = errors.New("records: resource deleted") // 410
	ErrExists   = errors.New("records: resource exists")  // 409 on create with a taken id
)

// InvalidError carries validation issues.
type InvalidError struct{ Issues []fhir.Issue }

func (e *InvalidError) Error() string {
	return fmt.Sprintf("records: %d validation issues", len(e.Issues))
}
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Written is the outcome of a write.
type Written struct {
	Meta   Meta
	JSON   []byte // canonical JSON as stored (nil for a delete)
	Hash   string
	Tx     ledger.Hash
	Height uint64
}

func (s *Service) lock(typ, id string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(typ))
	h.Write([]byte{0})
	h.Write([]byte(id))
	return &s.locks[h.Sum32()%uint32(len(s.locks))]
}

// NewID returns a server-assigned resource id (a random UUID).
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Head returns the anchored head of a resource from the ledger.
func (s *Service) Head(typ, id string) (*records.Head, error) {
	raw, ok, err := s.cfg.Ledger.Get([]byte("records/" + records.HeadKey(typ, id)))
	if err != nil || !ok {
		return nil, err
	}
	var h records.Head
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// HeadPatient returns the patient pseudonym of a resource's head, and
// whether the resource was ever written, without decoding the whole head:
// the search filter asks it of every match.
func (s *Service) HeadPatient(typ, id string) (string, bool, error) {
	raw, ok, err := s.cfg.Ledger.Get([]byte("records/" + records.HeadKey(typ, id)))
	if err != nil || !ok {
		return "", false, err
	}
	// Heads are written by the records contract (json.Marshal of Head):
	// the patient, when there is one, is the only "patient" member, and a
	// pseudonym holds no quote or escape.
	const field = `"patient":"`
	i := bytes.Index(raw, []byte(field))
	if i < 0 {
		return "", true, nil
	}
	rest := raw[i+len(field):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		h, err := s.Head(typ, id) // not what the contract writes: decode it
		if err != nil || h == nil {
			return "", h != nil, err
		}
		return h.Patient, true, nil
	}
	return string(rest[:j]), true, nil
}

// Anchor returns the ledger anchor of one version.
func (s *Service) Anchor(typ, id string, v uint64) (*records.Version, error) {
	key := "records/" + records.VersionKey(typ, id, v)
	if a, ok := s.anchors.get(key); ok {
		cp := *a
		return &cp, nil
	}
	raw, ok, err := s.cfg.Ledger.Get([]byte(key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	var a records.Version
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, err
	}
	cp := a
	s.anchors.put(key, &cp)
	return &a, nil
}

// PatientPseudonym returns the ledger pseudonym of the patient a resource
// belongs to (see PatientOf), "" if none.
func (s *Service) PatientPseudonym(r *fhir.Resource) string {
	_, p := s.subject(r)
	return p
}

// subject returns the key subject and ledger pseudonym of a resource.
func (s *Service) subject(r *fhir.Resource) (subject, patient string) {
	pid := PatientOf(r)
	if pid == "" {
		return "org:" + s.cfg.Org, ""
	}
	p := s.cfg.Pseudonym("Patient", pid)
	return p, p
}

// PatientOf returns the id of the patient a resource belongs to: itself
// for a Patient, else its subject or patient reference if that is a
// Patient; "" if none.
func PatientOf(r *fhir.Resource) string {
	if r.Type == "Patient" {
		return r.ID
	}
	for _, f := range []string{"subject", "patient"} {
		ref, _ := r.Tree[f].(map[string]any)
		if id := patientRef(ref); id != "" {
			return id
		}
	}
	if r.Type == "Provenance" {
		// A Provenance about a patient's record belongs to the patient
		// its first Patient target names.
		targets, _ := r.Tree["target"].([]any)
		for _, t := range targets {
			ref, _ := t.(map[string]any)
			if id := patientRef(ref); id != "" {
				return id
			}
		}
	}
	return ""
}

// patientRef returns the Patient id a Reference names, in any of the
// forms a search would also take as that patient: Patient/id, with a
// /_history/v suffix, or an absolute URL ending so. "" otherwise.
func patientRef(ref map[string]any) string {
	s, _ := ref["reference"].(string)
	if s == "" {
		return ""
	}
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, "/")
	if len(parts) < 2 || parts[len(parts)-2] != "Patient" {
		return ""
	}
	id := parts[len(parts)-1]
	if id == "" || strings.ContainsAny(id, "?#") {
		return ""
	}
	return id
}

// prepare stamps meta, validates, and computes the canonical form.
func (s *Service) prepare(r *fhir.Resource, version uint64, now time.Time) ([]byte, string, error) {
	meta, _ := r.Tree["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = fmt.Sprint(version)
	meta["lastUpdated"] = now.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r.Tree["meta"] = meta
	r.Tree["id"] = r.ID
	if s.cfg.Validate != nil {
		if issues := s.cfg.Validate(r); len(issues) > 0 {
			return nil, "", &InvalidError{Issues: issues}
		}
	}
	js, err := fhir.Canonical(r.Tree)
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(js)
	return js, hex.EncodeToString(sum[:]), nil
}

// Op is one write of a batch.
type Op struct {
	Kind     string // records.OpCreate, OpUpdate, OpDelete
	Resource *fhir.Resource
	Type, ID string // for deletes
	// IfMatch, if non-zero, is the version the client expects to replace.
	IfMatch uint64
}

// Apply runs writes atomically: all are validated, encrypted, written and
// anchored in one ledger transaction, or none is. author is the
// authenticated actor recorded on the ledger.
func (s *Service) Apply(ctx context.Context, author string, ops []Op) ([]Written, error) {
	// Lock every resource touched, in a fixed order (stripe index).
	stripes := map[*sync.Mutex]bool{}
	for i := range ops {
		typ, id := ops[i].Type, ops[i].ID
		if ops[i].Resource != nil {
			typ, id = ops[i].Resource.Type, ops[i].Resource.ID
		}
		stripes[s.lock(typ, id)] = true
	}
	var order []*sync.Mutex
	for i := range s.locks {
		if stripes[&s.locks[i]] {
			order = append(order, &s.locks[i])
		}
	}
	for _, m := range order {
		m.Lock()
	}
	defer func() {
		for _, m := range order {
			m.Unlock()
		}
	}()

	now := s.cfg.Now().UTC().Truncate(time.Millisecond)
	var (
		vs      []Version
		anchors []records.Anchor
		out     []Written
		issues  []fhir.Issue
	)
	seen := map[string]uint64{} // versions assigned in this batch
	for i, op := range ops {
		typ, id := op.Type, op.ID
		if op.Resource != nil {
			typ, id = op.Resource.Type, op.Resource.ID
		}
		k := typ + "/" + id
		var cur uint64
		var deleted bool
		var head *records.Head
		if v, ok := seen[k]; ok {
			cur = v
		} else {
			h, err := s.Head(typ, id)
			if err != nil {
				return nil, err
			}
			if h != nil {
				cur, deleted, head = h.Version, h.Deleted, h
			}
		}
		switch op.Kind {
		case records.OpCreate:
			if cur != 0 && !deleted {
				return nil, fmt.Errorf("%s: %w", k, ErrExists)
			}
		case records.OpUpdate:
			if op.IfMatch != 0 && op.IfMatch != cur {
				return nil, fmt.Errorf("%s is at version %d, If-Match names %d: %w", k, cur, op.IfMatch, ErrConflict)
			}
			if cur == 0 || deleted {
				op.Kind = records.OpCreate // update-as-create (FHIR allows client-assigned ids on PUT)
			}
		case records.OpDelete:
			if cur == 0 {
				return nil, fmt.Errorf("%s: %w", k, ErrNotFound)
			}
			if deleted {
				out = append(out, Written{Meta: Meta{Type: typ, ID: id, Version: cur, Deleted: true}})
				continue // deleting a deleted resource changes nothing (FHIR: 200/204)
			}
		}
		v := cur + 1
		seen[k] = v
		w := Written{Meta: Meta{Type: typ, ID: id, Version: v, LastUpdated: now}}
		a := records.Anchor{Type: typ, ID: id, Version: v, Op: op.Kind, Author: author}
		if op.Kind == records.OpDelete {
			w.Meta.Deleted = true
			if head != nil && head.Patient != "" {
				w.Meta.Subject, a.Patient = head.Patient, head.Patient
			} else {
				w.Meta.Subject = "org:" + s.cfg.Org
			}
		} else {
			js, hash, err := s.prepare(op.Resource, v, now)
			var ie *InvalidError
			if errors.As(err, &ie) {
				for _, is := range ie.Issues {
					if len(ops) > 1 {
						is.Diagnostics = fmt.Sprintf("entry %d: %s", i, is.Diagnostics)
					}
					issues = append(issues, is)
				}
				continue
			}
			if err != nil {
				return nil, err
			}
			w.Meta.Subject, a.Patient = s.subject(op.Resource)
			w.JSON, w.Hash, a.Hash = js, hash, hash
		}
		vs = append(vs, Version{Meta: w.Meta, JSON: w.JSON})
		anchors = append(anchors, a)
		out = append(out, w)
	}
	if len(issues) > 0 {
		return nil, &InvalidError{Issues: issues}
	}
	if len(anchors) == 0 {
		return out, nil
	}
	// A stored version above the anchored head belongs to an earlier write
	// whose outcome is unknown (a timeout): its anchor may still commit.
	// Replacing it would leave that anchor naming content no longer stored,
	// so refuse until it commits or Sweep removes it at the next start.
	for _, v := range vs {
		ok, err := s.cfg.Store.has(v.Meta.Type, v.Meta.ID, v.Meta.Version)
		if err != nil {
			return nil, err
		}
		if ok {
			return nil, fmt.Errorf("%s/%s/_history/%d is stored but not yet anchored by an earlier write: %w", v.Meta.Type, v.Meta.ID, v.Meta.Version, ErrConflict)
		}
	}
	if err := s.cfg.Store.Put(vs); err != nil {
		return nil, err
	}
	raw, err := s.cfg.Anchor(records.Write{Anchors: anchors})
	if err != nil {
		return nil, err
	}
	rc, err := s.cfg.Ledger.Submit(ctx, raw)
	if err == nil && rc.Result.Code != ledger.CodeOK {
		err = &ledger.Error{Code: rc.Result.Code, Msg: rc.Result.Message}
	}
	if err != nil {
		// Refused for good: the stored versions are orphans; remove them.
		// If the outcome is unknown (a timeout, a stopping node) the anchor
		// may still commit, so leave them for Sweep to decide at start.
		var le *ledger.Error
		if errors.As(err, &le) && le.Code != ledger.CodeUnavailable {
			s.cfg.Store.Remove(metas(vs))
		}
		return nil, fmt.Errorf("anchoring on the ledger: %w", err)
	}
	for i := range out {
		out[i].Tx, out[i].Height = rc.TxHash, rc.Height
	}
	if ix := s.cfg.Index; ix != nil {
		trees := map[string]map[string]any{}
		for _, op := range ops {
			if op.Resource != nil {
				trees[op.Resource.Type+"/"+op.Resource.ID] = op.Resource.Tree
			}
		}
		for _, w := range out {
			if w.Meta.Deleted {
				ix.Delete(w.Meta.Type, w.Meta.ID)
			} else if t := trees[w.Meta.Type+"/"+w.Meta.ID]; t != nil {
				ix.Put(w.Meta.Type, w.Meta.ID, w.Meta.Version, w.Meta.LastUpdated, t)
			}
		}
	}
	return out, nil
}

// Rebuild loads the latest anchored version of every resource into the
// index (the index lives in memory only, so no personal data is ever
// written to disk unencrypted). Versions whose key was shredded are
// skipped. It returns how many resources were indexed.
func (s *Service) Rebuild() (int, error) {
	ix := s.cfg.Index
	if ix == nil {
		return 0, nil
	}
	type latest struct {
		m  Meta
		js []byte
	}
	var cur *latest
	n := 0
	flush := func() error {
		if cur == nil {
			return nil
		}
		c := cur
		cur = nil
		h, err := s.Head(c.m.Type, c.m.ID)
		if err != nil {
			return err
		}
		if h == nil || h.Deleted {
			return nil
		}
		if h.Version != c.m.Version {
			// The newest stored version is not the anchored head (an orphan
			// not yet swept): index the anchored one.
			m, js, err := s.cfg.Store.Get(c.m.Type, c.m.ID, h.Version)
			if err != nil || js == nil {
				return nil
			}
			c = &latest{m: m, js: js}
		}
		if c.js == nil {
			return nil // shredded or unreadable: not searchable
		}
		r, err := fhir.Parse(c.js)
		if err != nil {
			return fmt.Errorf("rebuild index: %s/%s: %w", c.m.Type, c.m.ID, err)
		}
		ix.Put(c.m.Type, c.m.ID, c.m.Version, c.m.LastUpdated, r.Tree)
		n++
		return nil
	}
	err := s.cfg.Store.Each(func(m Meta, js []byte, openErr error) error {
		if cur != nil && (cur.m.Type != m.Type || cur.m.ID != m.ID) {
			if err := flush(); err != nil {
				return err
			}
		}
		if openErr != nil {
			js = nil // shredded or unreadable: not searchable
		}
		cur = &latest{m: m, js: js}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, flush()
}

func metas(vs []Version) []Meta {
	out := make([]Meta, len(vs))
	for i, v := range vs {
		out[i] = v.Meta
	}
	return out
}

// Read returns the latest anchored version of a resource. A deleted
// resource returns its delete marker with ErrGone.
func (s *Service) Read(typ, id string) (Meta, []byte, *records.Version, error) {
	h, err := s.Head(typ, id)
	if err != nil {
		return Meta{}, nil, nil, err
	}
	if h == nil {
		return Meta{}, nil, nil, fmt.Errorf("%s/%s: %w", typ, id, ErrNotFound)
	}
	return s.vread(typ, id, h.Version)
}

// VRead returns one anchored version.
func (s *Service) VRead(typ, id string, v uint64) (Meta, []byte, *records.Version, error) {
	h, err := s.Head(typ, id)
	if err != nil {
		return Meta{}, nil, nil, err
	}
	if h == nil || v == 0 || v > h.Version {
		return Meta{}, nil, nil, fmt.Errorf("%s/%s/_history/%d: %w", typ, id, v, ErrNotFound)
	}
	return s.vread(typ, id, v)
}

// vread reads version v, known to be anchored.
func (s *Service) vread(typ, id string, v uint64) (Meta, []byte, *records.Version, error) {
	m, js, err := s.cfg.Store.Get(typ, id, v)
	if err != nil {
		return m, nil, nil, err
	}
	a, err := s.Anchor(typ, id, v)
	if err != nil {
		return m, nil, nil, err
	}
	if m.Deleted {
		return m, nil, a, fmt.Errorf("%s/%s: %w", typ, id, ErrGone)
	}
	return m, js, a, nil
}

// Stored returns one stored version without consulting the ledger: for
// callers that already know the version is anchored (the search index only
// ever holds anchored versions).
func (s *Service) Stored(typ, id string, v uint64) (Meta, []byte, error) {
	m, js, err := s.cfg.Store.Get(typ, id, v)
	if err == nil && m.Deleted {
		return m, nil, fmt.Errorf("%s/%s: %w", typ, id, ErrGone)
	}
	return m, js, err
}

// History returns the anchored versions of a resource, newest first.
func (s *Service) History(typ, id string) ([]Meta, error) {
	h, err := s.Head(typ, id)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, fmt.Errorf("%s/%s: %w", typ, id, ErrNotFound)
	}
	ms, err := s.cfg.Store.Versions(typ, id)
	if err != nil {
		return nil, err
	}
	var out []Meta
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Version <= h.Version {
			out = append(out, ms[i])
		}
	}
	return out, nil
}

// TypeHistory returns the anchored versions of every resource of a type
// changed at or after since (zero: all), newest first, at most count.
func (s *Service) TypeHistory(typ string, since time.Time, count int) ([]Meta, int, error) {
	ms, err := s.cfg.Store.TypeVersions(typ)
	if err != nil {
		return nil, 0, err
	}
	heads := map[string]uint64{}
	var out []Meta
	for _, m := range ms {
		if !since.IsZero() && m.LastUpdated.Before(since) {
			continue
		}
		top, ok := heads[m.ID]
		if !ok {
			h, err := s.Head(typ, m.ID)
			if err != nil {
				return nil, 0, err
			}
			if h != nil {
				top = h.Version
			}
			heads[m.ID] = top
		}
		if m.Version <= top {
			out = append(out, m)
		}
	}
	// Versions written in the same millisecond (one transaction, or a busy
	// node) tie on time: break ties by id, as before, then put the later
	// version of a resource first, since it is the newer.
	slices.SortStableFunc(out, func(a, b Meta) int {
		return cmp.Or(b.LastUpdated.Compare(a.LastUpdated), strings.Compare(a.ID, b.ID), cmp.Compare(b.Version, a.Version))
	})
	total := len(out)
	if count > 0 && len(out) > count {
		out = out[:count]
	}
	return out, total, nil
}

// Sweep removes stored versions that the ledger never anchored (a crash
// between the durable write and the anchor). Run it at start, before
// serving.
func (s *Service) Sweep() (int, error) {
	var orphans []Meta
	heads := map[string]uint64{}
	err := s.cfg.Store.Each(func(m Meta, _ []byte, _ error) error {
		k := m.Type + "/" + m.ID
		top, ok := heads[k]
		if !ok {
			h, err := s.Head(m.Type, m.ID)
			if err != nil {
				return err
			}
			if h != nil {
				top = h.Version
			}
			heads[k] = top
		}
		if m.Version > top {
			orphans = append(orphans, m)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	return len(orphans), s.cfg.Store.Remove(orphans)
}

// HashOf returns the SHA-256 (hex) of canonical JSON, as anchored.
func HashOf(js []byte) string {
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:])
}
