package web

import (
	"testing"
	"time"

	"github.com/medledger/medledger/internal/auth"
)

func TestSessionsExpireAndEvict(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	ss := newSessions(15*time.Minute, 8*time.Hour, 2, func() time.Time { return now })
	p := &auth.Principal{Member: "org/a"}
	s1, v1 := ss.create(p)
	if got, ok := ss.get(v1); !ok || got != s1 {
		t.Fatal("a new session is not found")
	}
	if _, ok := ss.get(v1 + "x"); ok {
		t.Error("a wrong cookie value finds a session")
	}
	now = now.Add(14 * time.Minute)
	if _, ok := ss.get(v1); !ok {
		t.Error("a session used 14 minutes ago has ended")
	}
	now = now.Add(16 * time.Minute)
	if _, ok := ss.get(v1); ok {
		t.Error("a session idle for 16 minutes is still live")
	}
	// At most 8 hours, however busy.
	_, v2 := ss.create(p)
	for range 8*4 + 1 {
		now = now.Add(15 * time.Minute)
		ss.get(v2)
	}
	if _, ok := ss.get(v2); ok {
		t.Error("a session older than 8 hours is still live")
	}
	// When full, the session idle the longest goes.
	_, a := ss.create(p)
	now = now.Add(time.Minute)
	_, b := ss.create(p)
	now = now.Add(time.Minute)
	ss.get(a)
	_, c := ss.create(p)
	if _, ok := ss.get(b); ok {
		t.Error("the session idle the longest was not evicted")
	}
	if _, ok := ss.get(a); !ok {
		t.Error("a recently used session was evicted")
	}
	if _, ok := ss.get(c); !ok {
		t.Error("the new session is missing")
	}
}

func TestPendingSignIns(t *testing.T) {
	now := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	ss := newSessions(time.Hour, time.Hour, 10, func() time.Time { return now })
	st, ok := ss.startLogin("browser-1", "verifier", "/app/record")
	if !ok {
		t.Fatal("startLogin refused")
	}
	if _, ok := ss.finishLogin(st, "browser-2"); ok {
		t.Error("a sign-in finished in another browser")
	}
	// The state was spent by that attempt.
	if _, ok := ss.finishLogin(st, "browser-1"); ok {
		t.Error("a state was usable twice")
	}
	st, _ = ss.startLogin("browser-1", "verifier", "/app/record")
	now = now.Add(11 * time.Minute)
	if _, ok := ss.finishLogin(st, "browser-1"); ok {
		t.Error("an expired sign-in finished")
	}
	st, _ = ss.startLogin("browser-1", "v", "/app/record")
	if pl, ok := ss.finishLogin(st, "browser-1"); !ok || pl.verifier != "v" || pl.next != "/app/record" {
		t.Errorf("finishLogin = %+v, %v", pl, ok)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/app/record":               "/app/record",
		"/app/patients?q=x":         "/app/patients?q=x",
		"":                          "/app/",
		"https://evil.example/app/": "/app/",
		"//evil.example/app/":       "/app/",
		"/app/\\evil":               "/app/",
		"/app/login?next=/app/":     "/app/",
		"/app/callback?code=x":      "/app/",
		"/v1/status":                "/app/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q; want %q", in, got, want)
		}
	}
}
