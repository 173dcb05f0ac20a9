package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// The synthetic patient of these tests. No real person.
const (
	patientName = "Jane Q. Testpatient"
	patientMRN  = "123456"
)

// phi are strings no error or issue may contain.
var phi = []string{"Testpatient", "Jane", patientMRN, "19800229", "Example Street", "5550123", "jane.testpatient"}

func assertNoPHI(t *testing.T, what, s string) {
	t.Helper()
	for _, p := range phi {
		if strings.Contains(s, p) {
			t.Errorf("%s contains PHI %q: %s", what, p, s)
		}
	}
}

// seg builds a segment from (field number, text) pairs; MSH fields start
// at 3 (MSH-1 and MSH-2 are |^~\&).
func seg(name string, kv ...any) string {
	fields := map[int]string{}
	last := 0
	for i := 0; i < len(kv); i += 2 {
		n := kv[i].(int)
		fields[n] = kv[i+1].(string)
		last = max(last, n)
	}
	var b strings.Builder
	b.WriteString(name)
	first := 1
	if name == "MSH" {
		b.WriteString(`|^~\&`)
		first = 3
	}
	for i := first; i <= last; i++ {
		b.WriteByte('|')
		b.WriteString(fields[i])
	}
	return b.String()
}

func msg(segs ...string) []byte { return []byte(strings.Join(segs, "\r") + "\r") }

func msh(typ, control string, more ...any) string {
	kv := []any{3, "ADTSYS", 4, "GOODHEALTH", 5, "MEDLEDGER", 6, "MEDLEDGER",
		7, "20240315083000+0100", 9, typ, 10, control, 11, "P", 12, "2.5.1"}
	return seg("MSH", append(kv, more...)...)
}

var (
	samplePID = seg("PID", 1, "1",
		3, `123456^^^GOODHEALTH&2.16.840.1.113883.19.5&ISO^MR~987654321^^^SSA^SS`,
		5, `Testpatient^Jane^Q.^^Ms.^^L~Smith^Jane^^^^^M`,
		7, "19800229", 8, "F",
		11, `123 Example Street^Apt 4^Springfield^IL^62701^USA^H`,
		13, `^PRN^PH^^1^217^5550123~^NET^Internet^jane.testpatient@example.org`,
		14, `(217)555-0199^WPN^PH`,
		16, "M", 30, "N")
	samplePV1 = seg("PV1", 1, "1", 2, "I", 3, "4E^401^B^GOODHEALTH",
		7, "1234^Attending^Alice^^^Dr.^^^NPI", 19, "VN0001^^^GOODHEALTH^VN",
		44, "20240315080000+0100")
	sampleA01 = msg(msh("ADT^A01^ADT_A01", "MSG00001"), seg("EVN", 1, "A01", 2, "20240315083000+0100"), samplePID, samplePV1)
)

func TestParse(t *testing.T) {
	m, err := Parse(sampleA01)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Segments) != 4 {
		t.Fatalf("got %d segments; want 4", len(m.Segments))
	}
	if d := m.Delims; d != defaultDelimiters() {
		t.Errorf("Delims = %+v", d)
	}
	if c, tr := m.Type(); c != "ADT" || tr != "A01" {
		t.Errorf("Type() = %s, %s", c, tr)
	}
	if m.ControlID() != "MSG00001" || m.Version() != "2.5.1" {
		t.Errorf("ControlID, Version = %q, %q", m.ControlID(), m.Version())
	}
	paths := []struct{ path, want string }{
		{"MSH-1", "|"},
		{"MSH-2", `^~\&`},
		{"MSH-9.2", "A01"},
		{"MSH-9(1).3", "ADT_A01"},
		{"PID-5", "Testpatient"},
		{"PID-5.1", "Testpatient"},
		{"PID-5.2", "Jane"},
		{"PID-5(2).1", "Smith"},
		{"PID-5[2].7", "M"},
		{"PID-3.4", "GOODHEALTH"},
		{"PID-3.4.2", "2.16.840.1.113883.19.5"},
		{"PID-3(2).4", "SSA"},
		{"PID-3(3).1", ""},
		{"PV1-44", "20240315080000+0100"},
		{"PV1(1)-2", "I"},
		{"PV1(2)-2", ""},
		{"OBX-5", ""},
		{"PID-99", ""},
	}
	for _, p := range paths {
		got, err := m.Get(p.path)
		if err != nil || got != p.want {
			t.Errorf("Get(%q) = %q, %v; want %q", p.path, got, err, p.want)
		}
	}
	for _, bad := range []string{"", "PID", "PID5", "pid-5", "PID-0", "PID-5.0", "PID(0)-5", "PID-5.1.2.3", "PID-5(x)", "PID-5.", "PID-a"} {
		if _, err := m.Get(bad); err == nil {
			t.Errorf("Get(%q) succeeded; want a path error", bad)
		}
	}
	pid := m.Segment("PID", 1)
	if n := len(pid.Field(3).Reps()); n != 2 {
		t.Errorf("PID-3 has %d repetitions; want 2", n)
	}
	if pid.Field(5).Rep(1).NumComps() != 7 {
		t.Errorf("PID-5(1) NumComps = %d", pid.Field(5).Rep(1).NumComps())
	}
}

