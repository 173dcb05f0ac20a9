package fhir

import (
	"errors"
	"slices"
	"testing"
)

func TestSupportedSorted(t *testing.T) {
	if !slices.IsSorted(SupportedTypes) {
		t.Fatal("SupportedTypes must be sorted (Supported uses binary search)")
	}
	if !Supported("Patient") || Supported("Basic") || Supported("patient") {
		t.Error("Supported gives wrong answers")
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		wantErr bool
	}{
		{`{"resourceType":"Patient","id":"a"}`, false},
		{`{"resourceType":"Observation","valueQuantity":{"value":1.50}}`, false},
		{`[]`, true},
		{`{"id":"x"}`, true},
		{`{"resourceType":1}`, true},
		{`{"resourceType":"Patient"} {}`, true},
		{`{"resourceType":"Patient"`, true},
		{``, true},
	}
	for _, tt := range tests {
		r, err := Parse([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("Parse(%q) error = %v; wantErr %v", tt.in, err, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrNotJSON) {
			t.Errorf("Parse(%q) error %v does not wrap ErrNotJSON", tt.in, err)
		}
		if err == nil && r.Type == "" {
			t.Errorf("Parse(%q) has no type", tt.in)
		}
	}
}

func TestCanonicalKeepsDecimals(t *testing.T) {
	r, err := Parse([]byte(`{ "resourceType" : "Observation", "b": 1.50, "a": [1e2, "<&>"] }`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := Canonical(r.Tree)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":[1e2,"<&>"],"b":1.50,"resourceType":"Observation"}`
	if string(got) != want {
		t.Errorf("Canonical = %s; want %s", got, want)
	}
}

func FuzzParseCanonical(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Patient","id":"a","x":[1.0,{"b":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(b)
		if err != nil {
			return
		}
		c1, err := Canonical(r.Tree)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := Parse(c1)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v", err)
		}
		c2, _ := Canonical(r2.Tree)
		if string(c1) != string(c2) {
			t.Fatalf("canonical form is not stable:\n%s\n%s", c1, c2)
		}
	})
}
