package synth

// Builders of the clinical resources and of the bundle.

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
)

// observation writes an Observation of the encounter and returns its
// fullUrl.
func (p *patient) observation(e *enc, t time.Time, cat code, c code, value kv, more ...kv) (url string, issued time.Time) {
	url = p.uuid()
	issued = t.Add(time.Duration(1+p.r.IntN(10)) * time.Minute)
	performer := refd(e.prac.fullURL, e.prac.display)
	if cat == catLab {
		issued = t.Add(time.Duration(60+p.r.IntN(300)) * time.Minute)
		performer = refd(p.o.fullURL, p.o.name)
	}
	res := obj{
		{"resourceType", "Observation"},
		{"status", "final"},
		{"category", ccs(cat)},
		{"code", cc(c)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"effectiveDateTime", fdt(t)},
		{"issued", fdt(issued)},
		{"performer", arr{performer}},
		value,
	}
	res = append(res, more...)
	p.add(url, res)
	e.results = append(e.results, c.code)
	return url, issued
}

func (p *patient) procedure(e *enc, c code, reason *chronicState, offsetMin int) {
	start := e.start.Add(time.Duration(offsetMin) * time.Minute)
	end := start.Add(time.Duration(10+p.r.IntN(20)) * time.Minute)
	if c == procAppendectomy || c == procStent {
		start = e.start.Add(time.Duration(3+p.r.IntN(8)) * time.Hour)
		end = start.Add(time.Duration(45+p.r.IntN(60)) * time.Minute)
	}
	// Everything happens within the encounter.
	if !start.Before(e.end) {
		start = e.at(0.5).Truncate(time.Minute)
	}
	if end.After(e.end) {
		end = e.end
	}
	var reasons arr
	if reason != nil && reason.url != "" {
		reasons = arr{ref(reason.url)}
	}
	p.add(p.uuid(), obj{
		{"resourceType", "Procedure"},
		{"status", "completed"},
		{"code", cc(c)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"performedPeriod", period(start, end)},
		{"performer", arr{obj{{"actor", refd(e.prac.fullURL, e.prac.display)}}}},
		{"reasonReference", reasons},
	})
	e.procs = append(e.procs, trimSemantic(c.display))
}

func dosage(m medDef) obj {
	d := obj{{"sequence", 1}, {"text", m.sig}}
	if m.prn {
		d = append(d, kv{"asNeededBoolean", true})
	} else {
		d = append(d, kv{"timing", obj{{"repeat", obj{{"frequency", m.perDay}, {"period", dec{1, 0}}, {"periodUnit", "d"}}}}})
	}
	return append(d,
		kv{"route", cc(m.route)},
		kv{"doseAndRate", arr{obj{{"doseQuantity", qty(m.dose, 0, m.unit, m.ucum)}}}},
	)
}

// supplyDays is how long a dispensed supply lasts.
func supplyDays(m medDef) int {
	switch {
	case m.days > 0:
		return m.days
	case m.prn:
		return 30
	}
	return m.supply / max(1, m.perDay*int(m.dose))
}

func (p *patient) medRequest(e *enc, m medDef, reasonURL string, continuing bool) {
	status, course := "completed", code{sysCourse, "acute", "Short course (acute) therapy"}
	repeats := 0
	if continuing {
		status, course = "active", code{sysCourse, "continuous", "Continuous long term therapy"}
		repeats = 3
		if !p.death.IsZero() {
			status = "stopped"
		}
	}
	p.add(p.uuid(), obj{
		{"resourceType", "MedicationRequest"},
		{"status", status},
		{"intent", "order"},
		{"medicationCodeableConcept", cc(m.code)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"authoredOn", fdt(e.end.Add(-5 * time.Minute))},
		{"requester", refd(e.prac.fullURL, e.prac.display)},
		{"reasonReference", arr{ref(reasonURL)}},
		{"courseOfTherapyType", cc(course)},
		{"dosageInstruction", arr{dosage(m)}},
		{"dispenseRequest", obj{
			{"numberOfRepeatsAllowed", repeats},
			{"quantity", qty(float64(m.supply), 0, m.unit, m.ucum)},
			{"expectedSupplyDuration", qty(float64(supplyDays(m)), 0, "days", "d")},
		}},
	})
	e.meds = append(e.meds, m.code.display+": "+m.sig)
}

