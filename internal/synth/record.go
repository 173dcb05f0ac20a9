package synth

import (
	"fmt"
	"slices"
	"time"
)

type visitKind int

const (
	vWellness visitKind = iota
	vFollowUp
	vAcute // an episode from acuteDefs, or a myocardial infarction
	vFinal // the admission the patient dies in
)

// visit is a planned encounter.
type visit struct {
	start, end time.Time
	kind       visitKind
	months     int // a well-child visit's age in months; -1 otherwise
	reason     int // the chronic condition followed up; -1 otherwise
	acute      *acuteDef
	smoking    bool // record smoking status
}

// schedule plans the encounters of the recorded history, in order and
// without overlaps.
func (p *patient) schedule() []visit {
	r := p.r
	var vs []visit
	add := func(v visit) {
		if !v.start.Before(p.from) && !v.end.After(p.to) && v.start.After(p.birth) {
			vs = append(vs, v)
		}
	}
	amb := func(d time.Time) (time.Time, time.Time) {
		s := p.clinicTime(d)
		return s, s.Add(time.Duration(20+r.IntN(25)) * time.Minute)
	}

	// Well-child visits, then check-ups in adulthood.
	for _, m := range wellChildMonths {
		d := p.birth.AddDate(0, m, 0).Add(time.Duration(r.IntN(15)) * day)
		if m == 0 {
			d = p.birth.Add(time.Duration(3+r.IntN(3)) * day)
		}
		if p.age(d) >= 18 {
			break
		}
		prob := 0.95
		if m >= 36 {
			prob = 0.85
		}
		if p.chance(prob) {
			s, e := amb(d)
			add(visit{start: s, end: e, kind: vWellness, months: m, reason: -1})
		}
	}
	t := p.at(18)
	if t.Before(p.from) {
		t = p.from
	}
	for ; t.Before(p.to); t = t.Add(yearDur) {
		d := p.between(t, t.Add(yearDur))
		prob := 0.8
		switch a := p.age(d); {
		case a < 40:
			prob = 0.4
		case a < 65:
			prob = 0.6
		}
		if p.chance(prob) {
			s, e := amb(d)
			add(visit{start: s, end: e, kind: vWellness, months: -1, reason: -1})
		}
	}

	// A yearly follow-up of chronic conditions, most years.
	for t := p.from; t.Before(p.to); t = t.Add(yearDur) {
		d := p.between(t, t.Add(yearDur))
		var ks []int
		for k := range numChronic {
			if k != cObesity && p.active(k, d) && (chronicDefs[k].meds != nil || chronicDefs[k].plan != nil) {
				ks = append(ks, k)
			}
		}
		if len(ks) > 0 && p.chance(0.5) {
			s, e := amb(d)
			add(visit{start: s, end: e, kind: vFollowUp, months: -1, reason: pick(r, ks)})
		}
	}

	// Episodes of acute illness and injury.
	hadAppendix := false
	for t := p.from; ; {
		rate := 0.2
		switch a := p.age(t); {
		case a < 5:
			rate = 0.6
		case a < 18:
			rate = 0.3
		case a >= 65:
			rate = 0.3
		}
		t = t.Add(time.Duration(r.ExpFloat64() / rate * float64(yearDur)))
		if !t.Before(p.to) {
			break
		}
		def := p.pickAcute(p.age(t))
		if def == nil || def == acuteAppendicitis && hadAppendix {
			continue
		}
		hadAppendix = hadAppendix || def == acuteAppendicitis
		s, e := p.episode(def, t)
		add(visit{start: s, end: e, kind: vAcute, months: -1, reason: -1, acute: def})
	}
	if c := &p.chronic[cCAD]; c.has && !c.onset.Before(p.from) {
		s, e := p.episode(&acuteMI, c.onset)
		add(visit{start: s, end: e, kind: vAcute, months: -1, reason: -1, acute: &acuteMI})
	}

	slices.SortStableFunc(vs, func(a, b visit) int { return a.start.Compare(b.start) })

	// Some die in hospital: the final admission ends at death and nothing
	// happens after it begins.
	var final *visit
	if !p.death.IsZero() && p.chance(0.6) {
		def := acutePneumonia
		switch {
		case p.chronic[cCAD].has:
			def = &acuteMI
		case p.age(p.death) > 60 && p.chance(0.5):
			def = &acuteStroke
		}
		s := p.death.Add(-time.Duration(p.uniform(1, 8) * float64(day))).Truncate(time.Minute)
		if s.After(p.from) && s.After(p.birth) {
			final = &visit{start: s, end: p.death, kind: vFinal, months: -1, reason: -1, acute: def}
		}
	}
	out := vs[:0]
	var last time.Time
	for _, v := range vs {
		if v.start.Before(last) || final != nil && v.end.After(final.start) {
			continue
		}
		out = append(out, v)
		last = v.end
	}
	if final != nil {
		out = append(out, *final)
	}
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].kind == vWellness && p.age(out[i].start) >= 18 {
			out[i].smoking = true
			break
		}
	}
	return out
}

