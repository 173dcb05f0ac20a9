package synth

// Measurements: vital signs and laboratory results computed from the
// patient's physiology at the time, with measurement noise.

import (
	"math"
	"time"
)

// vitals records the encounter's vital signs and returns the BMI (zero
// if not measured).
func (p *patient) vitals(e *enc, full, fever, resp bool) float64 {
	t := e.start.Add(time.Duration(3+p.r.IntN(10)) * time.Minute)
	a := p.age(t)
	adult := a >= 18
	kind := e.v.kind
	vital := func(c code, v float64, prec int, unit, ucum string) {
		p.observation(e, t, catVital, c, kv{"valueQuantity", qty(v, prec, unit, ucum)})
	}
	measureBody := full || kind == vFollowUp || !adult || e.class == classIMP
	var bmi float64
	if measureBody {
		h := p.heightAt(t) + p.norm(0, 0.3)
		w := p.bmiAt(t) * h * h / 1e4 * (1 + p.norm(0, 0.006))
		h, w = round(h, 1), round(w, 1)
		if full || (kind == vFollowUp && !adult) {
			vital(obsHeight, h, 1, "cm", "cm")
		}
		vital(obsWeight, w, 1, "kg", "kg")
		if full && a < 3 {
			vital(obsHead, round(interp(headAges, headMedian, a)*(1+0.03*p.headZ)+p.norm(0, 0.2), 1), 1, "cm", "cm")
		}
		if (full || kind == vFollowUp) && a >= 2 {
			bmi = round(w/(h*h/1e4), 1)
			vital(obsBMI, bmi, 1, "kg/m2", "kg/m2")
		}
	}
	if a >= 3 && (full || kind == vFollowUp || adult || e.class != classAMB) {
		sys, dia := p.bloodPressure(t, a)
		p.observation(e, t, catVital, obsBP, kv{"component", arr{
			obj{{"code", cc(obsSys)}, {"valueQuantity", qty(sys, 0, "mm[Hg]", "mm[Hg]")}},
			obj{{"code", cc(obsDia)}, {"valueQuantity", qty(dia, 0, "mm[Hg]", "mm[Hg]")}},
		}})
	}
	temp := p.norm(36.8, 0.2)
	if fever {
		temp = p.uniform(38, 39.6)
	}
	hr := 72 + p.norm(0, 8)
	switch {
	case a < 1:
		hr = p.norm(128, 10)
	case a < 3:
		hr = p.norm(112, 10)
	case a < 12:
		hr = p.norm(90, 9)
	case p.smoker == 2:
		hr += 5
	}
	if fever {
		hr += 10 * (temp - 37)
	}
	vital(obsHR, math.Round(hr), 0, "/min", "/min")
	if full || kind == vAcute || kind == vFinal {
		vital(obsTemp, round(temp, 1), 1, "Cel", "Cel")
	}
	if kind == vAcute && (resp || e.class != classAMB) || kind == vFinal {
		rr := p.norm(15, 1.5)
		switch {
		case a < 1:
			rr = p.norm(34, 3)
		case a < 5:
			rr = p.norm(25, 2)
		case a < 12:
			rr = p.norm(20, 2)
		}
		if resp {
			rr += 4
		}
		vital(obsRR, math.Round(rr), 0, "/min", "/min")
	}
	return bmi
}

func (p *patient) bloodPressure(t time.Time, a float64) (sys, dia float64) {
	switch {
	case a < 13:
		sys, dia = 92+1.3*a, 55+a
	case a < 18:
		sys, dia = 105+1.2*(a-13), 65
	default:
		sys = p.sys0 + 0.45*(a-20) + 0.7*(p.bmiAt(t)-25)
		dia = 0.5*sys + 14
		switch {
		case p.treated(cHypertension, t):
			sys, dia = sys+4, dia+2
		case p.active(cHypertension, t):
			sys, dia = sys+20, dia+10
		}
	}
	sys = math.Round(max(70, min(220, sys+p.norm(0, 6))))
	dia = math.Round(max(40, min(130, dia+p.norm(0, 4))))
	return sys, min(dia, sys-20)
}

func round(v float64, prec int) float64 {
	f := math.Pow10(prec)
	return math.Round(v*f) / f
}

type labResult struct {
	code       code
	v          float64
	prec       int
	unit, ucum string
	lo, hi     float64 // reference range; NaN where open
}

