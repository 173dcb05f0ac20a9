package alerts_test

import (
	"strings"
	"testing"

	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/ledger"
)

var (
	shaM  = strings.Repeat("d", 64)
	shaM2 = strings.Repeat("e", 64)
	shaT  = strings.Repeat("c", 64)
	ref   = alerts.ModelRef{Name: "access", Version: "1", SHA256: shaM}
)

func registerModel(sha, version string) ct.Step {
	return ct.Step{Call: ct.Call{Signer: "st-mary/admin", Contract: "models", Method: "register",
		Payload: models.Register{Name: "access", Version: version, Detector: "access", SHA256: sha, TrainingDataSHA256: shaT}}, Want: ledger.CodeOK}
}

func openAlert(mod func(o *alerts.Open)) alerts.Open {
	o := alerts.Open{Detector: "access", Events: []string{"ae-1", "ae-2"}, Score: 0.97, Model: ref, User: "st-mary/clerk",
		Reasons: []alerts.Reason{{Code: "vip_outside_care", Text: "the patient is flagged VIP/celebrity and the user is not on the care team"}}}
	if mod != nil {
		mod(&o)
	}
	return o
}

func open(signer string, o any, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "alerts", Method: "open", Payload: o}, Want: want}
}

func ack(signer, id string, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "alerts", Method: "acknowledge", Payload: alerts.Acknowledge{ID: id, Note: "looking"}}, Want: want}
}

func resolve(signer, id, res, note string, want ledger.Code) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "alerts", Method: "resolve", Payload: alerts.Resolve{ID: id, Resolution: res, Note: note}}, Want: want}
}

func TestAlerts(t *testing.T) {
	const node, admin, auditor = "st-mary/node", "st-mary/admin", "st-mary/clerk" // clerk has role auditor
	id := alerts.ID(shaM, []string{"ae-2", "ae-1"})
	otherUser := func(o *alerts.Open) { o.User = "st-mary/dr-who" }
	idOther := alerts.ID(shaM, []string{"ae-1", "ae-2"})
	tests := []struct {
		name  string
		steps []ct.Step
	}{
		{"lifecycle", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(otherUser), ledger.CodeOK), ack(auditor, idOther, ledger.CodeOK),
			resolve(auditor, idOther, alerts.ResolutionTrue, "confirmed with the ward; case 2026-17", ledger.CodeOK)}},
		{"false positive", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(admin, id, ledger.CodeOK),
			resolve(admin, id, alerts.ResolutionFalse, "covering a colleague", ledger.CodeOK)}},
		{"same alert twice", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK),
			open(node, openAlert(func(o *alerts.Open) { o.Events = []string{"ae-2", "ae-1"}; o.Score = 0.5 }), ledger.CodeContract)}},
		{"unregistered model", []ct.Step{open(node, openAlert(nil), ledger.CodeContract)}},
		{"model registered under another version", []ct.Step{registerModel(shaM, "7"), open(node, openAlert(nil), ledger.CodeContract)}},
		{"revoked model", []ct.Step{registerModel(shaM, "1"),
			{Call: ct.Call{Signer: admin, Contract: "models", Method: "revoke", Payload: models.Revoke{SHA256: shaM, Reason: "defective"}}, Want: ledger.CodeOK},
			open(node, openAlert(nil), ledger.CodeContract)}},
		{"wrong detector", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Detector = "claims" }), ledger.CodeContract)}},
		{"practitioner may not open", []ct.Step{registerModel(shaM, "1"), open("st-mary/dr-who", openAlert(nil), ledger.CodeDenied)}},
		{"resolve before acknowledge", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), resolve(admin, id, alerts.ResolutionTrue, "x", ledger.CodeContract)}},
		{"acknowledge twice", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(admin, id, ledger.CodeOK), ack(admin, id, ledger.CodeContract)}},
		{"after resolve", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(admin, id, ledger.CodeOK),
			resolve(admin, id, alerts.ResolutionTrue, "x", ledger.CodeOK), resolve(admin, id, alerts.ResolutionFalse, "y", ledger.CodeContract), ack(admin, id, ledger.CodeContract)}},
		{"the user the alert is about may not review it", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(auditor, id, ledger.CodeDenied)}},
		{"another organisation may not review", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack("acme/admin", id, ledger.CodeDenied)}},
		{"practitioner may not review", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(otherUser), ledger.CodeOK), ack("st-mary/dr-who", idOther, ledger.CodeDenied)}},
		{"unknown alert is denied like another org's", []ct.Step{ack(admin, strings.Repeat("0", 32), ledger.CodeDenied)}},
		{"bad alert id", []ct.Step{ack(admin, "x", ledger.CodeContract)}},
		{"resolution without note", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(admin, id, ledger.CodeOK), resolve(admin, id, alerts.ResolutionTrue, " ", ledger.CodeContract)}},
		{"bad resolution", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(nil), ledger.CodeOK), ack(admin, id, ledger.CodeOK), resolve(admin, id, "maybe", "x", ledger.CodeContract)}},
		{"no events", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Events = nil }), ledger.CodeContract)}},
		{"repeated event", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Events = []string{"a", "a"} }), ledger.CodeContract)}},
		{"event id with spaces", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Events = []string{ct.PHI} }), ledger.CodeContract)}},
		{"score out of range", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Score = 1.5 }), ledger.CodeContract)}},
		{"bad reason code", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) { o.Reasons[0].Code = "Bad Code" }), ledger.CodeContract)}},
		{"reason too long", []ct.Step{registerModel(shaM, "1"), open(node, openAlert(func(o *alerts.Open) {
			o.Reasons[0].Text = strings.Repeat("x", alerts.MaxReasonBytes+1)
		}), ledger.CodeContract)}},
		{"unknown method", []ct.Step{{Call: ct.Call{Signer: admin, Contract: "alerts", Method: "delete", Payload: "{}"}, Want: ledger.CodeUnknownMethod}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ct.NewFixture(t, models.Contract{}, alerts.Contract{})
			f.Run(tt.steps)
		})
	}
}