// episode times an acute episode's encounter.
func (p *patient) episode(def *acuteDef, t time.Time) (start, end time.Time) {
	switch def.class {
	case classAMB:
		start = p.clinicTime(t)
		return start, start.Add(time.Duration(15+p.r.IntN(20)) * time.Minute)
	case classEMER:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Duration(90+p.r.IntN(300)) * time.Minute)
	default:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Duration(p.uniform(2, 5.5) * float64(day))).Truncate(time.Minute)
	}
}

func (p *patient) pickAcute(age float64) *acuteDef {
	total := 0.0
	for i := range acuteDefs {
		if d := &acuteDefs[i]; age >= d.minAge && age < d.maxAge {
			total += d.weight
		}
	}
	x := p.r.Float64() * total
	for i := range acuteDefs {
		if d := &acuteDefs[i]; age >= d.minAge && age < d.maxAge {
			if x -= d.weight; x < 0 {
				return d
			}
		}
	}
	return nil
}

// specialistFor is the specialty that co-manages a chronic condition.
func specialistFor(k int) (specialty, bool) {
	switch k {
	case cDiabetes:
		return specEndocrinology, true
	case cCAD:
		return specCardiology, true
	case cCOPD:
		return specPulmonology, true
	}
	return 0, false
}

// enc is an encounter being written.
type enc struct {
	v          *visit
	url        string
	slot       int // index of the Encounter in p.entries
	prac       *practitioner
	start, end time.Time
	class      code
	typ        code
	reasons    arr // reasonCode
	reasonRefs arr
	diagnoses  arr
	course     []string // lines of the encounter's note
	meds       []string
	procs      []string
	results    []string // LOINC codes of the observations made
}

// at is the time a fraction f of the way through the encounter.
func (e *enc) at(f float64) time.Time {
	return e.start.Add(time.Duration(f * float64(e.end.Sub(e.start)))).Truncate(time.Second)
}

// record writes the resources of the planned encounters.
func (p *patient) record(visits []visit) {
	for i := range visits {
		v := &visits[i]
		e := p.open(v)
		if i == 0 {
			p.reconcile(e)
		}
		p.recordAllergies(e)
		switch v.kind {
		case vWellness:
			p.wellness(e)
		case vFollowUp:
			p.followUp(e)
		default:
			p.acuteVisit(e)
		}
		p.fluAtVisit(e)
		p.close(e)
	}
	p.reportedFlu()
	if p.careTeam >= 0 {
		p.entries[p.careTeam] = p.careTeamEntry()
	}
}

func (p *patient) add(url string, res obj) {
	p.entries = append(p.entries, obj{
		{"fullUrl", url},
		{"resource", res},
		{"request", obj{{"method", "POST"}, {"url", res[0].v.(string)}}},
	})
}

func (p *patient) open(v *visit) *enc {
	e := &enc{v: v, url: p.uuid(), slot: len(p.entries), start: v.start, end: v.end, class: classAMB}
	p.entries = append(p.entries, nil)
	a := p.age(v.start)
	switch v.kind {
	case vWellness:
		e.prac, e.typ = p.gpAt(v.start), typeCheckup
		if a < 18 {
			e.typ = typeWellChild
		}
	case vFollowUp:
		e.prac, e.typ = p.gpAt(v.start), typeFollowUp
		if s, ok := specialistFor(v.reason); ok && p.chance(0.4) {
			e.prac = pick(p.r, p.o.bySpec[s])
		}
		if !p.chronic[v.reason].recorded {
			e.typ = typeSymptom
		}
	default:
		e.class = v.acute.class
		switch e.class {
		case classAMB:
			e.prac, e.typ = p.gpAt(v.start), typeSymptom
			if p.chance(0.25) {
				e.prac = pick(p.r, p.o.bySpec[specFamily])
			}
		case classEMER:
			e.prac, e.typ = pick(p.r, p.o.bySpec[specEmergency]), typeER
		default:
			e.typ = typeEmergAdm
			switch {
			case v.acute == &acuteMI:
				e.prac = pick(p.r, p.o.bySpec[specCardiology])
			case v.acute == acuteAppendicitis:
				e.prac = pick(p.r, p.o.bySpec[specSurgery])
			default:
				e.prac = pick(p.r, p.o.bySpec[specInternal])
			}
		}
	}
	p.use(e.prac)
	return e
}

