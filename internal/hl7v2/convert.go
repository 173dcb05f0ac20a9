package hl7v2

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/fhir"
)

// DefaultAuthorityBase prefixes the identifier system of an assigning
// authority known only by its namespace ID (no OID, no Options.Systems
// entry): namespace "GOODHEALTH" becomes
// "urn:medledger:hl7v2:authority:GOODHEALTH".
const DefaultAuthorityBase = "urn:medledger:hl7v2:authority:"

// Options configures Convert. The zero value is valid.
type Options struct {
	// Systems maps an assigning authority or sending facility, by its
	// namespace ID (HD.1) or universal ID (HD.2), to the identifier
	// system URI to use, overriding the derived one. Built in: "NPI"
	// (http://hl7.org/fhir/sid/us-npi) and "SSA" (http://hl7.org/fhir/sid/us-ssn).
	Systems map[string]string
	// AuthorityBase is the URI prefix for assigning authorities that have
	// neither an ISO OID, a UUID or URI universal ID, nor an entry in
	// Systems. Default DefaultAuthorityBase.
	AuthorityBase string
	// CodeSystems maps HL7 v2 coding system names (CWE.3, e.g. "L" or
	// "99LAB") to FHIR code system URIs, adding to and overriding the
	// built-in table (LN → http://loinc.org, SCT → http://snomed.info/sct,
	// HL7nnnn → http://terminology.hl7.org/CodeSystem/v2-nnnn, ...).
	// Codings of an unmapped system are written without a system.
	CodeSystems map[string]string
	// Location is the time zone of timestamps that carry no UTC offset
	// when MSH-7 carries none either. Default UTC, with an informational
	// issue saying so.
	Location *time.Location
	// KeepUnknownUnits keeps a numeric result whose unit is not known to
	// package ucum, with the unit as text only and a warning issue.
	// Default false: such a message is rejected (ErrInvalid wrapping
	// ucum.ErrUnknownUnit) so that the sender fixes the unit.
	KeepUnknownUnits bool
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.AuthorityBase != "" && !isAbsoluteURI(o.AuthorityBase) {
		errs = append(errs, fmt.Errorf("hl7v2: AuthorityBase %q is not an absolute URI", o.AuthorityBase))
	}
	for k, v := range o.Systems {
		if !isAbsoluteURI(v) {
			errs = append(errs, fmt.Errorf("hl7v2: Systems[%q] = %q is not an absolute URI", k, v))
		}
	}
	for k, v := range o.CodeSystems {
		if !isAbsoluteURI(v) {
			errs = append(errs, fmt.Errorf("hl7v2: CodeSystems[%q] = %q is not an absolute URI", k, v))
		}
	}
	return errors.Join(errs...)
}

func isAbsoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && strings.TrimSpace(s) == s
}

