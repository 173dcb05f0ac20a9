package search

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/fhir"
)

// Paging defaults and limits.
const (
	DefaultCount = 50   // page size when _count is absent
	MaxCount     = 1000 // larger _count values are lowered to this, with an issue
	maxOffset    = 1 << 30
)

// Errors Search returns, wrapped in an *Error, for callers to branch on with
// errors.Is.
var (
	// ErrInvalid: a malformed value (a bad date or prefix, a _count that is
	// not a number, a :missing that is not true or false, an _include
	// without a parameter). The API answers 400.
	ErrInvalid = errors.New("search: invalid parameter value")
	// ErrUnsupported: with Options.Strict, an unknown parameter or an
	// unsupported modifier. The API answers 400.
	ErrUnsupported = errors.New("search: unsupported parameter")
	// ErrType: the resource type is not searchable. The API answers 404.
	ErrType = errors.New("search: resource type not searchable")
)

// Error is a search that cannot be answered. Its message and Issue name the
// parameter but never quote the value, which may be personal data, so both
// are safe to log and to send to the client.
type Error struct {
	Param string     // the parameter's name, as sent (sanitised)
	Issue fhir.Issue // for the OperationOutcome
	Err   error      // ErrInvalid, ErrUnsupported or ErrType
}

func (e *Error) Error() string { return "search: " + e.Issue.Diagnostics }
func (e *Error) Unwrap() error { return e.Err }

func invalid(name, format string, args ...any) *Error {
	return &Error{Param: safeParam(name), Err: ErrInvalid,
		Issue: fhir.Errorf("invalid", "", "parameter %s: %s", safeName(name), fmt.Sprintf(format, args...))}
}

// safeParam returns a parameter name fit to repeat in a message, or "".
// Names are the request's structure, not its values, but a client could put
// anything there: a name not made of the characters FHIR parameter names
// use is not repeated.
func safeParam(s string) string {
	if s == "" || len(s) > 64 || !(s[0] == '_' || isLetter(s[0])) {
		return ""
	}
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.') {
			return ""
		}
	}
	return s
}

// safeName is safeParam quoted, or a placeholder.
func safeName(s string) string {
	if s = safeParam(s); s == "" {
		return "(a parameter name)"
	}
	return strconv.Quote(s)
}

// Options tune one search.
type Options struct {
	// Strict turns what would be an ignored parameter (unknown, or with an
	// unsupported modifier) into an ErrUnsupported error, as asked by
	// Prefer: handling=strict. The default is lenient: ignore and report
	// an issue.
	Strict bool
	// Now is the instant from which the ap prefix measures the distance
	// of a date; zero means time.Now().
	Now time.Time
	// Filter, if set, is asked about every match (by id) before it is
	// counted or paged: matches it refuses are left out of Total, the
	// pages and the includes' sources, so a caller's authorisation
	// shapes the whole result, not a page. It is called with the index
	// read-locked and must not call back into the index.
	Filter func(id string) bool
}

type modifier uint8

const (
	modNone modifier = iota
	modNot
	modMissing
	modText
	modExact
	modContains
	modType // reference :[type]
)

// clause is one parameter occurrence: its values are ORed, clauses ANDed.
type clause struct {
	p       *param
	mod     modifier
	missing bool   // the value of :missing
	refType string // the type of :[type]
	toks    []tokQ
	strs    []string // folded, or raw for :exact
	refs    []ref
	dates   []dateCond
	ids     []string // _id values
}

// tokQ is one token search value: [system|]code.
type tokQ struct {
	sys, code string
	hasSys    bool
}

type sortKey struct {
	p    *param
	desc bool
}

type include struct {
	p      *param
	target string // only references to this type; "" any
}

// query is a parsed search.
type query struct {
	clauses       []clause
	sort          []sortKey
	count, offset int
	includes      []include
	issues        []fhir.Issue
	filter        func(id string) bool
}

