// Package audit is the contract that keeps the audit trail: each
// transaction records one FHIR R4 AuditEvent (in the shape of IHE Basic
// Audit Log Patterns) about an access to patient records — a read,
// search, export, write, denied attempt or break-glass — and indexes it
// by patient pseudonym, by member and by time, so that a patient can list
// who looked at their record and an auditor can list everything, each
// event with its inclusion proof.
//
// The contract accepts only the thin AuditEvent shape defined here
// (decoded strictly: any other element is refused), so no free text from
// a request, no name, identifier or birth date can reach the ledger
// through it; patients appear as pseudonyms (pt_...) and resource
// references.
package audit

import (
	"bytes"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the audit contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "audit" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{{
		Name:    "audit.record",
		Doc:     "who may record audit events (request: action, outcome)",
		Default: `signer.active && "system" in signer.roles`,
	}}
}

// Code systems used in events.
const (
	SystemDCM         = "http://dicom.nema.org/resources/ontology/DCM"
	SystemInteraction = "http://hl7.org/fhir/restful-interaction"
	SystemObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	SystemActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SystemMember      = "urn:medledger:member"
	SystemOrg         = "urn:medledger:org"
	SystemPseudonym   = "urn:medledger:pseudonym"
	SystemDecision    = "urn:medledger:access-decision"
)

// Outcome codes (FHIR audit-event-outcome).
const (
	OutcomeSuccess      = "0"
	OutcomeMinorFailure = "4" // denied
	OutcomeSeriousFail  = "8"
)

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept of codings only.
type CodeableConcept struct {
	Coding []Coding `json:"coding"`
}

// Identifier is a FHIR Identifier (system and value only).
type Identifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
}

// Network is an agent's network access point.
type Network struct {
	Address string `json:"address"`
	Type    string `json:"type"` // "2" = IP address
}

// Agent is an actor in the event.
type Agent struct {
	Type      *CodeableConcept  `json:"type,omitempty"`
	Role      []CodeableConcept `json:"role,omitempty"`
	Who       Reference         `json:"who"`
	Requestor bool              `json:"requestor"`
	Network   *Network          `json:"network,omitempty"`
}

// Source is the node that observed the event.
type Source struct {
	Site     string    `json:"site,omitempty"`
	Observer Reference `json:"observer"`
	Type     []Coding  `json:"type,omitempty"`
}

// Detail is a name-value pair on an entity.
type Detail struct {
	Type        string `json:"type"`
	ValueString string `json:"valueString"`
}

// Entity is a patient, a record, or a query the event is about.
type Entity struct {
	What   Reference `json:"what"`
	Type   *Coding   `json:"type,omitempty"`
	Role   *Coding   `json:"role,omitempty"`
	Detail []Detail  `json:"detail,omitempty"`
}

// Event is the payload of audit.record: an AuditEvent without id and meta
// (its id is the recording transaction's hash).
type Event struct {
	ResourceType   string            `json:"resourceType"`
	Type           Coding            `json:"type"`
	Subtype        []Coding          `json:"subtype,omitempty"`
	Action         string            `json:"action"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []CodeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []Agent           `json:"agent"`
	Source         Source            `json:"source"`
	Entity         []Entity          `json:"entity,omitempty"`
}

// Limits.
const (
	MaxEntities    = 1000
	MaxAgents      = 4
	MaxOutcomeDesc = 1024
)

var (
	// The shapes below are checked by hand-written matchers (matchers.go),
	// several times faster than these regular expressions, which document
	// them and which a test compares the matchers against.
	pseudonymRE = regexp.MustCompile(`^pt_[a-z0-9]{16,64}$`)
	refRE       = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}(/[A-Za-z0-9\-.]{1,64}(/_history/[0-9]{1,19})?)?$`)
	codeRE      = regexp.MustCompile(`^[A-Za-z0-9_.\-$]{1,64}$`)
	systemRE    = regexp.MustCompile(`^(https?://|urn:)[A-Za-z0-9:/._\-#]{1,200}$`)
	addrRE      = regexp.MustCompile(`^[0-9a-fA-F:.]{2,45}$`)
	detailRE    = regexp.MustCompile(`^[a-z][a-z\-]{0,31}$`)
)

