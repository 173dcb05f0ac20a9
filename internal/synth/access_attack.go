package synth

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"time"
)

// planAttacks spreads o.Episodes episodes of each attack type over the
// days after the quiet ones.
func (g *accGen) planAttacks() map[int][]func() {
	plan := map[int][]func(){}
	if g.o.Episodes < 0 || g.o.Days <= g.o.QuietDays {
		return plan
	}
	for _, typ := range AttackTypes {
		for range g.o.Episodes {
			d := g.o.QuietDays + g.r.IntN(g.o.Days-g.o.QuietDays)
			plan[d] = append(plan[d], func() {
				if g.attack(typ, d) {
					g.sum.Episodes[typ]++
				}
			})
		}
	}
	return plan
}

// nominal is u's usual working span on day d.
func (g *accGen) nominal(u *accUser, d int) (time.Time, time.Time) {
	t0 := g.dayStart(d)
	h := func(a, b float64) (time.Time, time.Time) {
		return t0.Add(time.Duration(a * float64(time.Hour))), t0.Add(time.Duration(b * float64(time.Hour)))
	}
	switch u.shift {
	case shNight:
		return h(19, 31)
	case shLate:
		return h(15, 23)
	case shGraveyard:
		return h(23, 31)
	case shOffice:
		return h(8, 17)
	}
	return h(7, 19)
}

// attacker picks a member whose role is in roles (any role if none) and
// for whom ok holds.
func (g *accGen) attacker(ok func(u *accUser) bool, roles ...accRole) int {
	var cands []int
	for i, u := range g.users {
		if (len(roles) == 0 || slices.Contains(roles, u.role)) && (ok == nil || ok(u)) {
			cands = append(cands, i)
		}
	}
	if len(cands) == 0 {
		return -1
	}
	return pick(g.r, cands)
}

// unrelated picks a patient ui has no care relationship with at t.
func (g *accGen) unrelated(ui int, t time.Time, inHouse bool) int {
	for range 50 {
		var p int
		if inHouse {
			c := g.candidates(t, func(e *accEnc) bool { return inProgress(e, t) })
			if len(c) == 0 {
				p = g.r.IntN(len(g.patients))
			} else {
				p = g.encs[pick(g.r, c)].patient
			}
		} else {
			p = g.r.IntN(len(g.patients))
		}
		if !g.cares(ui, p, t) && p != g.users[ui].self {
			return p
		}
	}
	return g.r.IntN(len(g.patients))
}

// cares reports whether ui is on the team or in the department of one of
// p's encounters around t.
func (g *accGen) cares(ui, p int, t time.Time) bool {
	u := g.users[ui]
	for _, ei := range g.patients[p].encs {
		e := g.encs[ei]
		if t.After(e.start.Add(-24*time.Hour)) && t.Before(e.end.Add(30*24*time.Hour)) && (slices.Contains(e.team, ui) || e.dept == u.dept) {
			return true
		}
	}
	return false
}

var snoopMix = []struct{ typ, sub string }{
	{"Patient", "read"}, {"Observation", "search-type"}, {"Observation", "read"}, {"Condition", "read"},
	{"DocumentReference", "read"}, {"DiagnosticReport", "read"}, {"MedicationRequest", "read"},
}

// snoop writes n accesses by ui to patient p from t on.
func (g *accGen) snoop(ui, p int, t time.Time, n int, purpose, addr, attack string) time.Time {
	for i := range n {
		m := snoopMix[0]
		if i > 0 {
			m = pick(g.r, snoopMix)
		}
		a := accAccess{subtype: m.sub, resType: m.typ, patient: p, purpose: purpose, outcome: "0", addr: addr}
		if m.sub == "search-type" {
			a.count = 1 + g.r.IntN(30)
		}
		g.emit(ui, t, a, attack)
		t = t.Add(time.Duration(15+g.r.IntN(100)) * time.Second)
	}
	return t
}

func (g *accGen) inShift(u *accUser, d int) time.Time {
	s, e := g.nominal(u, d)
	return s.Add(time.Duration((0.05 + 0.85*g.r.Float64()) * float64(e.Sub(s))))
}

var clinical = []accRole{roPhysician, roResident, roNurse}

