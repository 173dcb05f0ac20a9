// Package models is the contract that governs AI models: it registers
// each model version by the SHA-256 of its file, with its name, version,
// detector, parameters, the SHA-256 of its training data and its
// evaluation metrics, and revokes versions that must no longer run.
// Detectors refuse a model file whose SHA-256 is not registered here (see
// model.CheckRegistered), and every alert names a registered version.
//
// Records live under "models/v/<sha256>"; "models/n/<name>/<version>"
// maps a name and version to the file's hash, so a version can never be
// registered twice with different contents. Everything is stored in clear
// on the ledger: parameters and metrics are numbers and names, never
// personal data.
package models

import (
	"bytes"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
)

// Contract is the models contract. The zero value is ready to use.
type Contract struct{}

var _ contract.Contract = Contract{}

// Name implements contract.Contract.
func (Contract) Name() string { return "models" }

// Policies implements contract.PolicyDeclarer.
func (Contract) Policies() []contract.Policy {
	return []contract.Policy{
		{
			Name:    "models.register",
			Doc:     "who may register a model version (request: name, version, detector, sha256)",
			Default: `signer.active && "admin" in signer.roles`,
		},
		{
			Name:    "models.revoke",
			Doc:     "who may revoke a model version (request: sha256, reason; target: the registration)",
			Default: `signer.active && "admin" in signer.roles && signer.org == target.org`,
		},
	}
}

// Register is the payload of models.register.
type Register struct {
	Name     string `json:"name"`     // [a-z0-9][a-z0-9._-]{0,63}
	Version  string `json:"version"`  // [A-Za-z0-9][A-Za-z0-9._+-]{0,63}
	Detector string `json:"detector"` // e.g. "access"
	SHA256   string `json:"sha256"`   // of the model file
	// Parameters is a JSON object of the model's hyperparameters (at most
	// MaxParamBytes), stored as sent.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// TrainingDataSHA256 is the SHA-256 of the data the model was trained on.
	TrainingDataSHA256 string             `json:"training_data_sha256"`
	Metrics            map[string]float64 `json:"metrics,omitempty"`
}

// Revoke is the payload of models.revoke.
type Revoke struct {
	SHA256 string `json:"sha256"`
	Reason string `json:"reason"` // one of RevokeReasons
}

// RevokeReasons are codes, not free text: the ledger is clear text.
var RevokeReasons = []string{"superseded", "defective", "security", "retired"}

// Record is the stored registration of a model version.
type Record struct {
	Register
	Status    string      `json:"status"` // StatusActive or StatusRevoked
	Reason    string      `json:"reason,omitempty"`
	Signer    string      `json:"signer"`
	Org       string      `json:"org"`
	Height    uint64      `json:"height"`
	Time      time.Time   `json:"time"`
	Tx        ledger.Hash `json:"tx"`
	RevokedAt uint64      `json:"revoked_at,omitempty"`
}

// Statuses of a registration.
const (
	StatusActive  = "active"
	StatusRevoked = "revoked"
)

// Limits.
const (
	MaxParamBytes = 16 << 10
	MaxMetrics    = 64
)

