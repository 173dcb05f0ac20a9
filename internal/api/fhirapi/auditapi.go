package fhirapi

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/medledger/medledger/internal/access"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/fhir/search"
	"github.com/medledger/medledger/internal/ledger"
)

// ProofExtension is the URL of the extension that carries an AuditEvent's
// inclusion proof (JSON: the tx answer of GET /v1/tx/{hash}).
const ProofExtension = "urn:medledger:inclusion-proof"

// auditEvent renders the AuditEvent with the given id (see
// audit.ParseEventID), with the inclusion proof of the transaction that
// recorded it.
func (s *Server) auditEvent(id string) (map[string]any, *audit.Event, bool) {
	tx, idx, batch, err := audit.ParseEventID(id)
	if err != nil {
		return nil, nil, false
	}
	ans, err := s.deps.Proof(tx)
	if err != nil || ans.Tx.Contract != "audit" || ans.Receipt.Result.Code != ledger.CodeOK {
		return nil, nil, false
	}
	payload, err := base64.StdEncoding.DecodeString(ans.Tx.Payload)
	if err != nil {
		return nil, nil, false
	}
	if batch != (ans.Tx.Method == "record_batch") {
		return nil, nil, false
	}
	if batch {
		var b struct {
			Events []json.RawMessage `json:"events"`
		}
		if json.Unmarshal(payload, &b) != nil || idx >= len(b.Events) {
			return nil, nil, false
		}
		payload = b.Events[idx]
	}
	ev, err := audit.Decode(payload)
	if err != nil {
		return nil, nil, false
	}
	var m map[string]any
	if json.Unmarshal(payload, &m) != nil {
		return nil, nil, false
	}
	proof, _ := json.Marshal(ans)
	m["id"] = id
	m["meta"] = map[string]any{
		"versionId": "1",
		"extension": []any{map[string]any{"url": ProofExtension, "valueString": string(proof)}},
	}
	return m, ev, true
}

// readAuditEvent answers GET /fhir/AuditEvent/{id}: auditors, and the
// patients the event is about.
func (s *Server) readAuditEvent(w http.ResponseWriter, r *http.Request) {
	g, ok := s.scope(w, r, access.Read, "AuditEvent")
	if !ok {
		return
	}
	id := r.PathValue("id")
	m, ev, found := s.auditEvent(id)
	if !found {
		s.gate(w, r, g, "AuditEvent/"+id, "", false)
		if g.c == nil {
			s.fail(w, r, notFound())
		}
		return
	}
	patient := ""
	if ps := ev.Patients(); len(ps) > 0 {
		patient = ps[0]
	}
	if !s.gate(w, r, g, "AuditEvent/"+id, patient, true) {
		return
	}
	s.onlyTheirs(g.c, m)
	writeJSON(w, http.StatusOK, m)
}

