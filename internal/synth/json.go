package synth

import (
	"strconv"
	"unicode/utf8"
)

// The generator builds resources as ordered JSON trees rather than Go
// structs or maps: the element order is the one a reader expects
// (resourceType first, as in the specification's examples), it is fixed by
// construction so output is byte-for-byte reproducible, and one encoder
// covers all seventeen resource types.
//
// An obj field whose value is empty (nil, "", a nil or empty obj or arr)
// is omitted, which keeps optional elements out of the builders' way and
// can never produce the empty strings and arrays FHIR forbids.

// obj is a JSON object with its keys in writing order.
type obj []kv

type kv struct {
	k string
	v any
}

// arr is a JSON array.
type arr []any

// dec is a FHIR decimal written with a fixed number of fraction digits.
type dec struct {
	v    float64
	prec int
}

// empty reports whether an object field would be omitted.
func empty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case obj:
		return len(v) == 0
	case arr:
		return len(v) == 0
	case raw:
		return len(v) == 0
	}
	return false
}

// appendJSON appends the JSON encoding of v. It panics on a type it does
// not know, which is a bug in a builder, caught by every test.
func appendJSON(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		return appendString(b, v)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case bool:
		return strconv.AppendBool(b, v)
	case dec:
		return strconv.AppendFloat(b, v.v, 'f', v.prec, 64)
	case raw:
		return append(b, v...)
	case obj:
		b = append(b, '{')
		first := true
		for _, f := range v {
			if empty(f.v) {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, f.k)
			b = append(b, ':')
			b = appendJSON(b, f.v)
		}
		return append(b, '}')
	case arr:
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	panic("synth: cannot encode a value of this type")
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD, everything else
// (including non-ASCII letters and '<', '>', '&') written as is.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0 // s[start:i] is pending, needing no escapes
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != 0x7f {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