func (p *patient) close(e *enc) {
	res := obj{
		{"resourceType", "Encounter"},
		{"status", "finished"},
		{"class", e.class.coding()},
		{"type", ccs(e.typ)},
		{"subject", ref(p.url)},
		{"participant", arr{obj{
			{"type", ccs(code{sysPartType, "PPRF", "primary performer"})},
			{"period", period(e.start, e.end)},
			{"individual", refd(e.prac.fullURL, e.prac.display)},
		}}},
		{"period", period(e.start, e.end)},
		{"reasonCode", e.reasons},
		{"reasonReference", e.reasonRefs},
		{"diagnosis", e.diagnoses},
	}
	switch e.class {
	case classIMP:
		disp := code{sysDischarge, "home", "Home"}
		if e.v.kind == vFinal {
			disp = code{sysDischarge, "exp", "Expired"}
		}
		res = append(res, kv{"hospitalization", obj{
			{"admitSource", cc(code{sysAdmit, "emd", "From accident/emergency department"})},
			{"dischargeDisposition", cc(disp)},
		}})
	case classEMER:
		res = append(res, kv{"hospitalization", obj{{"dischargeDisposition", cc(code{sysDischarge, "home", "Home"})}}})
	}
	res = append(res, kv{"serviceProvider", refd(p.o.fullURL, p.o.name)})
	p.entries[e.slot] = obj{
		{"fullUrl", e.url},
		{"resource", res},
		{"request", obj{{"method", "POST"}, {"url", "Encounter"}}},
	}
	if e.class != classAMB {
		p.note(e)
	}
}

// reconcile records, at the first encounter, what began before the
// recorded history: chronic conditions under treatment with the
// medications the patient reports, and childhood immunizations.
func (p *patient) reconcile(e *enc) {
	for k := range numChronic {
		c := &p.chronic[k]
		if !c.has || !c.onset.Before(p.from) {
			continue
		}
		p.recordChronic(e, k, true)
	}
	if p.age(p.from) > 0.1 && p.age(p.from) < 18 {
		p.historicalVaccines(e)
	}
}

func (p *patient) recordAllergies(e *enc) {
	for i := range p.allergies {
		a := &p.allergies[i]
		if a.recorded || a.onset.After(e.start) {
			continue
		}
		a.recorded = true
		d := a.def
		typ, severity := "allergy", "moderate"
		if d.intolerance {
			typ = "intolerance"
		}
		switch d.critical {
		case "high":
			severity = "severe"
		case "low":
			severity = "mild"
		}
		if d.reaction.code == "39579001" {
			severity = "severe"
		}
		p.add(p.uuid(), obj{
			{"resourceType", "AllergyIntolerance"},
			{"clinicalStatus", cc(code{sysAllergyCl, "active", "Active"})},
			{"verificationStatus", cc(code{sysAllergyVr, "confirmed", "Confirmed"})},
			{"type", typ},
			{"category", arr{d.category}},
			{"criticality", d.critical},
			{"code", cc(d.code)},
			{"patient", ref(p.url)},
			{"encounter", ref(e.url)},
			{"onsetDateTime", fdate(a.onset)},
			{"recordedDate", fdt(e.start)},
			{"recorder", refd(e.prac.fullURL, e.prac.display)},
			{"reaction", arr{obj{{"manifestation", ccs(d.reaction)}, {"severity", severity}}}},
		})
	}
}

func (p *patient) allergicToPenicillin(t time.Time) bool {
	for _, a := range p.allergies {
		if a.def == &allergyDefs[0] && !a.onset.After(t) {
			return true
		}
	}
	return false
}

