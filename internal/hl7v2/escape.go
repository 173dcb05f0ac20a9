package hl7v2

import (
	"strings"
	"unicode/utf8"
)

// unescape decodes HL7 escape sequences:
//
//	\F\ \S\ \T\ \R\ \E\ \P\   the delimiters (\P\: truncation, v2.7)
//	\Xhh...\                  bytes in hex (Latin-1 when MSH-18 is 8859/1)
//	\.br\ \.sp\ \.sp n\       a line break
//	\H\ \N\ \.in n\ \.ti n\ \.sk n\ \.fi\ \.nf\ \.ce\   formatting: dropped
//	\Cxxyy\ \Mxxyyzz\ \Zxx\   character set switches, local escapes: dropped
//
// A sequence that is unknown or not terminated is kept as text.
// Control characters other than tab and line breaks are dropped.
func unescape(s string, enc encoding) string {
	e := enc.Escape
	if strings.IndexByte(s, e) < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		c := s[i]
		if c != e {
			b.WriteByte(c)
			i++
			continue
		}
		j := strings.IndexByte(s[i+1:], e)
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		seq := s[i+1 : i+1+j]
		if out, ok := decodeEscape(seq, enc); ok {
			b.WriteString(out)
			i += j + 2
			continue
		}
		b.WriteByte(c)
		i++
	}
	out := b.String()
	if !utf8.ValidString(out) {
		out = strings.ToValidUTF8(out, "\uFFFD")
	}
	return out
}

func decodeEscape(seq string, enc encoding) (string, bool) {
	switch seq {
	case "F":
		return string(enc.Field), true
	case "S":
		return string(enc.Component), true
	case "T":
		return string(enc.Subcomponent), true
	case "R":
		return string(enc.Repetition), true
	case "E":
		return string(enc.Escape), true
	case "P":
		if enc.Truncation != 0 {
			return string(enc.Truncation), true
		}
		return "", false
	case "H", "N":
		return "", true
	}
	if seq == "" {
		return "", false
	}
	switch seq[0] {
	case 'X':
		return decodeHex(seq[1:], enc.latin1)
	case '.':
		cmd := seq[1:]
		switch {
		case cmd == "br", cmd == "sp", strings.HasPrefix(cmd, "sp") && isNumber(strings.TrimSpace(cmd[2:])):
			return "\n", true
		case cmd == "fi", cmd == "nf", cmd == "ce":
			return "", true
		case len(cmd) > 2 && (strings.HasPrefix(cmd, "in") || strings.HasPrefix(cmd, "ti") || strings.HasPrefix(cmd, "sk")):
			return "", true
		}
		return "", false
	case 'C', 'M', 'Z':
		if len(seq) > 1 && len(seq) <= 16 {
			return "", true
		}
	}
	return "", false
}

func decodeHex(h string, latin1 bool) (string, bool) {
	if h == "" || len(h)%2 != 0 {
		return "", false
	}
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		hi, ok1 := hexVal(h[i])
		lo, ok2 := hexVal(h[i+1])
		if !ok1 || !ok2 {
			return "", false
		}
		c := hi<<4 | lo
		switch {
		case c == '\t' || c == '\n':
			b.WriteByte(c)
		case c == '\r':
			b.WriteByte('\n')
		case c < 0x20 || c == 0x7f:
			// Dropped: not allowed in FHIR strings.
		case latin1 && c >= 0x80:
			b.WriteRune(rune(c))
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// escape encodes text for a field: delimiters become escape sequences,
// line breaks \.br\, other control characters but tab are dropped.
func escape(s string, d Delimiters) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == d.Escape:
			b.WriteString(seq(d, 'E'))
		case c == d.Field:
			b.WriteString(seq(d, 'F'))
		case c == d.Component:
			b.WriteString(seq(d, 'S'))
		case c == d.Subcomponent:
			b.WriteString(seq(d, 'T'))
		case c == d.Repetition:
			b.WriteString(seq(d, 'R'))
		case d.Truncation != 0 && c == d.Truncation:
			b.WriteString(seq(d, 'P'))
		case c == '\r' && i+1 < len(s) && s[i+1] == '\n':
			// CRLF: one break, written at the LF.
		case c == '\r' || c == '\n':
			b.WriteString(string(d.Escape) + ".br" + string(d.Escape))
		case c < 0x20 && c != '\t' || c == 0x7f:
			// dropped
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func seq(d Delimiters, c byte) string { return string([]byte{d.Escape, c, d.Escape}) }