// callerParams are left to the caller (they shape the response, not the
// match) and ignored here without an issue.
var callerParams = map[string]bool{"_format": true, "_pretty": true, "_summary": true, "_elements": true, "_total": true}

// unsupportedParams are FHIR's other common and result parameters.
var unsupportedParams = map[string]bool{"_revinclude": true, "_contained": true, "_containedType": true, "_has": true,
	"_list": true, "_text": true, "_content": true, "_query": true, "_filter": true, "_type": true, "_profile": true, "_source": true}

// parse turns query parameters into a query for a schema. Names are taken
// in sorted order so that issues come out the same every time.
func parse(sc *schema, q url.Values, o Options) (*query, error) {
	pq := &query{count: DefaultCount}
	now := o.Now
	ignore := func(name, why string) error {
		is := fhir.Issue{Severity: "warning", Code: "not-supported", Diagnostics: fmt.Sprintf("parameter %s %s: ignored", safeName(name), why)}
		if o.Strict {
			is.Severity = "error"
			is.Diagnostics = fmt.Sprintf("parameter %s %s", safeName(name), why)
			return &Error{Param: safeParam(name), Issue: is, Err: ErrUnsupported}
		}
		pq.issues = append(pq.issues, is)
		return nil
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, full := range names {
		vals := q[full]
		name, mod, hasMod := strings.Cut(full, ":")
		switch {
		case callerParams[name]:
			continue
		case unsupportedParams[name]:
			if err := ignore(full, "is not supported"); err != nil {
				return nil, err
			}
			continue
		case name == "_count" || name == "_offset":
			if hasMod {
				if err := ignore(full, "has an unsupported modifier"); err != nil {
					return nil, err
				}
				continue
			}
			if len(vals) != 1 {
				return nil, invalid(name, "given more than once")
			}
			n, err := strconv.Atoi(vals[0])
			if err != nil || n < 0 {
				return nil, invalid(name, "not a non-negative integer")
			}
			if name == "_offset" {
				if n > maxOffset {
					return nil, invalid(name, "larger than %d", maxOffset)
				}
				pq.offset = n
				continue
			}
			if n > MaxCount {
				n = MaxCount
				pq.issues = append(pq.issues, fhir.Issue{Severity: "information", Code: "informational",
					Diagnostics: fmt.Sprintf("_count lowered to the maximum page size, %d", MaxCount)})
			}
			pq.count = n
			continue
		case name == "_sort":
			if hasMod {
				if err := ignore(full, "has an unsupported modifier"); err != nil {
					return nil, err
				}
				continue
			}
			for _, v := range vals {
				for _, f := range strings.Split(v, ",") {
					desc := strings.HasPrefix(f, "-")
					f = strings.TrimPrefix(f, "-")
					if f == "" {
						return nil, invalid("_sort", "an empty sort key")
					}
					p := sc.byName[f]
					if p == nil {
						if err := ignore(f, "is not a sort key for "+sc.typ); err != nil {
							return nil, err
						}
						continue
					}
					pq.sort = append(pq.sort, sortKey{p, desc})
				}
			}
			continue
		case name == "_include":
			if hasMod {
				if err := ignore(full, "has an unsupported modifier"); err != nil {
					return nil, err
				}
				continue
			}
			for _, v := range vals {
				inc, why, err := parseInclude(sc, v)
				if err != nil {
					return nil, err
				}
				if why != "" {
					if err := ignore("_include", why); err != nil {
						return nil, err
					}
					continue
				}
				if !slices.Contains(pq.includes, inc) {
					pq.includes = append(pq.includes, inc)
				}
			}
			continue
		}
		p := sc.byName[name]
		if p == nil {
			if err := ignore(name, "is unknown or unsupported for "+sc.typ); err != nil {
				return nil, err
			}
			continue
		}
		m, refType, ok := parseModifier(p, mod, hasMod)
		if !ok {
			if err := ignore(full, "has an unsupported modifier"); err != nil {
				return nil, err
			}
			continue
		}
		for _, v := range vals {
			c := clause{p: p, mod: m, refType: refType}
			if m == modMissing {
				switch v {
				case "true":
					c.missing = true
				case "false":
				default:
					return nil, invalid(full, "must be true or false")
				}
				pq.clauses = append(pq.clauses, c)
				continue
			}
			parts := splitUnescaped(v, ',')
			for _, part := range parts {
				if part == "" {
					continue
				}
				switch {
				case p.special == specialID:
					c.ids = append(c.ids, unescape(part))
				case p.kind == kindToken && m != modText:
					t := tokQ{code: unescape(part)}
					if i := indexUnescaped(part, '|'); i >= 0 {
						t = tokQ{sys: unescape(part[:i]), code: unescape(part[i+1:]), hasSys: true}
						if t.sys == "" && t.code == "" {
							continue
						}
					}
					c.toks = append(c.toks, t)
				case p.kind == kindString || m == modText:
					s := unescape(part)
					if m != modExact {
						s = fold(s)
					}
					c.strs = append(c.strs, s)
				case p.kind == kindReference:
					r, _ := parseRef(unescape(part))
					c.refs = append(c.refs, r)
				case p.kind == kindDate:
					if now.IsZero() {
						now = time.Now()
					}
					d, ok := parseDateCond(part, now)
					if !ok {
						return nil, invalid(name, "not a date search value ([prefix]yyyy[-mm[-dd[Thh:mm[:ss[.fff]][zone]]]], prefix one of eq ne gt lt ge le sa eb ap)")
					}
					c.dates = append(c.dates, d)
				}
			}
			if len(c.toks)+len(c.strs)+len(c.refs)+len(c.dates)+len(c.ids) == 0 {
				pq.issues = append(pq.issues, fhir.Issue{Severity: "warning", Code: "value",
					Diagnostics: fmt.Sprintf("parameter %s has no value: ignored", safeName(full))})
				continue
			}
			pq.clauses = append(pq.clauses, c)
		}
	}
	return pq, nil
}

// parseModifier checks a modifier against a parameter's kind.
func parseModifier(p *param, mod string, hasMod bool) (modifier, string, bool) {
	if !hasMod {
		return modNone, "", true
	}
	if mod == "missing" && p.special == notSpecial {
		return modMissing, "", true
	}
	switch p.kind {
	case kindToken:
		switch mod {
		case "not":
			return modNot, "", true
		case "text":
			if p.special == notSpecial {
				return modText, "", true
			}
		}
	case kindString:
		switch mod {
		case "exact":
			return modExact, "", true
		case "contains":
			return modContains, "", true
		}
	case kindReference:
		if isType(mod) {
			return modType, mod, true
		}
	}
	return 0, "", false
}

// parseInclude parses "Type:param[:targetType]". why is set, and the
// include ignored, for a form this package does not support.
func parseInclude(sc *schema, v string) (include, string, error) {
	if v == "*" {
		return include{}, "value * is not supported", nil
	}
	parts := strings.Split(v, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return include{}, "", invalid("_include", "not of the form Type:parameter[:targetType]")
	}
	if parts[0] != sc.typ {
		return include{}, "names another source type than " + sc.typ + " (only :iterate could use it)", nil
	}
	p := sc.byName[parts[1]]
	if p == nil || p.kind != kindReference {
		return include{}, "names no reference parameter of " + sc.typ, nil
	}
	inc := include{p: p}
	if len(parts) == 3 {
		if !isType(parts[2]) {
			return include{}, "", invalid("_include", "the target is not a resource type")
		}
		inc.target = parts[2]
	}
	return inc, "", nil
}

// splitUnescaped splits on sep where it is not escaped by a backslash
// (search.html#escaping), keeping escapes for unescape.
func splitUnescaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func indexUnescaped(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case c:
			return i
		}
	}
	return -1
}

// unescape resolves \, \| \$ and \\.
func unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`,|$\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
