package auth

import (
	"strings"
	"testing"
)

func TestParseScopes(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "patient/*.read", want: "patient/*.rs"},
		{in: "user/Observation.write", want: "user/Observation.cud"},
		{in: "system/*.*", want: "system/*.cruds"},
		{in: "patient/Observation.rs openid fhirUser launch/patient", want: "openid fhirUser launch/patient patient/Observation.rs"},
		{in: "user/*.cruds user/*.cruds", want: "user/*.cruds"},
		{in: "  system/Patient.r  ", want: "system/Patient.r"},
		{in: "", want: ""},
		{in: "patient/Observation.sr", err: "subset"},
		{in: "patient/Observation.rr", err: "subset"},
		{in: "patient/Observation.x", err: "subset"},
		{in: "admin/*.read", err: "context"},
		{in: "patient/observation.read", err: "not a resource type"},
		{in: "patient/Observation", err: "want context/Type.permissions"},
		{in: "patient/Observation.rs?category=laboratory", err: "granular"},
		{in: "offline_access", err: "refresh"},
		{in: "banana", err: "unknown scope"},
	} {
		got, err := ParseScopes(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseScopes(%q) error = %v; want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseScopes(%q): %v", tc.in, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("ParseScopes(%q) = %q; want %q", tc.in, got.String(), tc.want)
		}
	}
}

func TestAllows(t *testing.T) {
	s, err := ParseScopes("patient/Observation.rs user/*.r system/Patient.cruds")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		typ, perms string
		want       Grant
	}{
		{"Observation", "r", Grant{Patient: true, User: true}},
		{"Observation", "s", Grant{Patient: true}},
		{"Observation", "rs", Grant{Patient: true}},
		{"Observation", "c", Grant{}},
		{"Condition", "r", Grant{User: true}},
		{"Patient", "d", Grant{System: true}},
		{"Patient", "rs", Grant{System: true}},
		{"Patient", "", Grant{}},
	} {
		if got := s.Allows(tc.typ, tc.perms); got != tc.want {
			t.Errorf("Allows(%s, %q) = %+v; want %+v", tc.typ, tc.perms, got, tc.want)
		}
	}
}

func TestNarrow(t *testing.T) {
	have, _ := ParseScopes("user/*.rs user/Observation.c openid")
	want, _ := ParseScopes("user/Observation.cruds user/*.r fhirUser openid system/*.rs")
	if got := have.Narrow(want).String(); got != "openid user/Observation.crs user/*.r" {
		t.Errorf("Narrow = %q", got)
	}
}

func FuzzParseScopes(f *testing.F) {
	for _, s := range []string{"patient/*.read", "user/Observation.cruds openid", "system/*.rs?x=y", "a/b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseScopes(in)
		if err != nil {
			return
		}
		// The canonical form parses to itself.
		again, err := ParseScopes(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("canonical %q of %q reparses to %q, %v", s.String(), in, again.String(), err)
		}
	})
}
