package audit

import (
	"regexp"
	"testing"
)

func FuzzMatchers(f *testing.F) {
	for _, s := range []string{"pt_0123456789abcdef", "Patient/1/_history/2", "Observation", "urn:medledger:member",
		"https://x.y/z#a", "127.0.0.1", "::1", "decision-rule", "a$b", "", "Patient/", "pt_", "http://", "-"} {
		f.Add(s)
	}
	pairs := []struct {
		name string
		re   *regexp.Regexp
		fn   func(string) bool
	}{
		{"pseudonym", pseudonymRE, isPseudonym}, {"ref", refRE, isRef}, {"code", codeRE, isCode},
		{"system", systemRE, isSystem}, {"addr", addrRE, isAddr}, {"detail", detailRE, isDetail},
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range pairs {
			if p.re.MatchString(s) != p.fn(s) {
				t.Fatalf("%s(%q): regexp %v, matcher %v", p.name, s, p.re.MatchString(s), p.fn(s))
			}
		}
	})
}