func (p *patient) medStatement(e *enc, m medDef, c *chronicState) {
	status := "active"
	var end time.Time
	if !p.death.IsZero() {
		status, end = "stopped", p.death
	}
	eff := obj{{"start", fdate(c.treatFrom)}}
	if !end.IsZero() {
		eff = append(eff, kv{"end", fdt(end)})
	}
	p.add(p.uuid(), obj{
		{"resourceType", "MedicationStatement"},
		{"status", status},
		{"medicationCodeableConcept", cc(m.code)},
		{"subject", ref(p.url)},
		{"context", ref(e.url)},
		{"effectivePeriod", eff},
		{"dateAsserted", fdt(e.start)},
		{"informationSource", ref(p.url)},
		{"reasonReference", arr{ref(c.url)}},
		{"dosage", arr{dosage(m)}},
	})
}

func (p *patient) carePlan(e *enc, k int) {
	def := chronicDefs[k].plan
	c := &p.chronic[k]
	status, actStatus := "active", "in-progress"
	var end time.Time
	if !p.death.IsZero() {
		status, actStatus, end = "completed", "completed", p.death
	}
	var acts arr
	for _, a := range def.activities {
		if a == def.activities[1] && k == cAsthma && p.age(e.start) >= 12 {
			continue // home nebulizers are for children
		}
		acts = append(acts, obj{{"detail", obj{{"code", cc(a)}, {"status", actStatus}}}})
	}
	start := e.start
	if c.onset.Before(p.from) {
		start = c.treatFrom
	}
	p.add(p.uuid(), obj{
		{"resourceType", "CarePlan"},
		{"status", status},
		{"intent", "plan"},
		{"category", ccs(def.category)},
		{"title", def.category.display},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"period", period(start, end)},
		{"created", fdt(e.start)},
		{"author", refd(e.prac.fullURL, e.prac.display)},
		{"careTeam", arr{ref(p.careTeamURL)}},
		{"addresses", arr{ref(c.url)}},
		{"activity", acts},
	})
}

// ensureCareTeam reserves the patient's care team at the encounter that
// first records a chronic condition; it is written once all are known.
func (p *patient) ensureCareTeam(e *enc) {
	if p.careTeam >= 0 {
		return
	}
	p.careTeamURL = p.uuid()
	p.careTeam = len(p.entries)
	p.careStart = e.start
	p.careEnc = e.url
	p.entries = append(p.entries, nil)
}

func (p *patient) careTeamEntry() obj {
	gp := p.use(p.gpAt(p.to))
	nurse := p.use(p.o.bySpec[specNurse][p.i%len(p.o.bySpec[specNurse])])
	members := arr{
		obj{{"role", ccs(sct("116154003", "Patient (person)"))}, {"member", ref(p.url)}},
		obj{{"role", ccs(sct("446050000", "Primary care physician (occupation)"))}, {"member", refd(gp.fullURL, gp.display)}},
		obj{{"role", ccs(sct("224535009", "Registered nurse (occupation)"))}, {"member", refd(nurse.fullURL, nurse.display)}},
	}
	for k := range numChronic {
		if s, ok := specialistFor(k); ok && p.chronic[k].recorded {
			doc := p.use(p.o.bySpec[s][p.i%len(p.o.bySpec[s])])
			members = append(members, obj{{"role", ccs(sct("309343006", "Physician (occupation)"))}, {"member", refd(doc.fullURL, doc.display)}})
		}
	}
	var reasons, refs arr
	for k := range numChronic {
		if c := &p.chronic[k]; c.recorded {
			reasons = append(reasons, cc(chronicDefs[k].snomed))
			refs = append(refs, ref(c.url))
		}
	}
	status := "active"
	var end time.Time
	if !p.death.IsZero() {
		status, end = "inactive", p.death
	}
	res := obj{
		{"resourceType", "CareTeam"},
		{"status", status},
		{"category", ccs(loinc("LA27976-2", "Longitudinal care-coordination focused care team"))},
		{"name", "Chronic care team"},
		{"subject", ref(p.url)},
		{"encounter", ref(p.careEnc)},
		{"period", period(p.careStart, end)},
		{"participant", members},
		{"reasonCode", reasons},
		{"reasonReference", refs},
		{"managingOrganization", arr{refd(p.o.fullURL, p.o.name)}},
	}
	return obj{
		{"fullUrl", p.careTeamURL},
		{"resource", res},
		{"request", obj{{"method", "POST"}, {"url", "CareTeam"}}},
	}
}

