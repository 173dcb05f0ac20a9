package policy

import (
	"fmt"
	"testing"
)

func TestCacheBounded(t *testing.T) {
	env, err := NewEnv(Var{Name: "n", Type: Int})
	if err != nil {
		t.Fatal(err)
	}
	e := NewEngine(Options{CacheSize: 3})
	rule := func(i int) string { return fmt.Sprintf("n == %d", i) }
	for i := range 10 {
		if got, err := e.Eval(env, rule(i), map[string]any{"n": i}); err != nil || !got {
			t.Fatalf("Eval(%q) = %v, %v; want true, nil", rule(i), got, err)
		}
		e.mu.RLock()
		n := len(e.cache)
		e.mu.RUnlock()
		if want := min(i+1, 3); n != want {
			t.Fatalf("after %d rules, cache holds %d; want %d", i+1, n, want)
		}
	}
	// FIFO: the last three rules remain.
	for i := range 10 {
		_, cached := e.cache[cacheKey{env, rule(i)}]
		if want := i >= 7; cached != want {
			t.Errorf("rule %q cached = %v; want %v", rule(i), cached, want)
		}
	}
	// Failed checks are not cached.
	if err := e.Check(env, "n +"); err == nil {
		t.Fatal("Check(n +) = nil; want error")
	}
	if _, cached := e.cache[cacheKey{env, "n +"}]; cached {
		t.Error("a rule that failed Check was cached")
	}
}

func TestCacheKeyedByEnv(t *testing.T) {
	intEnv, _ := NewEnv(Var{Name: "x", Type: Int})
	strEnv, _ := NewEnv(Var{Name: "x", Type: String})
	e := NewEngine(Options{})
	if err := e.Check(intEnv, "x > 1"); err != nil {
		t.Fatalf("Check(int x > 1) = %v", err)
	}
	if err := e.Check(strEnv, "x > 1"); err == nil {
		t.Error("Check(string x > 1) = nil; the int env's compiled rule leaked across envs")
	}
}

func TestSafeReason(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"no such key: Jane Doe", "no such key"},
		{"index '7' out of range in list size '2'", "index out of range"},
		{"invalid RFC 3339 timestamp \"Jane\"", "invalid timestamp"},
		{"strconv.ParseInt: parsing \"Jane\": invalid syntax", "evaluation error"},
		{"", "evaluation error"},
	}
	for _, tt := range tests {
		if got := safeReason(tt.msg); got != tt.want {
			t.Errorf("safeReason(%q) = %q; want %q", tt.msg, got, tt.want)
		}
	}
}
