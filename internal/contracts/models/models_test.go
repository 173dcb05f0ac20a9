package models_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/contract"
	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/ledger"
)

var (
	shaA = strings.Repeat("a", 64)
	shaB = strings.Repeat("b", 64)
	shaT = strings.Repeat("c", 64)
)

func reg(mod func(r *models.Register)) models.Register {
	r := models.Register{Name: "access", Version: "1.0.0", Detector: "access", SHA256: shaA, TrainingDataSHA256: shaT,
		Parameters: json.RawMessage(`{ "trees": 100, "sample_size": 256 }`), Metrics: map[string]float64{"roc_auc": 0.99, "recall": 0.93}}
	if mod != nil {
		mod(&r)
	}
	return r
}

func register(signer string, p any, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "models", Method: "register", Payload: p}, Want: want}
}

func revoke(signer, sha, reason string, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "models", Method: "revoke", Payload: models.Revoke{SHA256: sha, Reason: reason}}, Want: want}
}

func TestModels(t *testing.T) {
	const admin = "st-mary/admin"
	tests := []struct {
		name  string
		steps []ct.Step
	}{
		{"register", []ct.Step{register(admin, reg(nil), ledger.CodeOK)}},
		{"without optional fields", []ct.Step{register(admin, reg(func(r *models.Register) { r.Parameters, r.Metrics = nil, nil }), ledger.CodeOK)}},
		{"same file twice", []ct.Step{register(admin, reg(nil), ledger.CodeOK), register(admin, reg(func(r *models.Register) { r.Version = "2" }), ledger.CodeContract)}},
		{"same version, other file", []ct.Step{register(admin, reg(nil), ledger.CodeOK), register(admin, reg(func(r *models.Register) { r.SHA256 = shaB }), ledger.CodeContract)}},
		{"new version", []ct.Step{register(admin, reg(nil), ledger.CodeOK), register(admin, reg(func(r *models.Register) { r.SHA256, r.Version = shaB, "2" }), ledger.CodeOK)}},
		{"practitioner may not", []ct.Step{register("st-mary/dr-who", reg(nil), ledger.CodeDenied)}},
		{"bad name", []ct.Step{register(admin, reg(func(r *models.Register) { r.Name = "Access Model" }), ledger.CodeContract)}},
		{"bad version", []ct.Step{register(admin, reg(func(r *models.Register) { r.Version = "" }), ledger.CodeContract)}},
		{"bad sha", []ct.Step{register(admin, reg(func(r *models.Register) { r.SHA256 = strings.ToUpper(shaA) }), ledger.CodeContract)}},
		{"no training hash", []ct.Step{register(admin, reg(func(r *models.Register) { r.TrainingDataSHA256 = "" }), ledger.CodeContract)}},
		{"parameters not an object", []ct.Step{register(admin, reg(func(r *models.Register) { r.Parameters = json.RawMessage(`[1]`) }), ledger.CodeContract)}},
		{"parameters too large", []ct.Step{register(admin, reg(func(r *models.Register) {
			r.Parameters = json.RawMessage(`{"x":"` + strings.Repeat("y", models.MaxParamBytes) + `"}`)
		}), ledger.CodeContract)}},
		{"bad metric name", []ct.Step{register(admin, reg(func(r *models.Register) { r.Metrics = map[string]float64{ct.PHI: 1} }), ledger.CodeContract)}},
		{"unknown field", []ct.Step{register(admin, `{"name":"access","patient":"`+ct.PHI+`"}`, ledger.CodeContract)}},
		{"revoke", []ct.Step{register(admin, reg(nil), ledger.CodeOK), revoke(admin, shaA, "defective", ledger.CodeOK), revoke(admin, shaA, "defective", ledger.CodeContract)}},
		{"revoke unknown is denied like another org's", []ct.Step{revoke(admin, shaB, "retired", ledger.CodeDenied)}},
		{"revoke by another org", []ct.Step{register(admin, reg(nil), ledger.CodeOK), revoke("acme/admin", shaA, "retired", ledger.CodeDenied)}},
		{"revoke free-text reason", []ct.Step{register(admin, reg(nil), ledger.CodeOK), revoke(admin, shaA, "Jane looked at it", ledger.CodeContract)}},
		{"unknown method", []ct.Step{{Call: ct.Call{Signer: admin, Contract: "models", Method: "delete", Payload: "{}"}, Want: ledger.CodeUnknownMethod}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ct.NewFixture(t, models.Contract{})
			f.Run(tt.steps)
		})
	}
}

func TestStoredRecord(t *testing.T) {
	f := ct.NewFixture(t, models.Contract{})
	rs := f.Run([]ct.Step{register("st-mary/admin", reg(nil), ledger.CodeOK)})
	if ev := rs[0][0].Events; len(ev) != 1 || ev[0].Type != "models.registered" {
		t.Errorf("events = %+v", ev)
	}
	rec, ok, err := models.Lookup(f.State, shaA)
	if err != nil || !ok {
		t.Fatalf("Lookup = %v, %v", ok, err)
	}
	if rec.Name != "access" || rec.Status != models.StatusActive || rec.Org != "st-mary" || string(rec.Parameters) != `{"trees":100,"sample_size":256}` || rec.Metrics["roc_auc"] != 0.99 {
		t.Errorf("record = %+v", rec)
	}
	f.Run([]ct.Step{revoke("st-mary/admin", shaA, "superseded", ledger.CodeOK)})
	if rec, _, _ := models.Lookup(f.State, shaA); rec.Status != models.StatusRevoked || rec.Reason != "superseded" {
		t.Errorf("after revoke: %+v", rec)
	}
	if _, ok, _ := models.Lookup(f.State, "nothex"); ok {
		t.Error("Lookup(nothex) found something")
	}
	// The policy can be tightened like any other.
	f.Run([]ct.Step{{Call: ct.Call{Signer: "st-mary/admin", Contract: "policy", Method: "set",
		Payload: contract.PolicySet{Name: "models.register", Rule: `signer.active && "admin" in signer.roles && request.detector == "claims"`}}, Want: ledger.CodeOK}},
		[]ct.Step{register("st-mary/admin", reg(func(r *models.Register) { r.SHA256, r.Version = shaB, "9" }), ledger.CodeDenied)})
}
