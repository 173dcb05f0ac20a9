package access

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
)

// Interaction is what an access did, from AuditEvent.subtype (codes of
// http://hl7.org/fhir/restful-interaction) or, failing that, .action.
type Interaction uint8

// Interactions.
const (
	OpUnknown Interaction = iota
	OpRead                // read, vread
	OpSearch              // search-type, search-system, search-compartment
	OpHistory             // history-instance, history-type, history-system
	OpCreate
	OpUpdate // update, patch
	OpDelete
	OpExport // the $export operation
	OpOther  // another operation
	numOps
)

var opNames = [numOps]string{"unknown", "read", "search", "history", "create", "update", "delete", "export", "operation"}

func (o Interaction) String() string { return opNames[o] }

// Event is the part of a FHIR AuditEvent the detector reads. Any field may
// be empty when the AuditEvent lacks it: missing elements lower the
// evidence, they never fail the parse.
type Event struct {
	ID   string
	Time time.Time // .recorded; zero if absent or unparseable
	// User identifies the requesting agent: who.identifier.value, else
	// who.reference ("Practitioner/123"). UserRef is who.reference.
	User, UserRef string
	// Addr is the requesting agent's network.address, else the first
	// other agent's.
	Addr string
	// Patient is the id of the entity with role 1 (Patient), from
	// what.reference "Patient/ID" (a full URL's last two segments count),
	// else its what.identifier.value.
	Patient string
	// DataType is the resource type of the role-4 (domain resource)
	// entity, "Patient" when the patient alone was accessed, or the
	// searched type of a query.
	DataType string
	Op       Interaction
	// Purposes are the purposeOfEvent codes (v3 ActReason: TREAT,
	// ETREAT, HPAYMT, ...), upper case.
	Purposes []string
	// Outcome is 0 (success), 4, 8 or 12 (failures), or -1 if absent.
	Outcome int
	// Count is the number of results a search or export returned
	// (entity.detail "result-count"), or -1 if not recorded.
	Count int
	// Labels are security labels the AuditEvent itself carries on its
	// entities (entity.securityLabel codes such as CELEB, VIP, EMP).
	Labels []string
}

// BreakGlass reports whether the access claimed emergency treatment
// (purposeOfEvent ETREAT, or the HL7 BTG code).
func (e *Event) BreakGlass() bool {
	for _, p := range e.Purposes {
		if p == "ETREAT" || p == "BTG" {
			return true
		}
	}
	return false
}

// Failed reports whether the outcome is a failure (4, 8 or 12).
func (e *Event) Failed() bool { return e.Outcome > 0 }

// ErrNotAuditEvent is wrapped by Parse for input that is not a JSON
// AuditEvent at all; any well-formed AuditEvent parses.
var ErrNotAuditEvent = errors.New("access: not a FHIR AuditEvent")

type coding struct {
	System string `json:"system"`
	Code   string `json:"code"`
}

type concept struct {
	Coding []coding `json:"coding"`
}

type reference struct {
	Reference  string `json:"reference"`
	Identifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	} `json:"identifier"`
}

type auditJSON struct {
	ResourceType   string    `json:"resourceType"`
	ID             string    `json:"id"`
	Subtype        []coding  `json:"subtype"`
	Action         string    `json:"action"`
	Recorded       string    `json:"recorded"`
	Outcome        string    `json:"outcome"`
	PurposeOfEvent []concept `json:"purposeOfEvent"`
	Agent          []struct {
		Who       reference `json:"who"`
		Requestor bool      `json:"requestor"`
		Network   struct {
			Address string `json:"address"`
		} `json:"network"`
		PurposeOfUse []concept `json:"purposeOfUse"`
	} `json:"agent"`
	Entity []struct {
		What          reference `json:"what"`
		Role          coding    `json:"role"`
		Type          coding    `json:"type"`
		Query         string    `json:"query"`
		SecurityLabel []coding  `json:"securityLabel"`
		Detail        []struct {
			Type        string `json:"type"`
			ValueString string `json:"valueString"`
		} `json:"detail"`
	} `json:"entity"`
}

// MaxEventBytes bounds one AuditEvent.
const MaxEventBytes = 1 << 20

// Parse reads one AuditEvent. It fails only if b is not a JSON object
// with resourceType "AuditEvent" (or is larger than MaxEventBytes); every
// element the detector reads is optional.
func Parse(b []byte) (*Event, error) {
	if len(b) > MaxEventBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrNotAuditEvent, MaxEventBytes)
	}
	var j auditJSON
	if err := jsonv2.Unmarshal(b, &j); err != nil {
		// Not echoing err: a type error quotes the value, which may be
		// personal data.
		return nil, fmt.Errorf("%w: not JSON of the expected shape", ErrNotAuditEvent)
	}
	return fromJSON(&j)
}

// ParseBatch reads the AuditEvents of an audit.record_batch payload,
// {"events": [AuditEvent, ...]}, in one pass (decoding the array and then
// each event costs twice as much). Parse and ParseBatch use the JSON v2
// decoder, several times as fast as encoding/json here; unlike it, they
// refuse duplicate names and invalid UTF-8. An element that is not an AuditEvent
// is nil in the result; the error is for a payload not of that shape.
func ParseBatch(b []byte) ([]*Event, error) {
	var batch struct {
		Events []auditJSON `json:"events"`
	}
	batch.Events = make([]auditJSON, 0, min(512, len(b)/1024+1)) // an AuditEvent is some 1.2 KB: no regrowth
	if err := jsonv2.Unmarshal(b, &batch); err != nil {
		return nil, fmt.Errorf("%w: not a batch of the expected shape", ErrNotAuditEvent)
	}
	es := make([]*Event, len(batch.Events))
	for i := range batch.Events {
		es[i], _ = fromJSON(&batch.Events[i])
	}
	return es, nil
}

