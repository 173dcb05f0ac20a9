package validate

//go:generate go run ./gen -spec ../../../.cache/fhir-spec

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Validator checks FHIR R4 resources against the official JSON schema and
// the rules derived from the StructureDefinitions. It is immutable and safe
// for concurrent use; share one per process (New compiles the schema, which
// takes a fraction of a second).
type Validator struct {
	m     *model
	types []string // accepted top-level resource types, sorted
}

// model is the compiled schema and rule tables, shared by every Validator
// derived from one New.
type model struct {
	schemas map[string]*jsonschema.Schema // by resource type
	structs map[string]*structType        // by type name or backbone path
}

// New compiles the embedded schema and rule tables. The Validator accepts
// the resource types in fhir.SupportedTypes at the top level; see
// WithTypes. An error means the embedded data is broken (a build defect).
func New() (*Validator, error) {
	structs, err := buildModel(genStructs)
	if err != nil {
		return nil, fmt.Errorf("validate: rule tables: %w", err)
	}
	schemas, err := compileSchemas(structs)
	if err != nil {
		return nil, fmt.Errorf("validate: schema: %w", err)
	}
	v := &Validator{m: &model{schemas: schemas, structs: structs}}
	return v.WithTypes(fhir.SupportedTypes...)
}

// WithTypes returns a Validator that shares v's compiled schema and accepts
// exactly the given resource types at the top level (for example
// fhir.SupportedTypes plus Bundle, Consent and AuditEvent). Nested resources
// (contained, Bundle.entry.resource, Parameters.parameter.resource) may be
// of any R4 type; which of those a server accepts is the caller's policy.
// It fails if a type is not a FHIR R4 resource type.
func (v *Validator) WithTypes(types ...string) (*Validator, error) {
	ts := slices.Clone(types)
	slices.Sort(ts)
	ts = slices.Compact(ts)
	for _, t := range ts {
		if v.m.schemas[t] == nil {
			return nil, fmt.Errorf("validate: %q is not a FHIR R4 resource type", t)
		}
	}
	return &Validator{m: v.m, types: ts}, nil
}

// Types returns the resource types v accepts at the top level, sorted. The
// caller owns the returned slice.
func (v *Validator) Types() []string { return slices.Clone(v.types) }

// Validate checks r and returns nil if it is valid, else every problem
// found, each an error-severity issue with an IssueType code (structure,
// required, value, invalid, code-invalid or not-supported), a FHIRPath-style
// Expression (Patient.name[0].given[2]) and Diagnostics that never quote
// the resource's values, which may be PHI (an unknown property is named
// only if its name looks like an element name). Issues are sorted by
// expression, one per location; where the schema and a rule both object
// to one location, the schema's issue is kept. Validate does not modify r.
func (v *Validator) Validate(r *fhir.Resource) []fhir.Issue {
	if r == nil || r.Tree == nil {
		return []fhir.Issue{fhir.Errorf("structure", "", "no resource")}
	}
	rt, _ := r.Tree["resourceType"].(string)
	if rt != r.Type {
		return []fhir.Issue{fhir.Errorf("structure", "Resource.resourceType", "resourceType does not match the parsed resource type")}
	}
	if _, ok := slices.BinarySearch(v.types, rt); !ok {
		return []fhir.Issue{fhir.Errorf("not-supported", "Resource.resourceType", "unsupported resource type")}
	}
	w := walker{m: v.m, path: make([]seg, 0, 16)}
	w.push(rt, -1)
	w.resource(r.Tree, rt)
	return w.result()
}

// walker holds the state of one validation.
type walker struct {
	m      *model
	path   []seg
	issues []issue
}

type seg struct {
	name  string
	index int // -1 when the segment is not an array item
}

type issue struct {
	fhir.Issue
	expr   string
	schema bool // found by the JSON schema (wins over a rule at the same place)
}

func (w *walker) push(name string, index int) { w.path = append(w.path, seg{name, index}) }
func (w *walker) pop()                        { w.path = w.path[:len(w.path)-1] }

// expr renders the current path: Patient.name[0].given[2].
func (w *walker) expr() string {
	var b strings.Builder
	for i, s := range w.path {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		if s.index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(s.index))
			b.WriteByte(']')
		}
	}
	return b.String()
}

// name is the current element's name, for diagnostics.
func (w *walker) name() string { return w.path[len(w.path)-1].name }

// add records an issue at the current path. Diagnostics must not contain
// resource content.
func (w *walker) add(schema bool, code, diag string) {
	e := w.expr()
	w.issues = append(w.issues, issue{Issue: fhir.Errorf(code, e, "%s", diag), expr: e, schema: schema})
}

// result keeps one issue per location, preferring the schema's, and sorts
// them by location.
func (w *walker) result() []fhir.Issue {
	if len(w.issues) == 0 {
		return nil
	}
	slices.SortStableFunc(w.issues, func(a, b issue) int {
		if c := compareExpr(a.expr, b.expr); c != 0 {
			return c
		}
		if a.schema != b.schema {
			if a.schema {
				return -1
			}
			return 1
		}
		return 0
	})
	out := make([]fhir.Issue, 0, len(w.issues))
	for i, is := range w.issues {
		if i > 0 && w.issues[i-1].expr == is.expr {
			continue
		}
		out = append(out, is.Issue)
	}
	return out
}

// compareExpr orders expressions with array indexes compared as numbers,
// so component[2] comes before component[10].
func compareExpr(a, b string) int {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			i, j := digitRun(a), digitRun(b)
			na, _ := strconv.Atoi(a[:i])
			nb, _ := strconv.Atoi(b[:j])
			if c := cmp.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[i:], b[j:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) int {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return i
}
