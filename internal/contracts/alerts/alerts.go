// Package alerts is the contract that keeps AI alerts where an insider
// cannot delete them: an alert references the AuditEvents it is about,
// the score, the reasons, and the registered model version (name, version
// and file SHA-256, checked against the models contract) that raised it.
//
// An alert goes open → acknowledged → resolved (true_positive or
// false_positive, with a reviewer note), each step a signed transaction;
// any other transition is refused with a stable error code at the start
// of the message (ErrCode*). Alert ids are derived from the model and the
// AuditEvent ids, so a detector that restarts and raises the same alert
// again is told it exists instead of creating a duplicate.
//
// Records live under "alerts/a/<id>". Everything is clear text on the
// ledger: reasons and notes must never carry personal data (reasons from
// package access never do; reviewers refer to their case files).
package alerts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the alerts contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "alerts" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{
		{
			Name:    "alerts.open",
			Doc:     "who may raise an alert (request: detector, score_ppm (score in millionths), user, model)",
			Default: `signer.active && ("system" in signer.roles || "admin" in signer.roles)`,
		},
		{
			Name: "alerts.review",
			Doc:  "who may acknowledge or resolve an alert (request: id, action, resolution; target: the alert: org, user, status)",
			// Reviewers of the alert's organisation, never the person the
			// alert is about.
			Default: `signer.active && ("auditor" in signer.roles || "admin" in signer.roles) && signer.org == target.org && signer.id != target.user`,
		},
	}
}

// ModelRef names the registered model version that raised an alert.
type ModelRef struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	SHA256  string `json:"sha256"`
}

// Reason is one plain-language reason, with the stable code (the
// feature) behind it.
type Reason struct {
	Code string `json:"code"` // [a-z][a-z0-9_]{0,63}
	Text string `json:"text"` // at most MaxReasonBytes
}

// Open is the payload of alerts.open.
type Open struct {
	Detector string   `json:"detector"` // e.g. "access"
	Events   []string `json:"events"`   // AuditEvent ids, 1 to MaxEvents
	Score    float64  `json:"score"`    // in [0, 1]
	Reasons  []Reason `json:"reasons"`  // at most MaxReasons
	Model    ModelRef `json:"model"`
	// User is the member whose activity the alert is about (optional);
	// that member may not review it.
	User string `json:"user,omitempty"`
}

// Acknowledge is the payload of alerts.acknowledge.
type Acknowledge struct {
	ID   string `json:"id"`
	Note string `json:"note,omitempty"`
}

// Resolve is the payload of alerts.resolve.
type Resolve struct {
	ID         string `json:"id"`
	Resolution string `json:"resolution"` // ResolutionTrue or ResolutionFalse
	Note       string `json:"note"`       // required, at most MaxNoteBytes
}

// Statuses and resolutions.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"

	ResolutionTrue  = "true_positive"
	ResolutionFalse = "false_positive"
)

// Record is the stored state of an alert.
type Record struct {
	ID string `json:"id"`
	Open
	Status     string      `json:"status"`
	Org        string      `json:"org"`
	OpenedBy   string      `json:"opened_by"`
	OpenedAt   uint64      `json:"opened_at"` // height
	OpenedTime time.Time   `json:"opened_time"`
	OpenTx     ledger.Hash `json:"open_tx"`
	Steps      []Step      `json:"steps,omitempty"`
	Resolution string      `json:"resolution,omitempty"`
}

// Step is one review step.
type Step struct {
	Action string      `json:"action"` // "acknowledge" or "resolve"
	By     string      `json:"by"`
	Height uint64      `json:"height"`
	Time   time.Time   `json:"time"`
	Tx     ledger.Hash `json:"tx"`
	Note   string      `json:"note,omitempty"`
}

// Limits.
const (
	MaxEvents      = 256
	MaxEventIDLen  = 64
	MaxReasons     = 8
	MaxReasonBytes = 300
	MaxNoteBytes   = 1000
)

// Stable prefixes of contract-error messages.
const (
	ErrCodeExists            = "alert_exists"       // the same model already raised this alert
	ErrCodeNotFound          = "alert_not_found"    // no alert with this id
	ErrCodeInvalidTransition = "invalid_transition" // e.g. resolve before acknowledge, or anything after resolve
	ErrCodeModelUnregistered = "model_unregistered" // the model is not registered, or under another name or version
	ErrCodeModelRevoked      = "model_revoked"
	ErrCodeInvalid           = "invalid"
)

