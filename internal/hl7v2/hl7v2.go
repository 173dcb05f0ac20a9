// Package hl7v2 reads HL7 version 2 messages in their pipe-delimited
// ER7 encoding, converts the supported ones to FHIR R4 transaction
// Bundles, builds acknowledgements, and carries messages over MLLP.
//
// Parse is strict about structure and limits (MaxMessageBytes,
// MaxSegments, MaxFields, MaxRepetitions) and lenient about content:
// unknown escape sequences are kept as text. Convert maps ADT^A01, ADT^A04,
// ADT^A08 and ORU^R01 to Patient, Encounter, Observation and
// DiagnosticReport resources; numeric results go through package ucum.
// ACK builds the reply a sender expects, and Serve and Send speak MLLP.
//
// Messages carry protected health information. No error, issue or log
// line of this package contains a field value: they name the segment and
// field (e.g. "PID-7" or "OBX(2)-5") and say what is wrong. The only
// values quoted are message types, character set names and units, which
// describe the message, not the patient.
//
// Parse, Convert and ACK perform no I/O and keep no state; they are safe
// for concurrent use, as are a Message's read methods.
package hl7v2

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Limits enforced by Parse.
const (
	MaxMessageBytes = 1 << 20 // bytes of one message, also the MLLP frame limit
	MaxSegments     = 10000   // segments in one message
	MaxFields       = 1000    // fields in one segment
	MaxRepetitions  = 1000    // repetitions of one field
)

// Error classes, wrapped by *Error. Who returns which is documented on
// each function.
var (
	// ErrMalformed: the bytes are not a well-formed ER7 message.
	ErrMalformed = errors.New("hl7v2: malformed message")
	// ErrInvalid: the message is well formed but its content cannot be
	// converted (a required field is empty, a date is not a date, ...).
	ErrInvalid = errors.New("hl7v2: invalid content")
	// ErrUnsupported: a message type, character set or structure this
	// package does not handle.
	ErrUnsupported = errors.New("hl7v2: unsupported message")
)

// Error is a problem at a place in a message. Its text names the place
// and the problem but never contains field values.
type Error struct {
	// Loc is where: a field path such as "PID-7" or "OBX(2)-5", a segment
	// such as "segment 4", or "" for the whole message.
	Loc string
	// Kind is ErrMalformed, ErrInvalid or ErrUnsupported.
	Kind error
	// Err says what is wrong; it may wrap a cause such as a
	// ucum.ErrUnknownUnit.
	Err error
}

func (e *Error) Error() string {
	if e.Loc == "" {
		return "hl7v2: " + e.Err.Error()
	}
	return "hl7v2: " + e.Loc + ": " + e.Err.Error()
}

// Unwrap returns Kind and Err, so that errors.Is finds both.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

func errorf(kind error, loc, format string, args ...any) *Error {
	return &Error{Loc: loc, Kind: kind, Err: fmt.Errorf(format, args...)}
}

// Delimiters are a message's separators, from MSH-1 and MSH-2.
type Delimiters struct {
	Field, Component, Repetition, Escape, Subcomponent byte
	// Truncation is the fifth encoding character of v2.7 and later
	// (usually '#'), or 0 when MSH-2 has four characters.
	Truncation byte
}

// defaultDelimiters are |^~\& — used by ACK when there is no message.
func defaultDelimiters() Delimiters {
	return Delimiters{Field: '|', Component: '^', Repetition: '~', Escape: '\\', Subcomponent: '&'}
}

// encoding is what reading a field's text needs.
type encoding struct {
	Delimiters
	latin1 bool // MSH-18 is 8859/1: \Xhh\ escapes are Latin-1 bytes
}

// Message is a parsed HL7 v2 message. Its text is kept as received
// (escaped) and split and unescaped when read.
type Message struct {
	Delims   Delimiters
	Segments []Segment
	enc      encoding
}

// Segment is one segment of a message.
type Segment struct {
	Name string
	// fields[i] is the escaped text of field i; fields[0] is the name.
	// For MSH, fields[1] is the field separator and fields[2] the encoding
	// characters, as HL7 numbers them.
	fields []string
	enc    encoding
}

// Parse parses one ER7 message. Segments end with CR, LF or CRLF; blank
// lines are skipped. MSH-18 may declare ASCII, UNICODE UTF-8 or 8859/1
// (which is converted to UTF-8); without it the message must be UTF-8.
//
// Errors are *Error wrapping ErrMalformed (not ER7, limits exceeded, MSH-9
// or MSH-10 empty) or ErrUnsupported (a character set, or batch segments:
// use Split first). Parse does not keep b.
func Parse(b []byte) (*Message, error) {
	return parse(b, false)
}