func TestParseOBXOccurrence(t *testing.T) {
	m, err := Parse(sampleORU)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"OBX(2)-5":   "98.6",
		"OBX(2)-6":   "[degF]",
		"OBX(3)-7":   "70-99",
		"OBX(5)-5":   "Fasting^sample",
		"OBR-4.2":    "Basic metabolic panel",
		"OBX(7)-5.1": "<",
		"OBX(7)-5.2": "0.5",
	} {
		if got, err := m.Get(path); err != nil || got != want {
			t.Errorf("Get(%q) = %q, %v; want %q", path, got, err, want)
		}
	}
}

func TestSegmentTerminators(t *testing.T) {
	cr := string(sampleA01)
	for name, in := range map[string]string{
		"LF":          strings.ReplaceAll(cr, "\r", "\n"),
		"CRLF":        strings.ReplaceAll(cr, "\r", "\r\n"),
		"blank lines": "\r\n" + strings.ReplaceAll(cr, "\r", "\r\n\r\n"),
		"BOM":         "\xEF\xBB\xBF" + cr,
		"no final CR": strings.TrimSuffix(cr, "\r"),
	} {
		m, err := Parse([]byte(in))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(m.Segments) != 4 {
			t.Errorf("%s: %d segments; want 4", name, len(m.Segments))
		}
		if got, _ := m.Get("PV1-19"); got != "VN0001" {
			t.Errorf("%s: PV1-19 = %q", name, got)
		}
	}
}

func TestOtherDelimiters(t *testing.T) {
	in := "MSH*!@/%#*APP*FAC*****ADT!A08*C1*P*2.7\rPID*1**42!!!AUTH!MR**Doe!John/S/Smith**20000101\r"
	m, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Delimiters{Field: '*', Component: '!', Repetition: '@', Escape: '/', Subcomponent: '%', Truncation: '#'}
	if m.Delims != want {
		t.Errorf("Delims = %+v; want %+v", m.Delims, want)
	}
	if got, _ := m.Get("PID-5.2"); got != "John!Smith" {
		t.Errorf("PID-5.2 = %q; want escapes decoded with the message's delimiters", got)
	}
	if got, _ := m.Get("PID-3.4"); got != "AUTH" {
		t.Errorf("PID-3.4 = %q", got)
	}
}

func TestUnescape(t *testing.T) {
	d := encoding{Delimiters: defaultDelimiters()}
	d7 := d
	d7.Truncation = '#'
	latin := d
	latin.latin1 = true
	tests := []struct {
		in   string
		enc  encoding
		want string
	}{
		{`plain`, d, "plain"},
		{`a\F\b`, d, "a|b"},
		{`a\S\b\T\c\R\d\E\e`, d, `a^b&c~d\e`},
		{`trunc\P\`, d7, "trunc#"},
		{`trunc\P\`, d, `trunc\P\`},
		{`\X41\\X4243\`, d, "ABC"},
		{`caf\XC3A9\`, d, "café"},
		{`caf\XE9\`, latin, "café"},
		{`bad\XZZ\hex`, d, `bad\XZZ\hex`},
		{`odd\X414\`, d, `odd\X414\`},
		{`nul\X00\dropped`, d, "nuldropped"},
		{`line1\.br\line2`, d, "line1\nline2"},
		{`a\.sp2\b`, d, "a\nb"},
		{`\H\bold\N\ text`, d, "bold text"},
		{`\.in+4\indent`, d, "indent"},
		{`\C2842\x`, d, "x"},
		{`unknown \Q\ kept`, d, `unknown \Q\ kept`},
		{`C:\path`, d, `C:\path`},
		{`ends with \`, d, `ends with \`},
	}
	for _, tt := range tests {
		if got := unescape(tt.in, tt.enc); got != tt.want {
			t.Errorf("unescape(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	d := defaultDelimiters()
	d.Truncation = '#'
	enc := encoding{Delimiters: d}
	for _, s := range []string{`a|b^c&d~e\f#g`, "two\nlines", "crlf\r\nx", "plain"} {
		want := strings.ReplaceAll(s, "\r\n", "\n")
		if got := unescape(escape(s, d), enc); got != want {
			t.Errorf("unescape(escape(%q)) = %q", s, got)
		}
	}
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{`a|b^c&d~e\f#g`, "two\nlines", "crlf\r\nx\ry", "tab\tnul\x00"} {
		f.Add(s)
	}
	d := defaultDelimiters()
	d.Truncation = '#'
	clean := strings.NewReplacer("\r\n", "\n", "\r", "\n")
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return
		}
		want := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f {
				return -1
			}
			return r
		}, clean.Replace(s))
		esc := escape(s, d)
		if strings.ContainsAny(esc, "|^&~#\r\n") {
			t.Fatalf("escape(%q) = %q contains a delimiter", s, esc)
		}
		if got := unescape(esc, encoding{Delimiters: d}); got != want {
			t.Fatalf("unescape(escape(%q)) = %q; want %q", s, got, want)
		}
	})
}