// attack writes one episode of typ on day d; false if no one fits.
func (g *accGen) attack(typ string, d int) bool {
	switch typ {
	case AttackVIP:
		ui := g.attacker(nil, roPhysician, roResident, roNurse, roClerk, roBiller)
		if ui < 0 {
			return false
		}
		u := g.users[ui]
		t := g.inShift(u, d)
		var targets []int
		for _, p := range g.vips {
			if p != u.self && !g.cares(ui, p, t) && (g.patients[p].label == "EMP") == g.chance(0.5) {
				targets = append(targets, p)
			}
		}
		if len(targets) == 0 {
			return false
		}
		g.snoop(ui, pick(g.r, targets), t, 3+g.r.IntN(6), accRoleDefs[u.role].purpose, pick(g.r, u.ws), typ)
	case AttackFamily:
		ui := g.attacker(func(u *accUser) bool { return len(u.relatives)+len(u.neighbours) > 0 })
		if ui < 0 {
			return false
		}
		u := g.users[ui]
		t := g.inShift(u, d)
		p := -1
		if len(u.relatives) > 0 && (len(u.neighbours) == 0 || g.chance(0.65)) {
			p = pick(g.r, u.relatives)
		} else {
			p = pick(g.r, u.neighbours)
		}
		if g.cares(ui, p, t) {
			return false
		}
		g.snoop(ui, p, t, 2+g.r.IntN(5), accRoleDefs[u.role].purpose, pick(g.r, u.ws), typ)
	case AttackCuriosity:
		ui := g.attacker(nil, roPhysician, roResident, roNurse, roClerk, roBiller, roPharmacist)
		if ui < 0 {
			return false
		}
		u := g.users[ui]
		t := g.inShift(u, d)
		addr := pick(g.r, u.ws)
		for range 10 + g.r.IntN(16) {
			p := g.unrelated(ui, t, g.chance(0.5))
			t = g.snoop(ui, p, t, 1+g.r.IntN(2), accRoleDefs[u.role].purpose, addr, typ)
			t = t.Add(time.Duration(30+g.r.IntN(240)) * time.Second)
		}
	case AttackBulkExport:
		ui := g.attacker(nil, roPhysician, roResident, roNurse, roClerk, roBiller, roCoder)
		if ui < 0 {
			return false
		}
		u := g.users[ui]
		_, e := g.nominal(u, d)
		t := e.Add(time.Duration(-90+g.r.IntN(150)) * time.Minute)
		addr := pick(g.r, u.ws)
		purpose := accRoleDefs[u.role].purpose
		for range 3 + g.r.IntN(6) {
			typ2 := pick(g.r, []string{"Patient", "Observation", "Condition", "MedicationRequest"})
			g.emit(ui, t, accAccess{subtype: "search-type", resType: typ2, patient: -1, purpose: purpose, outcome: "0", addr: addr, count: 500 + g.r.IntN(4500)}, typ)
			t = t.Add(time.Duration(30+g.r.IntN(180)) * time.Second)
		}
		for range 1 + g.r.IntN(2) {
			g.emit(ui, t, accAccess{subtype: "export", resType: "Patient", patient: -1, purpose: purpose, outcome: "0", addr: addr,
				query: "$export?_type=Patient,Observation,Condition,MedicationRequest", count: 5000 + g.r.IntN(50000)}, typ)
			t = t.Add(time.Duration(60+g.r.IntN(600)) * time.Second)
		}
	case AttackStolenCreds:
		ui := g.attacker(func(u *accUser) bool {
			return u.shift == shOffice || u.shift == shDay || u.shift == shEarly || u.shift == shResident
		}, roPhysician, roResident, roNurse, roBiller, roClerk, roCoder, roPharmacist)
		if ui < 0 {
			return false
		}
		t := g.dayStart(d).Add(time.Duration((0.5 + 4*g.r.Float64()) * float64(time.Hour)))
		addr := fmt.Sprintf("%s.%d", pick(g.r, []string{"203.0.113", "198.51.100", "192.0.2"}), 2+g.r.IntN(250))
		purpose := accRoleDefs[g.users[ui].role].purpose
		for range 5 + g.r.IntN(8) {
			p := g.unrelated(ui, t, g.chance(0.3))
			if g.chance(0.2) {
				g.emit(ui, t, accAccess{subtype: "read", resType: "Patient", patient: p, purpose: purpose, outcome: "4", addr: addr}, typ)
				t = t.Add(time.Duration(20+g.r.IntN(60)) * time.Second)
			}
			t = g.snoop(ui, p, t, 1+g.r.IntN(3), purpose, addr, typ)
		}
	case AttackBreakGlass:
		ui := g.attacker(func(u *accUser) bool { return u.dept != deptED && u.dept != deptICU && accDepts[u.dept].clinical }, clinical...)
		if ui < 0 {
			return false
		}
		u := g.users[ui]
		t := g.inShift(u, d)
		addr := pick(g.r, u.ws)
		for range 3 + g.r.IntN(4) {
			p := g.unrelated(ui, t, g.chance(0.4))
			t = g.snoop(ui, p, t, 2+g.r.IntN(3), "ETREAT", addr, typ)
			t = t.Add(time.Duration(5+g.r.IntN(40)) * time.Minute)
		}
	}
	return true
}