// panel writes a DiagnosticReport grouping lab Observations.
func (p *patient) panel(e *enc, c code, results []labResult) {
	// Samples are drawn during a visit, or soon after arrival.
	t := e.at(p.uniform(0.5, 0.75)).Truncate(time.Minute)
	if e.class != classAMB {
		t = e.start.Add(time.Duration(30+p.r.IntN(60)) * time.Minute)
	}
	var refs arr
	var latest time.Time
	for _, l := range results {
		v := round(l.v, l.prec)
		rr := obj{}
		if !math.IsNaN(l.lo) {
			rr = append(rr, kv{"low", qty(l.lo, l.prec, l.unit, l.ucum)})
		}
		if !math.IsNaN(l.hi) {
			rr = append(rr, kv{"high", qty(l.hi, l.prec, l.unit, l.ucum)})
		}
		interp := code{sysInterp, "N", "Normal"}
		switch {
		case v < l.lo:
			interp = code{sysInterp, "L", "Low"}
		case v > l.hi:
			interp = code{sysInterp, "H", "High"}
		}
		url, issued := p.observation(e, t, catLab, l.code, kv{"valueQuantity", qty(v, l.prec, l.unit, l.ucum)},
			kv{"interpretation", ccs(interp)}, kv{"referenceRange", arr{rr}})
		refs = append(refs, ref(url))
		if issued.After(latest) {
			latest = issued
		}
	}
	p.add(p.uuid(), obj{
		{"resourceType", "DiagnosticReport"},
		{"status", "final"},
		{"category", ccs(code{sysV2Diag, "LAB", "Laboratory"})},
		{"code", cc(c)},
		{"subject", ref(p.url)},
		{"encounter", ref(e.url)},
		{"effectiveDateTime", fdt(t)},
		{"issued", fdt(latest)},
		{"performer", arr{refd(p.o.fullURL, p.o.name)}},
		{"result", refs},
	})
}

var nan = math.NaN()

func (p *patient) a1cAt(t time.Time) float64 {
	switch {
	case p.active(cDiabetes, t):
		if p.treated(cDiabetes, t) {
			yrs := float64(t.Sub(p.chronic[cDiabetes].treatFrom)) / float64(yearDur)
			return max(5.9, min(11, 6.9+0.08*yrs+p.norm(0, 0.5)))
		}
		yrs := float64(t.Sub(p.chronic[cDiabetes].onset)) / float64(yearDur)
		return max(6.6, min(12.5, 7+0.5*yrs+p.norm(0, 0.4)))
	case p.active(cPrediabetes, t):
		yrs := float64(t.Sub(p.chronic[cPrediabetes].onset)) / float64(yearDur)
		return max(5.7, min(6.4, 5.8+0.1*yrs+p.norm(0, 0.15)))
	}
	return max(4.3, min(5.6, p.a1c0+p.norm(0, 0.1)))
}

func (p *patient) glucoseFor(a1c float64) float64 {
	return max(60, min(400, (28.7*a1c-46.7)*0.9+p.norm(0, 6)))
}

func (p *patient) a1c(e *enc) {
	t := e.start
	p.panel(e, obsA1c, []labResult{{obsA1c, p.a1cAt(t), 1, "%", "%", 4, 5.6}})
}

func (p *patient) metabolicPanel(e *enc) {
	t := e.start
	a := p.age(t)
	potassium := 4.2
	if p.treated(cHypertension, t) {
		potassium += 0.2
	}
	p.panel(e, panelBMP, []labResult{
		{obsGlucose, p.glucoseFor(p.a1cAt(t)), 0, "mg/dL", "mg/dL", 70, 99},
		{obsBUN, max(5, min(40, 14+0.08*max(0, a-40)+p.norm(0, 3))), 0, "mg/dL", "mg/dL", 7, 20},
		{obsCreat, max(0.3, p.creat0*(1+0.005*max(0, a-50))+p.norm(0, 0.05)), 2, "mg/dL", "mg/dL", 0.6, 1.3},
		{obsSodium, p.norm(140, 2), 0, "mmol/L", "mmol/L", 136, 145},
		{obsPotass, potassium + p.norm(0, 0.3), 1, "mmol/L", "mmol/L", 3.5, 5.1},
	})
}

func (p *patient) lipidPanel(e *enc) {
	t := e.start
	a := p.age(t)
	chol := p.chol0 + 0.6*min(max(a-20, 0), 40)
	switch {
	case p.treated(cHyperlipidemia, t):
		chol -= 5
	case p.active(cHyperlipidemia, t):
		chol += 50
	}
	chol += p.norm(0, 8)
	trig := p.trig0 + p.norm(0, 12)
	if p.active(cDiabetes, t) {
		trig *= 1.35
	}
	trig = max(35, trig)
	hdl := max(25, p.hdl0+p.norm(0, 3))
	ldl := max(30, chol-hdl-trig/5+p.norm(0, 4))
	p.panel(e, panelLipid, []labResult{
		{obsChol, chol, 0, "mg/dL", "mg/dL", nan, 200},
		{obsTrig, trig, 0, "mg/dL", "mg/dL", nan, 150},
		{obsLDL, ldl, 0, "mg/dL", "mg/dL", nan, 100},
		{obsHDL, hdl, 0, "mg/dL", "mg/dL", 40, nan},
	})
}