func TestLatin1(t *testing.T) {
	in := append([]byte(seg("MSH", 9, "ADT^A08", 10, "L1", 12, "2.5", 18, "8859/1")+"\r"+"PID|1||7^^^AUTH||M"), 0xfc, 'l', 'l', 'e', 'r', '^', 'J', 0xf6, 'r', 'g', '\r')
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get("PID-5.1"); got != "Müller" {
		t.Errorf("PID-5.1 = %q; want Müller", got)
	}
	if got, _ := m.Get("PID-5.2"); got != "Jörg" {
		t.Errorf("PID-5.2 = %q; want Jörg", got)
	}
}

func TestParseErrors(t *testing.T) {
	big := append([]byte(msh("ADT^A01", "C1")+"\rNTE|1||"), bytes.Repeat([]byte("x"), MaxMessageBytes)...)
	manySegs := msh("ADT^A01", "C1") + strings.Repeat("\rNTE|1", MaxSegments)
	manyFields := msh("ADT^A01", "C1") + "\rNTE" + strings.Repeat("|", MaxFields+1)
	manyReps := msh("ADT^A01", "C1") + "\rPID|1||" + strings.Repeat("~", MaxRepetitions)
	tests := []struct {
		name string
		in   string
		kind error
		loc  string
	}{
		{"empty", "", ErrMalformed, ""},
		{"blank", "\r\n  \r", ErrMalformed, ""},
		{"no MSH", "PID|1||" + patientMRN + "||Testpatient^Jane^Q.", ErrMalformed, ""},
		{"text", patientName, ErrMalformed, ""},
		{"truncated header", "MSH|^~", ErrMalformed, "MSH-2"},
		{"letter as separator", `MSHX^~\&X`, ErrMalformed, "MSH-1"},
		{"three encoding chars", `MSH|^~\|APP`, ErrMalformed, "MSH-2"},
		{"six encoding chars", `MSH|^~\&#!|APP`, ErrMalformed, "MSH-2"},
		{"repeated encoding char", `MSH|^^\&|APP`, ErrMalformed, "MSH-2"},
		{"encoding char is the separator", `MSH|^|\&|APP`, ErrMalformed, "MSH-2"},
		{"no type", seg("MSH", 10, "C1"), ErrMalformed, "MSH-9"},
		{"no control ID", seg("MSH", 9, "ADT^A01"), ErrMalformed, "MSH-10"},
		{"header only to MSH-2", `MSH|^~\&`, ErrMalformed, "MSH-9"},
		{"too large", string(big), ErrMalformed, ""},
		{"too many segments", manySegs, ErrMalformed, ""},
		{"too many fields", manyFields, ErrMalformed, "segment 2"},
		{"too many repetitions", manyReps, ErrMalformed, "PID-3"},
		{"line break inside a name", msh("ADT^A01", "C1") + "\rPID|1||" + patientMRN + "||Testpatient^Jane\nQ. Testpatient^x", ErrMalformed, "segment 3"},
		{"lower-case segment", msh("ADT^A01", "C1") + "\rpid|1", ErrMalformed, "segment 2"},
		{"second MSH", msh("ADT^A01", "C1") + "\r" + msh("ADT^A01", "C2"), ErrMalformed, "segment 2"},
		{"batch", msh("ADT^A01", "C1") + "\rBTS|1", ErrUnsupported, "segment 2"},
		{"invalid UTF-8", msh("ADT^A01", "C1") + "\rPID|1||1||Test\xffpatient", ErrMalformed, "MSH-18"},
		{"unknown charset", seg("MSH", 9, "ADT^A01", 10, "C1", 18, "ISO IR87"), ErrUnsupported, "MSH-18"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Parse error = %v; want an *Error", err)
			}
			if !errors.Is(err, tt.kind) || e.Loc != tt.loc {
				t.Errorf("Parse error = %v (loc %q); want kind %v at %q", err, e.Loc, tt.kind, tt.loc)
			}
			assertNoPHI(t, "error", err.Error())
		})
	}
}

