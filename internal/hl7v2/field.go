package hl7v2

import (
	"fmt"
	"strconv"
	"strings"
)

// Field is one field of a segment, with its repetitions. The zero Field
// is an absent one.
type Field struct {
	raw string
	enc encoding
	lit bool // MSH-1 and MSH-2: not split, not unescaped
}

// Rep is one repetition of a field, with its components.
type Rep struct {
	raw string
	enc encoding
	lit bool
}

// Field returns field n (1-based, as HL7 numbers them; MSH-1 is the field
// separator). An absent field is the zero Field.
func (s *Segment) Field(n int) Field {
	if n < 1 || n >= len(s.fields) {
		return Field{}
	}
	return Field{raw: s.fields[n], enc: s.enc, lit: s.Name == "MSH" && n <= 2}
}

// NumFields returns the number of the last field present.
func (s *Segment) NumFields() int { return len(s.fields) - 1 }

// Raw returns the field's text as received, still escaped.
func (f Field) Raw() string { return f.raw }

// Empty reports whether the field is absent or empty. The HL7 null `""`
// is not empty here; see Value.
func (f Field) Empty() bool { return f.raw == "" }

// Reps returns the field's repetitions; none if it is empty.
func (f Field) Reps() []Rep {
	if f.raw == "" {
		return nil
	}
	if f.lit {
		return []Rep{{raw: f.raw, enc: f.enc, lit: true}}
	}
	parts := strings.Split(f.raw, string(f.enc.Repetition))
	reps := make([]Rep, len(parts))
	for i, p := range parts {
		reps[i] = Rep{raw: p, enc: f.enc}
	}
	return reps
}

// Rep returns repetition i (1-based), or the zero Rep.
func (f Field) Rep(i int) Rep {
	if f.lit {
		if i == 1 {
			return Rep{raw: f.raw, enc: f.enc, lit: true}
		}
		return Rep{}
	}
	p, ok := nth(f.raw, f.enc.Repetition, i)
	if !ok {
		return Rep{}
	}
	return Rep{raw: p, enc: f.enc}
}

// Value returns the first component of the first repetition, unescaped.
func (f Field) Value() string { return f.Rep(1).Comp(1) }

// Raw returns the repetition's text as received, still escaped.
func (r Rep) Raw() string { return r.raw }

// Comp returns the first subcomponent of component i (1-based),
// unescaped; "" if absent. The HL7 null `""` is returned as is.
func (r Rep) Comp(i int) string { return r.Sub(i, 1) }

// Sub returns subcomponent j of component i (both 1-based), unescaped.
func (r Rep) Sub(i, j int) string {
	if r.lit {
		if i == 1 && j == 1 {
			return r.raw
		}
		return ""
	}
	c, ok := nth(r.raw, r.enc.Component, i)
	if !ok {
		return ""
	}
	s, ok := nth(c, r.enc.Subcomponent, j)
	if !ok {
		return ""
	}
	return unescape(s, r.enc)
}

// NumComps returns the number of components present.
func (r Rep) NumComps() int {
	if r.raw == "" {
		return 0
	}
	if r.lit {
		return 1
	}
	return strings.Count(r.raw, string(r.enc.Component)) + 1
}

// nth returns the i-th (1-based) piece of s split at sep, without
// allocating.
func nth(s string, sep byte, i int) (string, bool) {
	if i < 1 {
		return "", false
	}
	for ; i > 1; i-- {
		k := strings.IndexByte(s, sep)
		if k < 0 {
			return "", false
		}
		s = s[k+1:]
	}
	if k := strings.IndexByte(s, sep); k >= 0 {
		s = s[:k]
	}
	return s, true
}

// Segment returns the n-th (1-based) segment named name, or nil.
func (m *Message) Segment(name string, n int) *Segment {
	for i := range m.Segments {
		if m.Segments[i].Name == name {
			if n--; n == 0 {
				return &m.Segments[i]
			}
		}
	}
	return nil
}

// header returns the MSH segment, or an empty one if m has none (a
// Message not made by Parse).
func (m *Message) header() *Segment {
	if len(m.Segments) == 0 || m.Segments[0].Name != "MSH" {
		return &Segment{}
	}
	return &m.Segments[0]
}

// Type returns the message code and trigger event of MSH-9, e.g. "ADT",
// "A01".
func (m *Message) Type() (code, trigger string) {
	f := m.header().Field(9).Rep(1)
	return f.Comp(1), f.Comp(2)
}

// ControlID returns MSH-10, the message control ID.
func (m *Message) ControlID() string { return m.header().Field(10).Value() }

// Version returns MSH-12, the HL7 version ("2.5.1").
func (m *Message) Version() string { return m.header().Field(12).Value() }

// Get returns the unescaped value at an HL7 path:
//
//	SEG[(n)]-F[(r)][.C[.S]]
//
// e.g. "PID-5.1" (first component of PID-5), "OBX(2)-5" (field 5 of the
// second OBX), "PID-3(2).4.2". Occurrences and repetitions count from 1
// and default to 1, and so do component and subcomponent: "PID-5" is
// "PID-5(1).1.1". Square brackets may replace parentheses. An absent
// value is "" with no error; the error is for a malformed path only.
func (m *Message) Get(path string) (string, error) {
	p, err := parsePath(path)
	if err != nil {
		return "", err
	}
	s := m.Segment(p.seg, p.occ)
	if s == nil {
		return "", nil
	}
	return s.Field(p.field).Rep(p.rep).Sub(p.comp, p.sub), nil
}

type path struct {
	seg                        string
	occ, field, rep, comp, sub int
}

func parsePath(s string) (path, error) {
	bad := func() (path, error) {
		return path{}, fmt.Errorf("hl7v2: malformed path %q, want e.g. PID-5.1 or OBX(2)-5", s)
	}
	p := path{occ: 1, rep: 1, comp: 1, sub: 1}
	if len(s) < 5 || !isSegmentName(s[:3]) {
		return bad()
	}
	p.seg = s[:3]
	rest := s[3:]
	index := func(rest string) (int, string, bool) {
		if rest == "" || rest[0] != '(' && rest[0] != '[' {
			return 1, rest, true
		}
		closer := byte(')')
		if rest[0] == '[' {
			closer = ']'
		}
		k := strings.IndexByte(rest, closer)
		if k < 0 {
			return 0, "", false
		}
		n, err := strconv.Atoi(rest[1:k])
		if err != nil || n < 1 {
			return 0, "", false
		}
		return n, rest[k+1:], true
	}
	var ok bool
	if p.occ, rest, ok = index(rest); !ok || rest == "" || rest[0] != '-' {
		return bad()
	}
	rest = rest[1:]
	k := 0
	for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
		k++
	}
	var err error
	if p.field, err = strconv.Atoi(rest[:k]); err != nil || p.field < 1 {
		return bad()
	}
	if p.rep, rest, ok = index(rest[k:]); !ok {
		return bad()
	}
	if rest != "" {
		parts := strings.Split(rest[1:], ".")
		if rest[0] != '.' || len(parts) > 2 {
			return bad()
		}
		nums := []*int{&p.comp, &p.sub}
		for i, part := range parts {
			n, err := strconv.Atoi(part)
			if err != nil || n < 1 || part[0] == '+' {
				return bad()
			}
			*nums[i] = n
		}
	}
	return p, nil
}