// ---- context: a Bulk Data export of the hospital ----

func (g *accGen) context(out AccessOutput) error {
	end := g.dayStart(g.o.Days)
	write := func(w io.Writer, each func(emit func(obj) error) error) error {
		if w == nil {
			return nil
		}
		bw := bufio.NewWriterSize(w, 1<<18)
		var buf []byte
		if err := each(func(o obj) error {
			buf = appendJSON(buf[:0], o)
			buf = append(buf, '\n')
			_, err := bw.Write(buf)
			return err
		}); err != nil {
			return err
		}
		return bw.Flush()
	}
	addr := func(a accAddr, use string) arr {
		return arr{obj{{"use", use}, {"line", arr{a.line}}, {"city", a.city}, {"state", a.state}, {"postalCode", a.zip}, {"country", "US"}}}
	}
	if err := write(out.Patient, func(emit func(obj) error) error {
		for _, p := range g.patients {
			var meta obj
			if p.label != "" {
				meta = obj{{"security", arr{obj{{"system", SysActCode}, {"code", p.label}}}}}
			}
			gender := "male"
			if p.female {
				gender = "female"
			}
			if err := emit(obj{{"resourceType", "Patient"}, {"id", p.id}, {"meta", meta},
				{"name", arr{obj{{"use", "official"}, {"family", p.family}, {"given", arr{p.given}}}}},
				{"gender", gender}, {"birthDate", p.birth}, {"address", addr(p.addr, "home")}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := write(out.Practitioner, func(emit func(obj) error) error {
		for _, u := range g.users {
			if err := emit(obj{{"resourceType", "Practitioner"}, {"id", u.pracID},
				{"identifier", arr{obj{{"system", SysMember}, {"value", u.id}}}}, {"active", true},
				{"name", arr{obj{{"family", u.family}, {"given", arr{u.given}}}}},
				{"address", addr(u.addr, "home")}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := write(out.PractitionerRole, func(emit func(obj) error) error {
		for _, u := range g.users {
			def := accRoleDefs[u.role]
			codings := arr{obj{{"system", SysAccessRole}, {"code", def.code}, {"display", def.display}}}
			if def.pracRole != "" {
				codings = append(codings, obj{{"system", sysPracRole}, {"code", def.pracRole}})
			}
			dep := accDepts[u.dept]
			if err := emit(obj{{"resourceType", "PractitionerRole"}, {"id", u.roleID}, {"active", true},
				{"practitioner", obj{{"reference", "Practitioner/" + u.pracID}}},
				{"organization", obj{{"reference", "Organization/dept-" + dep.code}, {"display", dep.name}}},
				{"code", arr{obj{{"coding", codings}}}}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := write(out.Encounter, func(emit func(obj) error) error {
		for _, e := range g.encs {
			status := "finished"
			if !e.end.Before(end) {
				status = "in-progress"
			}
			// The attending and a resident are encounter participants;
			// nurses are on the care team only.
			var parts arr
			for k, ui := range e.team {
				typ := "ATND"
				if k > 0 {
					if g.users[ui].role != roResident {
						break
					}
					typ = "PART"
				}
				parts = append(parts, obj{
					{"type", arr{obj{{"coding", arr{obj{{"system", "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"}, {"code", typ}}}}}}},
					{"individual", obj{{"reference", "Practitioner/" + g.users[ui].pracID}}}})
			}
			dep := accDepts[e.dept]
			if err := emit(obj{{"resourceType", "Encounter"}, {"id", e.id}, {"status", status},
				{"class", obj{{"system", SysActCode}, {"code", e.class}}},
				{"subject", obj{{"reference", "Patient/" + g.patients[e.patient].id}}},
				{"participant", parts}, {"period", period(e.start, e.end)},
				{"serviceProvider", obj{{"reference", "Organization/dept-" + dep.code}, {"display", dep.name}}}}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return write(out.CareTeam, func(emit func(obj) error) error {
		for _, e := range g.encs {
			var parts arr
			for _, ui := range e.team {
				parts = append(parts, obj{{"member", obj{{"reference", "Practitioner/" + g.users[ui].pracID}}}})
			}
			status := "inactive"
			if !e.end.Before(end) {
				status = "active"
			}
			if err := emit(obj{{"resourceType", "CareTeam"}, {"id", e.ctID}, {"status", status},
				{"subject", obj{{"reference", "Patient/" + g.patients[e.patient].id}}},
				{"encounter", obj{{"reference", "Encounter/" + e.id}}},
				{"period", period(e.start, e.end)}, {"participant", parts}}); err != nil {
				return err
			}
		}
		return nil
	})
}
