package node_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/contracts/alerts"
	"github.com/medledger/medledger/internal/contracts/members"
	"github.com/medledger/medledger/internal/identity"
)

// TestMonitorRaisesAlerts checks the live access monitor: a practitioner
// with no care relationship breaks the glass on patient after patient, a
// celebrity first; an alert naming the access, its score, plain-language
// reasons and the registered model appears on the ledger within a second
// of the access committing.
func TestMonitorRaisesAlerts(t *testing.T) {
	th := newHome(t)
	n, _ := th.open(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.StartMonitor(ctx, 0); err != nil {
		t.Fatal(err)
	}
	sys, _ := n.Token(th.adminID, "system/*.cruds", "")
	var ids []string
	for i := range 40 {
		body := `{"resourceType":"Patient","gender":"female","name":[{"family":"Star` + string(rune('a'+i%26)) + `"}]}`
		if i == 0 {
			body = `{"resourceType":"Patient","meta":{"security":[{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"CELEB"}]},"gender":"female","name":[{"family":"Famous"}]}`
		}
		st, b := fhirReq(t, n.Handler(), "POST", "/fhir/Patient", sys, body)
		if st != 201 {
			t.Fatalf("create: %d %s", st, b)
		}
		var p struct{ ID string }
		json.Unmarshal(b, &p)
		ids = append(ids, p.ID)
	}
	// A practitioner with no relationship to anyone, who breaks the glass
	// on every record.
	k, _ := identity.GenerateKey()
	org := th.doc.Orgs[0].ID
	p, _ := json.Marshal(members.Enrol{ID: org + "/clerk", Org: org, Roles: []string{"practitioner"}, PublicKey: identity.EncodePublicKey(k.Public())})
	raw, _ := th.sign(t, client.Tx{ChainID: th.doc.ChainID, Contract: "members", Method: "enrol", Payload: p, Signer: th.adminID}, th.admin)
	if rc, err := n.Submit(ctx, raw); err != nil || rc.Result.Code != "ok" {
		t.Fatalf("enrol: %v %+v", err, rc.Result)
	}
	tok, _ := n.Token(org+"/clerk", "user/*.rs", "")
	scan := func() []alerts.Record {
		var out []alerts.Record
		n.Store().Scan([]byte("alerts/a/"), ^uint64(0), func(_, v []byte) bool {
			var r alerts.Record
			if json.Unmarshal(v, &r) == nil {
				out = append(out, r)
			}
			return true
		})
		return out
	}
	var got []alerts.Record
	for i, id := range ids {
		fhirReq(t, n.Handler(), "POST", "/fhir/Patient/"+id+"/$break-glass", tok, `{"resourceType":"Parameters","parameter":[{"name":"reason","valueString":"checking something urgent"}]}`)
		fhirReq(t, n.Handler(), "GET", "/fhir/Patient/"+id, tok, "")
		if i > 0 {
			continue
		}
		// After the first access outside any care relationship (to a
		// celebrity's record, on top of the creations before), an alert
		// is due within a second of the access committing.
		committed := time.Now()
		for len(got) == 0 && time.Since(committed) < time.Second {
			time.Sleep(20 * time.Millisecond)
			got = scan()
		}
		if len(got) == 0 {
			t.Fatalf("no alert within a second of a celebrity's record being opened outside care")
		}
		t.Logf("first alert %v after the access", time.Since(committed).Round(time.Millisecond))
	}
	time.Sleep(500 * time.Millisecond)
	got = scan()
	a := got[0]
	if a.Model.SHA256 == "" || a.Score <= 0 || len(a.Reasons) == 0 || a.Status != alerts.StatusOpen || !strings.HasPrefix(a.User, org+"/") {
		t.Errorf("alert: %+v", a)
	}
	t.Logf("%d alerts; first: score %.2f, reasons %v", len(got), a.Score, a.Reasons)

	// The alerts API: auditors only, filtered.
	k2, _ := identity.GenerateKey()
	p, _ = json.Marshal(members.Enrol{ID: org + "/privacy", Org: org, Roles: []string{"auditor"}, PublicKey: identity.EncodePublicKey(k2.Public())})
	raw, _ = th.sign(t, client.Tx{ChainID: th.doc.ChainID, Contract: "members", Method: "enrol", Payload: p, Signer: th.adminID}, th.admin)
	if rc, err := n.Submit(ctx, raw); err != nil || rc.Result.Code != "ok" {
		t.Fatalf("enrol: %v %+v", err, rc.Result)
	}
	audTok, _ := n.Token(org+"/privacy", "user/AuditEvent.rs", "")
	st, b := fhirReq(t, n.Handler(), "GET", "/v1/alerts?status=open", audTok, "")
	var list struct {
		Total  int             `json:"total"`
		Alerts []alerts.Record `json:"alerts"`
	}
	if st != 200 || json.Unmarshal(b, &list) != nil || list.Total != len(got) {
		t.Errorf("GET /v1/alerts: %d %s; want %d alerts", st, b, len(got))
	}
	if st, _ := fhirReq(t, n.Handler(), "GET", "/v1/alerts", tok, ""); st != 403 {
		t.Errorf("a practitioner lists alerts: %d", st)
	}
	if st, _ := fhirReq(t, n.Handler(), "GET", "/v1/alerts/"+a.ID, audTok, ""); st != 200 {
		t.Errorf("GET /v1/alerts/{id}: %d", st)
	}
	// The model behind the alert is registered on the ledger.
	if st, b := fhirReq(t, n.Handler(), "GET", "/v1/models/"+a.Model.SHA256, "", ""); st != 200 || !strings.Contains(string(b), `"name":"`+a.Model.Name+`"`) {
		t.Errorf("GET /v1/models/{sha256}: %d %s", st, b)
	}
	if st, b := fhirReq(t, n.Handler(), "GET", "/v1/models", "", ""); st != 200 || !strings.Contains(string(b), "ledger-activity") {
		t.Errorf("GET /v1/models: %d %.200s", st, b)
	}
	if st, _ := fhirReq(t, n.Handler(), "GET", "/v1/models/"+strings.Repeat("0", 64), "", ""); st != 404 {
		t.Errorf("GET /v1/models of an unregistered file: %d", st)
	}
}