func (p *patient) wellness(e *enc) {
	a := p.age(e.start)
	diagnosed := p.diagnose(e)
	bmi := p.vitals(e, true, false, false)
	if a >= 18 && bmi >= 30 && !p.chronic[cObesity].recorded {
		p.chronic[cObesity] = chronicState{has: true, onset: e.start.Truncate(day)}
		p.recordChronic(e, cObesity, false)
	}
	if e.v.smoking {
		status := []code{smokeNever, smokeFormer, smokeDaily}[p.smoker]
		p.observation(e, e.start.Add(10*time.Minute), catSocial, obsSmoking, kv{"valueCodeableConcept", cc(status)})
	}
	if a >= 18 {
		monitored := p.chronic[cHyperlipidemia].recorded || p.chronic[cCAD].recorded || p.chronic[cDiabetes].recorded
		if a >= 20 && (monitored && p.chance(0.6) || slices.Contains(diagnosed, cHyperlipidemia) || p.chance(0.12)) {
			p.lipidPanel(e)
		}
		if (p.chronic[cHypertension].recorded || p.chronic[cDiabetes].recorded) && p.chance(0.5) || a >= 40 && p.chance(0.12) {
			p.metabolicPanel(e)
		}
		if p.chronic[cDiabetes].recorded || p.chronic[cPrediabetes].recorded ||
			a >= 35 && bmi >= 25 && p.chance(0.15) {
			p.a1c(e)
		}
		if p.anyMeds(e.start) && p.chance(0.5) {
			p.procedure(e, procMedRec, nil, 10)
		}
		if slices.Contains(diagnosed, cDepression) || p.chance(0.2) {
			p.procedure(e, procDepScreen, nil, 10)
		}
		p.adultVaccines(e)
	} else if e.v.months >= 0 {
		p.childVaccines(e)
	}
	p.treat(e, diagnosed)
}

func (p *patient) followUp(e *enc) {
	diagnosed := p.diagnose(e)
	k := e.v.reason
	c := &p.chronic[k]
	e.reasons = append(e.reasons, cc(chronicDefs[k].snomed, chronicDefs[k].icd))
	if c.url != "" {
		e.reasonRefs = append(e.reasonRefs, ref(c.url))
	}
	p.vitals(e, false, false, false)
	switch k {
	case cDiabetes, cPrediabetes:
		p.a1c(e)
	case cHyperlipidemia, cCAD:
		if p.chance(0.4) {
			p.lipidPanel(e)
		}
	case cHypertension:
		if p.chance(0.3) {
			p.metabolicPanel(e)
		}
	case cAsthma, cCOPD:
		if p.age(e.start) >= 6 && p.chance(0.5) {
			p.procedure(e, procSpirometry, c, 20)
		}
	}
	p.treat(e, diagnosed)
}

// diagnose records the chronic conditions that have begun by this
// check-up or follow-up and were not yet known, and starts their
// treatment the next day.
func (p *patient) diagnose(e *enc) []int {
	var ks []int
	for k := range numChronic {
		c := &p.chronic[k]
		if k == cObesity || !c.has || c.recorded || c.onset.After(e.start) {
			continue
		}
		c.treatFrom = e.start.Add(day)
		p.recordChronic(e, k, false)
		ks = append(ks, k)
	}
	return ks
}

// treat prescribes for newly diagnosed conditions and documents the tests
// that confirm them.
func (p *patient) treat(e *enc, ks []int) {
	for _, k := range ks {
		c := &p.chronic[k]
		switch k {
		case cDiabetes, cPrediabetes:
			if !e.hasResult(obsA1c.code) {
				p.a1c(e)
			}
		case cHyperlipidemia:
			if !e.hasResult(obsChol.code) {
				p.lipidPanel(e)
			}
		case cAsthma:
			if p.age(e.start) >= 6 {
				p.procedure(e, procSpirometry, c, 20)
			}
		}
		for _, m := range c.meds {
			if p.ordered(m) {
				continue
			}
			p.medRequest(e, m, c.url, true)
		}
	}
}

// ordered reports whether continuing therapy m is already ordered, and
// notes it as ordered if not.
func (p *patient) ordered(m medDef) bool {
	if slices.Contains(p.prescribed, m.code.code) {
		return true
	}
	p.prescribed = append(p.prescribed, m.code.code)
	return false
}

