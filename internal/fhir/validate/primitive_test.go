package validate

import (
	"encoding/json"
	"regexp"
	"testing"
)

// matcherInputs seed the differential tests of the fast matchers.
var matcherInputs = []string{
	"", " ", "a", "a b", "a  b", " a", "a ", "a\tb", "a\fb", "\f", "\u00a0", "\xff", "é",
	"abc-1.2", "ABC_1", "a/b", "x" + string(make([]byte, 70)),
	"0000", "0001", "1000", "2023", "2023-", "2023-1", "2023-00", "2023-01", "2023-12", "2023-13",
	"2023-02-00", "2023-02-01", "2023-02-29", "2023-02-30", "2023-02-31", "2023-02-32", "2023-2-01",
	"2023-02-01T", "2023-02-01T10:00", "2023-02-01T10:00:00", "2023-02-01T10:00:00Z",
	"2023-02-01T24:00:00Z", "2023-02-01T23:59:60Z", "2023-02-01T23:59:61Z", "2023-02-01T23:60:00Z",
	"2023-02-01T10:00:00.Z", "2023-02-01T10:00:00.1Z", "2023-02-01T10:00:00.123456789+14:00",
	"2023-02-01T10:00:00+14:01", "2023-02-01T10:00:00-13:59", "2023-02-01T10:00:00+13:60",
	"2023-02-01T10:00:00+1300", "2023-02-01T10:00:00z", "2023-02-01T10:00:00Z ", "2023-02-01 10:00:00Z",
	"2023-02-01T10:00:00+05:30\n", "10:00:00", "10:00:00.5", "24:00:00", "9:00:00", "10:00:60", "10:00",
	"10:00:00Z",
}

func TestFastMatchersAgreeWithRegexp(t *testing.T) {
	for pat, fast := range fastMatchers {
		re := regexp.MustCompile(pat)
		for _, s := range matcherInputs {
			if got, want := fast(s), re.MatchString(s); got != want {
				t.Errorf("fast match of %q against %s = %v; regexp says %v", s, pat, got, want)
			}
		}
	}
}

func FuzzFastMatchers(f *testing.F) {
	for _, s := range matcherInputs {
		f.Add(s)
	}
	res := map[string]*regexp.Regexp{}
	for pat := range fastMatchers {
		res[pat] = regexp.MustCompile(pat)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for pat, fast := range fastMatchers {
			if got, want := fast(s), res[pat].MatchString(s); got != want {
				t.Errorf("fast match of %q against %s = %v; regexp says %v", s, pat, got, want)
			}
		}
	})
}

func TestPatternsDescribed(t *testing.T) {
	for pat := range fastMatchers {
		if patterns[pat] == "" {
			t.Errorf("no description for %s", pat)
		}
	}
}

func TestRealDate(t *testing.T) {
	tests := []struct {
		in   string
		k    kind
		real bool
	}{
		{"2024-02-29", kindDate, true},
		{"2023-02-29", kindDate, false},
		{"2000-02-29", kindDate, true},
		{"1900-02-29", kindDate, false},
		{"2023-04-30", kindDate, true},
		{"2023-04-31", kindDate, false},
		{"2023-12-31", kindDate, true},
		{"2023-02", kindDate, true},
		{"2023", kindDateTime, true},
		{"2023-06-31T10:00:00Z", kindDateTime, false},
		{"2023-06-30T10:00:00Z", kindInstant, true},
		{"2023-11-31T10:00:00.000+01:00", kindInstant, false},
	}
	for _, tt := range tests {
		p := parseDate(tt.in, tt.k)
		if !p.ok {
			t.Errorf("parseDate(%q) does not parse", tt.in)
			continue
		}
		if got := realDate(p); got != tt.real {
			t.Errorf("realDate(%q) = %v; want %v", tt.in, got, tt.real)
		}
	}
}

func TestIntegerProblem(t *testing.T) {
	tests := []struct {
		in string
		k  kind
		ok bool
	}{
		{"0", kindInteger, true},
		{"-5", kindInteger, true},
		{"2147483647", kindInteger, true},
		{"-2147483648", kindInteger, true},
		{"2147483648", kindInteger, false},
		{"-2147483649", kindInteger, false},
		{"1.5", kindInteger, false},
		{"1.0", kindInteger, false},
		{"1e3", kindInteger, false},
		{"-0", kindInteger, false},
		{"0", kindPositiveInt, false},
		{"1", kindPositiveInt, true},
		{"0", kindUnsignedInt, true},
		{"-1", kindUnsignedInt, false},
	}
	for _, tt := range tests {
		if got := integerProblem(json.Number(tt.in), tt.k) == ""; got != tt.ok {
			t.Errorf("integerProblem(%s, %d) ok = %v; want %v", tt.in, tt.k, got, tt.ok)
		}
	}
	if integerProblem(3.0, kindInteger) != "" || integerProblem(3.5, kindInteger) == "" {
		t.Error("integerProblem mishandles float64")
	}
}

func TestReferenceType(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when no type is extracted
	}{
		{"Patient/123", "Patient"},
		{"Patient/123/_history/2", "Patient"},
		{"https://example.org/fhir/Patient/123", "Patient"},
		{"https://example.org/fhir/Patient/123/_history/2", "Patient"},
		{"Patient/123?x=1", "Patient"},
		{"Patient", ""},
		{"patient/123", ""},
		{"Patient/", ""},
		{"Patient/a b", ""},
		{"a/Patient/123", ""},
		{"https://example.org/fhir/metadata", ""},
		{"Foo_Bar/1", ""},
	}
	for _, tt := range tests {
		got, ok := referenceType(tt.in)
		if ok != (tt.want != "") || got != tt.want {
			t.Errorf("referenceType(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestCompareExpr(t *testing.T) {
	want := []string{"A.a", "A.b", "A.b[1]", "A.b[2]", "A.b[2].c", "A.b[10]"}
	for i := range want {
		for j := range want {
			if c := compareExpr(want[i], want[j]); (c < 0) != (i < j) || (c == 0) != (i == j) {
				t.Errorf("compareExpr(%q, %q) = %d", want[i], want[j], c)
			}
		}
	}
}
