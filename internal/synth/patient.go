package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"
)

const yearDur = time.Duration(365.2425 * 24 * float64(time.Hour))

const day = 24 * time.Hour

// patient is the state of one patient's generation: who they are, their
// physiology and illnesses planned over a lifetime, and the resources
// written so far. It is used by one goroutine.
type patient struct {
	g     *Generator
	o     *org
	r     *rand.Rand
	i     int
	now   time.Time
	today time.Time // Now's day at midnight

	// Demographics.
	female    bool
	cul       *culture
	given     []string // first and middle names
	family    string
	maiden    string // birth family name if changed at marriage
	nick      string
	prefix    string
	birth     time.Time
	death     time.Time // zero if alive
	st        *state
	home      city
	lines     []string
	zip       string
	phones    []obj
	email     string
	marital   code
	lang      code
	bilingual bool // also speaks English, when lang is another language
	mrn, ssn  string
	dl, pass  string
	url       string // the Patient's fullUrl
	pedsGP    *practitioner
	adultGP   *practitioner

	// Physiology: individual factors of the age-dependent models.
	hf, cf, bmiSlope, headZ  float64
	sys0, chol0, hdl0, trig0 float64
	a1c0, creat0             float64
	smoker                   int // 0 never, 1 former, 2 current
	chronic                  [numChronic]chronicState
	allergies                []allergyState
	fluPlan                  map[int]bool // influenza seasons (by starting year) vaccinated
	fluGiven                 map[int]bool
	doses                    map[string]int // childhood doses given, by CVX code
	lastTd                   time.Time
	zoster                   int
	ppsv                     bool

	// Recorded history is [from, to].
	from, to time.Time

	// Output.
	entries     []obj // patient-specific bundle entries after the Patient
	staffUsed   []bool
	careTeam    int // index in entries, -1 if none
	careTeamURL string
	careStart   time.Time
	careEnc     string
	prescribed  []string // RxNorm codes of continuing therapy already ordered
}

type chronicState struct {
	has       bool
	onset     time.Time
	treatFrom time.Time // zero while untreated
	recorded  bool
	url       string
	meds      []medDef
}

type allergyState struct {
	def      *allergyDef
	onset    time.Time
	recorded bool
}

func newPatient(g *Generator, i int) *patient {
	s1 := mix(uint64(g.o.Seed) ^ mix(uint64(i)+0x632be59bd9b4e019))
	p := &patient{
		g:         g,
		o:         g.org,
		r:         rand.New(rand.NewPCG(s1, mix(s1+0x9e3779b97f4a7c15))),
		i:         i,
		now:       g.o.Now,
		today:     g.o.Now.Truncate(day),
		staffUsed: make([]bool, len(g.org.staff)),
		careTeam:  -1,
		fluPlan:   map[int]bool{},
		fluGiven:  map[int]bool{},
		doses:     map[string]int{},
	}
	return p
}

func (p *patient) generate() {
	p.demographics()
	p.physiology()
	p.planConditions()
	p.planAllergies()
	p.record(p.schedule())
}

// Time helpers.

func (p *patient) at(age float64) time.Time {
	return p.birth.Add(time.Duration(age * float64(yearDur)))
}

func (p *patient) age(t time.Time) float64 { return float64(t.Sub(p.birth)) / float64(yearDur) }

func (p *patient) uniform(lo, hi float64) float64 { return lo + (hi-lo)*p.r.Float64() }

func (p *patient) chance(prob float64) bool { return p.r.Float64() < prob }

func (p *patient) norm(mean, sd float64) float64 {
	z := p.r.NormFloat64()
	z = max(-3, min(3, z))
	return mean + sd*z
}

// between draws a time uniformly in [a, b].
func (p *patient) between(a, b time.Time) time.Time {
	if !b.After(a) {
		return a
	}
	return a.Add(time.Duration(p.r.Int64N(int64(b.Sub(a)))))
}

// clinicTime places a visit on day d during opening hours.
func (p *patient) clinicTime(d time.Time) time.Time {
	return d.Truncate(day).Add(time.Duration(8*60+p.r.IntN(9*60)) * time.Minute)
}

func (p *patient) uuid() string { return newUUID(p.r) }

func (p *patient) use(pr *practitioner) *practitioner {
	p.staffUsed[pr.index] = true
	return pr
}