func (p *patient) anyMeds(t time.Time) bool {
	for k := range numChronic {
		if p.treated(k, t) && len(p.chronic[k].meds) > 0 {
			return true
		}
	}
	return false
}

// hasResult reports whether the encounter already has an observation with
// the LOINC code.
func (e *enc) hasResult(loincCode string) bool { return slices.Contains(e.results, loincCode) }

// recordChronic writes a chronic condition's Condition, and its care plan
// and (for a condition begun before the record) the medications taken.
func (p *patient) recordChronic(e *enc, k int, history bool) {
	c := &p.chronic[k]
	def := &chronicDefs[k]
	c.recorded = true
	c.url = p.uuid()
	onset := fdate(c.onset)
	p.add(c.url, obj{
		{"resourceType", "Condition"},
		{"clinicalStatus", cc(code{sysCondClin, "active", "Active"})},
		{"verificationStatus", cc(code{sysCondVer, "confirmed", "Confirmed"})},
		{"category", ccs(code{sysCondCat, "problem-list-item", "Problem List Item"})},
		{"code", cc(def.snomed, def.icd)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"onsetDateTime", onset},
		{"recordedDate", fdt(e.start)},
		{"recorder", refd(e.prac.fullURL, e.prac.display)},
		{"asserter", refd(e.prac.fullURL, e.prac.display)},
	})
	if !history {
		e.diagnoses = append(e.diagnoses, obj{{"condition", ref(c.url)},
			{"use", cc(code{sysDiagRole, "billing", "Billing"})}, {"rank", len(e.diagnoses) + 1}})
	}
	if def.plan != nil || len(c.meds) > 0 {
		p.ensureCareTeam(e)
	}
	if def.plan != nil {
		p.carePlan(e, k)
	}
	if history {
		for _, m := range c.meds {
			if p.ordered(m) {
				continue
			}
			p.medStatement(e, m, c)
			p.medRequest(e, m, c.url, true)
		}
	}
}

func (p *patient) acuteVisit(e *enc) {
	d := e.v.acute
	final := e.v.kind == vFinal
	url := p.uuid()
	clinical, abatement := code{sysCondClin, "resolved", "Resolved"}, ""
	if end := e.start.Add(time.Duration(d.days) * day); d.days > 0 && !final && !end.After(p.to) {
		abatement = fdt(end)
	} else {
		clinical = code{sysCondClin, "active", "Active"}
	}
	p.add(url, obj{
		{"resourceType", "Condition"},
		{"clinicalStatus", cc(clinical)},
		{"verificationStatus", cc(code{sysCondVer, "confirmed", "Confirmed"})},
		{"category", ccs(code{sysCondCat, "encounter-diagnosis", "Encounter Diagnosis"})},
		{"code", cc(d.snomed, d.icd)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"onsetDateTime", fdt(e.start)},
		{"abatementDateTime", abatement},
		{"recordedDate", fdt(e.start)},
		{"recorder", refd(e.prac.fullURL, e.prac.display)},
	})
	e.reasons = append(e.reasons, cc(d.snomed))
	e.reasonRefs = append(e.reasonRefs, ref(url))
	role := code{sysDiagRole, "billing", "Billing"}
	if e.class == classIMP {
		role = code{sysDiagRole, "DD", "Discharge diagnosis"}
	}
	e.diagnoses = append(e.diagnoses, obj{{"condition", ref(url)}, {"use", cc(role)}, {"rank", 1}})

	p.vitals(e, false, d.fever, d.resp)
	if e.class == classIMP || d == acuteChestPain {
		p.metabolicPanel(e)
	}
	cond := &chronicState{url: url}
	for j, pc := range d.procs {
		p.procedure(e, pc, cond, 30+60*j)
	}
	if d == &acuteMI {
		if c := &p.chronic[cCAD]; c.has && !c.recorded {
			c.treatFrom = e.start.Add(day)
			p.recordChronic(e, cCAD, false)
			p.treat(e, []int{cCAD})
		}
	}
	if final {
		e.course = append(e.course, fmt.Sprintf("The patient died on %s.", fdate(e.end)))
		return
	}
	e.course = append(e.course, d.note)
	if d.antibiotic {
		m := medAmoxicillin
		if p.allergicToPenicillin(e.start) {
			m = medAzithromycin
		}
		p.medRequest(e, m, url, false)
	}
	if d.analgesic {
		p.medRequest(e, medAcetaminophenShort, url, false)
	}
}