func TestParseHeader(t *testing.T) {
	for _, in := range []string{string(sampleA01) + "not a segment\r", string(sampleA01) + "NTE|1||\xff\r"} {
		if _, err := Parse([]byte(in)); err == nil {
			t.Fatal("Parse accepted a bad message")
		}
		m, err := ParseHeader([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Segments) != 1 || m.ControlID() != "MSG00001" {
			t.Errorf("ParseHeader = %d segments, control ID %q", len(m.Segments), m.ControlID())
		}
	}
}

func TestSplit(t *testing.T) {
	a08 := msg(msh("ADT^A08", "B2"), samplePID)
	file := "FHS|^~\\&|ADTSYS\rBHS|^~\\&|ADTSYS\r" + string(sampleA01) + "\n\n" + "\x0b" + string(a08) + "\x1c\r" + "BTS|2\rFTS|1\r"
	got := Split([]byte(file))
	if len(got) != 2 {
		t.Fatalf("Split found %d messages; want 2: %q", len(got), got)
	}
	for i, want := range []string{"MSG00001", "B2"} {
		m, err := Parse(got[i])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.ControlID() != want || len(m.Segments) < 2 {
			t.Errorf("message %d: control ID %q, %d segments", i, m.ControlID(), len(m.Segments))
		}
	}
	if n := len(Split([]byte("junk\rmore junk\r"))); n != 0 {
		t.Errorf("Split(junk) = %d messages", n)
	}
}

func FuzzParse(f *testing.F) {
	seeds := [][]byte{sampleA01, sampleORU, sampleA04, []byte("MSH|^~\\&|\r"), []byte("MSH*!@/%#*APP*FAC*****ADT!A08*C1\rPID*1**42\r")}
	for _, tt := range convertErrorTests {
		seeds = append(seeds, tt.in)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	paths := []string{"MSH-9.2", "PID-3(2).4.2", "PID-5", "OBX(2)-5", "PV1-44", "NTE-3(3)"}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if h, herr := ParseHeader(b); herr == nil {
				ackParses(t, ACK(h, AckCode(err), err.Error()))
			}
			return
		}
		for _, p := range paths {
			if _, err := m.Get(p); err != nil {
				t.Fatalf("Get(%q): %v", p, err)
			}
		}
		for _, s := range m.Segments {
			for i := 1; i <= s.NumFields(); i++ {
				for _, r := range s.Field(i).Reps() {
					_ = r.Sub(2, 2)
				}
			}
		}
		ackParses(t, ACK(m, AA, "ok"))
		bundle, issues, err := Convert(m, Options{})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Convert error %v is not an *Error", err)
			}
			return
		}
		_ = issues
		if _, err := parseBundle(bundle); err != nil {
			t.Fatalf("Convert produced a bad bundle: %v\n%s", err, bundle)
		}
	})
}

func ackParses(t *testing.T, ack []byte) {
	t.Helper()
	m, err := Parse(ack)
	if err != nil {
		t.Fatalf("ACK does not parse: %v\n%q", err, ack)
	}
	if c, _ := m.Type(); c != "ACK" {
		t.Fatalf("ACK type = %q", c)
	}
	if m.Segment("MSA", 1) == nil {
		t.Fatal("ACK has no MSA")
	}
}

func Example() {
	m, err := Parse([]byte("MSH|^~\\&|LAB|GOODHEALTH|||20240316101500||ORU^R01|C42|P|2.5.1\rPID|1||7^^^GOODHEALTH||Testpatient^Jane\r"))
	if err != nil {
		fmt.Println(err)
		return
	}
	typ, _ := m.Get("MSH-9.1")
	trigger, _ := m.Get("MSH-9.2")
	fmt.Println(typ, trigger, m.ControlID())
	// Output: ORU R01 C42
}
