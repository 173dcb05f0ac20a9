package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTokenCommand(t *testing.T) {
	dir := t.TempDir()
	if code, _, errs := run(t, "init", "--home", dir); code != 0 {
		t.Fatalf("init: %s", errs)
	}
	code, out, errs := run(t, "token", "--home", dir, "--scope", "system/*.rs user/Observation.read")
	if code != 0 || strings.Count(strings.TrimSpace(out), ".") != 2 {
		t.Fatalf("token: %d %q %s", code, out, errs)
	}
	code, out, _ = run(t, "token", "--home", dir, "--scope", "patient/*.rs", "--patient", "p1", "--json")
	var res struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
		ExpiresIn   int    `json:"expires_in"`
		Patient     string `json:"patient"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || res.AccessToken == "" || res.Scope != "patient/*.rs" || res.Patient != "p1" || res.ExpiresIn <= 0 || res.ExpiresIn > 300 {
		t.Errorf("token --json: %d %s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"token", "--home", dir}, "--scope is required"},
		{[]string{"token", "--home", dir, "--scope", "admin/*.read"}, "context"},
		{[]string{"token", "--home", dir, "--scope", "user/*.rs", "--ttl", "1h"}, "--ttl"},
		{[]string{"token", "--home", dir, "--scope", "user/*.rs", "--as", "general-hospital/nobody"}, "not in the genesis"},
	} {
		if code, _, errs := run(t, tc.args...); code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: %d %q; want an error containing %q", tc.args, code, errs, tc.want)
		}
	}
}

func TestFamilyPrefix(t *testing.T) {
	b := []byte(`{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Organization","name":"General"}},` +
		`{"resource":{"resourceType":"Patient","name":[{"family":"Müller","given":["A"]}]}}]}`)
	if got := familyPrefix(b); got != "mül" {
		t.Errorf("familyPrefix = %q; want %q", got, "mül")
	}
	if got := familyPrefix([]byte(`{"entry":[]}`)); got != "" {
		t.Errorf("familyPrefix of no patient = %q", got)
	}
}