// PatientPrefix is the prefix (in the audit namespace) of the index of
// events about a patient, newest first.
func PatientPrefix(patient string) string { return "p/" + patient + "/" }

// MemberPrefix is the prefix of the index of events a member asked for.
// Member ids may contain '/', so the id ends with '|', which they may not
// contain: no member's prefix is then a prefix of another's.
func MemberPrefix(member string) string { return "m/" + member + "|" }

// TimePrefix is the prefix of the index of all events, newest first.
const TimePrefix = "t/"

// indexSuffix orders keys newest first: the inverted height, then the tx.
func indexSuffix(height uint64, tx ledger.Hash) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(^height >> (56 - 8*i))
	}
	return hex.EncodeToString(b[:]) + "/" + tx.String()
}

// Patients returns the patient pseudonyms an event is about.
func (e *Event) Patients() []string {
	var out []string
	for _, en := range e.Entity {
		if en.Role != nil && en.Role.Code == "1" && en.What.Identifier != nil && en.What.Identifier.System == SystemPseudonym {
			if !slices.Contains(out, en.What.Identifier.Value) {
				out = append(out, en.What.Identifier.Value)
			}
		}
	}
	return out
}

// Requestor returns the member id of the requesting agent.
func (e *Event) Requestor() string {
	for _, a := range e.Agent {
		if a.Requestor && a.Who.Identifier != nil && a.Who.Identifier.System == SystemMember {
			return a.Who.Identifier.Value
		}
	}
	return ""
}

// Batch is the payload of audit.record_batch: events recorded by one
// transaction, so that a busy node signs and verifies once per batch
// rather than once per access. Each keeps its own id (see BatchEventID)
// and index entries.
type Batch struct {
	Events []Event `json:"events"`
}

// MaxBatch bounds the events of one record_batch.
const MaxBatch = 512

// indexAlone is the value of an index entry for an event recorded alone
// (audit.record): the transaction is the event.
const indexAlone = "*"

// IndexEvents returns the ids of the events an index entry names. key is
// the entry's key (with or without the namespace; its last segment is the
// transaction hash in hex) and value its value: "*" for an event recorded
// alone, else the indexes of the batch's events, comma-separated and
// ascending.
func IndexEvents(key, value []byte) ([]string, error) {
	k := string(key)
	tx, err := ledger.ParseHash(k[strings.LastIndexByte(k, '/')+1:])
	if err != nil {
		return nil, fmt.Errorf("audit index entry: %w", err)
	}
	if string(value) == indexAlone {
		return []string{tx.String()}, nil
	}
	out := make([]string, 0, IndexCount(value))
	for s := range strings.SplitSeq(string(value), ",") {
		i, err := strconv.Atoi(s)
		if err != nil || i < 0 || i >= MaxBatch {
			return nil, errors.New("audit index entry: not a list of event indexes")
		}
		out = append(out, BatchEventID(tx, i))
	}
	return out, nil
}

// IndexCount returns how many events an index entry's value names.
func IndexCount(value []byte) int {
	if len(value) == 0 {
		return 0
	}
	return bytes.Count(value, []byte{','}) + 1
}

// BatchEventID is the id of the i-th event of batch transaction tx: the
// transaction hash in unpadded lower-case base32 (52 characters), "-",
// and i, which fits FHIR's 64-character ids and names the transaction
// whose inclusion proof covers the event. An event recorded alone by
// audit.record has the transaction hash in hex as its id.
func BatchEventID(tx ledger.Hash, i int) string {
	return strings.ToLower(b32.EncodeToString(tx[:])) + "-" + strconv.Itoa(i)
}

