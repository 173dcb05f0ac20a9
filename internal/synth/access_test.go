package synth

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type accessFiles struct {
	events, labels, pat, prac, role, enc, ct bytes.Buffer
}

func genAccess(t testing.TB, o AccessOptions) (*accessFiles, AccessSummary) {
	t.Helper()
	var f accessFiles
	sum, err := WriteAccess(o, AccessOutput{Events: &f.events, Labels: &f.labels, Patient: &f.pat, Practitioner: &f.prac,
		PractitionerRole: &f.role, Encounter: &f.enc, CareTeam: &f.ct})
	if err != nil {
		t.Fatal(err)
	}
	return &f, sum
}

func TestAccessDeterministic(t *testing.T) {
	o := AccessOptions{Days: 4, Users: 40, Patients: 300, Seed: 5}
	a, _ := genAccess(t, o)
	b, _ := genAccess(t, o)
	if !bytes.Equal(a.events.Bytes(), b.events.Bytes()) || !bytes.Equal(a.labels.Bytes(), b.labels.Bytes()) || !bytes.Equal(a.enc.Bytes(), b.enc.Bytes()) {
		t.Error("the same options wrote different files")
	}
	o.Seed = 6
	c, _ := genAccess(t, o)
	if bytes.Equal(a.events.Bytes(), c.events.Bytes()) {
		t.Error("another seed wrote the same events")
	}
}

// TestAccessShape checks every event is an IHE-shaped AuditEvent in time
// order, labels match events one for one, and attacks are rare.
func TestAccessShape(t *testing.T) {
	f, sum := genAccess(t, AccessOptions{Days: 6, Users: 40, Patients: 400, Seed: 1})
	if sum.Events < 3000 {
		t.Fatalf("only %d events", sum.Events)
	}
	if rate := float64(sum.AttackEvents) / float64(sum.Events); rate == 0 || rate >= 0.02 {
		t.Errorf("attack share %.4f; want rare but present", rate)
	}
	for _, typ := range AttackTypes {
		if sum.PerType[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	ev := bufio.NewScanner(bytes.NewReader(f.events.Bytes()))
	ev.Buffer(nil, 1<<20)
	lb := bufio.NewScanner(bytes.NewReader(f.labels.Bytes()))
	last := ""
	n := 0
	for ev.Scan() {
		if !lb.Scan() {
			t.Fatal("fewer labels than events")
		}
		var a struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
			Recorded     string `json:"recorded"`
			Outcome      string `json:"outcome"`
			Agent        []struct {
				Requestor bool `json:"requestor"`
				Who       struct {
					Identifier struct{ Value string } `json:"identifier"`
				} `json:"who"`
			} `json:"agent"`
			Entity []struct {
				Role struct{ System, Code string } `json:"role"`
			} `json:"entity"`
		}
		if err := json.Unmarshal(ev.Bytes(), &a); err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		var l struct {
			ID     string  `json:"id"`
			Attack *string `json:"attack"`
		}
		if err := json.Unmarshal(lb.Bytes(), &l); err != nil || l.ID != a.ID {
			t.Fatalf("label %d = %s (%v); want id %s", n, lb.Bytes(), err, a.ID)
		}
		if a.ResourceType != "AuditEvent" || len(a.Agent) != 2 || !a.Agent[0].Requestor || !strings.HasPrefix(a.Agent[0].Who.Identifier.Value, "general-hospital/") || len(a.Entity) == 0 {
			t.Fatalf("event %d has the wrong shape: %s", n, ev.Bytes())
		}
		if a.Recorded < last {
			t.Fatalf("event %d recorded %s before the previous %s", n, a.Recorded, last)
		}
		last = a.Recorded
		n++
	}
	if lb.Scan() {
		t.Error("more labels than events")
	}
	for name, b := range map[string]*bytes.Buffer{"Patient": &f.pat, "Practitioner": &f.prac, "PractitionerRole": &f.role, "Encounter": &f.enc, "CareTeam": &f.ct} {
		if !bytes.Contains(b.Bytes(), []byte(`"resourceType":"`+name+`"`)) {
			t.Errorf("no %s in the context", name)
		}
	}
	celeb := bytes.Contains(f.pat.Bytes(), []byte(`"code":"CELEB"`)) || bytes.Contains(f.pat.Bytes(), []byte(`"code":"VIP"`))
	if !celeb || !bytes.Contains(f.pat.Bytes(), []byte(`"code":"EMP"`)) {
		t.Error("no CELEB or EMP security labels on patients")
	}
}

func TestAccessOptions(t *testing.T) {
	bad := []AccessOptions{{Days: -1}, {Users: 5}, {Patients: 10}, {Org: "Bad Org"}, {Episodes: -2}}
	for _, o := range bad {
		if _, err := WriteAccess(o, AccessOutput{Events: &bytes.Buffer{}, Labels: &bytes.Buffer{}}); !errors.Is(err, ErrOptions) {
			t.Errorf("WriteAccess(%+v) = %v; want ErrOptions", o, err)
		}
	}
	if _, err := WriteAccess(AccessOptions{}, AccessOutput{}); !errors.Is(err, ErrOptions) {
		t.Errorf("WriteAccess without writers = %v; want ErrOptions", err)
	}
	_, sum := genAccess(t, AccessOptions{Days: 3, Users: 30, Patients: 200, Episodes: -1})
	if sum.AttackEvents != 0 {
		t.Errorf("Episodes -1 wrote %d attack events", sum.AttackEvents)
	}
}
