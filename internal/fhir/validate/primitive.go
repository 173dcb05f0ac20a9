package validate

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// The FHIR R4 schema's patterns for the primitive types, as they appear in
// fhir.schema.json.
const (
	patString   = `^[ \r\n\t\S]+$`
	patURI      = `^\S*$`
	patCode     = `^[^\s]+(\s[^\s]+)*$`
	patID       = `^[A-Za-z0-9\-\.]{1,64}$`
	patDate     = `^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?$`
	patDateTime = `^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$`
	patInstant  = `^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))$`
	patTime     = `^([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?$`
	patOID      = `^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`
	patUUID     = `^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`
	patBase64   = `^(\s*([0-9a-zA-Z\+/=]){4}\s*)+$`
)

// patterns describes, for each schema pattern, what a failing value is
// not, without quoting it. Patterns missing here only constrain numbers
// and booleans, which the schema's type keyword rejects first.
var patterns = map[string]string{
	patString:   "is not a valid string (it must not be empty or contain a form feed)",
	patURI:      "is not a valid URI (it must not contain whitespace)",
	patCode:     "is not a valid code (no leading, trailing or repeated whitespace)",
	patID:       "is not a valid id (1 to 64 of A-Z, a-z, 0-9, '-' and '.')",
	patDate:     "is not a valid date (YYYY, YYYY-MM or YYYY-MM-DD)",
	patDateTime: "is not a valid dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.f] with a time zone)",
	patInstant:  "is not a valid instant (YYYY-MM-DDThh:mm:ss[.f] with a time zone)",
	patTime:     "is not a valid time (hh:mm:ss[.f])",
	patOID:      "is not a valid OID (urn:oid:...)",
	patUUID:     "is not a valid UUID (urn:uuid: and lower-case hex)",
	patBase64:   "is not valid base64",
}

// fastMatchers are hand-written equivalents of the hot schema patterns
// (Go's regexp is a fifth of the schema's cost otherwise). Each is
// differentially tested against regexp in primitive_test.go.
var fastMatchers = map[string]func(string) bool{
	patString:   matchString,
	patURI:      matchURI,
	patCode:     matchCode,
	patID:       matchID,
	patDate:     func(s string) bool { return parseDate(s, kindDate).ok },
	patDateTime: func(s string) bool { return parseDate(s, kindDateTime).ok },
	patInstant:  func(s string) bool { return parseDate(s, kindInstant).ok },
	patTime:     matchTime,
}

type fastRegexp struct {
	pattern string
	match   func(string) bool
}

func (r fastRegexp) MatchString(s string) bool { return r.match(s) }
func (r fastRegexp) String() string            { return r.pattern }

// compileRegexp is the schema compiler's regexp engine.
func compileRegexp(pattern string) (jsonschema.Regexp, error) {
	if m, ok := fastMatchers[pattern]; ok {
		return fastRegexp{pattern, m}, nil
	}
	return regexp.Compile(pattern)
}

// isSpace reports whether r is in RE2's \s class.
func isSpace(r rune) bool {
	return r == '\t' || r == '\n' || r == '\f' || r == '\r' || r == ' '
}

// matchString is patString: not empty and no form feed ([ \r\n\t\S] is
// every rune but \f).
func matchString(s string) bool {
	return s != "" && !strings.ContainsRune(s, '\f')
}

// matchURI is patURI: no RE2 whitespace.
func matchURI(s string) bool {
	for i := 0; i < len(s); i++ {
		if isSpace(rune(s[i])) {
			return false
		}
	}
	return true
}

// matchCode is patCode: non-empty runs of non-space separated by single
// whitespace runes, none leading or trailing.
func matchCode(s string) bool {
	if s == "" {
		return false
	}
	prevSpace := true // so a leading space fails
	for i := 0; i < len(s); i++ {
		sp := isSpace(rune(s[i]))
		if sp && prevSpace {
			return false
		}
		prevSpace = sp
	}
	return !prevSpace
}

// matchID is patID.
func matchID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// matchTime is patTime.
func matchTime(s string) bool {
	n, ok := scanClock(s)
	return ok && n == len(s)
}