func TestAlertRecord(t *testing.T) {
	f := ct.NewFixture(t, models.Contract{}, alerts.Contract{})
	id := alerts.ID(shaM, []string{"ae-1", "ae-2"})
	rs := f.Run([]ct.Step{registerModel(shaM, "1"), open("st-mary/node", openAlert(func(o *alerts.Open) { o.User = "" }), ledger.CodeOK)},
		[]ct.Step{ack("st-mary/clerk", id, ledger.CodeOK)},
		[]ct.Step{resolve("st-mary/admin", id, alerts.ResolutionFalse, "consult", ledger.CodeOK)},
		[]ct.Step{resolve("st-mary/admin", id, alerts.ResolutionFalse, "again", ledger.CodeContract)})
	if ev := rs[0][1].Events; len(ev) != 1 || ev[0].Type != "alerts.opened" || ev[0].Attrs[0].Value != id {
		t.Errorf("open events = %+v", ev)
	}
	if msg := rs[3][0].Message; !strings.HasPrefix(msg, alerts.ErrCodeInvalidTransition+":") {
		t.Errorf("resolving twice: message %q; want the %s code", msg, alerts.ErrCodeInvalidTransition)
	}
	rec, ok, err := alerts.Lookup(f.State, id)
	if err != nil || !ok {
		t.Fatalf("Lookup = %v, %v", ok, err)
	}
	if rec.Status != alerts.StatusResolved || rec.Resolution != alerts.ResolutionFalse || len(rec.Steps) != 2 || rec.Steps[0].By != "st-mary/clerk" ||
		rec.Steps[1].Note != "consult" || rec.Org != "st-mary" || rec.OpenedBy != "st-mary/node" || rec.Model != ref {
		t.Errorf("record = %+v", rec)
	}
	// A second model version raises its own alert on the same events.
	f.Run([]ct.Step{registerModel(shaM2, "2"), open("st-mary/node", openAlert(func(o *alerts.Open) {
		o.Model = alerts.ModelRef{Name: "access", Version: "2", SHA256: shaM2}
	}), ledger.CodeOK)})
	if alerts.ID(shaM2, []string{"ae-1", "ae-2"}) == id {
		t.Error("alert ids do not depend on the model")
	}
}
