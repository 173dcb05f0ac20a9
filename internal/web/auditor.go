package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/audit"
	"github.com/medledger/medledger/internal/ledger"
)

// alerts reads every alert from the alerts contract's state, open ones
// first, then by score.
func (s *Server) alerts() ([]*alerts.Record, error) {
	var out []*alerts.Record
	var bad error
	err := s.deps.State.Scan([]byte("alerts/a/"), func(_, v []byte) bool {
		rec := new(alerts.Record)
		if err := json.Unmarshal(v, rec); err != nil {
			bad = err
			return false
		}
		out = append(out, rec)
		return true
	})
	if err == nil {
		err = bad
	}
	rank := map[string]int{alerts.StatusOpen: 0, alerts.StatusAcknowledged: 1, alerts.StatusResolved: 2}
	slices.SortStableFunc(out, func(a, b *alerts.Record) int {
		if rank[a.Status] != rank[b.Status] {
			return rank[a.Status] - rank[b.Status]
		}
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return b.OpenedTime.Compare(a.OpenedTime)
	})
	return out, err
}

// serveAlerts lists the alerts.
func (s *Server) serveAlerts(w http.ResponseWriter, r *http.Request, c *call) {
	as, err := s.alerts()
	if err != nil {
		s.log.Error("read alerts", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The alerts could not be read from the ledger.")
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" {
		as = slices.DeleteFunc(as, func(a *alerts.Record) bool { return a.Status != status })
	}
	s.render(w, r, http.StatusOK, "alerts", s.newView(r, c, "Alerts", struct {
		Alerts []*alerts.Record
		Status string
	}{as, status}))
}

// alertPage is one alert with the accesses behind it.
type alertPage struct {
	Alert      *alerts.Record
	Events     []eventView
	Missing    int
	CanReview  bool
	WhyNot     string
	Resolution string
	Note       string
	Errors     []string
}

func (s *Server) alertPage(r *http.Request, c *call, id string) (*alertPage, int, string) {
	rec, ok, err := alerts.Lookup(latest{s.deps.State}, id)
	switch {
	case err != nil:
		s.log.Error("read alert", "err", err)
		return nil, http.StatusServiceUnavailable, "The alert could not be read from the ledger."
	case !ok:
		return nil, http.StatusNotFound, "There is no such alert."
	}
	pg := &alertPage{Alert: rec, CanReview: true}
	switch {
	case rec.Org != c.p.Org:
		pg.CanReview, pg.WhyNot = false, "This alert belongs to organisation "+rec.Org+"; only its reviewers may act on it."
	case rec.User == c.p.Member:
		pg.CanReview, pg.WhyNot = false, "This alert is about your own activity, so someone else must review it."
	case rec.Status == alerts.StatusResolved:
		pg.CanReview = false
	}
	// The accesses behind the alert, read as the reviewer: each read of
	// the audit trail is itself audited.
	for i, evID := range rec.Events {
		if i >= 50 {
			pg.Missing += len(rec.Events) - i
			break
		}
		a := s.fhir(r, c, http.MethodGet, "AuditEvent/"+url.PathEscape(evID), nil)
		if !a.ok() {
			pg.Missing++
			continue
		}
		pg.Events = append(pg.Events, s.eventOf(a.resource()))
	}
	return pg, http.StatusOK, ""
}

func (s *Server) serveAlert(w http.ResponseWriter, r *http.Request, c *call) {
	pg, status, msg := s.alertPage(r, c, r.PathValue("id"))
	if pg == nil {
		s.fail(w, r, status, "Alert", msg)
		return
	}
	s.render(w, r, http.StatusOK, "alert", s.newView(r, c, "Alert "+pg.Alert.ID[:8], pg))
}

// postAlert acknowledges or resolves an alert: a transaction the
// reviewer signs (alerts.acknowledge, alerts.resolve).
func (s *Server) postAlert(w http.ResponseWriter, r *http.Request, c *call) {
	id, action := r.PathValue("id"), r.PathValue("action")
	note := strings.TrimSpace(r.PostForm.Get("note"))
	resolution := r.PostForm.Get("resolution")
	var payload any
	var errs []string
	switch action {
	case "acknowledge":
		payload = alerts.Acknowledge{ID: id, Note: note}
	case "resolve":
		if resolution != alerts.ResolutionTrue && resolution != alerts.ResolutionFalse {
			errs = append(errs, "Say whether the alert was a true or a false positive.")
		}
		if note == "" {
			errs = append(errs, "Write a note: what you found, or the number of your case file. Do not write personal data: the note is stored on the ledger in clear.")
		}
		payload = alerts.Resolve{ID: id, Resolution: resolution, Note: note}
	default:
		s.fail(w, r, http.StatusNotFound, "Page not found", "There is no such action.")
		return
	}
	if len(note) > alerts.MaxNoteBytes {
		errs = append(errs, "The note is too long (at most 1000 bytes).")
	}
	if len(errs) == 0 {
		b, _ := json.Marshal(payload)
		err := s.submit(r.Context(), c, "alerts", action, b)
		if err == nil {
			verb := map[string]string{"acknowledge": "acknowledged", "resolve": "resolved"}[action]
			c.sess.addFlash("ok", "Alert "+verb+": your signed review is on the ledger.")
			http.Redirect(w, r, "/app/alerts/"+url.PathEscape(id), http.StatusSeeOther)
			return
		}
		errs = append(errs, err.Error())
	}
	pg, status, msg := s.alertPage(r, c, id)
	if pg == nil {
		s.fail(w, r, status, "Alert", msg)
		return
	}
	pg.Errors, pg.Note, pg.Resolution = errs, note, resolution
	s.render(w, r, http.StatusUnprocessableEntity, "alert", s.newView(r, c, "Alert "+pg.Alert.ID[:8], pg))
}

// userError is a message for the user about a transaction that failed.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

// submit signs a transaction as the user and waits for its commit; its
// error, if any, is fit to show to the user.
func (s *Server) submit(ctx context.Context, c *call, contract, method string, payload []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rc, err := s.deps.Submit(ctx, c.p.Member, contract, method, payload)
	var le *ledger.Error
	switch {
	case errors.Is(err, ErrNoKey):
		return &userError{"This node does not hold your signing key, so it cannot sign for you. Sign the transaction with your own key (medledger CLI)."}
	case errors.As(err, &le):
		return &userError{"The ledger refused the transaction (" + string(le.Code) + "): " + le.Msg}
	case err != nil:
		s.log.Error("submit", "contract", contract, "method", method, "err", err)
		return &userError{"The transaction could not be submitted; try again in a moment."}
	case rc.Result.Code != ledger.CodeOK:
		return &userError{"The ledger refused the transaction (" + string(rc.Result.Code) + "): " + rc.Result.Message}
	}
	return nil
}

// latest adapts State to contract.StateReader.
type latest struct{ st State }

func (l latest) Get(k []byte) ([]byte, bool, error) { return l.st.Get(k) }

// dayCount is the number of audited accesses on one day.
type dayCount struct {
	Day   time.Time
	Count int
}

// activityDays is how many days the access volume chart covers.
const activityDays = 14

// maxActivityScan bounds the audit index entries one chart reads.
const maxActivityScan = 500_000

// serveActivity charts the audited accesses per day (the audit
// contract's time index, newest first; heights mapped to days by block
// time).
func (s *Server) serveActivity(w http.ResponseWriter, r *http.Request, c *call) {
	now := s.now().UTC()
	today := now.Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -(activityDays - 1))
	counts := make([]dayCount, activityDays)
	for i := range counts {
		counts[i].Day = from.AddDate(0, 0, i)
	}
	var (
		lastH    uint64 = ^uint64(0)
		lastDay         = -1
		scanned  int
		truncate bool
		bad      error
	)
	err := s.deps.State.Scan([]byte("audit/"+audit.TimePrefix), func(k, v []byte) bool {
		if scanned++; scanned > maxActivityScan {
			truncate = true
			return false
		}
		rest := strings.TrimPrefix(string(k), "audit/"+audit.TimePrefix)
		hx, _, _ := strings.Cut(rest, "/")
		b, err := hex.DecodeString(hx)
		if err != nil || len(b) != 8 {
			return true
		}
		var inv uint64
		for _, x := range b {
			inv = inv<<8 | uint64(x)
		}
		h := ^inv
		if h != lastH {
			t, err := s.deps.BlockTime(h)
			if err != nil {
				bad = err
				return false
			}
			lastH = h
			lastDay = int(t.UTC().Truncate(24*time.Hour).Sub(from) / (24 * time.Hour))
			if t.UTC().Before(from) {
				return false // newest first: everything after is older
			}
		}
		if lastDay >= 0 && lastDay < activityDays {
			counts[lastDay].Count += audit.IndexCount(v) // an entry names its transaction's events
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		s.log.Error("activity scan", "err", err)
		s.fail(w, r, http.StatusServiceUnavailable, "Try again later", "The audit trail could not be read.")
		return
	}
	total, peak := 0, 0
	xs, ys := make([]int64, len(counts)), make([]int, len(counts))
	for i, dc := range counts {
		total += dc.Count
		peak = max(peak, dc.Count)
		xs[i], ys[i] = dc.Day.Unix(), dc.Count
	}
	chart, _ := json.Marshal(map[string]any{"x": xs, "y": ys})
	s.render(w, r, http.StatusOK, "activity", s.newView(r, c, "Access volume", struct {
		Days      []dayCount
		Total     int
		Peak      int
		Chart     string
		Truncated bool
		From, To  time.Time
	}{counts, total, peak, string(chart), truncate, from, today}))
}

// serveAuditList lists the whole audit trail, or one member's or one
// patient's events.
func (s *Server) serveAuditList(w http.ResponseWriter, r *http.Request, c *call) {
	q := r.URL.Query()
	query := ""
	base := "/app/audit?"
	if a := strings.TrimSpace(q.Get("agent")); a != "" && ledger.ValidMemberID(a) {
		query = "agent=" + url.QueryEscape(a)
		base += query + "&"
	} else if p := strings.TrimSpace(q.Get("patient")); p != "" && fhirIDRE.MatchString(p) {
		query = "patient=" + url.QueryEscape(p)
		base += query + "&"
	}
	s.eventList(w, r, c, "Audit trail", "audit_list", base, query)
}