func fromJSON(j *auditJSON) (*Event, error) {
	if j.ResourceType != "AuditEvent" {
		return nil, fmt.Errorf("%w: resourceType is not AuditEvent", ErrNotAuditEvent)
	}
	e := &Event{ID: j.ID, Outcome: -1, Count: -1}
	if t, err := time.Parse(time.RFC3339Nano, j.Recorded); err == nil {
		e.Time = t
	}
	switch j.Outcome {
	case "0", "4", "8", "12":
		e.Outcome, _ = strconv.Atoi(j.Outcome)
	}
	e.Op = interaction(j.Subtype, j.Action)
	for _, p := range j.PurposeOfEvent {
		for _, c := range p.Coding {
			if c.Code != "" {
				e.Purposes = append(e.Purposes, strings.ToUpper(c.Code))
			}
		}
	}
	for i := range j.Agent {
		a := &j.Agent[i]
		if !a.Requestor {
			continue
		}
		e.UserRef = a.Who.Reference
		e.User = a.Who.Identifier.Value
		if e.User == "" {
			e.User = a.Who.Reference
		}
		e.Addr = a.Network.Address
		for _, p := range a.PurposeOfUse {
			for _, c := range p.Coding {
				if c.Code != "" {
					e.Purposes = append(e.Purposes, strings.ToUpper(c.Code))
				}
			}
		}
		break
	}
	if e.Addr == "" {
		// Some systems record the network on the source agent (DICOM
		// "Source Role ID") rather than on the user.
		for i := range j.Agent {
			if a := j.Agent[i].Network.Address; a != "" {
				e.Addr = a
				break
			}
		}
	}
	for i := range j.Entity {
		en := &j.Entity[i]
		typ, id := splitRef(en.What.Reference)
		for _, l := range en.SecurityLabel {
			if l.Code != "" {
				e.Labels = append(e.Labels, strings.ToUpper(l.Code))
			}
		}
		switch en.Role.Code {
		case "1": // Patient
			switch {
			case typ == "Patient" || typ == "" && id != "":
				e.Patient = id
			case en.What.Reference == "" && en.What.Identifier.Value != "" && e.Patient == "":
				// IHE profiles often name the patient by identifier only.
				e.Patient = en.What.Identifier.Value
			}
		case "4": // Domain Resource
			if typ != "" && e.DataType == "" {
				e.DataType = typ
			}
			if typ == "Patient" && e.Patient == "" {
				e.Patient = id
			}
		case "24": // Query
			if e.DataType == "" {
				e.DataType = queryType(en.Query)
			}
			if e.Op == OpOther && isExportQuery(en.Query) {
				e.Op = OpExport
			}
		default:
			// No role: a Patient reference still names the patient.
			if en.Role.Code == "" && typ == "Patient" && e.Patient == "" {
				e.Patient = id
			}
		}
		for _, d := range en.Detail {
			switch strings.ToLower(d.Type) {
			case "result-count", "count", "total", "resultcount":
				if n, err := strconv.Atoi(strings.TrimSpace(d.ValueString)); err == nil && n >= 0 {
					e.Count = max(e.Count, n)
				}
			}
		}
	}
	if e.DataType == "" && e.Patient != "" {
		e.DataType = "Patient"
	}
	return e, nil
}

func interaction(sub []coding, action string) Interaction {
	op := OpUnknown
	for _, c := range sub {
		switch strings.TrimPrefix(strings.ToLower(c.Code), "$") {
		case "read", "vread":
			op = OpRead
		case "search", "search-type", "search-system", "search-compartment":
			op = OpSearch
		case "history", "history-instance", "history-type", "history-system":
			op = OpHistory
		case "create":
			op = OpCreate
		case "update", "patch":
			op = OpUpdate
		case "delete":
			op = OpDelete
		case "export", "bulk-export", "bulk-data-export":
			return OpExport
		case "operation":
			op = OpOther
		}
	}
	if op != OpUnknown {
		return op
	}
	switch action {
	case "C":
		return OpCreate
	case "R":
		return OpRead
	case "U":
		return OpUpdate
	case "D":
		return OpDelete
	case "E":
		return OpOther
	}
	return OpUnknown
}

// splitRef splits "Type/id", "Type/id/_history/v" or a full URL ending in
// either into its type and id.
func splitRef(ref string) (typ, id string) {
	if ref == "" || strings.HasPrefix(ref, "#") || strings.HasPrefix(ref, "urn:") {
		return "", ""
	}
	if i := strings.Index(ref, "/_history/"); i >= 0 {
		ref = ref[:i]
	}
	j := strings.LastIndexByte(ref, '/')
	if j <= 0 {
		return "", ""
	}
	id = ref[j+1:]
	rest := ref[:j]
	typ = rest[strings.LastIndexByte(rest, '/')+1:]
	if typ == "" || typ[0] < 'A' || typ[0] > 'Z' {
		return "", ""
	}
	return typ, id
}

// decodeQuery returns the query text of an entity.query (base64Binary;
// plain text tolerated).
func decodeQuery(q string) string {
	if q == "" {
		return ""
	}
	if b, err := base64.StdEncoding.DecodeString(q); err == nil {
		return string(b)
	}
	return q
}

// queryType returns the resource type a query searched: "Observation" of
// "Observation?code=..." or "[base]/Observation?...".
func queryType(q string) string {
	s := decodeQuery(q)
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRight(s, "/")
	s = s[strings.LastIndexByte(s, '/')+1:]
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return ""
	}
	return s
}

func isExportQuery(q string) bool { return bytes.Contains([]byte(decodeQuery(q)), []byte("$export")) }