// ParseEventID returns the transaction and index an event id names.
func ParseEventID(id string) (tx ledger.Hash, i int, batch bool, err error) {
	if enc, idx, ok := strings.Cut(id, "-"); ok {
		b, err := b32.DecodeString(strings.ToUpper(enc))
		if err != nil || len(b) != len(tx) {
			return tx, 0, false, errors.New("audit: not an event id")
		}
		n, err := strconv.Atoi(idx)
		if err != nil || n < 0 || n >= MaxBatch || strconv.Itoa(n) != idx {
			return tx, 0, false, errors.New("audit: not an event id")
		}
		copy(tx[:], b)
		return tx, n, true, nil
	}
	tx, err = ledger.ParseHash(id)
	return tx, 0, false, err
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	switch method {
	case "record":
		var e Event
		if err := contract.DecodePayload(payload, &e); err != nil {
			return err
		}
		return record(c, []Event{e}, false)
	case "record_batch":
		// Sized from the payload (an event is some 1.2 KB of JSON), so
		// that decoding does not grow the slice by doubling.
		b := Batch{Events: make([]Event, 0, min(MaxBatch, len(payload)/1024+1))}
		if err := contract.DecodePayload(payload, &b); err != nil {
			return err
		}
		if len(b.Events) == 0 || len(b.Events) > MaxBatch {
			return ledger.Errorf(ledger.CodeContract, "a batch holds 1 to %d events, got %d", MaxBatch, len(b.Events))
		}
		return record(c, b.Events, true)
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "audit has no method %q (want record or record_batch)", method)
}

func record(c *contract.Context, events []Event, batch bool) error {
	for i := range events {
		if msg := Check(&events[i]); msg != "" {
			if batch {
				return ledger.Errorf(ledger.CodeContract, "events[%d]: %s", i, msg)
			}
			return ledger.Errorf(ledger.CodeContract, "%s", msg)
		}
	}
	e0 := &events[0]
	if err := c.Allow("audit.record", map[string]any{"action": e0.Action, "outcome": e0.Outcome}, nil); err != nil {
		return err
	}
	// One entry per index and transaction, naming the transaction's
	// events it holds (see IndexEvents): a batch of 60 accesses by one
	// practitioner writes one time and one member entry, not 60 each.
	suffix := indexSuffix(c.Height, c.TxID)
	if !batch {
		e := &events[0]
		c.Set(TimePrefix+suffix, []byte(indexAlone))
		if m := e.Requestor(); m != "" {
			c.Set(MemberPrefix(m)+suffix, []byte(indexAlone))
		}
		for _, p := range e.Patients() {
			c.Set(PatientPrefix(p)+suffix, []byte(indexAlone))
		}
	} else {
		var keys []string // in order of first appearance: deterministic
		lists := map[string][]byte{}
		add := func(k string, i int) {
			l, seen := lists[k]
			if !seen {
				keys = append(keys, k)
			} else {
				l = append(l, ',')
			}
			lists[k] = strconv.AppendInt(l, int64(i), 10)
		}
		tk := TimePrefix + suffix
		for i := range events {
			e := &events[i]
			add(tk, i)
			if m := e.Requestor(); m != "" {
				add(MemberPrefix(m)+suffix, i)
			}
			for _, p := range e.Patients() {
				add(PatientPrefix(p)+suffix, i)
			}
		}
		for _, k := range keys {
			c.Set(k, lists[k])
		}
	}
	if batch {
		c.Emit("audit.recorded", "count", strconv.Itoa(len(events)))
	} else {
		c.Emit("audit.recorded", "action", e0.Action, "outcome", e0.Outcome)
	}
	return nil
}

