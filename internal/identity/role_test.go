package identity

import "testing"

func TestValidRole(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"patient", true},
		{"practitioner", true},
		{"payer", true},
		{"researcher", true},
		{"auditor", true},
		{"supplier", true},
		{"regulator", true},
		{"admin", true},
		{"", false},
		{"Admin", false},
		{"admin ", false},
		{"root", false},
	}
	for _, tt := range tests {
		if got := ValidRole(tt.in); got != tt.want {
			t.Errorf("ValidRole(%q) = %v; want %v", tt.in, got, tt.want)
		}
	}
}

func TestRoles(t *testing.T) {
	want := []Role{"patient", "practitioner", "payer", "researcher", "auditor", "supplier", "regulator", "admin", "system"}
	got := Roles()
	if len(got) != len(want) {
		t.Fatalf("Roles() = %v; want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Roles()[%d] = %q; want %q", i, got[i], want[i])
		}
		if !ValidRole(string(got[i])) {
			t.Errorf("ValidRole(%q) = false for a member of Roles()", got[i])
		}
	}
	got[0] = "mutated"
	if Roles()[0] != RolePatient {
		t.Error("Roles() returned a shared slice")
	}
}
