package web

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/api/fhirapi"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/ledger"
)

// proofView is a transaction's inclusion proof, checked here with the
// public client package against the genesis validator keys.
type proofView struct {
	Verified  bool
	Error     string
	Tx        string
	Height    uint64
	Index     uint32
	LeafIndex uint64
	TreeSize  uint64
	Root      string
	Hashes    []string
	HeadTime  time.Time
	HeadAt    uint64 // height of the tree head the proof is against
	SignedBy  string
	Contract  string
	Method    string
	Signer    string
}

// checkProof verifies a TxAnswer (JSON, as the ledger API's GET
// /v1/tx/{hash} answers it) for transaction want (hex; "" to take the
// answer's own hash, whose raw transaction must then hash to it).
func (s *Server) checkProof(answer, want string) *proofView {
	var ans apitype.TxAnswer
	if err := json.Unmarshal([]byte(answer), &ans); err != nil {
		return &proofView{Error: "the proof could not be read"}
	}
	return s.verifyAnswer(ans, want)
}

func (s *Server) verifyAnswer(ans apitype.TxAnswer, want string) *proofView {
	pv := &proofView{Tx: ans.Hash.String(), Height: ans.Receipt.Height, Index: ans.Receipt.Index, LeafIndex: ans.Proof.LeafIndex, TreeSize: ans.Proof.TreeSize,
		Root: ans.TreeHead.RootHash.String(), HeadTime: ans.TreeHead.Time, HeadAt: ans.TreeHead.Height, SignedBy: ans.TreeHead.KeyID,
		Contract: ans.Tx.Contract, Method: ans.Tx.Method, Signer: ans.Tx.Signer}
	for _, h := range ans.Proof.Hashes {
		pv.Hashes = append(pv.Hashes, h.String())
	}
	id := ans.Hash
	if want != "" {
		h, err := ledger.ParseHash(want)
		if err != nil {
			pv.Error = "the transaction id is not a hash"
			return pv
		}
		id = h
	}
	if _, err := client.VerifyTx(ans, id, s.deps.ChainID, s.deps.Validators); err != nil {
		pv.Error = strings.TrimPrefix(err.Error(), client.ErrVerify.Error()+": ")
		return pv
	}
	pv.Verified = true
	return pv
}

// eventView is an AuditEvent as the dashboard shows it.
type eventView struct {
	ID         string
	When       time.Time
	Who        string
	Org        string
	Roles      []string
	Action     string
	What       []string // the records touched (at most 200)
	Summary    string   // What, counted by type
	Purpose    string
	Allowed    bool
	Outcome    string
	Reason     string
	Rule       string
	Consent    string
	Care       string
	BreakGlass bool
	Patients   []string
	Address    string
	Proof      *proofView
}

var actions = map[string]string{
	"read": "read", "vread": "read a version", "history-instance": "read the history", "search-type": "searched",
	"create": "created", "update": "changed", "delete": "deleted",
}

// eventOf renders an AuditEvent resource of the FHIR API, checking the
// inclusion proof it carries (meta.extension).
func (s *Server) eventOf(r obj) eventView {
	ev := eventView{ID: r.str("id"), Outcome: r.str("outcome"), Reason: r.str("outcomeDesc")}
	ev.Allowed = ev.Outcome == audit.OutcomeSuccess
	ev.When, _ = time.Parse(time.RFC3339Nano, r.str("recorded"))
	for _, a := range r.list("agent") {
		sys, val := a.str("who.identifier.system"), a.str("who.identifier.value")
		switch {
		case a.get("requestor") == true && sys == audit.SystemMember:
			ev.Who = val
			for _, role := range a.list("role") {
				ev.Roles = append(ev.Roles, role.str("coding.code"))
			}
			ev.Address = a.str("network.address")
		case sys == audit.SystemOrg:
			ev.Org = val
		}
	}
	var op string
	for _, st := range r.list("subtype") {
		switch st.str("system") {
		case audit.SystemInteraction:
			ev.Action = actions[st.str("code")]
			if ev.Action == "" {
				ev.Action = st.str("code")
			}
		case "urn:medledger:operation":
			op = st.str("code")
		}
	}
	if op != "" {
		switch ev.Action = strings.TrimPrefix(op, "$"); ev.Action {
		case "break-glass":
			ev.Action = "declared an emergency (break-glass)"
		case "everything":
			ev.Action = "opened the whole record"
		case "export":
			ev.Action = "exported (bulk data)"
		}
	}
	ev.Purpose = purposeLabel(r.str("purposeOfEvent.coding.code"))
	for _, en := range r.list("entity") {
		if en.str("what.identifier.system") == audit.SystemPseudonym {
			ev.Patients = append(ev.Patients, en.str("what.identifier.value"))
			continue
		}
		if ref := en.str("what.reference"); ref != "" && len(ev.What) < 200 {
			ev.What = append(ev.What, ref)
		}
		for _, d := range en.list("detail") {
			switch d.str("type") {
			case "decision-rule":
				ev.Rule = d.str("valueString")
			case "break-glass":
				ev.BreakGlass = d.str("valueString") == "true"
			case "consent":
				ev.Consent = strings.Replace(d.str("valueString"), ".", "/", 1)
			case "care-relationship":
				ev.Care = strings.Replace(d.str("valueString"), ".", "/", 1)
			}
		}
	}
	ev.Summary = summarizeRefs(ev.What)
	if r.str("purposeOfEvent.coding.code") == "ETREAT" {
		ev.BreakGlass = true
	}
	for _, ext := range r.list("meta.extension") {
		if ext.str("url") == fhirapi.ProofExtension {
			tx := ""
			if h, _, _, err := audit.ParseEventID(ev.ID); err == nil {
				tx = h.String()
			}
			ev.Proof = s.checkProof(ext.str("valueString"), tx)
		}
	}
	return ev
}

// summarizeRefs counts references by type, in first-seen order: "Patient,
// 3 Conditions, 1 Encounter".
func summarizeRefs(refs []string) string {
	var order []string
	n := map[string]int{}
	for _, r := range refs {
		t, _, _ := strings.Cut(r, "/")
		if n[t] == 0 {
			order = append(order, t)
		}
		n[t]++
	}
	parts := make([]string, 0, len(order))
	for _, t := range order {
		switch {
		case n[t] == 1:
			parts = append(parts, t)
		default:
			parts = append(parts, strconv.Itoa(n[t])+" × "+t)
		}
	}
	return strings.Join(parts, ", ")
}