// ParseHeader parses only the MSH segment of a message, with the checks
// Parse makes on it. It is meant for acknowledging a message that Parse
// rejected: ACK needs only the header.
func ParseHeader(b []byte) (*Message, error) {
	return parse(b, true)
}

func parse(b []byte, headerOnly bool) (*Message, error) {
	if len(b) > MaxMessageBytes {
		return nil, errorf(ErrMalformed, "", "message is %d bytes, limit %d", len(b), MaxMessageBytes)
	}
	b = bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return nil, errorf(ErrMalformed, "", "message is empty")
	}
	if !bytes.HasPrefix(b, []byte("MSH")) {
		return nil, errorf(ErrMalformed, "", "message does not start with an MSH segment")
	}
	d, err := delimiters(b)
	if err != nil {
		return nil, err
	}
	if headerOnly {
		if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
			b = b[:i]
		}
	}
	enc := encoding{Delimiters: d}
	text, err := decodeCharset(b, &enc)
	if err != nil {
		return nil, err
	}

	m := &Message{Delims: d, enc: enc}
	n := 0
	for line := range strings.FieldsFuncSeq(text, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if strings.TrimSpace(line) == "" {
			continue
		}
		n++
		if n > MaxSegments {
			return nil, errorf(ErrMalformed, "", "message has more than %d segments", MaxSegments)
		}
		seg, err := parseSegment(line, n, enc)
		if err != nil {
			return nil, err
		}
		m.Segments = append(m.Segments, seg)
		if headerOnly {
			break
		}
	}
	msh := &m.Segments[0]
	if msh.Field(9).Value() == "" {
		return nil, errorf(ErrMalformed, "MSH-9", "message type is empty")
	}
	if msh.Field(10).Value() == "" {
		return nil, errorf(ErrMalformed, "MSH-10", "message control ID is empty")
	}
	return m, nil
}

// delimiters reads MSH-1 and MSH-2 from the start of a message.
func delimiters(b []byte) (Delimiters, error) {
	if len(b) < 8 {
		return Delimiters{}, errorf(ErrMalformed, "MSH-2", "the header is truncated before the encoding characters")
	}
	fs := b[3]
	if !isDelimiter(fs) {
		return Delimiters{}, errorf(ErrMalformed, "MSH-1", "the field separator is a letter, digit, space or control character")
	}
	end := 4
	for end < len(b) && b[end] != fs && b[end] != '\r' && b[end] != '\n' {
		end++
	}
	enc := b[4:end]
	if len(enc) != 4 && len(enc) != 5 {
		return Delimiters{}, errorf(ErrMalformed, "MSH-2", "there are %d encoding characters, want 4 (or 5 from v2.7)", len(enc))
	}
	seen := map[byte]bool{fs: true}
	for _, c := range enc {
		if !isDelimiter(c) || seen[c] {
			return Delimiters{}, errorf(ErrMalformed, "MSH-2", "the encoding characters must be distinct punctuation, different from the field separator")
		}
		seen[c] = true
	}
	d := Delimiters{Field: fs, Component: enc[0], Repetition: enc[1], Escape: enc[2], Subcomponent: enc[3]}
	if len(enc) == 5 {
		d.Truncation = enc[4]
	}
	return d, nil
}

func isDelimiter(c byte) bool {
	return c > ' ' && c < 0x7f && !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z')
}

// decodeCharset returns the message text as UTF-8, following MSH-18.
func decodeCharset(b []byte, enc *encoding) (string, error) {
	// MSH-18 of the first segment; delimiters are ASCII in every charset
	// accepted here.
	first := b
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		first = b[:i]
	}
	var cs string
	if fields := bytes.Split(first, []byte{enc.Field}); len(fields) > 17 {
		f := fields[17]
		if i := bytes.IndexByte(f, enc.Repetition); i >= 0 {
			f = f[:i]
		}
		if i := bytes.IndexByte(f, enc.Component); i >= 0 {
			f = f[:i]
		}
		cs = strings.ToUpper(strings.TrimSpace(string(f)))
	}
	switch cs {
	case "", "ASCII", "UNICODE UTF-8", "UTF-8", "UTF8":
		if !utf8.Valid(b) {
			if cs == "" {
				return "", errorf(ErrMalformed, "MSH-18", "the message is not valid UTF-8 and no character set is declared; declare 8859/1 or send UTF-8")
			}
			return "", errorf(ErrMalformed, "MSH-18", "the message is not valid UTF-8")
		}
		return string(b), nil
	case "8859/1":
		enc.latin1 = true
		return latin1ToUTF8(b), nil
	default:
		return "", errorf(ErrUnsupported, "MSH-18", "character set %s is not supported (ASCII, UNICODE UTF-8, 8859/1)", safeCode(cs))
	}
}