// Stable prefixes of contract-error messages, for clients to branch on.
const (
	ErrCodeExists   = "model_exists"    // the hash, or the name and version, is already registered
	ErrCodeNotFound = "model_not_found" // no registration with this hash
	ErrCodeRevoked  = "model_revoked"   // already revoked
	ErrCodeInvalid  = "invalid"         // a field is malformed
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	hexRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	metricRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// Key is the state key (in the models namespace) of a registration.
func Key(sha256 string) string { return "v/" + sha256 }

// NameKey is the state key of a name and version's hash.
func NameKey(name, version string) string { return "n/" + name + "/" + version }

// StateKey is Key with the namespace, as stored in the world state.
func StateKey(sha256 string) []byte { return []byte("models/" + Key(sha256)) }

// Lookup reads the registration of a model file hash from state.
func Lookup(r contract.StateReader, sha256 string) (*Record, bool, error) {
	if !hexRE.MatchString(sha256) {
		return nil, false, nil
	}
	b, ok, err := r.Get(StateKey(sha256))
	if err != nil || !ok {
		return nil, false, err
	}
	rec := new(Record)
	if err := json.Unmarshal(b, rec); err != nil {
		return nil, false, err
	}
	return rec, true, nil
}

func invalid(format string, args ...any) error {
	return ledger.Errorf(ledger.CodeContract, ErrCodeInvalid+": "+format, args...)
}

// Exec implements contract.Contract.
func (Contract) Exec(c *contract.Context, method string, payload []byte) error {
	switch method {
	case "register":
		var r Register
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return register(c, r)
	case "revoke":
		var r Revoke
		if err := contract.DecodePayload(payload, &r); err != nil {
			return err
		}
		return revoke(c, r)
	}
	return ledger.Errorf(ledger.CodeUnknownMethod, "models has no method %q (want register or revoke)", method)
}

func check(r *Register) error {
	switch {
	case !nameRE.MatchString(r.Name):
		return invalid("name must match %s", nameRE)
	case !versionRE.MatchString(r.Version):
		return invalid("version must match %s", versionRE)
	case !nameRE.MatchString(r.Detector):
		return invalid("detector must match %s", nameRE)
	case !hexRE.MatchString(r.SHA256):
		return invalid("sha256 must be 64 lower-case hex digits")
	case !hexRE.MatchString(r.TrainingDataSHA256):
		return invalid("training_data_sha256 must be 64 lower-case hex digits")
	case len(r.Parameters) > MaxParamBytes:
		return invalid("parameters are %d bytes, limit %d", len(r.Parameters), MaxParamBytes)
	case len(r.Metrics) > MaxMetrics:
		return invalid("%d metrics, limit %d", len(r.Metrics), MaxMetrics)
	}
	if len(r.Parameters) > 0 {
		p := bytes.TrimSpace(r.Parameters)
		if len(p) == 0 || p[0] != '{' {
			return invalid("parameters must be a JSON object")
		}
		// Compact, so the stored bytes do not depend on the sender's
		// whitespace (DecodePayload has already checked it is JSON).
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return invalid("parameters must be a JSON object")
		}
		r.Parameters = buf.Bytes()
	}
	keys := make([]string, 0, len(r.Metrics))
	for k := range r.Metrics {
		keys = append(keys, k)
	}
	slices.Sort(keys) // the same error on every node
	for _, k := range keys {
		if !metricRE.MatchString(k) {
			return invalid("metric names must match %s", metricRE)
		}
		if v := r.Metrics[k]; math.IsNaN(v) || math.IsInf(v, 0) {
			return invalid("metric %s is not finite", k)
		}
	}
	return nil
}

func register(c *contract.Context, r Register) error {
	if err := check(&r); err != nil {
		return err
	}
	if err := c.Allow("models.register", map[string]any{"name": r.Name, "version": r.Version, "detector": r.Detector, "sha256": r.SHA256}, nil); err != nil {
		return err
	}
	if _, ok, err := c.Get(Key(r.SHA256)); err != nil {
		return err
	} else if ok {
		return ledger.Errorf(ledger.CodeContract, ErrCodeExists+": a model with sha256 %s is already registered", r.SHA256)
	}
	if _, ok, err := c.Get(NameKey(r.Name, r.Version)); err != nil {
		return err
	} else if ok {
		return ledger.Errorf(ledger.CodeContract, ErrCodeExists+": %s version %s is already registered with another file", r.Name, r.Version)
	}
	rec := Record{Register: r, Status: StatusActive, Signer: c.Signer.ID, Org: c.Signer.Org, Height: c.Height, Time: c.Time, Tx: c.TxID}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c.Set(Key(r.SHA256), b)
	c.Set(NameKey(r.Name, r.Version), []byte(r.SHA256))
	c.Emit("models.registered", "sha256", r.SHA256, "name", r.Name, "version", r.Version, "detector", r.Detector)
	return nil
}

func revoke(c *contract.Context, r Revoke) error {
	if !hexRE.MatchString(r.SHA256) {
		return invalid("sha256 must be 64 lower-case hex digits")
	}
	if !slices.Contains(RevokeReasons, r.Reason) {
		return invalid("reason must be one of %v", RevokeReasons)
	}
	rec, ok, err := Lookup(c.State(), r.SHA256)
	if err != nil {
		return err
	}
	// Authorise before revealing whether the model exists.
	target := map[string]any{"org": "", "name": "", "version": ""}
	if ok {
		target = map[string]any{"org": rec.Org, "name": rec.Name, "version": rec.Version}
	}
	if err := c.Allow("models.revoke", map[string]any{"sha256": r.SHA256, "reason": r.Reason}, target); err != nil {
		return err
	}
	if !ok {
		return ledger.Errorf(ledger.CodeContract, ErrCodeNotFound+": no model with sha256 %s", r.SHA256)
	}
	if rec.Status == StatusRevoked {
		return ledger.Errorf(ledger.CodeContract, ErrCodeRevoked+": model %s is already revoked", r.SHA256)
	}
	rec.Status, rec.Reason, rec.RevokedAt = StatusRevoked, r.Reason, c.Height
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	c.Set(Key(r.SHA256), b)
	c.Emit("models.revoked", "sha256", r.SHA256, "reason", r.Reason)
	return nil
}
