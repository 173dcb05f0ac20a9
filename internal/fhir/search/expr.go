package search

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// expr is a compiled search parameter expression: the subset of FHIRPath the
// official R4 definitions of the supported types use.
//
//	A.b.c                      navigation; arrays flatten; a choice element
//	                           b[x] matches bDateTime, bPeriod, ...
//	A.b.as(T), (A.b as T)      only the choice of type T
//	A.b.where(resolve() is T)  only references to a T
//	A.b.where(k='v')           only elements whose k is v
//	X | Y                      union
//	A.b.exists() and A.b != false   (Patient.deceased; see deceased)
type expr struct {
	paths [][]step
	// deceased marks "X.exists() and X != false": a boolean token, true
	// when X is a dateTime or the boolean true.
	deceased bool
}

type stepOp uint8

const (
	opField   stepOp = iota // navigate to a child element
	opAs                    // keep only the choice of type arg
	opWhereIs               // keep only references to type arg
	opWhereEq               // keep only objects whose key equals arg
)

type step struct {
	op       stepOp
	arg, val string
	choice   bool   // opField: arg is a choice element, arg[x]
	path     string // opField: the element's path, e.g. Observation.effective
}

// compile parses an expression of the table. The leading type name of each
// path is dropped: the caller has already chosen the resource.
func compile(src string) (expr, error) {
	var e expr
	for _, alt := range strings.Split(src, " | ") {
		alt = strings.TrimSpace(alt)
		if a, b, ok := strings.Cut(alt, ".exists() and "); ok {
			if b != a+" != false" {
				return e, fmt.Errorf("unsupported expression %q", alt)
			}
			p, err := compilePath(a)
			if err != nil {
				return e, err
			}
			e.paths = append(e.paths, p)
			e.deceased = true
			continue
		}
		var (
			p   []step
			err error
		)
		if strings.HasPrefix(alt, "(") {
			end := strings.IndexByte(alt, ')')
			inner, typ, ok := strings.Cut(alt[1:max(end, 1)], " as ")
			if end < 0 || !ok {
				return e, fmt.Errorf("unsupported expression %q", alt)
			}
			if p, err = compilePath(inner); err != nil {
				return e, err
			}
			p = append(p, step{op: opAs, arg: typ})
			if rest := alt[end+1:]; rest != "" {
				if !strings.HasPrefix(rest, ".") {
					return e, fmt.Errorf("unsupported expression %q", alt)
				}
				more, err := compileSteps(inner+"."+typ, rest[1:])
				if err != nil {
					return e, err
				}
				p = append(p, more...)
			}
		} else if p, err = compilePath(alt); err != nil {
			return e, err
		}
		e.paths = append(e.paths, p)
	}
	return e, nil
}

// choiceElements are the choice elements (name[x]) the table's
// expressions navigate, from the R4 StructureDefinitions; only these are
// looked up by prefix (effective → effectiveDateTime, effectivePeriod, ...).
// TestChoiceElements checks the list against the specification.
var choiceElements = map[string]bool{
	"CarePlan.activity.detail.scheduled": true, "Condition.abatement": true, "Consent.source": true, "Condition.onset": true,
	"DiagnosticReport.effective": true, "Immunization.occurrence": true, "MedicationRequest.medication": true,
	"MedicationStatement.effective": true, "MedicationStatement.medication": true, "Observation.component.value": true,
	"Observation.effective": true, "Observation.value": true, "Patient.deceased": true, "Procedure.performed": true,
	"Provenance.occurred": true,
}

// compilePath compiles "Type.a.b...", dropping Type.
func compilePath(s string) ([]step, error) {
	typ, rest, ok := strings.Cut(s, ".")
	if !ok {
		return nil, fmt.Errorf("unsupported path %q", s)
	}
	return compileSteps(typ, rest)
}

// compileSteps compiles the steps after an element path (at first the type).
func compileSteps(path, s string) ([]step, error) {
	var out []step
	for _, seg := range splitDots(s) {
		switch {
		case strings.HasPrefix(seg, "as(") && strings.HasSuffix(seg, ")"):
			out = append(out, step{op: opAs, arg: seg[3 : len(seg)-1]})
		case strings.HasPrefix(seg, "where(resolve() is ") && strings.HasSuffix(seg, ")"):
			out = append(out, step{op: opWhereIs, arg: seg[len("where(resolve() is ") : len(seg)-1]})
		case strings.HasPrefix(seg, "where(") && strings.HasSuffix(seg, "')"):
			k, v, ok := strings.Cut(seg[len("where("):len(seg)-2], "='")
			if !ok || !isName(k) {
				return nil, fmt.Errorf("unsupported filter %q", seg)
			}
			out = append(out, step{op: opWhereEq, arg: k, val: v})
		case isName(seg):
			path += "." + seg
			out = append(out, step{op: opField, arg: seg, choice: choiceElements[path], path: path})
		default:
			return nil, fmt.Errorf("unsupported path segment %q", seg)
		}
	}
	return out, nil
}

