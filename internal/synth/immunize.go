package synth

// Immunizations: the childhood schedule, adult boosters and seasonal
// influenza vaccination.

import (
	"fmt"
	"slices"
	"time"
)

// immunization writes an Immunization. With an encounter it was given
// there by a nurse; without, it is a historical record transcribed at
// recorded.
func (p *patient) immunization(e *enc, v vaccine, n int, t, recorded time.Time) {
	res := obj{
		{"resourceType", "Immunization"},
		{"status", "completed"},
		{"vaccineCode", cc(code{sysCVX, v.cvx, v.name})},
		{"patient", ref(p.url)},
	}
	if e != nil {
		res = append(res, kv{"encounter", ref(e.url)})
		recorded = t
	}
	res = append(res,
		kv{"occurrenceDateTime", fdt(t)},
		kv{"recorded", fdt(recorded)},
		kv{"primarySource", e != nil},
	)
	if e == nil {
		res = append(res, kv{"reportOrigin", cc(code{sysImmOrigin, "record", "Written Record"})})
	} else {
		res = append(res, kv{"lotNumber", fmt.Sprintf("%c%c%04d", 'A'+p.r.IntN(26), 'A'+p.r.IntN(26), p.r.IntN(10000))})
		if v.route != routePO {
			left := p.r.IntN(2) == 0
			site := code{sysActSite, "LA", "left arm"}
			switch {
			case p.age(t) < 3 && left:
				site = code{sysActSite, "LT", "left thigh"}
			case p.age(t) < 3:
				site = code{sysActSite, "RT", "right thigh"}
			case !left:
				site = code{sysActSite, "RA", "right arm"}
			}
			res = append(res, kv{"site", cc(site)})
		}
		res = append(res, kv{"route", cc(v.route)}, kv{"doseQuantity", qty(v.ml, 1, "mL", "mL")})
		nurse := p.use(pick(p.r, p.o.bySpec[specNurse]))
		res = append(res, kv{"performer", arr{obj{
			{"function", cc(code{sysV2Func, "AP", "Administering Provider"})},
			{"actor", refd(nurse.fullURL, nurse.display)},
		}}})
	}
	if n > 0 {
		res = append(res, kv{"protocolApplied", arr{obj{{"doseNumberPositiveInt", n}}}})
	}
	p.add(p.uuid(), res)
}

func (p *patient) adultVaccines(e *enc) {
	t := e.at(0.8)
	a := p.age(t)
	if p.lastTd.IsZero() {
		p.lastTd = p.from.Add(-time.Duration(p.uniform(0, 10) * float64(yearDur)))
	}
	if t.Sub(p.lastTd) > 10*yearDur && p.chance(0.7) {
		p.immunization(e, vTd, 0, t, time.Time{})
		p.lastTd = t
	}
	if a >= 50 && t.Year() >= 2018 && p.zoster < 2 && (p.zoster == 1 || p.chance(0.3)) {
		p.zoster++
		p.immunization(e, vZoster, p.zoster, t, time.Time{})
	}
	if a >= 65 && !p.ppsv && p.chance(0.6) {
		p.ppsv = true
		p.immunization(e, vPPSV23, 0, t, time.Time{})
	}
}

// fluSeason is the influenza season (by its starting year) that t falls
// in, or -1 outside September to March.
func fluSeason(t time.Time) int {
	switch m := t.Month(); {
	case m >= time.September:
		return t.Year()
	case m <= time.March:
		return t.Year() - 1
	}
	return -1
}

func (p *patient) fluWanted(season int) bool {
	if planned, ok := p.fluPlan[season]; ok {
		return planned
	}
	a := p.age(time.Date(season, time.October, 1, 0, 0, 0, 0, time.UTC))
	prob := 0.0
	switch {
	case a < 0.5:
	case a < 18:
		prob = 0.55
	case a < 50:
		prob = 0.35
	case a < 65:
		prob = 0.5
	default:
		prob = 0.7
	}
	planned := p.chance(prob)
	p.fluPlan[season] = planned
	return planned
}

func (p *patient) fluAtVisit(e *enc) {
	s := fluSeason(e.start)
	if e.class != classAMB || s < 0 || p.fluGiven[s] || !p.fluWanted(s) {
		return
	}
	p.fluGiven[s] = true
	p.immunization(e, vFlu, 0, e.at(0.85), time.Time{})
}

// reportedFlu records the influenza vaccinations given elsewhere (a
// pharmacy) in the seasons the patient wanted one but had no visit.
func (p *patient) reportedFlu() {
	for s := p.from.Year() - 1; s <= p.to.Year(); s++ {
		t := time.Date(s, time.October, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(p.r.IntN(45)) * day)
		t = p.clinicTime(t)
		if t.Before(p.from) || t.After(p.to) || p.fluGiven[s] || !p.fluWanted(s) {
			continue
		}
		recorded := t.Add(time.Duration(1+p.r.IntN(5)) * day)
		if recorded.After(p.to) {
			recorded = p.to
		}
		p.fluGiven[s] = true
		p.immunization(nil, vFlu, 0, t, recorded)
	}
}

// childVaccines gives, at a well-child visit, the next dose of each
// vaccine of the childhood schedule that is due by the child's age,
// catching up a dose missed in the last two years (rotavirus only in
// infancy); each dose is declined 4% of the time.
func (p *patient) childVaccines(e *enc) {
	var given []string
	for _, d := range childSchedule {
		cvx := d.v.cvx
		late := e.v.months - d.months
		if late < 0 || late > 24 || d.v == vRota && late > 4 ||
			p.doses[cvx] != d.n-1 || slices.Contains(given, cvx) || !p.chance(0.96) {
			continue
		}
		p.doses[cvx]++
		given = append(given, cvx)
		p.immunization(e, d.v, d.n, e.at(0.8), time.Time{})
	}
}

// historicalVaccines records, at a child's first encounter, the doses of
// the childhood schedule given before the recorded history, as
// transcribed from an earlier record.
func (p *patient) historicalVaccines(e *enc) {
	for _, d := range childSchedule {
		t := p.birth.AddDate(0, d.months, 0)
		if d.months == 0 {
			t = p.birth.Add(day)
		}
		t = p.clinicTime(t.Add(time.Duration(p.r.IntN(14)) * day))
		if !t.Before(p.from) || p.doses[d.v.cvx] != d.n-1 || !p.chance(0.96) {
			continue
		}
		p.doses[d.v.cvx]++
		p.immunization(nil, d.v, d.n, t, e.start)
	}
}
