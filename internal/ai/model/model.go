// Package model is medledger's detector model file: a documented JSON
// format (docs/models.md) that holds an isolation forest, rule weights,
// an optional XGBoost tree ensemble and an alert threshold, with the
// training data's SHA-256 and evaluation metrics. A model version is
// identified by the SHA-256 of its file, which is what the models
// contract registers; CheckRegistered refuses a file the ledger does not
// know.
//
// Decoding validates everything (Parse never panics on any input) and
// the decoded Model is immutable and safe for concurrent use. The package
// knows nothing about what the features mean: each detector (package
// access) names and computes them.
package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"

	"github.com/medledger/medledger/internal/ai/iforest"
)

// Format is the value of the "format" field of a model file.
const Format = "medledger.model/v1"

// ErrInvalid is wrapped by every decoding and validation error.
var ErrInvalid = errors.New("model: invalid")

// Model is a decoded model file.
type Model struct {
	Format   string `json:"format"`
	Name     string `json:"name"`     // [a-z0-9][a-z0-9._-]{0,63}
	Version  string `json:"version"`  // [A-Za-z0-9][A-Za-z0-9._+-]{0,63}
	Detector string `json:"detector"` // which detector reads it, e.g. "access"
	// Features names the feature vector, in order, that the forest and
	// the booster read; the detector computes them by name.
	Features []string `json:"features"`
	// Params are the detector's own parameters (baseline windows and the
	// like), opaque to this package.
	Params json.RawMessage `json:"params,omitempty"`
	Rules  Rules           `json:"rules"`
	Forest *ForestPart     `json:"iforest,omitempty"`
	Boost  *BoosterPart    `json:"xgboost,omitempty"`
	// Threshold is the score at or above which an event alerts.
	Threshold float64            `json:"threshold"`
	Training  Training           `json:"training"`
	Metrics   map[string]float64 `json:"metrics,omitempty"`
}

// Rules are the weights of the linear part of the score: the evidence of
// an event is Bias + Σ Weights[f]·x[f] over named features.
type Rules struct {
	Bias    float64            `json:"bias"`
	Weights map[string]float64 `json:"weights"`
}

// ForestPart adds Weight·(forest score − Center) to the evidence; the
// forest reads the features named in Features (a subset of Model.Features).
type ForestPart struct {
	Weight   float64         `json:"weight"`
	Center   float64         `json:"center"`
	Features []string        `json:"features"`
	Forest   *iforest.Forest `json:"forest"`
}

// BoosterPart adds Weight·margin (the booster's raw margin) to the
// evidence. Model holds an unmodified XGBoost JSON model whose features
// are Model.Features in order (or named by its own feature_names).
type BoosterPart struct {
	Weight  float64         `json:"weight"`
	Model   json.RawMessage `json:"model"`
	booster *Booster
}

// Booster returns the decoded XGBoost ensemble.
func (b *BoosterPart) Booster() *Booster { return b.booster }

// Training describes the data the model was fitted on.
type Training struct {
	DataSHA256    string `json:"data_sha256"`              // SHA-256 of the events file
	ContextSHA256 string `json:"context_sha256,omitempty"` // of the context files, concatenated in name order
	Events        int    `json:"events"`
	Seed          uint64 `json:"seed"`
	Note          string `json:"note,omitempty"`
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)
	featRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	hexRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// ValidName reports whether s is a valid model name.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// ValidVersion reports whether s is a valid model version.
func ValidVersion(s string) bool { return versionRE.MatchString(s) }

// MaxFileBytes bounds a model file.
const MaxFileBytes = 64 << 20

// Parse strictly decodes and validates a model file: unknown fields,
// trailing data, non-finite numbers, unknown feature names and malformed
// forests or boosters are errors wrapping ErrInvalid.
func Parse(b []byte) (*Model, error) {
	if len(b) > MaxFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrInvalid, MaxFileBytes)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var m Model
	if err := d.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the model", ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// Validate reports every problem with m at once; errors wrap ErrInvalid.