func (p *patient) gpAt(t time.Time) *practitioner {
	if p.age(t) < 18 {
		return p.pedsGP
	}
	return p.adultGP
}

// ageBands weights the age distribution by decade, roughly as in the US.
var ageBands = []float64{12, 12, 13, 13, 12, 13, 12, 8, 4, 1}

func (p *patient) demographics() {
	r := p.r
	p.female = r.Float64() < 0.51
	p.cul = pickCulture(r)

	total := 0.0
	for _, w := range ageBands {
		total += w
	}
	x, band := r.Float64()*total, 0
	for band = range ageBands {
		if x -= ageBands[band]; x < 0 {
			break
		}
	}
	age := p.uniform(max(0.2, float64(10*band)), float64(10*band+10))
	p.birth = p.today.Add(-time.Duration(age * float64(yearDur))).Truncate(day)

	p.from = p.today.AddDate(-p.g.o.Years, 0, 0)
	if p.from.Before(p.birth) {
		p.from = p.birth
	}
	p.to = p.today.Add(-21 * day)
	if r.Float64() < 0.02+0.005*max(0, age-50) {
		lo := p.from
		if b := p.birth.Add(60 * day); b.After(lo) {
			lo = b
		}
		if p.to.After(lo) {
			p.death = p.between(lo, p.to).Truncate(time.Minute)
			p.to = p.death
		}
	}
	endAge := p.age(p.to)

	// Names.
	first := givenName(r, p.cul, p.female, p.birth.Year())
	p.given = []string{first}
	if p.chance(0.7) {
		mids := p.cul.midMale
		if p.female {
			mids = p.cul.midFemale
		}
		if mids == nil {
			mids = p.cul.male
			if p.female {
				mids = p.cul.female
			}
		}
		if mid := pick(r, mids); mid != first {
			p.given = append(p.given, mid)
		}
	}
	p.family = pick(r, p.cul.family)
	p.marital = p.pickMarital(endAge)
	if p.female && p.marital.code != "S" && p.chance(0.7) {
		p.maiden = p.family
		for p.family == p.maiden {
			p.family = pick(r, pickCulture(r).family)
		}
	}
	if nick, ok := nicknames[first]; ok && p.chance(0.35) {
		p.nick = nick
	}
	if endAge >= 18 {
		switch {
		case !p.female:
			p.prefix = "Mr."
		case p.maiden != "":
			p.prefix = "Mrs."
		default:
			p.prefix = "Ms."
		}
	}
	p.lang = langEnglish
	if p.cul.langShare > 0 && p.chance(p.cul.langShare) {
		p.lang = p.cul.lang
		p.bilingual = p.chance(0.5)
	}

	// Address and contact details.
	p.st = p.o.st
	if p.chance(0.08) {
		p.st = &states[r.IntN(len(states))]
	}
	p.home = pick(r, p.st.cities)
	p.lines = []string{streetLine(r)}
	if p.chance(0.22) {
		p.lines = append(p.lines, fmt.Sprintf("%s %d%s", pick(r, []string{"Apt", "Unit", "Apt"}), 1+r.IntN(40), pick(r, []string{"", "", "A", "B", "C"})))
	}
	p.zip = postalCode(r, p.home)
	if p.chance(0.55) {
		p.phones = append(p.phones, obj{{"system", "phone"}, {"value", phone(r, p.home.area)}, {"use", "home"}})
	}
	if len(p.phones) == 0 || p.chance(0.8) {
		area := p.home.area
		if p.chance(0.2) {
			area = pick(r, pick(r, states).cities).area
		}
		p.phones = append(p.phones, obj{{"system", "phone"}, {"value", phone(r, area)}, {"use", "mobile"}})
	}
	if endAge >= 13 && p.chance(0.8) {
		local := strings.ToLower(foldASCII(first)) + pick(r, []string{".", "_", ""}) + strings.ToLower(foldASCII(p.family))
		local = strings.ReplaceAll(local, " ", "")
		p.email = fmt.Sprintf("%s%02d@%s", local, r.IntN(100), pick(r, mailDomains))
	}

	// Identifiers. The MRN and SSN are bijections of the patient number,
	// so they are unique within a population.
	seed := uint64(p.g.o.Seed)
	const mrnSpace = 10_000_000
	p.mrn = fmt.Sprintf("%s%07d", p.o.mrnPrefix, (uint64(p.i)%mrnSpace*7_919_993+mix(seed)%mrnSpace)%mrnSpace)
	const ssnSpace = 100 * 99 * 9999
	n := (uint64(p.i)%ssnSpace*1_000_003 + mix(seed+1)%ssnSpace) % ssnSpace
	area, n := 900+n%100, n/100
	group, n := 1+n%99, n/99
	p.ssn = fmt.Sprintf("%03d-%02d-%04d", area, group, 1+n)
	letter := func() byte { return byte('A' + r.IntN(26)) }
	if endAge >= 16 && p.chance(0.85) {
		p.dl = fmt.Sprintf("%c%08d", letter(), r.IntN(100_000_000))
	}
	if p.chance(0.15 + 0.25*min(1, endAge/30)) {
		p.pass = fmt.Sprintf("%c%08d", letter(), r.IntN(100_000_000))
	}

	p.url = p.uuid()
	p.pedsGP = pick(r, p.o.bySpec[specPediatrics])
	if p.chance(0.65) {
		p.adultGP = pick(r, p.o.bySpec[specFamily])
	} else {
		p.adultGP = pick(r, p.o.bySpec[specInternal])
	}
}