// searchAuditEvents answers GET /fhir/AuditEvent with patient (a patient
// lists who looked at their record; auditors any patient's), agent (a
// member id; auditors) or neither (auditors: everything), newest first,
// _count and _offset paging.
func (s *Server) searchAuditEvents(w http.ResponseWriter, r *http.Request) {
	g, ok := s.scope(w, r, access.Search, "AuditEvent")
	if !ok {
		return
	}
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "patient", "agent", "_count", "_offset", "_format":
		default:
			s.fail(w, r, outcome(http.StatusBadRequest, "not-supported", "", "AuditEvent searches take patient, agent, _count and _offset"))
			return
		}
	}
	count, e := intParam(q, "_count", search.DefaultCount)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	count = min(count, search.MaxCount)
	offset, e := intParam(q, "_offset", 0)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	prefix, patient := audit.TimePrefix, ""
	switch {
	case q.Get("patient") != "":
		pid := strings.TrimPrefix(q.Get("patient"), "Patient/")
		if s.deps.Auth != nil {
			patient = s.deps.Auth.Pseudonym(pid)
		} else {
			patient = pid
		}
		prefix = audit.PatientPrefix(patient)
	case q.Get("agent") != "":
		agent := q.Get("agent")
		if !ledger.ValidMemberID(agent) {
			s.fail(w, r, outcome(http.StatusBadRequest, "invalid", "", "agent must be a member id such as st-mary/dr-jones"))
			return
		}
		prefix = audit.MemberPrefix(agent)
	}
	if g.c != nil {
		// A patient-scoped listing is decided for that patient (the
		// patient themself, or an auditor); the others need the audit rule.
		d := s.decider(g).decide(patient)
		if !d.Allow {
			s.record(r, g.c, access.Search, "AuditEvent", nil, []string{patient}, d, audit.OutcomeMinorFailure)
			s.fail(w, r, outcome(http.StatusForbidden, "forbidden", "", "you may list the audit events about yourself (patient=your id); auditors may list all"))
			return
		}
	}
	var ids []string
	total := 0
	var st interface {
		Scan([]byte, func(k, v []byte) bool) error
	}
	if s.deps.Auth != nil {
		st = s.deps.Auth.State()
	} else if s.deps.Ledger != nil {
		st = s.deps.Ledger
	}
	if st != nil {
		var bad error
		err := st.Scan([]byte("audit/"+prefix), func(k, v []byte) bool {
			// An entry names one or more events of its transaction.
			n := audit.IndexCount(v)
			if total+n > offset && len(ids) < count {
				evs, err := audit.IndexEvents(k, v)
				if err != nil {
					bad = err
					return false
				}
				for j, id := range evs {
					if total+j >= offset && len(ids) < count {
						ids = append(ids, id)
					}
				}
			}
			total += n
			return true
		})
		if err == nil {
			err = bad
		}
		if err != nil {
			s.fail(w, r, s.classify(err))
			return
		}
	}
	b := base(r)
	var entries []any
	var refs []string
	for _, id := range ids {
		m, _, ok := s.auditEvent(id)
		if !ok {
			continue
		}
		s.onlyTheirs(g.c, m)
		entries = append(entries, map[string]any{"fullUrl": b + "/AuditEvent/" + id, "resource": m, "search": map[string]any{"mode": "match"}})
		refs = append(refs, "AuditEvent/"+id)
	}
	if g.c != nil {
		d := s.decider(g).decide(patient)
		if s.record(r, g.c, access.Search, "AuditEvent", refs, []string{patient}, d, audit.OutcomeSuccess) != nil {
			s.fail(w, r, auditFailed())
			return
		}
	}
	links := []any{map[string]any{"relation": "self", "url": b + "/AuditEvent?" + q.Encode()}}
	if offset+count < total {
		nq := q
		nq.Set("_offset", strconv.Itoa(offset+count))
		links = append(links, map[string]any{"relation": "next", "url": b + "/AuditEvent?" + nq.Encode()})
	}
	bundle := map[string]any{"resourceType": "Bundle", "type": "searchset", "total": total, "link": links}
	if entries != nil {
		bundle["entry"] = entries
	}
	writeJSON(w, http.StatusOK, bundle)
}

// onlyTheirs trims an AuditEvent shown to a patient to what concerns
// them: an access that touched several patients' records (a search)
// must not tell one patient who the others are. Entities naming another
// patient, or a record of another patient, are removed. Auditors and
// everyone else see the event whole.
func (s *Server) onlyTheirs(c *caller, ev map[string]any) {
	if c == nil || c.actor.Patient == "" {
		return
	}
	ents, _ := ev["entity"].([]any)
	kept := ents[:0:0]
	for _, e := range ents {
		em, _ := e.(map[string]any)
		what, _ := em["what"].(map[string]any)
		if id, _ := what["identifier"].(map[string]any); id != nil {
			if v, _ := id["value"].(string); v != c.actor.Patient {
				continue
			}
		}
		if ref, _ := what["reference"].(string); ref != "" {
			typ, rest, ok := strings.Cut(ref, "/")
			if ok {
				rid, _, _ := strings.Cut(rest, "/")
				if p, found := s.headPatient(typ, rid); !found || p != c.actor.Patient {
					continue
				}
			}
		}
		kept = append(kept, e)
	}
	ev["entity"] = kept
}
