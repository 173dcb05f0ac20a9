package audit

import "strings"

// The matchers accept exactly what the regular expressions next to
// their names in audit.go accept (TestMatchers compares them).

func isPseudonym(s string) bool {
	rest, ok := strings.CutPrefix(s, "pt_")
	if !ok || len(rest) < 16 || len(rest) > 64 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func isRef(s string) bool {
	typ, rest, hasID := strings.Cut(s, "/")
	if len(typ) < 2 || len(typ) > 64 || typ[0] < 'A' || typ[0] > 'Z' || !all(typ[1:], isLetter) {
		return false
	}
	if !hasID {
		return true
	}
	id, hist, hasHist := strings.Cut(rest, "/")
	if len(id) < 1 || len(id) > 64 || !all(id, isIDChar) {
		return false
	}
	if !hasHist {
		return true
	}
	v, ok := strings.CutPrefix(hist, "_history/")
	return ok && len(v) >= 1 && len(v) <= 19 && all(v, isDigit)
}

func isCode(s string) bool {
	return len(s) >= 1 && len(s) <= 64 && all(s, func(c byte) bool {
		return isLetter(c) || isDigit(c) || c == '_' || c == '.' || c == '-' || c == '$'
	})
}

func isSystem(s string) bool {
	var rest string
	switch {
	case strings.HasPrefix(s, "http://"):
		rest = s[len("http://"):]
	case strings.HasPrefix(s, "https://"):
		rest = s[len("https://"):]
	case strings.HasPrefix(s, "urn:"):
		rest = s[len("urn:"):]
	default:
		return false
	}
	return len(rest) >= 1 && len(rest) <= 200 && all(rest, func(c byte) bool {
		return isLetter(c) || isDigit(c) || strings.IndexByte(":/._-#", c) >= 0
	})
}

func isAddr(s string) bool {
	return len(s) >= 2 && len(s) <= 45 && all(s, func(c byte) bool {
		return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' || c == ':' || c == '.'
	})
}

func isDetail(s string) bool {
	return len(s) >= 1 && len(s) <= 32 && s[0] >= 'a' && s[0] <= 'z' && all(s[1:], func(c byte) bool { return c >= 'a' && c <= 'z' || c == '-' })
}

func all(s string, ok func(byte) bool) bool {
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isIDChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '-' || c == '.' }