func (p *patient) pickMarital(age float64) code {
	type w struct {
		code string
		p    float64
	}
	var ws []w
	switch {
	case age < 18:
		ws = []w{{"S", 1}}
	case age < 25:
		ws = []w{{"S", 0.85}, {"M", 0.15}}
	case age < 35:
		ws = []w{{"S", 0.45}, {"M", 0.5}, {"D", 0.05}}
	case age < 65:
		ws = []w{{"S", 0.2}, {"M", 0.6}, {"D", 0.15}, {"W", 0.05}}
	default:
		ws = []w{{"S", 0.08}, {"M", 0.55}, {"D", 0.12}, {"W", 0.25}}
	}
	x := p.r.Float64()
	c := ws[len(ws)-1].code
	for _, e := range ws {
		if x -= e.p; x < 0 {
			c = e.code
			break
		}
	}
	var display string
	switch c {
	case "S":
		display = "Never Married"
	case "M":
		display = "Married"
	case "D":
		display = "Divorced"
	case "W":
		display = "Widowed"
	}
	return code{sysMarital, c, display}
}

// names returns the Patient's HumanNames: official, then nickname and
// maiden name when present.
func (p *patient) names() []obj {
	given := make(arr, len(p.given))
	for i, g := range p.given {
		given[i] = g
	}
	text := strings.Join(p.given, " ") + " " + p.family
	official := obj{{"use", "official"}, {"text", text}, {"family", p.family}, {"given", given}}
	if p.prefix != "" {
		official = append(official, kv{"prefix", arr{p.prefix}})
	}
	out := []obj{official}
	if p.nick != "" {
		out = append(out, obj{{"use", "nickname"}, {"text", p.nick + " " + p.family}, {"family", p.family}, {"given", arr{p.nick}}})
	}
	if p.maiden != "" {
		out = append(out, obj{{"use", "maiden"}, {"text", strings.Join(p.given, " ") + " " + p.maiden}, {"family", p.maiden}, {"given", given}})
	}
	return out
}

func (p *patient) identifiers() []obj {
	ids := []obj{
		{{"use", "usual"}, {"type", cc(code{sysV2ID, "MR", "Medical record number"})}, {"system", p.o.sysMRN},
			{"value", p.mrn}, {"assigner", refd(p.o.fullURL, p.o.name)}},
		{{"use", "official"}, {"type", cc(code{sysV2ID, "SS", "Social Security number"})}, {"system", sysSSN}, {"value", p.ssn}},
	}
	if p.dl != "" {
		ids = append(ids, obj{{"type", cc(code{sysV2ID, "DL", "Driver's license number"})},
			{"system", "urn:oid:2.16.840.1.113883.4.3." + p.st.fips}, {"value", p.dl}})
	}
	if p.pass != "" {
		ids = append(ids, obj{{"type", cc(code{sysV2ID, "PPN", "Passport number"})}, {"system", sysPassport}, {"value", p.pass}})
	}
	return ids
}

