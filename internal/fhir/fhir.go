// Package fhir holds medledger's FHIR R4 (4.0.1) basics: resources kept as
// their raw JSON (never round-tripped through lossy structs), a canonical
// form for hashing, the thin views platform logic reads (type, id, meta,
// references), the supported resource types, and OperationOutcome issues.
//
// It performs no I/O and knows nothing of storage, validation rules or
// HTTP; those live in subpackages and in the API.
package fhir

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Version is the FHIR version served.
const Version = "4.0.1"

// SupportedTypes are the resource types the server stores and searches.
var SupportedTypes = []string{
	"AllergyIntolerance", "CarePlan", "CareTeam", "Condition", "Consent", "DiagnosticReport",
	"DocumentReference", "Encounter", "Immunization", "MedicationRequest",
	"MedicationStatement", "Observation", "Organization", "Patient", "Practitioner",
	"PractitionerRole", "Procedure", "Provenance",
}

// Supported reports whether a resource type is served.
func Supported(t string) bool {
	_, ok := slices.BinarySearch(SupportedTypes, t)
	return ok
}

// Issue is one problem found in a request or resource, as in an
// OperationOutcome.issue.
type Issue struct {
	Severity    string `json:"severity"` // fatal | error | warning | information
	Code        string `json:"code"`     // IssueType: invalid, structure, required, value, not-found, ...
	Diagnostics string `json:"diagnostics,omitempty"`
	// Expression is a FHIRPath-style location, e.g. "Observation.status"
	// or "Patient.name[0].given[1]".
	Expression []string `json:"expression,omitempty"`
}

// Errorf returns an error-severity issue at a location.
func Errorf(code, expr, format string, args ...any) Issue {
	is := Issue{Severity: "error", Code: code, Diagnostics: fmt.Sprintf(format, args...)}
	if expr != "" {
		is.Expression = []string{expr}
	}
	return is
}

// OperationOutcome builds an OperationOutcome resource from issues.
func OperationOutcome(issues ...Issue) map[string]any {
	if len(issues) == 0 {
		issues = []Issue{{Severity: "information", Code: "informational", Diagnostics: "ok"}}
	}
	return map[string]any{"resourceType": "OperationOutcome", "issue": issues}
}

// Resource is a parsed FHIR resource: its generic JSON tree (numbers kept
// as json.Number, so decimals keep their precision) plus the fields
// platform logic reads.
type Resource struct {
	Type string
	ID   string
	Tree map[string]any
}

// MaxResourceBytes bounds one resource's JSON.
const MaxResourceBytes = 4 << 20

// ErrNotJSON is wrapped when a body is not a single JSON object.
var ErrNotJSON = errors.New("fhir: not a JSON object")

// Parse decodes one resource strictly: a single JSON object with a string
// resourceType, no trailing data, numbers kept exactly. It does not
// validate the content (see package validate).
func Parse(b []byte) (*Resource, error) {
	if len(b) > MaxResourceBytes {
		return nil, fmt.Errorf("resource is %d bytes, limit %d: %w", len(b), MaxResourceBytes, ErrNotJSON)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotJSON, describeJSONError(err))
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the JSON object", ErrNotJSON)
	}
	tree, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the body is JSON but not an object", ErrNotJSON)
	}
	rt, _ := tree["resourceType"].(string)
	if rt == "" {
		return nil, fmt.Errorf("%w: resourceType is missing or not a string", ErrNotJSON)
	}
	id, _ := tree["id"].(string)
	return &Resource{Type: rt, ID: id, Tree: tree}, nil
}

// describeJSONError says what is wrong without quoting the input.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("JSON syntax error at byte %d", se.Offset)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "the body is empty or truncated"
	}
	return "invalid JSON"
}

// Canonical returns the canonical JSON of a tree, used for hashing: object
// keys sorted, no insignificant whitespace, numbers exactly as received,
// no HTML escaping.
func Canonical(tree map[string]any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SummarizeOutcome renders the first issues of an OperationOutcome body
// for a log line or a message: locations and diagnostics, which never
// quote a resource's values.
func SummarizeOutcome(body []byte) string {
	var oo struct {
		Issue []Issue `json:"issue"`
	}
	if json.Unmarshal(body, &oo) != nil || len(oo.Issue) == 0 {
		return "no details"
	}
	var parts []string
	for i, is := range oo.Issue {
		if i == 3 {
			parts = append(parts, fmt.Sprintf("and %d more", len(oo.Issue)-3))
			break
		}
		loc := ""
		for _, e := range is.Expression {
			loc += e + " "
		}
		parts = append(parts, loc+is.Diagnostics)
	}
	return strings.Join(parts, "; ")
}