// dateParse is what parseDate found.
type dateParse struct {
	ok        bool // the string matches the type's schema pattern
	year, mon int  // mon is 0 when absent
	day       int  // 0 when absent
}

// parseDate parses a date, dateTime or instant exactly as the schema's
// pattern for that kind accepts it. It does not check that the day exists
// in the month; see realDate.
func parseDate(s string, k kind) dateParse {
	var p dateParse
	if len(s) < 4 || !digits(s[:4]) || s[:4] == "0000" {
		return p
	}
	p.year = atoi(s[:4])
	rest := s[4:]
	if rest == "" {
		p.ok = k != kindInstant
		return p
	}
	if len(rest) < 3 || rest[0] != '-' || !digits(rest[1:3]) {
		return p
	}
	p.mon = atoi(rest[1:3])
	if p.mon < 1 || p.mon > 12 {
		return p
	}
	rest = rest[3:]
	if rest == "" {
		p.ok = k != kindInstant
		return p
	}
	if len(rest) < 3 || rest[0] != '-' || !digits(rest[1:3]) {
		return p
	}
	p.day = atoi(rest[1:3])
	if p.day < 1 || p.day > 31 {
		return p
	}
	rest = rest[3:]
	if rest == "" {
		p.ok = k == kindDate || k == kindDateTime
		return p
	}
	if k == kindDate || rest[0] != 'T' {
		return p
	}
	n, ok := scanClock(rest[1:])
	if !ok {
		return p
	}
	if !zone(rest[1+n:]) {
		return p
	}
	p.ok = true
	return p
}

// scanClock scans hh:mm:ss(.f+)? at the start of s and returns its length.
func scanClock(s string) (int, bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' || !digits(s[:2]) || !digits(s[3:5]) || !digits(s[6:8]) {
		return 0, false
	}
	if atoi(s[:2]) > 23 || s[3] > '5' || (s[6] > '5' && s[6:8] != "60") {
		return 0, false
	}
	n := 8
	if n < len(s) && s[n] == '.' {
		m := n + 1
		for m < len(s) && '0' <= s[m] && s[m] <= '9' {
			m++
		}
		if m == n+1 {
			return 0, false
		}
		n = m
	}
	return n, true
}

// zone reports whether s is exactly a schema time zone: Z, or ±hh:mm with
// hh 00-13 or 14:00.
func zone(s string) bool {
	if s == "Z" {
		return true
	}
	if len(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !digits(s[1:3]) || !digits(s[4:6]) {
		return false
	}
	h := atoi(s[1:3])
	return h <= 13 && s[4] <= '5' || s[1:] == "14:00"
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi converts a short run of ASCII digits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}

// realDate reports whether a parsed date names a day that exists: the
// schema's pattern accepts 2023-02-30 and 2023-04-31.
func realDate(p dateParse) bool {
	if p.day == 0 {
		return true
	}
	return p.day <= daysIn(p.year, p.mon)
}

func daysIn(year, mon int) int {
	switch mon {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	default:
		return 31
	}
}

// integerProblem checks a number given for an integer, positiveInt or
// unsignedInt element (the schema's patterns for those apply only to
// strings, so it lets 1.5 through). It returns what is wrong, or "".
func integerProblem(v any, k kind) string {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = string(v)
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return "" // the schema reports the wrong JSON type
	}
	var what string
	min, max := int64(-1<<31), int64(1<<31-1)
	switch k {
	case kindPositiveInt:
		what, min = "positiveInt (a whole number from 1 to 2147483647)", 1
	case kindUnsignedInt:
		what, min = "unsignedInt (a whole number from 0 to 2147483647)", 0
	default:
		what = "integer (a whole number from -2147483648 to 2147483647)"
	}
	n, err := strconv.ParseInt(s, 10, 64)
	// Leading zeros, "-0", fractions and exponents are not integers in
	// FHIR JSON even when the value is whole.
	if err != nil || n < min || n > max || (len(s) > 1 && s[0] == '0') || strings.HasPrefix(s, "-0") || strings.HasPrefix(s, "+") {
		return "is not a valid " + what
	}
	return ""
}