// Check validates an event's shape and returns "" or what is wrong.
func Check(e *Event) string {
	if e.ResourceType != "AuditEvent" {
		return "resourceType must be AuditEvent"
	}
	if msg := checkCoding(e.Type, "type"); msg != "" {
		return msg
	}
	for _, s := range e.Subtype {
		if msg := checkCoding(s, "subtype"); msg != "" {
			return msg
		}
	}
	switch e.Action {
	case "C", "R", "U", "D", "E":
	default:
		return "action must be C, R, U, D or E"
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Recorded); err != nil {
		return "recorded must be an RFC 3339 instant"
	}
	switch e.Outcome {
	case "0", "4", "8", "12":
	default:
		return "outcome must be 0, 4, 8 or 12"
	}
	if len(e.OutcomeDesc) > MaxOutcomeDesc {
		return "outcomeDesc is too long"
	}
	for _, p := range e.PurposeOfEvent {
		for _, cd := range p.Coding {
			if msg := checkCoding(cd, "purposeOfEvent"); msg != "" {
				return msg
			}
		}
	}
	if len(e.Agent) == 0 || len(e.Agent) > MaxAgents {
		return "an event has 1 to 4 agents"
	}
	requestors := 0
	for _, a := range e.Agent {
		if a.Requestor {
			requestors++
		}
		if msg := checkRef(a.Who, "agent.who"); msg != "" {
			return msg
		}
		if a.Network != nil && (!isAddr(a.Network.Address) || a.Network.Type != "2") {
			return "agent.network must be an IP address (type 2)"
		}
		if a.Type != nil {
			for _, cd := range a.Type.Coding {
				if msg := checkCoding(cd, "agent.type"); msg != "" {
					return msg
				}
			}
		}
		for _, r := range a.Role {
			for _, cd := range r.Coding {
				if msg := checkCoding(cd, "agent.role"); msg != "" {
					return msg
				}
			}
		}
	}
	if requestors != 1 {
		return "exactly one agent must be the requestor"
	}
	if msg := checkRef(e.Source.Observer, "source.observer"); msg != "" {
		return msg
	}
	if e.Source.Site != "" && !isCode(e.Source.Site) {
		return "source.site must be a code"
	}
	for _, cd := range e.Source.Type {
		if msg := checkCoding(cd, "source.type"); msg != "" {
			return msg
		}
	}
	if len(e.Entity) > MaxEntities {
		return "too many entities"
	}
	for _, en := range e.Entity {
		if msg := checkRef(en.What, "entity.what"); msg != "" {
			return msg
		}
		for _, cd := range []*Coding{en.Type, en.Role} {
			if cd != nil {
				if msg := checkCoding(*cd, "entity"); msg != "" {
					return msg
				}
			}
		}
		for _, d := range en.Detail {
			if !isDetail(d.Type) || len(d.ValueString) > 256 || !isCode(d.ValueString) {
				return "entity.detail must be a code-valued pair"
			}
		}
	}
	return ""
}

func checkCoding(c Coding, where string) string {
	if !isCode(c.Code) || (c.System != "" && !isSystem(c.System)) || len(c.Display) > 64 || !displayOK(c.Display) {
		return where + " must be a coding (system, code, short display)"
	}
	return ""
}

// displays are the only displays an event may carry: the fixed ones of
// the codes the node writes. Free text (a name typed as a display) is
// refused.
var displays = map[string]bool{
	"": true, "RESTful Operation": true, "Person": true, "System Object": true, "Patient": true,
	"Domain Resource": true, "Application Server": true, "information recipient": true,
}

func displayOK(s string) bool { return displays[s] }

func checkRef(r Reference, where string) string {
	if r.Reference == "" && r.Identifier == nil {
		return where + " needs a reference or an identifier"
	}
	if r.Reference != "" && !isRef(r.Reference) {
		return where + ".reference must be Type/id"
	}
	if id := r.Identifier; id != nil {
		switch id.System {
		case SystemMember:
			if !ledger.ValidMemberID(id.Value) {
				return where + ".identifier must be a member id"
			}
		case SystemOrg:
			if !isCode(id.Value) {
				return where + ".identifier must be an organisation id"
			}
		case SystemPseudonym:
			if !isPseudonym(id.Value) {
				return where + ".identifier must be a pseudonym pt_..."
			}
		default:
			return where + ".identifier system must be a member, org or pseudonym system"
		}
	}
	return ""
}

// Decode strictly decodes an event payload.
func Decode(payload []byte) (*Event, error) {
	var e Event
	if err := contract.DecodePayload(payload, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// Marshal encodes an event as its payload.
func Marshal(e *Event) ([]byte, error) { return json.Marshal(e) }