func (p *patient) patientResource() obj {
	var ids, names, telecom arr
	for _, x := range p.identifiers() {
		ids = append(ids, x)
	}
	for _, n := range p.names() {
		names = append(names, n)
	}
	for _, t := range p.phones {
		telecom = append(telecom, t)
	}
	if p.email != "" {
		telecom = append(telecom, obj{{"system", "email"}, {"value", p.email}, {"use", "home"}})
	}
	comm := arr{obj{{"language", cc(p.lang)}, {"preferred", true}}}
	if p.bilingual {
		comm = append(comm, obj{{"language", cc(langEnglish)}})
	}
	gender := "male"
	if p.female {
		gender = "female"
	}
	gp := p.use(p.gpAt(p.to))
	res := obj{
		{"resourceType", "Patient"},
		{"identifier", ids},
		{"active", true},
		{"name", names},
		{"telecom", telecom},
		{"gender", gender},
		{"birthDate", fdate(p.birth)},
	}
	if !p.death.IsZero() {
		res = append(res, kv{"deceasedDateTime", fdt(p.death)})
	}
	return append(res,
		kv{"address", arr{address("home", p.lines, p.home, p.st, p.zip)}},
		kv{"maritalStatus", cc(p.marital)},
		kv{"communication", comm},
		kv{"generalPractitioner", arr{refd(gp.fullURL, gp.display)}},
		kv{"managingOrganization", refd(p.o.fullURL, p.o.name)},
	)
}

func (p *patient) identity() Identity {
	var id Identity
	for _, n := range p.names() {
		for _, f := range n {
			switch f.k {
			case "text":
				id.Names = append(id.Names, f.v.(string))
			case "family":
				id.Family = append(id.Family, f.v.(string))
			case "given":
				for _, g := range f.v.(arr) {
					id.Given = append(id.Given, g.(string))
				}
			}
		}
	}
	id.BirthDate = fdate(p.birth)
	for _, x := range p.identifiers() {
		var sys, val string
		for _, f := range x {
			switch f.k {
			case "system":
				sys = f.v.(string)
			case "value":
				val = f.v.(string)
			}
		}
		id.Identifiers = append(id.Identifiers, Identifier{sys, val})
	}
	for _, t := range p.phones {
		id.Telecom = append(id.Telecom, t[1].v.(string))
	}
	if p.email != "" {
		id.Telecom = append(id.Telecom, p.email)
	}
	id.Address = append(id.Address, p.lines...)
	return id
}

// Growth references: medians by age in years (CDC/WHO charts, rounded).
var (
	refAges      = []float64{0, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 20}
	heightMale   = []float64{50, 61, 67.5, 76, 82, 87.5, 96, 103, 110, 116, 122, 128, 133, 138, 143, 149, 156, 164, 170, 173, 175, 176, 176.5}
	heightFemale = []float64{49, 60, 66, 74.5, 80.5, 86, 95, 102, 109, 115, 121, 127, 133, 138, 144, 151, 157, 160, 162, 163, 163.5, 164, 164}
	bmiMedian    = []float64{13.4, 16.0, 17.2, 17.2, 16.8, 16.4, 15.8, 15.5, 15.3, 15.3, 15.5, 15.8, 16.2, 16.6, 17.2, 17.8, 18.4, 19.0, 19.6, 20.2, 20.7, 21.3, 22.0}
	headAges     = []float64{0, 0.25, 0.5, 1, 1.5, 2, 3}
	headMedian   = []float64{34.5, 40, 43, 46, 47.4, 48.3, 49.5}
)

// interp interpolates linearly in a table, clamping at its ends.
func interp(xs, ys []float64, x float64) float64 {
	if x <= xs[0] {
		return ys[0]
	}
	for i := 1; i < len(xs); i++ {
		if x <= xs[i] {
			f := (x - xs[i-1]) / (xs[i] - xs[i-1])
			return ys[i-1] + f*(ys[i]-ys[i-1])
		}
	}
	return ys[len(ys)-1]
}

func (p *patient) physiology() {
	z := func() float64 { return max(-2.5, min(2.5, p.r.NormFloat64())) }
	median, sd := 176.5, 7.0
	if p.female {
		median, sd = 164, 6.5
	}
	p.hf = (median + sd*z()) / median
	p.cf = math.Exp(0.12 * z())
	p.bmiSlope = max(-0.1, min(0.45, 0.17+0.1*z()))
	p.headZ = z()
	p.sys0 = 114 + 8*z()
	if !p.female {
		p.sys0 += 4
	}
	p.chol0 = 175 + 25*z()
	p.hdl0 = 47 + 9*z()
	if p.female {
		p.hdl0 += 11
	}
	p.hdl0 = max(28, p.hdl0)
	p.trig0 = 100 * math.Exp(0.35*z())
	p.a1c0 = max(4.6, min(5.5, 5.2+0.2*z()))
	p.creat0 = 0.95 + 0.1*z()
	if p.female {
		p.creat0 -= 0.2
	}
	if p.age(p.to) >= 18 {
		switch x := p.r.Float64(); {
		case x < 0.68:
		case x < 0.86:
			p.smoker = 1
		default:
			p.smoker = 2
		}
	}
}