var (
	idRE     = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`) // FHIR ids
	codeRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	alertRE  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	hexRE    = regexp.MustCompile(`^[0-9a-f]{64}$`)
	memberRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$`)
)

// ID returns the id of the alert a model raises about a set of
// AuditEvents: the first 32 hex digits of SHA-256 over the model's file
// hash and the sorted event ids.
func ID(modelSHA256 string, events []string) string {
	ev := slices.Clone(events)
	slices.Sort(ev)
	h := sha256.New()
	h.Write([]byte(modelSHA256))
	for _, e := range ev {
		h.Write([]byte{'\n'})
		h.Write([]byte(e))
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Key is the state key (in the alerts namespace) of an alert.
func Key(id string) string { return "a/" + id }

func errf(code, format string, args ...any) error {
	return ledger.Errorf(ledger.CodeContract, code+": "+format, args...)
}

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	switch method {
	case "open":
		var o Open
		if err := contract.DecodePayload(payload, &o); err != nil {
			return err
		}
		return open(c, o)
	case "acknowledge":
		var a Acknowledge
		if err := contract.DecodePayload(payload, &a); err != nil {
			return err
		}
		return review(c, a.ID, "acknowledge", "", a.Note)
	case "resolve":
		var r Resolve
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		if r.Resolution != ResolutionTrue && r.Resolution != ResolutionFalse {
			return errf(ErrCodeInvalid, "resolution must be %s or %s", ResolutionTrue, ResolutionFalse)
		}
		if strings.TrimSpace(r.Note) == "" {
			return errf(ErrCodeInvalid, "a resolution needs a reviewer note")
		}
		return review(c, r.ID, "resolve", r.Resolution, r.Note)
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "alerts has no method %q (want open, acknowledge or resolve)", method)
}

func checkOpen(o *Open) error {
	switch {
	case !nameRE.MatchString(o.Detector):
		return errf(ErrCodeInvalid, "detector must match %s", nameRE)
	case len(o.Events) == 0 || len(o.Events) > MaxEvents:
		return errf(ErrCodeInvalid, "an alert references 1 to %d AuditEvents, got %d", MaxEvents, len(o.Events))
	case math.IsNaN(o.Score) || o.Score < 0 || o.Score > 1:
		return errf(ErrCodeInvalid, "score must be in [0, 1]")
	case len(o.Reasons) > MaxReasons:
		return errf(ErrCodeInvalid, "at most %d reasons, got %d", MaxReasons, len(o.Reasons))
	case !nameRE.MatchString(o.Model.Name) || o.Model.Version == "" || len(o.Model.Version) > 64 || !hexRE.MatchString(o.Model.SHA256):
		return errf(ErrCodeInvalid, "model needs a name, a version and the file's sha256 (64 lower-case hex digits)")
	case o.User != "" && !memberRE.MatchString(o.User):
		return errf(ErrCodeInvalid, "user must be a member id")
	}
	seen := map[string]bool{}
	for i, e := range o.Events {
		if !idRE.MatchString(e) {
			return errf(ErrCodeInvalid, "events[%d] is not an AuditEvent id", i)
		}
		if seen[e] {
			return errf(ErrCodeInvalid, "events[%d] repeats an earlier id", i)
		}
		seen[e] = true
	}
	for i, r := range o.Reasons {
		if !codeRE.MatchString(r.Code) || r.Text == "" || len(r.Text) > MaxReasonBytes || !utf8.ValidString(r.Text) {
			return errf(ErrCodeInvalid, "reasons[%d] needs a code ([a-z][a-z0-9_]*) and 1 to %d bytes of UTF-8 text", i, MaxReasonBytes)
		}
	}
	return nil
}

func open(c *contract.Context, o Open) error {
	if err := checkOpen(&o); err != nil {
		return err
	}
	// Policies see integers: the score in millionths.
	if err := c.Allow("alerts.open", map[string]any{"detector": o.Detector, "score_ppm": int64(math.Round(o.Score * 1e6)), "user": o.User,
		"model": map[string]any{"name": o.Model.Name, "version": o.Model.Version, "sha256": o.Model.SHA256}}, nil); err != nil {
		return err
	}
	m, ok, err := models.Lookup(c.State(), o.Model.SHA256)
	if err != nil {
		return err
	}
	switch {
	case !ok:
		return errf(ErrCodeModelUnregistered, "no model with sha256 %s is registered", o.Model.SHA256)
	case m.Name != o.Model.Name || m.Version != o.Model.Version:
		return errf(ErrCodeModelUnregistered, "sha256 %s is registered as %s %s, not %s %s", o.Model.SHA256, m.Name, m.Version, o.Model.Name, o.Model.Version)
	case m.Detector != o.Detector:
		return errf(ErrCodeModelUnregistered, "model %s %s is registered for detector %s, not %s", m.Name, m.Version, m.Detector, o.Detector)
	case m.Status != models.StatusActive:
		return errf(ErrCodeModelRevoked, "model %s %s was revoked", m.Name, m.Version)
	}
	id := ID(o.Model.SHA256, o.Events)
	if _, ok, err := c.Get(Key(id)); err != nil {
		return err
	} else if ok {
		return errf(ErrCodeExists, "alert %s was already raised by this model for these events", id)
	}
	rec := Record{ID: id, Open: o, Status: StatusOpen, Org: c.Signer.Org, OpenedBy: c.Signer.ID, OpenedAt: c.Height, OpenedTime: c.Time, OpenTx: c.TxID}
	if err := put(c, &rec); err != nil {
		return err
	}
	c.Emit("alerts.opened", "id", id, "detector", o.Detector, "score", strconv.FormatFloat(o.Score, 'f', 4, 64),
		"events", strconv.Itoa(len(o.Events)), "model", o.Model.Name+"@"+o.Model.Version, "user", o.User, "org", rec.Org)
	return nil
}

func review(c *contract.Context, id, action, resolution, note string) error {
	if !alertRE.MatchString(id) {
		return errf(ErrCodeInvalid, "id must be 32 lower-case hex digits")
	}
	if len(note) > MaxNoteBytes || !utf8.ValidString(note) {
		return errf(ErrCodeInvalid, "note must be at most %d bytes of UTF-8", MaxNoteBytes)
	}
	raw, ok, err := c.Get(Key(id))
	if err != nil {
		return err
	}
	var rec Record
	target := map[string]any{"org": "", "user": "", "status": ""}
	if ok {
		if err := json.Unmarshal(raw, &rec); err != nil {
			return err
		}
		target = map[string]any{"org": rec.Org, "user": rec.User, "status": rec.Status}
	}
	// Authorise before revealing whether the alert exists: a missing
	// alert is an empty target, which the default rule denies.
	if err := c.Allow("alerts.review", map[string]any{"id": id, "action": action, "resolution": resolution}, target); err != nil {
		return err
	}
	if !ok {
		return errf(ErrCodeNotFound, "no alert %s", id)
	}
	switch {
	case action == "acknowledge" && rec.Status != StatusOpen:
		return errf(ErrCodeInvalidTransition, "alert %s is %s; only an open alert can be acknowledged", id, rec.Status)
	case action == "resolve" && rec.Status != StatusAcknowledged:
		return errf(ErrCodeInvalidTransition, "alert %s is %s; only an acknowledged alert can be resolved", id, rec.Status)
	}
	rec.Steps = append(rec.Steps, Step{Action: action, By: c.Signer.ID, Height: c.Height, Time: c.Time, Tx: c.TxID, Note: note})
	if action == "acknowledge" {
		rec.Status = StatusAcknowledged
	} else {
		rec.Status, rec.Resolution = StatusResolved, resolution
	}
	if err := put(c, &rec); err != nil {
		return err
	}
	c.Emit("alerts."+map[string]string{"acknowledge": "acknowledged", "resolve": "resolved"}[action], "id", id, "by", c.Signer.ID, "resolution", resolution)
	return nil
}

func put(c *contract.Context, rec *Record) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c.Set(Key(rec.ID), b)
	return nil
}

// Lookup reads an alert from state.
func Lookup(r contract.StateReader, id string) (*Record, bool, error) {
	if !alertRE.MatchString(id) {
		return nil, false, nil
	}
	b, ok, err := r.Get([]byte("alerts/" + Key(id)))
	if err != nil || !ok {
		return nil, false, err
	}
	rec := new(Record)
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, false, err
	}
	return rec, true, nil
}
