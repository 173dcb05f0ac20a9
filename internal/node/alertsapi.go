package node

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/medledger/medledger/internal/auth"
	"github.com/medledger/medledger/internal/contracts/alerts"
)

// alertsAPI serves GET /v1/alerts (auditors and administrators, with a
// bearer token): the alerts on the ledger, newest first, filtered by
// status, user (the member an alert is about) and detector, paged by
// _count and _offset; and GET /v1/alerts/{id}, one alert with its
// lifecycle. Acknowledging and resolving are transactions
// (alerts.acknowledge, alerts.resolve) signed by the reviewer.
func (n *Node) alertsAPI() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/alerts", n.listAlerts)
	mux.HandleFunc("GET /v1/alerts/{id}", n.getAlert)
	return mux
}

func (n *Node) alertCaller(w http.ResponseWriter, r *http.Request) bool {
	fail := func(status int, code, msg string) bool {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
		return false
	}
	if err := auth.RequireSecure(r); err != nil {
		return fail(http.StatusUnauthorized, "insecure", "access tokens are accepted over HTTPS only (or on loopback)")
	}
	p, err := auth.Authenticate(n.fhir.issuer, r)
	if err == nil {
		if m, ok, merr := n.machine.Member(n.store, p.Member); merr != nil || !ok || !m.Active() {
			err = errors.New("auth: the member is not active")
		}
	}
	if err != nil {
		w.Header().Set("WWW-Authenticate", auth.Challenge(err, ""))
		return fail(http.StatusUnauthorized, "unauthenticated", "a valid access token is required")
	}
	if !(p.HasRole("auditor") || p.HasRole("admin")) || !(p.Scopes.Allows("AuditEvent", "rs").Any()) {
		w.Header().Set("WWW-Authenticate", auth.Challenge(auth.ErrInsufficientScope, "user/AuditEvent.rs"))
		return fail(http.StatusForbidden, "forbidden", "alerts are for auditors and administrators with AuditEvent read scope")
	}
	return true
}

func (n *Node) listAlerts(w http.ResponseWriter, r *http.Request) {
	if !n.alertCaller(w, r) {
		return
	}
	q := r.URL.Query()
	count, err1 := strconv.Atoi(orDefault(q.Get("_count"), "50"))
	offset, err2 := strconv.Atoi(orDefault(q.Get("_offset"), "0"))
	if err := errors.Join(err1, err2); err != nil || count < 0 || offset < 0 {
		http.Error(w, `{"error":{"code":"bad_request","message":"_count and _offset are non-negative integers"}}`, http.StatusBadRequest)
		return
	}
	count = min(count, 500)
	var all []alerts.Record
	err := n.store.Scan([]byte("alerts/a/"), ^uint64(0), func(_, v []byte) bool {
		var a alerts.Record
		if json.Unmarshal(v, &a) != nil {
			return true
		}
		if (q.Get("status") == "" || a.Status == q.Get("status")) && (q.Get("user") == "" || a.User == q.Get("user")) &&
			(q.Get("detector") == "" || a.Detector == q.Get("detector")) {
			all = append(all, a)
		}
		return true
	})
	if err != nil {
		http.Error(w, `{"error":{"code":"unavailable","message":"the ledger could not be read"}}`, http.StatusServiceUnavailable)
		return
	}
	// Newest first.
	slices.SortStableFunc(all, func(a, b alerts.Record) int { return cmp.Compare(b.OpenedAt, a.OpenedAt) })
	page := all[min(offset, len(all)):min(offset+count, len(all))]
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"total": len(all), "alerts": page})
}

func (n *Node) getAlert(w http.ResponseWriter, r *http.Request) {
	if !n.alertCaller(w, r) {
		return
	}
	a, ok, err := alerts.Lookup(n.store, r.PathValue("id"))
	if err != nil || !ok {
		http.Error(w, `{"error":{"code":"not_found","message":"no such alert"}}`, http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(a)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