func (p *patient) heightAt(t time.Time) float64 {
	a := p.age(t)
	h := interp(refAges, heightMale, a)
	if p.female {
		h = interp(refAges, heightFemale, a)
	}
	h *= p.hf
	if a > 50 {
		h -= 0.1 * (a - 50)
	}
	return h
}

func (p *patient) bmiAt(t time.Time) float64 {
	a := p.age(t)
	if a < 20 {
		return interp(refAges, bmiMedian, a) * p.cf
	}
	b := 22*p.cf + p.bmiSlope*(min(a, 58)-20) - 0.08*max(0, a-68)
	return max(15, min(55, b))
}

func (p *patient) treated(k int, t time.Time) bool {
	c := &p.chronic[k]
	return c.has && !c.treatFrom.IsZero() && t.After(c.treatFrom)
}

func (p *patient) active(k int, t time.Time) bool {
	c := &p.chronic[k]
	return c.has && !c.onset.After(t)
}

func (p *patient) planConditions() {
	end := p.age(p.to)
	set := func(k int, prob, lo float64) {
		if end <= lo || !p.chance(prob) {
			return
		}
		c := &p.chronic[k]
		c.has = true
		c.onset = p.at(p.uniform(lo, end)).Truncate(day)
		if c.onset.Before(p.birth) {
			c.onset = p.birth
		}
	}
	// Asthma mostly begins in childhood.
	if p.chance(0.09) {
		lo, hi := 2.0, 12.0
		if p.chance(0.3) {
			lo, hi = 12, 60
		}
		if a := p.uniform(lo, hi); a < end {
			p.chronic[cAsthma] = chronicState{has: true, onset: p.at(a).Truncate(day)}
		}
	}
	obese := p.bmiAt(p.at(min(end, 45))) >= 30
	risk := 1.0
	if obese {
		risk = 1.4
	}
	set(cHypertension, min(0.7, 0.012*(end-25)*risk), 25)
	set(cHyperlipidemia, min(0.5, 0.009*(end-30)), 30)
	if obese {
		risk = 2.5
	}
	set(cDiabetes, min(0.5, 0.004*(end-30)*risk), 30)
	if !p.chronic[cDiabetes].has {
		set(cPrediabetes, 0.12*min(2, risk), 25)
	}
	cad := 0.005 * (end - 45)
	if p.chronic[cHypertension].has {
		cad += 0.04
	}
	if p.chronic[cHyperlipidemia].has {
		cad += 0.04
	}
	if p.smoker > 0 {
		cad += 0.04
	}
	set(cCAD, min(0.35, cad), 45)
	if p.smoker > 0 {
		set(cCOPD, 0.1*float64(p.smoker)+0.05, 45)
	}
	set(cDepression, 0.09, 14)
	set(cOsteoarthritis, min(0.35, 0.008*(end-45)), 45)

	for k := range p.chronic {
		c := &p.chronic[k]
		if !c.has {
			continue
		}
		def := &chronicDefs[k]
		// The first medication is always prescribed; others sometimes.
		for j, m := range def.meds {
			if j == 0 || p.chance(0.3) {
				c.meds = append(c.meds, m)
			}
		}
		// Conditions that began before the record are under treatment.
		if c.onset.Before(p.from) {
			c.treatFrom = c.onset.Add(min(30*day, p.from.Sub(c.onset)/2))
		}
	}
}

func (p *patient) planAllergies() {
	end := p.age(p.to)
	for i := range allergyDefs {
		d := &allergyDefs[i]
		if !p.chance(d.weight / 100) {
			continue
		}
		a := p.uniform(d.minOnset, d.maxOnset)
		if a >= end {
			continue
		}
		p.allergies = append(p.allergies, allergyState{def: d, onset: p.at(a).Truncate(day)})
	}
}