// splitDots splits on the dots outside parentheses.
func splitDots(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case '.':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// node is one element an expression selects: its JSON value, the type
// suffix when it was reached through a choice element (effectivePeriod →
// "Period"), and the name of the element it came from.
type node struct {
	v     any
	typ   string
	field string
}

// eval calls fn for every element the expression selects from a resource.
func (e *expr) eval(tree map[string]any, fn func(node)) {
	for _, p := range e.paths {
		walk(tree, p, "", "", fn)
	}
}

func walk(v any, steps []step, typ, field string, fn func(node)) {
	if arr, ok := v.([]any); ok {
		for _, x := range arr {
			walk(x, steps, typ, field, fn)
		}
		return
	}
	if v == nil {
		return
	}
	if len(steps) == 0 {
		fn(node{v, typ, field})
		return
	}
	st, rest := steps[0], steps[1:]
	switch st.op {
	case opField:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		if !st.choice {
			if x, ok := m[st.arg]; ok {
				walk(x, rest, "", st.arg, fn)
			}
			return
		}
		// A choice element: arg followed by a type name.
		for k, x := range m {
			if len(k) > len(st.arg) && strings.HasPrefix(k, st.arg) && isUpper(k[len(st.arg)]) {
				walk(x, rest, k[len(st.arg):], st.arg, fn)
			}
		}
	case opAs:
		if strings.EqualFold(typ, st.arg) {
			walk(v, rest, typ, field, fn)
		}
	case opWhereIs:
		if m, ok := v.(map[string]any); ok {
			if s, _ := m["reference"].(string); s != "" {
				if r, ok := parseRef(s); ok && r.typ == st.arg {
					walk(v, rest, typ, field, fn)
				}
			}
		}
	case opWhereEq:
		if m, ok := v.(map[string]any); ok {
			if s, _ := m[st.arg].(string); s == st.val {
				walk(v, rest, typ, field, fn)
			}
		}
	}
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }

// A key is one indexable value extracted from a resource, before it is
// attached to a posting list: (a, b) as described at posting.
type key struct {
	a, b     string
	text     bool // a token's display text, searched with :text
	implicit bool // a token whose system is implicit (code, boolean, string)
}

// tokens appends the token keys of one selected element
// (search.html#token): Coding and CodeableConcept give system|code,
// Identifier system|value, ContactPoint its value, and code, boolean, id,
// string and uri values their text with an implicit system. Display texts
// (CodeableConcept.text, Coding.display, Identifier.type.text) are kept as
// text keys for :text.
func tokens(n node, out []key) []key {
	switch v := n.v.(type) {
	case string:
		return append(out, key{b: v, implicit: true})
	case bool:
		if v {
			return append(out, key{b: "true", implicit: true})
		}
		return append(out, key{b: "false", implicit: true})
	case json.Number:
		return append(out, key{b: v.String(), implicit: true})
	case float64:
		return append(out, key{b: strconv.FormatFloat(v, 'f', -1, 64), implicit: true})
	case map[string]any:
		switch {
		case n.typ == "CodeableConcept" || v["coding"] != nil || (v["text"] != nil && v["value"] == nil && v["code"] == nil):
			if cs, ok := v["coding"].([]any); ok {
				for _, c := range cs {
					if cm, ok := c.(map[string]any); ok {
						out = coding(cm, out)
					}
				}
			}
			if t, _ := v["text"].(string); t != "" {
				out = append(out, key{a: t, b: fold(t), text: true})
			}
		case n.typ == "ContactPoint" || n.field == "telecom":
			if val, _ := v["value"].(string); val != "" {
				out = append(out, key{b: val})
			}
		case v["value"] != nil:
			// Identifier.
			if val, _ := v["value"].(string); val != "" {
				sys, _ := v["system"].(string)
				out = append(out, key{a: sys, b: val})
			}
			if t, ok := v["type"].(map[string]any); ok {
				if s, _ := t["text"].(string); s != "" {
					out = append(out, key{a: s, b: fold(s), text: true})
				}
			}
		default:
			out = coding(v, out)
		}
	}
	return out
}

func coding(c map[string]any, out []key) []key {
	sys, _ := c["system"].(string)
	if code, _ := c["code"].(string); code != "" {
		out = append(out, key{a: sys, b: code})
	}
	if d, _ := c["display"].(string); d != "" {
		out = append(out, key{a: d, b: fold(d), text: true})
	}
	return out
}

// stringParts are the string elements of HumanName and Address a string
// search on the whole datatype matches (search.html#string: "any of the
// string fields").
var stringParts = []string{"family", "given", "prefix", "suffix", "text", "line", "city", "district", "state", "postalCode", "country"}

// strs appends the string keys (raw, folded) of one selected element.
func strs(n node, out []key) []key {
	add := func(s string) {
		if s != "" {
			out = append(out, key{a: s, b: fold(s)})
		}
	}
	switch v := n.v.(type) {
	case string:
		add(v)
	case map[string]any:
		for _, f := range stringParts {
			switch x := v[f].(type) {
			case string:
				add(x)
			case []any:
				for _, y := range x {
					if s, ok := y.(string); ok {
						add(s)
					}
				}
			}
		}
	}
	return out
}

// refs appends the reference keys (type, id) of one selected element; see
// parseRef. A canonical (a plain string) is kept whole.
func refs(n node, out []key) []key {
	var s string
	switch v := n.v.(type) {
	case string:
		s = v
	case map[string]any:
		s, _ = v["reference"].(string)
	}
	if r, ok := parseRef(s); ok {
		out = append(out, key{a: r.typ, b: r.id})
	}
	return out
}

// ref is a parsed reference: typ/id for a resource reference, or typ ""
// and id the whole string for anything else (urn:uuid:..., a canonical).
type ref struct{ typ, id string }

// parseRef parses a reference as stored or searched: "Patient/123",
// "Patient/123/_history/2" and "https://host/fhir/Patient/123" all give
// Patient, 123 (whatever the base: the index does not know its own);
// contained references ("#x") and empty strings are not indexable.
func parseRef(s string) (ref, bool) {
	if s == "" || s[0] == '#' {
		return ref{}, false
	}
	if i := strings.Index(s, "/_history/"); i > 0 {
		s = s[:i]
	}
	absolute := strings.Contains(s, "://")
	body := s
	if absolute {
		body = s[strings.Index(s, "://")+3:]
	}
	if j := strings.LastIndexByte(body, '/'); j > 0 {
		id := body[j+1:]
		head := body[:j]
		typ := head[strings.LastIndexByte(head, '/')+1:]
		if isType(typ) && isID(id) && (absolute || !strings.Contains(head, "/")) {
			return ref{typ, id}, true
		}
	}
	return ref{id: s}, true
}

// isType reports whether s looks like a resource type name.
func isType(s string) bool { return s != "" && isUpper(s[0]) && isName(s) }

// isID reports whether s is a valid FHIR id: [A-Za-z0-9\-\.]{1,64}.
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// dates appends the ranges of one selected element: date, dateTime and
// instant by their precision, Period from its start to its end (an absent
// bound is open), Timing by its outer limits (events and repeat.bounds).
// Values that do not parse are not indexed.
func dates(n node, out []span) []span {
	switch v := n.v.(type) {
	case string:
		if s, ok := parseDate(v); ok {
			out = append(out, s)
		}
	case map[string]any:
		if _, ok := v["start"]; ok || v["end"] != nil {
			if s, ok := period(v); ok {
				out = append(out, s)
			}
			break
		}
		// Timing: the outer limits only.
		lim, found := span{posInf, negInf}, false
		widen := func(s span) {
			lim.lo, lim.hi, found = min(lim.lo, s.lo), max(lim.hi, s.hi), true
		}
		if evs, ok := v["event"].([]any); ok {
			for _, e := range evs {
				if es, _ := e.(string); es != "" {
					if s, ok := parseDate(es); ok {
						widen(s)
					}
				}
			}
		}
		if r, ok := v["repeat"].(map[string]any); ok {
			if b, ok := r["boundsPeriod"].(map[string]any); ok {
				if s, ok := period(b); ok {
					widen(s)
				}
			}
		}
		if found {
			out = append(out, lim)
		}
	}
	return out
}

// period is the range of a Period; false if neither bound parses.
func period(m map[string]any) (span, bool) {
	s := span{negInf, posInf}
	ok := false
	if v, _ := m["start"].(string); v != "" {
		if r, good := parseDate(v); good {
			s.lo, ok = r.lo, true
		}
	}
	if v, _ := m["end"].(string); v != "" {
		if r, good := parseDate(v); good {
			s.hi, ok = r.hi, true
		}
	}
	return s, ok
}

// deceasedValue evaluates "deceased.exists() and deceased != false".
func deceasedValue(n node) bool {
	b, isBool := n.v.(bool)
	return !isBool || b
}