// It decodes the embedded XGBoost model.
func (m *Model) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if m.Format != Format {
		bad("format %q; want %q", m.Format, Format)
	}
	if !nameRE.MatchString(m.Name) {
		bad("name must match %s", nameRE)
	}
	if !versionRE.MatchString(m.Version) {
		bad("version must match %s", versionRE)
	}
	if !nameRE.MatchString(m.Detector) {
		bad("detector must match %s", nameRE)
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		if !featRE.MatchString(f) || seen[f] {
			bad("features[%d] is not a feature name or repeats one", i)
		}
		seen[f] = true
	}
	if len(m.Params) > 0 && (m.Params[0] != '{' || !json.Valid(m.Params)) {
		bad("params must be a JSON object")
	}
	if !finite(m.Rules.Bias) {
		bad("rules.bias is not finite")
	}
	for f, w := range m.Rules.Weights {
		if !seen[f] {
			bad("rules.weights names %q, which is not in features", f)
		}
		if !finite(w) {
			bad("rules.weights[%q] is not finite", f)
		}
	}
	if fp := m.Forest; fp != nil {
		if fp.Forest == nil {
			bad("iforest.forest is missing")
		} else if len(fp.Features) != fp.Forest.Features {
			bad("iforest.features names %d features; the forest reads %d", len(fp.Features), fp.Forest.Features)
		}
		for _, f := range fp.Features {
			if !seen[f] {
				bad("iforest.features names %q, which is not in features", f)
			}
		}
		if !finite(fp.Weight) || !finite(fp.Center) {
			bad("iforest weight and center must be finite")
		}
	}
	if bp := m.Boost; bp != nil {
		bo, err := ParseXGBoost(bp.Model)
		if err != nil {
			errs = append(errs, err)
		} else {
			bp.booster = bo
			if len(bo.FeatureNames) == 0 && bo.NumFeature > len(m.Features) {
				bad("the xgboost model reads %d features; the model has %d", bo.NumFeature, len(m.Features))
			}
			for _, f := range bo.FeatureNames {
				if !seen[f] {
					bad("the xgboost model's feature %q is not in features", f)
				}
			}
		}
		if !finite(bp.Weight) {
			bad("xgboost.weight is not finite")
		}
	}
	if !finite(m.Threshold) || m.Threshold < 0 || m.Threshold > 1 {
		bad("threshold must be in [0, 1]")
	}
	if t := m.Training.DataSHA256; t != "" && !hexRE.MatchString(t) {
		bad("training.data_sha256 must be 64 lower-case hex digits")
	}
	if t := m.Training.ContextSHA256; t != "" && !hexRE.MatchString(t) {
		bad("training.context_sha256 must be 64 lower-case hex digits")
	}
	for k, v := range m.Metrics {
		if !featRE.MatchString(k) || !finite(v) {
			bad("metrics entries must be named [a-z][a-z0-9_]* and finite")
			break
		}
	}
	return errors.Join(errs...)
}

// Encode returns the canonical file bytes of m: indented JSON with a
// trailing newline. Maps are written in key order, so the same model
// always encodes to the same bytes and hence the same SHA-256.
func (m *Model) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SHA256 returns the lower-case hex SHA-256 of a model file's bytes: the
// identity under which the models contract registers it.
func SHA256(file []byte) string {
	s := sha256.Sum256(file)
	return hex.EncodeToString(s[:])
}

// Registration is what a registry (the models contract) knows of a model
// version.
type Registration struct {
	Name    string
	Version string
	SHA256  string
	Revoked bool
}

// Lookup finds the registration of the model file with the given SHA-256.
// ok is false if none is registered; err reports a failure to ask.
type Lookup func(sha256 string) (r Registration, ok bool, err error)

// ErrUnregistered is wrapped by CheckRegistered when the registry does
// not know the model file, knows it under another name or version, or
// has revoked it.
var ErrUnregistered = errors.New("model: not registered")

// CheckRegistered verifies that the model file (raw bytes, decoded as m)
// is registered under m's name and version and not revoked. A detector
// must call it before scoring with a model from outside the binary.
func CheckRegistered(file []byte, m *Model, lookup Lookup) error {
	sum := SHA256(file)
	r, ok, err := lookup(sum)
	if err != nil {
		return fmt.Errorf("look up model %s: %w", sum, err)
	}
	switch {
	case !ok:
		return fmt.Errorf("%w: no model with SHA-256 %s is registered (medledger models register)", ErrUnregistered, sum)
	case r.Revoked:
		return fmt.Errorf("%w: model %s %s (SHA-256 %s) was revoked", ErrUnregistered, r.Name, r.Version, sum)
	case r.Name != m.Name || r.Version != m.Version:
		return fmt.Errorf("%w: SHA-256 %s is registered as %s %s, the file says %s %s", ErrUnregistered, sum, r.Name, r.Version, m.Name, m.Version)
	}
	return nil
}