func latin1ToUTF8(b []byte) string {
	var sb strings.Builder
	sb.Grow(len(b) + len(b)/8)
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}

// safeCode returns s quoted if it looks like a code (short, plain ASCII),
// or a placeholder: codes may be quoted in errors, free text may not.
func safeCode(s string) string {
	if s == "" || len(s) > 20 {
		return "(not shown)"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || strings.IndexByte(" /_.-^", c) >= 0) {
			return "(not shown)"
		}
	}
	return fmt.Sprintf("%q", s)
}

// parseSegment splits one segment line; n is its 1-based position.
func parseSegment(line string, n int, enc encoding) (Segment, error) {
	loc := fmt.Sprintf("segment %d", n)
	if len(line) < 3 || !isSegmentName(line[:3]) || len(line) > 3 && line[3] != enc.Field {
		// Never quote the name: a line break inside a field makes field
		// text look like a segment.
		return Segment{}, errorf(ErrMalformed, loc, "the segment name is not three upper-case letters or digits followed by the field separator")
	}
	name := line[:3]
	switch {
	case name == "MSH" && n > 1:
		return Segment{}, errorf(ErrMalformed, loc, "a second MSH segment; split batches into messages with Split")
	case name == "FHS" || name == "BHS" || name == "FTS" || name == "BTS":
		return Segment{}, errorf(ErrUnsupported, loc, "batch segment %s; split batches into messages with Split", name)
	}
	if c := strings.Count(line, string(enc.Field)); c > MaxFields {
		return Segment{}, errorf(ErrMalformed, loc, "%s has more than %d fields", name, MaxFields)
	}
	fields := strings.Split(line, string(enc.Field))
	if name == "MSH" {
		// MSH-1 is the separator itself; MSH-2 the encoding characters.
		fields = append([]string{"MSH", string(enc.Field)}, fields[1:]...)
	}
	for i, f := range fields {
		if name == "MSH" && i <= 2 {
			continue
		}
		if strings.Count(f, string(enc.Repetition)) >= MaxRepetitions {
			return Segment{}, errorf(ErrMalformed, fmt.Sprintf("%s-%d", name, i), "more than %d repetitions", MaxRepetitions)
		}
	}
	return Segment{Name: name, fields: fields, enc: enc}, nil
}

func isSegmentName(s string) bool {
	if len(s) != 3 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < 3; i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Split splits a file or stream of ER7 messages into messages, each
// starting at an MSH segment. Batch envelope segments (FHS, BHS, BTS,
// FTS), blank lines and stray MLLP framing bytes between messages are
// dropped; text before the first MSH is ignored. The returned slices
// alias data.
func Split(data []byte) [][]byte {
	var msgs [][]byte
	start, end := -1, -1
	flush := func() {
		if start >= 0 && end > start {
			msgs = append(msgs, data[start:end])
		}
		start, end = -1, -1
	}
	for i := 0; i < len(data); {
		j := i
		for j < len(data) && data[j] != '\r' && data[j] != '\n' {
			j++
		}
		line := data[i:j]
		lineStart := i
		for len(line) > 0 && (line[0] == 0x0b || line[0] == 0x1c) {
			line = line[1:]
			lineStart++
		}
		switch {
		case bytes.HasPrefix(line, []byte("MSH")):
			flush()
			start, end = lineStart, j
		case len(bytes.Trim(line, " \t\x1c")) == 0:
			// Blank or framing only: ends nothing, adds nothing.
		case len(line) >= 3 && isBatchSegment(string(line[:3])):
			flush()
		case start >= 0:
			end = j
			// A frame end inside the line closes the message.
			if k := bytes.IndexByte(line, 0x1c); k >= 0 {
				end = lineStart + k
				flush()
			}
		}
		i = j + 1
	}
	flush()
	return msgs
}

func isBatchSegment(s string) bool { return s == "FHS" || s == "BHS" || s == "BTS" || s == "FTS" }