// Convert converts a message to a FHIR R4 transaction Bundle (JSON), with
// warnings about content that converted but deserves a look (a value
// outside its plausible range, an unknown code that was dropped, ...).
//
// Supported: ADT^A01, ADT^A04 and ADT^A08 (Patient, Encounter) and
// ORU^R01 (Patient, Observation, DiagnosticReport). The Bundle is
// deterministic and idempotent: entry fullUrls are name-based UUIDs
// derived from MSH-3, MSH-4 and MSH-10, and every entry is conditional
// (Patient and Encounter updated on their business identifier; in ORU the
// Patient is created only if none has its identifier; Observations and
// DiagnosticReports updated on their order and result identifiers), so
// that sending the same message twice changes nothing the second time and
// a corrected result replaces the preliminary one. Entries come in
// message order: Patient then Encounter for ADT; for ORU each Patient,
// then each DiagnosticReport followed by its Observations. Issue
// expressions are paths into the Bundle ("Bundle.entry[5].resource.valueQuantity").
// The mapping of each segment is documented where it is converted
// (adt.go, oru.go) and checked field by field in the tests.
//
// Errors are *Error: ErrUnsupported for other message types; ErrInvalid
// for content that cannot be converted (no patient identifier, a date that
// is not a date, a non-numeric NM value, an unknown unit unless
// o.KeepUnknownUnits); or the error of o.Validate. The returned slice is
// the caller's.
func Convert(m *Message, o Options) ([]byte, []fhir.Issue, error) {
	if err := o.Validate(); err != nil {
		return nil, nil, err
	}
	if m == nil || len(m.Segments) == 0 || m.Segments[0].Name != "MSH" {
		return nil, nil, errorf(ErrMalformed, "", "message does not start with an MSH segment")
	}
	if o.AuthorityBase == "" {
		o.AuthorityBase = DefaultAuthorityBase
	}
	c := &converter{m: m, o: o, count: map[string]int{}, obsKeys: map[string]int{}}
	for _, s := range m.Segments {
		c.count[s.Name]++
	}
	msh := m.header()
	c.sender = msh.Field(3).Raw() + "|" + msh.Field(4).Raw()
	c.control = msh.Field(10).Value()
	c.zone = o.Location
	if t, err := parseTS(msh.Field(7).Value()); err == nil && t.hasZone {
		c.zone = time.FixedZone("", t.offset)
	}
	if c.zone == nil {
		c.zone, c.assumedUTC = time.UTC, true
	}

	code, trigger := m.Type()
	var err error
	switch code + "^" + trigger {
	case "ADT^A01", "ADT^A04", "ADT^A08":
		err = c.adt(trigger)
	case "ORU^R01":
		err = c.oru()
	default:
		return nil, nil, errorf(ErrUnsupported, "MSH-9", "message type %s is not supported (ADT^A01, ADT^A04, ADT^A08, ORU^R01)", messageType(code, trigger))
	}
	if err != nil {
		return nil, nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(bundle{ResourceType: "Bundle", Type: "transaction", Entry: c.entries}); err != nil {
		return nil, nil, fmt.Errorf("hl7v2: encode bundle: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), c.issues, nil
}

var codePattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,7}$`)

// messageType returns MSH-9 for an error message when it looks like a
// code, else a placeholder.
func messageType(code, trigger string) string {
	if !codePattern.MatchString(code) || trigger != "" && !codePattern.MatchString(trigger) {
		return "(not shown)"
	}
	if trigger == "" {
		return code
	}
	return code + "^" + trigger
}

type converter struct {
	m          *Message
	o          Options
	count      map[string]int // segments by name
	sender     string         // MSH-3|MSH-4, raw: scopes derived UUIDs
	control    string         // MSH-10
	zone       *time.Location // for timestamps without an offset
	assumedUTC bool           // loc is UTC by default
	zoneNoted  bool
	entries    []entry
	issues     []fhir.Issue
	obsKeys    map[string]int // observation identity keys seen, for duplicates
}

// loc names field f of the n-th segment called name: "PID-7", or
// "OBX(2)-5" when the message has more than one such segment.
func (c *converter) loc(name string, n, f int) string {
	if c.count[name] > 1 {
		return fmt.Sprintf("%s(%d)-%d", name, n, f)
	}
	return fmt.Sprintf("%s-%d", name, f)
}

// warn records a warning issue; diagnostics start with the HL7 location.
func (c *converter) warn(code, loc, expr, format string, args ...any) {
	is := fhir.Issue{Severity: "warning", Code: code, Diagnostics: loc + ": " + fmt.Sprintf(format, args...)}
	if expr != "" {
		is.Expression = []string{expr}
	}
	c.issues = append(c.issues, is)
}

// expr is the FHIRPath of an element of the entry about to be added.
func (c *converter) expr(elem string) string {
	return fmt.Sprintf("Bundle.entry[%d].resource.%s", len(c.entries), elem)
}

// uuid returns a name-based (version 5) UUID URN for a resource of this
// message, from the sender and the given parts.
func (c *converter) uuid(parts ...string) string {
	h := sha1.New()
	h.Write(uuidNamespace[:])
	h.Write([]byte(strings.Join(append([]string{"hl7v2/1", c.sender}, parts...), "\x1f")))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	x := hex.EncodeToString(u[:])
	return "urn:uuid:" + x[:8] + "-" + x[8:12] + "-" + x[12:16] + "-" + x[16:20] + "-" + x[20:]
}

// uuidNamespace is the namespace of Convert's name-based UUIDs.
var uuidNamespace = [16]byte{205, 147, 41, 212, 200, 149, 78, 132, 166, 253, 31, 31, 188, 202, 22, 208}

// derivedIdentifier is the identifier Convert gives a resource that has
// no business identifier, so that conditional requests find it again: a
// URI (FHIR's urn:ietf:rfc:3986 convention) derived like the resource's
// fullUrl but different from it, so that a server resolving the fullUrl
// in references cannot rewrite it.
func (c *converter) derivedIdentifier(parts ...string) identifier {
	return identifier{System: "urn:ietf:rfc:3986", Value: c.uuid(append([]string{"identifier"}, parts...)...)}
}

// conditional returns a search query on an identifier, escaped as FHIR
// token search and URL query syntax require.
func conditional(id identifier) string {
	esc := strings.NewReplacer(`\`, `\\`, `|`, `\|`, `,`, `\,`, `$`, `\$`)
	return "identifier=" + url.QueryEscape(esc.Replace(id.System)+"|"+esc.Replace(id.Value))
}

// text cleans a value for FHIR: surrounding spaces trimmed, the HL7 null
// `""` read as empty, control characters other than line breaks dropped.
func text(s string) string {
	s = strings.TrimSpace(s)
	if s == `""` {
		return ""
	}
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }) >= 0 {
		s = strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
				return -1
			}
			return r
		}, s)
	}
	return s
}

func appendNonEmpty(list []string, vals ...string) []string {
	for _, v := range vals {
		if v = text(v); v != "" {
			list = append(list, v)
		}
	}
	return list
}

var oidPattern = regexp.MustCompile(`^[0-2](\.(0|[1-9][0-9]*))+$`)
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

var builtinSystems = map[string]string{
	"NPI": "http://hl7.org/fhir/sid/us-npi",
	"SSA": "http://hl7.org/fhir/sid/us-ssn",
}

// authority returns the identifier system for an HL7 HD (namespace ID,
// universal ID, universal ID type), or "".
func (c *converter) authority(ns, uid, typ string) string {
	ns, uid, typ = text(ns), text(uid), strings.ToUpper(text(typ))
	for _, k := range []string{ns, uid} {
		if k == "" {
			continue
		}
		if s, ok := c.o.Systems[k]; ok {
			return s
		}
		if s, ok := builtinSystems[k]; ok {
			return s
		}
	}
	switch {
	case uid != "" && (typ == "ISO" || typ == "") && oidPattern.MatchString(uid):
		return "urn:oid:" + uid
	case uid != "" && typ == "UUID" && uuidPattern.MatchString(uid):
		return "urn:uuid:" + strings.ToLower(uid)
	case uid != "" && typ == "URI" && isAbsoluteURI(uid):
		return uid
	case ns != "":
		return c.o.AuthorityBase + url.PathEscape(ns)
	}
	return ""
}

// senderSystem is the identifier system for identifiers that name no
// assigning authority: they are taken as local to the sending facility
// (MSH-4), or failing that the sending application (MSH-3).
func (c *converter) senderSystem() string {
	msh := c.m.header()
	for _, f := range []int{4, 3} {
		r := msh.Field(f).Rep(1)
		if s := c.authority(r.Comp(1), r.Comp(2), r.Comp(3)); s != "" {
			return s
		}
	}
	return ""
}

// cx maps an HL7 CX (extended composite ID) to an identifier; ok is false
// when it has no ID.
func (c *converter) cx(r Rep, defaultType string) (identifier, bool) {
	v := text(r.Comp(1))
	if v == "" {
		return identifier{}, false
	}
	id := identifier{Value: v, System: c.authority(r.Sub(4, 1), r.Sub(4, 2), r.Sub(4, 3))}
	if id.System == "" {
		id.System = c.senderSystem()
	}
	typ := text(r.Comp(5))
	if typ == "" {
		typ = defaultType
	}
	if typ != "" {
		id.Type = &codeableConcept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: typ}}}
	}
	return id, true
}

// ei maps an HL7 EI (entity identifier: ID^namespace^universal ID^type).
func (c *converter) ei(r Rep, typ string) (identifier, bool) {
	v := text(r.Comp(1))
	if v == "" {
		return identifier{}, false
	}
	id := identifier{Value: v, System: c.authority(r.Comp(2), r.Comp(3), r.Comp(4))}
	if id.System == "" {
		id.System = c.senderSystem()
	}
	if typ != "" {
		id.Type = &codeableConcept{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0203", Code: typ}}}
	}
	return id, true
}

var builtinCodeSystems = map[string]string{
	"LN":     "http://loinc.org",
	"LOINC":  "http://loinc.org",
	"SCT":    "http://snomed.info/sct",
	"SNOMED": "http://snomed.info/sct",
	"UCUM":   "http://unitsofmeasure.org",
	"I10":    "http://hl7.org/fhir/sid/icd-10",
	"I10C":   "http://hl7.org/fhir/sid/icd-10-cm",
	"I9C":    "http://hl7.org/fhir/sid/icd-9-cm",
	"C4":     "http://www.ama-assn.org/go/cpt",
	"CPT":    "http://www.ama-assn.org/go/cpt",
	"RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
	"RXN":    "http://www.nlm.nih.gov/research/umls/rxnorm",
	"NDC":    "http://hl7.org/fhir/sid/ndc",
	"CVX":    "http://hl7.org/fhir/sid/cvx",
}

var hl7TablePattern = regexp.MustCompile(`^HL7([0-9]{4})$`)

// codeSystem maps an HL7 v2 coding system name to a FHIR system URI.
func (c *converter) codeSystem(name string) string {
	if s, ok := c.o.CodeSystems[name]; ok {
		return s
	}
	if s, ok := builtinCodeSystems[strings.ToUpper(name)]; ok {
		return s
	}
	if m := hl7TablePattern.FindStringSubmatch(strings.ToUpper(name)); m != nil {
		return "http://terminology.hl7.org/CodeSystem/v2-" + m[1]
	}
	return ""
}

// cwe maps an HL7 CE/CWE/CNE (code^text^system, alternate triplet in
// components 4–6, second alternate in 10–12 from v2.7, original text in
// 9) to a CodeableConcept, or nil when it has no code and no text.
func (c *converter) cwe(r Rep) *codeableConcept {
	cc := &codeableConcept{}
	for _, t := range [][3]int{{1, 2, 3}, {4, 5, 6}, {10, 11, 12}} {
		code, display, sys := text(r.Comp(t[0])), text(r.Comp(t[1])), text(r.Comp(t[2]))
		if code == "" {
			if cc.Text == "" {
				cc.Text = display
			}
			continue
		}
		cc.Coding = append(cc.Coding, coding{System: c.codeSystem(sys), Code: code, Display: display})
	}
	if ot := text(r.Comp(9)); ot != "" {
		cc.Text = ot
	}
	if len(cc.Coding) == 0 && cc.Text == "" {
		return nil
	}
	return cc
}

// loinc returns the first LOINC code of cc.
func loincOf(cc *codeableConcept) string {
	for _, cd := range cc.Coding {
		if cd.System == "http://loinc.org" {
			return cd.Code
		}
	}
	return ""
}

// dateTime converts a TS to a FHIR dateTime; loc names the field.
func (c *converter) dateTime(s, loc string) (string, error) {
	s = text(s)
	if s == "" {
		return "", nil
	}
	t, err := parseTS(s)
	if err != nil {
		return "", &Error{Loc: loc, Kind: ErrInvalid, Err: err}
	}
	if t.digits > 8 && !t.hasZone && c.assumedUTC && !c.zoneNoted {
		c.zoneNoted = true
		c.issues = append(c.issues, fhir.Issue{Severity: "information", Code: "informational",
			Diagnostics: loc + ": timestamps carry no UTC offset and MSH-7 gives none; read as UTC"})
	}
	return t.dateTime(c.zone), nil
}

func (c *converter) add(fullURL string, res any, req request) {
	c.entries = append(c.entries, entry{FullURL: fullURL, Resource: res, Request: req})
}

// itoa is strconv.Itoa, short for building keys.
func itoa(n int) string { return strconv.Itoa(n) }