// note writes the clinical note of an emergency visit or admission as a
// DocumentReference with a plain-text attachment.
func (p *patient) note(e *enc) {
	typ, title := docEDNote, "Emergency department note"
	if e.class == classIMP {
		typ, title = docSummary, "Discharge summary"
	}
	var sb strings.Builder
	gender := "male"
	if p.female {
		gender = "female"
	}
	fmt.Fprintf(&sb, "%s\n%s\n\n", strings.ToUpper(title), p.o.name)
	if e.class == classIMP {
		fmt.Fprintf(&sb, "Admitted: %s\nDischarged: %s\n", fdate(e.start), fdate(e.end))
	} else {
		fmt.Fprintf(&sb, "Seen: %s\n", fdt(e.start))
	}
	fmt.Fprintf(&sb, "Attending: %s\n\n", e.prac.display)
	fmt.Fprintf(&sb, "%d-year-old %s presenting with %s.\n", int(p.age(e.start)), gender, strings.ToLower(trimSemantic(e.v.acute.snomed.display)))
	if len(e.procs) > 0 {
		fmt.Fprintf(&sb, "Procedures: %s.\n", strings.Join(e.procs, "; "))
	}
	for _, c := range e.course {
		fmt.Fprintf(&sb, "Course: %s\n", c)
	}
	if len(e.meds) > 0 {
		sb.WriteString("Medications:\n")
		for _, m := range e.meds {
			fmt.Fprintf(&sb, "- %s\n", m)
		}
	}
	if e.v.kind != vFinal {
		sb.WriteString("Follow-up: primary care within 1-2 weeks, sooner if worse.\n")
	}
	text := sb.String()
	p.add(p.uuid(), obj{
		{"resourceType", "DocumentReference"},
		{"status", "current"},
		{"docStatus", "final"},
		{"type", cc(typ)},
		{"category", ccs(code{sysDocCat, "clinical-note", "Clinical Note"})},
		{"subject", ref(p.url)},
		{"date", fdt(e.end)},
		{"author", arr{refd(e.prac.fullURL, e.prac.display)}},
		{"custodian", refd(p.o.fullURL, p.o.name)},
		{"description", title},
		{"content", arr{obj{{"attachment", obj{
			{"contentType", "text/plain; charset=utf-8"},
			{"language", "en-US"},
			{"data", base64.StdEncoding.EncodeToString([]byte(text))},
			{"title", title},
			{"creation", fdt(e.end)},
		}}}}},
		{"context", obj{
			{"encounter", arr{ref(e.url)}},
			{"period", period(e.start, e.end)},
		}},
	})
}

// trimSemantic drops a SNOMED CT display's semantic tag: "Asthma
// (disorder)" becomes "Asthma".
func trimSemantic(s string) string {
	if i := strings.LastIndex(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		return s[:i]
	}
	return s
}

// bundle assembles the transaction: the organization, the staff the
// record refers to, the Patient, the clinical resources and a Provenance.
func (p *patient) bundle() []byte {
	patient := obj{
		{"fullUrl", p.url},
		{"resource", p.patientResource()},
		{"request", obj{{"method", "POST"}, {"url", "Patient"}}},
	}
	targets := make(arr, 0, len(p.entries)+1)
	targets = append(targets, ref(p.url))
	for _, e := range p.entries {
		targets = append(targets, ref(e[0].v.(string)))
	}
	prov := obj{
		{"fullUrl", p.uuid()},
		{"resource", obj{
			{"resourceType", "Provenance"},
			{"target", targets},
			{"recorded", fdt(p.now)},
			{"activity", cc(code{sysDataOp, "CREATE", "create"})},
			{"agent", arr{obj{
				{"type", cc(code{sysProvAgent, "author", "Author"})},
				{"who", refd(p.o.fullURL, p.o.name)},
			}}},
		}},
		{"request", obj{{"method", "POST"}, {"url", "Provenance"}}},
	}
	b := make([]byte, 0, 2048*(len(p.entries)+8))
	b = append(b, `{"resourceType":"Bundle","type":"transaction","entry":[`...)
	b = append(b, p.o.entry...)
	for _, s := range p.o.staff {
		if p.staffUsed[s.index] {
			b = append(b, ',')
			b = append(b, s.entry...)
		}
	}
	b = append(b, ',')
	b = appendJSON(b, patient)
	for _, e := range p.entries {
		b = append(b, ',')
		b = appendJSON(b, e)
	}
	b = append(b, ',')
	b = appendJSON(b, prov)
	return append(b, "]}"...)
}
