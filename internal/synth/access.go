package synth

// Synthetic access logs: a hospital's staff opening patient records, as
// FHIR R4 AuditEvents in the IHE Basic Audit Log Patterns shape, with the
// hospital's context (patients, staff and their roles, encounters, care
// teams) as a FHIR Bulk Data export, and injected insider attacks of known
// types with ground-truth labels. See AccessOptions and WriteAccess.

import (
	"bufio"
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// AccessOptions configures WriteAccess. Every field's zero value is a
// valid default.
type AccessOptions struct {
	// Days of activity to simulate; zero means 21.
	Days int
	// Users is the number of staff members; zero means 200.
	Users int
	// Patients is the size of the patient population; zero means 3000.
	Patients int
	// Seed selects the hospital, its staff, patients and events.
	Seed int64
	// Start is the first simulated day (UTC midnight); zero means
	// 2026-01-05, a Monday.
	Start time.Time
	// Org is the organisation id that prefixes member ids
	// ("general-hospital/rn-garcia-0042"); zero means "general-hospital".
	Org string
	// QuietDays is how many first days carry no attacks, like a deployment
	// that has seen some traffic before anything happens; zero means a
	// fifth of Days (at least 2, at most Days-1).
	QuietDays int
	// Episodes is the number of attack episodes of each type; zero means
	// Days·Users/400 (at least 3). Set it to -1 for no attacks.
	Episodes int
}

// Attack types written in the labels file.
const (
	AttackVIP         = "vip_snooping"       // a CELEB/VIP or EMP patient opened without a care relationship
	AttackFamily      = "family_snooping"    // a patient of the same surname and address, or a neighbour
	AttackCuriosity   = "curiosity_browsing" // many unrelated patients opened in a short time
	AttackBulkExport  = "bulk_export"        // large searches and $export by someone whose role never does
	AttackStolenCreds = "stolen_credential"  // off-hours use of a login from a network never seen
	AttackBreakGlass  = "break_glass_abuse"  // emergency access (ETREAT) without an emergency
)

// AttackTypes lists the attack types, in a fixed order.
var AttackTypes = []string{AttackVIP, AttackFamily, AttackCuriosity, AttackBulkExport, AttackStolenCreds, AttackBreakGlass}

// Systems the access generator writes.
const (
	SysMember      = "urn:medledger:member" // identifier system of member ids
	SysOrg         = "urn:medledger:org"
	SysAccessRole  = "urn:medledger:access-role"
	SysObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	SysRestful     = "http://hl7.org/fhir/restful-interaction"
	SysActReason   = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	SysActCode     = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	SysAuditType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	SysEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	SysOperation   = "urn:medledger:operation"
	sysSecRoleType = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
)

// AccessOutput receives the generated files. Events and Labels are
// required; context writers left nil are skipped.
type AccessOutput struct {
	Events io.Writer // AuditEvent.ndjson
	Labels io.Writer // labels.ndjson: {"id": ..., "attack": type or null}

	Patient, Practitioner, PractitionerRole, Encounter, CareTeam io.Writer

	// Progress, if set, is called after each simulated day.
	Progress func(done, total int)
}

// AccessSummary counts what WriteAccess wrote.
type AccessSummary struct {
	Events       int            `json:"events"`
	AttackEvents int            `json:"attack_events"`
	Episodes     map[string]int `json:"episodes"`
	PerType      map[string]int `json:"attack_events_per_type"`
	Patients     int            `json:"patients"`
	Users        int            `json:"users"`
	Encounters   int            `json:"encounters"`
	Days         int            `json:"days"`
}

// Access defaults.
const (
	DefaultAccessDays     = 21
	DefaultAccessUsers    = 200
	DefaultAccessPatients = 3000
	DefaultAccessOrg      = "general-hospital"
)

var defaultAccessStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Validate reports every problem with o at once, each wrapping ErrOptions.
func (o AccessOptions) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...))
	}
	if o.Days < 0 || o.Days > 3660 {
		bad("Days is %d; want 0 (default) to 3660", o.Days)
	}
	if o.Users < 0 || o.Users > 100000 || o.Users > 0 && o.Users < 30 {
		bad("Users is %d; want 0 (default) or 30 to 100000", o.Users)
	}
	if o.Patients < 0 || o.Patients > 10_000_000 || o.Patients > 0 && o.Patients < 200 {
		bad("Patients is %d; want 0 (default) or 200 to 10000000", o.Patients)
	}
	if o.QuietDays < 0 {
		bad("QuietDays is %d; want 0 or more", o.QuietDays)
	}
	if o.Episodes < -1 || o.Episodes > 100000 {
		bad("Episodes is %d; want -1 (none), 0 (default) or up to 100000", o.Episodes)
	}
	if o.Org != "" && slugOf(o.Org) != o.Org {
		bad("Org must be a lower-case DNS label such as general-hospital")
	}
	return errors.Join(errs...)
}

func (o AccessOptions) withDefaults() AccessOptions {
	o.Days = cmp.Or(o.Days, DefaultAccessDays)
	o.Users = cmp.Or(o.Users, DefaultAccessUsers)
	o.Patients = cmp.Or(o.Patients, DefaultAccessPatients)
	o.Org = cmp.Or(o.Org, DefaultAccessOrg)
	if o.Start.IsZero() {
		o.Start = defaultAccessStart
	}
	o.Start = o.Start.UTC().Truncate(24 * time.Hour)
	if o.QuietDays == 0 {
		o.QuietDays = max(2, o.Days/5)
	}
	o.QuietDays = min(o.QuietDays, max(o.Days-1, 0))
	if o.Episodes == 0 {
		o.Episodes = max(3, o.Days*o.Users/400)
	}
	return o
}

// ---- the hospital ----

type accRole int

const (
	roPhysician accRole = iota
	roResident
	roNurse
	roLabTech
	roRadTech
	roPharmacist
	roClerk
	roBiller
	roCoder
	roResearcher
	roITAdmin
	numRoles
)

var accRoleDefs = [numRoles]struct {
	code, display, pracRole string
	prefix                  string  // member id prefix
	rate                    float64 // events per working hour
	session                 float64 // mean extra events per chart session
	purpose                 string
}{
	roPhysician:  {"physician", "Physician", "doctor", "dr", 10, 5, "TREAT"},
	roResident:   {"resident", "Resident physician", "doctor", "res", 12, 5, "TREAT"},
	roNurse:      {"nurse", "Nurse", "nurse", "rn", 9, 3, "TREAT"},
	roLabTech:    {"lab-tech", "Laboratory technologist", "", "lab", 12, 1.5, "TREAT"},
	roRadTech:    {"radiology-tech", "Radiology technologist", "", "rad", 8, 2, "TREAT"},
	roPharmacist: {"pharmacist", "Pharmacist", "pharmacist", "ph", 10, 2.5, "TREAT"},
	roClerk:      {"registration-clerk", "Registration clerk", "", "reg", 7, 2, "HOPERAT"},
	roBiller:     {"billing", "Billing specialist", "", "bill", 7, 3, "HPAYMT"},
	roCoder:      {"coder", "Clinical coder", "", "him", 6, 4, "HOPERAT"},
	roResearcher: {"researcher", "Researcher", "researcher", "rsch", 3, 1, "HRESCH"},
	roITAdmin:    {"it-admin", "IT administrator", "ict", "it", 2, 1, "HSYSADMIN"},
}

type accDept struct {
	code, name string
	share      float64 // of users
	roles      []accRole
	roleW      []float64
	clinical   bool
	inpatient  bool
	net        int // workstations are 10.<net>.x.y
}

var accDepts = []accDept{
	{"ed", "Emergency Department", 12, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, false, 11},
	{"med", "Internal Medicine", 14, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, true, 12},
	{"card", "Cardiology", 8, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, true, 13},
	{"surg", "Surgery", 10, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, true, 14},
	{"peds", "Pediatrics", 7, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, true, 15},
	{"onc", "Oncology", 7, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 7}, true, true, 16},
	{"icu", "Intensive Care Unit", 8, []accRole{roPhysician, roResident, roNurse}, []float64{2, 1, 8}, true, true, 17},
	{"lab", "Laboratory", 6, []accRole{roLabTech}, []float64{1}, false, false, 21},
	{"rad", "Radiology", 4, []accRole{roRadTech, roPhysician}, []float64{3, 1}, false, false, 22},
	{"pharm", "Pharmacy", 4, []accRole{roPharmacist}, []float64{1}, false, false, 23},
	{"reg", "Patient Registration", 6, []accRole{roClerk}, []float64{1}, false, false, 24},
	{"bill", "Billing", 5, []accRole{roBiller}, []float64{1}, false, false, 25},
	{"him", "Health Information Management", 4, []accRole{roCoder}, []float64{1}, false, false, 26},
	{"res", "Clinical Research", 2.5, []accRole{roResearcher}, []float64{1}, false, false, 27},
	{"it", "Information Technology", 2.5, []accRole{roITAdmin}, []float64{1}, false, false, 28},
}

const (
	deptED  = 0
	deptICU = 6
)

// Shift kinds: when a member works.
type accShift int

const (
	shDay       accShift = iota // 07-19, 12 h, about 3.5 days a week (nurses)
	shNight                     // 19-07
	shOffice                    // 08-18 weekdays (+ some weekends for physicians)
	shEarly                     // 07-15 every weekday-ish rota (services)
	shLate                      // 15-23
	shGraveyard                 // 23-07
	shResident                  // 07-19, six days a week
)

type accUser struct {
	id, pracID, roleID string
	given, family      string
	addr               accAddr
	dept               int
	role               accRole
	shift              accShift
	rate               float64 // personal multiplier of the role's rate
	ws                 []string
	relatives          []int // patient indexes of household members
	neighbours         []int
	self               int // own patient record (EMP), -1 if none
	onCall             float64
}

type accAddr struct {
	line, city, state, zip string
	street                 string // street name without the house number
}

type accPatient struct {
	id            string
	given, family string
	female        bool
	birth         string
	addr          accAddr
	label         string // "", "CELEB", "VIP" or "EMP"
	encs          []int
}

type accEnc struct {
	id, ctID   string
	patient    int
	dept       int
	class      string // EMER, IMP, AMB
	start, end time.Time
	team       []int // users: attending first
}

type accEvent struct {
	t      time.Time
	user   int
	json   []byte
	attack string
}

type accGen struct {
	o        AccessOptions
	r        *rand.Rand
	st       *state
	tag      string
	users    []*accUser
	byDept   [][]int
	byRole   [numRoles][]int
	patients []*accPatient
	encs     []*accEnc
	vips     []int
	pending  []accEvent
	seq      int
	sum      AccessSummary
	ws       [][]string // workstation pool per department
	// open encounters, pruned as days go by
	recent []int
}

func accHex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

// WriteAccess generates the scenario o describes and writes it to out.
// It is deterministic: the same options write the same bytes. Errors wrap
// ErrOptions for invalid options, or come from the writers.
func WriteAccess(o AccessOptions, out AccessOutput) (AccessSummary, error) {
	if err := o.Validate(); err != nil {
		return AccessSummary{}, err
	}
	if out.Events == nil || out.Labels == nil {
		return AccessSummary{}, fmt.Errorf("%w: the Events and Labels writers are required", ErrOptions)
	}
	o = o.withDefaults()
	seed := uint64(o.Seed)
	g := &accGen{o: o, r: rand.New(rand.NewPCG(mix(seed^0xacce55), mix(seed+0x51))), tag: fmt.Sprintf("%08x", uint32(mix(seed)))}
	g.sum = AccessSummary{Episodes: map[string]int{}, PerType: map[string]int{}, Days: o.Days}
	g.st = &states[0]
	g.people()
	ev := bufio.NewWriterSize(out.Events, 1<<20)
	lb := bufio.NewWriterSize(out.Labels, 1<<18)
	attacks := g.planAttacks()
	// Two weeks of encounters before the first day, without events, so
	// that billing and coding have discharged patients from day one.
	for d := -14; d < o.Days; d++ {
		g.encounters(d)
		if d < 0 {
			continue
		}
		g.work(d)
		for _, a := range attacks[d] {
			a()
		}
		if err := g.flush(o.Start.AddDate(0, 0, d+1), ev, lb); err != nil {
			return g.sum, err
		}
		if out.Progress != nil {
			out.Progress(d+1, o.Days)
		}
	}
	if err := g.flush(time.Time{}, ev, lb); err != nil {
		return g.sum, err
	}
	if err := ev.Flush(); err != nil {
		return g.sum, err
	}
	if err := lb.Flush(); err != nil {
		return g.sum, err
	}
	if err := g.context(out); err != nil {
		return g.sum, err
	}
	g.sum.Patients, g.sum.Users, g.sum.Encounters = len(g.patients), len(g.users), len(g.encs)
	return g.sum, nil
}

func (g *accGen) chance(p float64) bool { return g.r.Float64() < p }

func (g *accGen) poisson(lambda float64) int {
	if lambda <= 0 {
		return 0
	}
	if lambda > 30 {
		return max(0, int(math.Round(lambda+math.Sqrt(lambda)*g.r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *accGen) newAddr() accAddr {
	c := g.st.cities[g.r.IntN(min(4, len(g.st.cities)))]
	street := pick(g.r, streetNames) + " " + pick(g.r, streetKinds)
	return accAddr{line: fmt.Sprintf("%d %s", 1+g.r.IntN(400), street), street: street, city: c.name, state: g.st.code, zip: postalCode(g.r, c)}
}

func (g *accGen) neighbourOf(a accAddr) accAddr {
	b := a
	for b.line == a.line {
		b.line = fmt.Sprintf("%d %s", 1+g.r.IntN(400), a.street)
	}
	return b
}

func (g *accGen) newPatient(family string, female bool, addr accAddr, label string) int {
	c := pickCulture(g.r)
	born := 1930 + g.r.IntN(95)
	p := &accPatient{id: "pt-" + accHex(g.r, 16), female: female, addr: addr, label: label,
		birth: fmt.Sprintf("%04d-%02d-%02d", born, 1+g.r.IntN(12), 1+g.r.IntN(28))}
	p.given = givenName(g.r, c, female, born)
	p.family = cmp.Or(family, pick(g.r, c.family))
	g.patients = append(g.patients, p)
	return len(g.patients) - 1
}

// people creates the staff, the patient population, and the links between
// them that make family and neighbour snooping possible.
func (g *accGen) people() {
	o := g.o
	g.byDept = make([][]int, len(accDepts))
	total := 0.0
	for _, d := range accDepts {
		total += d.share
	}
	g.ws = make([][]string, len(accDepts))
	for i := range o.Users {
		// Departments by share: deterministic round-robin over cumulative shares.
		x := (float64(i) + 0.5) / float64(o.Users) * total
		di := 0
		for di = range accDepts {
			if x -= accDepts[di].share; x < 0 {
				break
			}
		}
		d := &accDepts[di]
		role := d.roles[0]
		wsum := 0.0
		for _, w := range d.roleW {
			wsum += w
		}
		y := g.r.Float64() * wsum
		for k, w := range d.roleW {
			if y -= w; y < 0 {
				role = d.roles[k]
				break
			}
		}
		c := pickCulture(g.r)
		female := g.chance(0.6)
		born := 1960 + g.r.IntN(42)
		u := &accUser{dept: di, role: role, self: -1, rate: math.Exp(0.35 * g.r.NormFloat64())}
		u.given = givenName(g.r, c, female, born)
		u.family = pick(g.r, c.family)
		u.addr = g.newAddr()
		def := accRoleDefs[role]
		u.id = fmt.Sprintf("%s/%s-%s-%04d", o.Org, def.prefix, slugOf(u.family), i+1)
		u.pracID = "pr-" + accHex(g.r, 12)
		u.roleID = "prr-" + accHex(g.r, 12)
		switch {
		case role == roNurse && g.chance(0.4):
			u.shift = shNight
		case role == roNurse:
			u.shift = shDay
		case role == roResident:
			u.shift = shResident
		case role == roPhysician:
			u.shift = shOffice
			u.onCall = 0.1
		case di == deptED:
			u.shift = shDay
		case role == roLabTech || role == roClerk || role == roPharmacist || role == roRadTech:
			u.shift = []accShift{shEarly, shEarly, shLate, shGraveyard}[g.r.IntN(4)]
		default:
			u.shift = shOffice
		}
		if di == deptED || di == deptICU {
			if role == roPhysician {
				u.shift = []accShift{shDay, shDay, shNight}[g.r.IntN(3)]
				u.onCall = 0
			}
		}
		g.users = append(g.users, u)
		g.byDept[di] = append(g.byDept[di], i)
		g.byRole[role] = append(g.byRole[role], i)
	}
	for di := range accDepts {
		n := max(2, len(g.byDept[di])/3)
		for k := range n {
			g.ws[di] = append(g.ws[di], fmt.Sprintf("10.%d.%d.%d", accDepts[di].net, 1+k/200, 10+k%200))
		}
	}
	for _, u := range g.users {
		pool := g.ws[u.dept]
		for range 1 + g.r.IntN(3) {
			u.ws = append(u.ws, pick(g.r, pool))
		}
	}
	// Staff who are patients here (EMP), their households and neighbours.
	for i, u := range g.users {
		if g.chance(0.3) {
			u.self = g.newPatient(u.family, g.chance(0.6), u.addr, "EMP")
			g.patients[u.self].given = u.given
		}
		for range g.poisson(0.9) {
			fam := u.family
			if g.chance(0.25) {
				fam = ""
			}
			u.relatives = append(u.relatives, g.newPatient(fam, g.chance(0.5), u.addr, ""))
		}
		for range g.poisson(0.6) {
			u.neighbours = append(u.neighbours, g.newPatient("", g.chance(0.5), g.neighbourOf(u.addr), ""))
		}
		_ = i
	}
	for len(g.patients) < o.Patients {
		label := ""
		switch x := g.r.Float64(); {
		case x < 0.002:
			label = "CELEB"
		case x < 0.004:
			label = "VIP"
		}
		g.newPatient("", g.chance(0.51), g.newAddr(), label)
	}
	celeb := false
	for _, p := range g.patients {
		celeb = celeb || p.label == "CELEB" || p.label == "VIP"
	}
	if last := g.patients[len(g.patients)-1]; !celeb && last.label == "" {
		last.label = "CELEB" // every hospital has one
	}
	for i, p := range g.patients {
		if p.label != "" {
			g.vips = append(g.vips, i)
		}
	}
}

// ---- encounters ----

func (g *accGen) dayStart(d int) time.Time { return g.o.Start.AddDate(0, 0, d) }

func (g *accGen) pickPatientForEncounter() int {
	// VIPs and staff are treated here like everyone else; VIPs a little
	// more often, so their legitimate accesses exist.
	if g.chance(0.01) {
		return pick(g.r, g.vips)
	}
	return g.r.IntN(len(g.patients))
}

func (g *accGen) staffOf(dept int, roles ...accRole) []int {
	var out []int
	for _, u := range g.byDept[dept] {
		if slices.Contains(roles, g.users[u].role) {
			out = append(out, u)
		}
	}
	return out
}

func (g *accGen) addEncounter(p, dept int, class string, start, end time.Time) *accEnc {
	e := &accEnc{id: "enc-" + accHex(g.r, 16), ctID: "ct-" + accHex(g.r, 16), patient: p, dept: dept, class: class, start: start, end: end}
	if docs := g.staffOf(dept, roPhysician); len(docs) > 0 {
		e.team = append(e.team, pick(g.r, docs))
	}
	if res := g.staffOf(dept, roResident); len(res) > 0 && g.chance(0.6) {
		e.team = append(e.team, pick(g.r, res))
	}
	if nurses := g.staffOf(dept, roNurse); len(nurses) > 0 {
		for range 2 {
			e.team = append(e.team, pick(g.r, nurses))
		}
	}
	g.encs = append(g.encs, e)
	idx := len(g.encs) - 1
	g.patients[p].encs = append(g.patients[p].encs, idx)
	g.recent = append(g.recent, idx)
	return e
}

// encounters creates day d's emergency visits, admissions and clinic
// visits, scaled to the staff size.
func (g *accGen) encounters(d int) {
	t0 := g.dayStart(d)
	scale := float64(g.o.Users) / 200
	for range g.poisson(30 * scale) { // emergency visits
		start := t0.Add(time.Duration(g.r.Float64() * 24 * float64(time.Hour)))
		end := start.Add(time.Duration((2 + 6*g.r.Float64()) * float64(time.Hour)))
		p := g.pickPatientForEncounter()
		g.addEncounter(p, deptED, "EMER", start, end)
		if g.chance(0.2) {
			ward := []int{1, 1, 2, 3, 6}[g.r.IntN(5)]
			g.addEncounter(p, ward, "IMP", end, end.Add(time.Duration((1+6*g.r.Float64())*24*float64(time.Hour))))
		}
	}
	for di, dep := range accDepts {
		if !dep.inpatient || di == deptICU {
			continue
		}
		for range g.poisson(3 * scale) { // elective admissions
			start := t0.Add(time.Duration((7 + 3*g.r.Float64()) * float64(time.Hour)))
			g.addEncounter(g.pickPatientForEncounter(), di, "IMP", start, start.Add(time.Duration((1+5*g.r.Float64())*24*float64(time.Hour))))
		}
		if wd := t0.Weekday(); wd != time.Saturday && wd != time.Sunday {
			for range g.poisson(6 * scale) { // clinic visits
				start := t0.Add(time.Duration((8 + 9*g.r.Float64()) * float64(time.Hour)))
				g.addEncounter(g.pickPatientForEncounter(), di, "AMB", start, start.Add(time.Duration((20+40*g.r.Float64())*float64(time.Minute))))
			}
		}
	}
	// Forget encounters that ended more than 35 days ago.
	cut := t0.AddDate(0, 0, -35)
	g.recent = slices.DeleteFunc(g.recent, func(i int) bool { return g.encs[i].end.Before(cut) })
}

// ---- normal work ----

// shiftAt reports whether u works on day d and the shift's span.
func (g *accGen) shiftAt(u *accUser, d int) (bool, time.Time, time.Time) {
	t0 := g.dayStart(d)
	wd := t0.Weekday()
	weekend := wd == time.Saturday || wd == time.Sunday
	h := func(a, b float64) (time.Time, time.Time) {
		return t0.Add(time.Duration(a * float64(time.Hour))), t0.Add(time.Duration(b * float64(time.Hour)))
	}
	var s, e time.Time
	var works bool
	switch u.shift {
	case shDay:
		works = g.chance(0.5)
		s, e = h(7, 19)
	case shNight:
		works = g.chance(0.5)
		s, e = h(19, 31)
	case shOffice:
		works = !weekend && g.chance(0.92) || weekend && u.role == roPhysician && g.chance(0.2)
		s, e = h(8+g.r.Float64(), 17+1.5*g.r.Float64())
	case shEarly:
		works = g.chance(0.7)
		s, e = h(7, 15)
	case shLate:
		works = g.chance(0.7)
		s, e = h(15, 23)
	case shGraveyard:
		works = g.chance(0.7)
		s, e = h(23, 31)
	case shResident:
		works = wd != time.Sunday && g.chance(0.9)
		s, e = h(7, 19)
	}
	return works, s, e
}

// active lists encounters in progress at t (or, with after > 0, that
// ended between after and 0 days before t), filtered by keep.
func (g *accGen) candidates(t time.Time, keep func(e *accEnc) bool) []int {
	var out []int
	for _, i := range g.recent {
		if keep(g.encs[i]) {
			out = append(out, i)
		}
	}
	return out
}

func inProgress(e *accEnc, t time.Time) bool { return !t.Before(e.start) && t.Before(e.end) }

type accAccess struct {
	subtype string // read, vread, search-type, create, update, export
	resType string
	patient int // -1 for none
	purpose string
	outcome string
	query   string
	count   int
	addr    string
}

func (g *accGen) work(d int) {
	for ui, u := range g.users {
		works, s, e := g.shiftAt(u, d)
		if works {
			g.shiftWork(ui, u, s, e)
		}
		if u.onCall > 0 && g.chance(u.onCall) {
			g.onCall(ui, u, d)
		}
	}
}

// patientFor picks the patient of a chart session by role at time t, with
// the small share of legitimate but unusual accesses a real hospital
// has (consults, covering colleagues, follow-ups).
func (g *accGen) patientFor(ui int, u *accUser, t time.Time) (int, bool) {
	inHouse := func(e *accEnc) bool { return inProgress(e, t) }
	mine := func(e *accEnc) bool { return inProgress(e, t) && slices.Contains(e.team, ui) }
	x := g.r.Float64()
	var cands []int
	switch u.role {
	case roPhysician, roResident, roNurse:
		if u.dept >= len(accDepts) || !accDepts[u.dept].clinical {
			cands = g.candidates(t, inHouse) // radiologists
			break
		}
		dept := func(e *accEnc) bool { return inProgress(e, t) && e.dept == u.dept }
		switch {
		case x < 0.55 && u.role != roNurse, x < 0.35:
			cands = g.candidates(t, mine)
		case x < 0.965:
			cands = g.candidates(t, dept)
		case x < 0.994:
			cands = g.candidates(t, inHouse)
		default:
			return g.r.IntN(len(g.patients)), true
		}
		if len(cands) == 0 {
			cands = g.candidates(t, dept)
		}
	case roLabTech, roRadTech, roPharmacist:
		if x < 0.02 {
			return g.r.IntN(len(g.patients)), true
		}
		cands = g.candidates(t, inHouse)
	case roClerk:
		if x < 0.04 {
			return g.r.IntN(len(g.patients)), true
		}
		cands = g.candidates(t, func(e *accEnc) bool { return e.start.Sub(t).Abs() < 3*time.Hour })
	case roBiller, roCoder:
		lo, hi := 24*time.Hour, 30*24*time.Hour
		if u.role == roCoder {
			lo, hi = 2*24*time.Hour, 20*24*time.Hour
		}
		if x < 0.04 {
			return g.r.IntN(len(g.patients)), true
		}
		cands = g.candidates(t, func(e *accEnc) bool { ago := t.Sub(e.end); return ago >= lo && ago < hi })
	case roResearcher, roITAdmin:
		return g.r.IntN(len(g.patients)), true
	}
	if len(cands) == 0 {
		return -1, false
	}
	return g.encs[pick(g.r, cands)].patient, true
}

// access mixes per role: resource type and interaction.
var accMix = [numRoles][]struct {
	typ, sub string
	w        float64
}{
	roPhysician:  {{"Patient", "read", 15}, {"Observation", "search-type", 15}, {"Observation", "read", 20}, {"DiagnosticReport", "read", 12}, {"Condition", "read", 8}, {"MedicationRequest", "create", 8}, {"MedicationRequest", "read", 7}, {"DocumentReference", "create", 5}, {"DocumentReference", "read", 5}, {"Procedure", "read", 3}, {"Condition", "create", 2}},
	roNurse:      {{"Patient", "read", 12}, {"Observation", "create", 30}, {"Observation", "read", 15}, {"Observation", "search-type", 10}, {"MedicationRequest", "read", 15}, {"CarePlan", "read", 8}, {"DocumentReference", "create", 5}, {"AllergyIntolerance", "read", 5}},
	roLabTech:    {{"Observation", "create", 45}, {"DiagnosticReport", "create", 20}, {"Patient", "read", 15}, {"Observation", "read", 10}, {"Observation", "search-type", 10}},
	roRadTech:    {{"DiagnosticReport", "create", 30}, {"DiagnosticReport", "read", 20}, {"Patient", "read", 25}, {"Procedure", "read", 10}, {"DocumentReference", "create", 15}},
	roPharmacist: {{"MedicationRequest", "read", 40}, {"MedicationRequest", "update", 15}, {"AllergyIntolerance", "read", 15}, {"Patient", "read", 10}, {"Observation", "search-type", 10}, {"Condition", "read", 10}},
	roClerk:      {{"Patient", "read", 35}, {"Patient", "update", 15}, {"Patient", "search-type", 20}, {"Encounter", "create", 15}, {"Encounter", "read", 15}},
	roBiller:     {{"Encounter", "read", 30}, {"Procedure", "read", 15}, {"Condition", "read", 15}, {"Patient", "read", 20}, {"Coverage", "read", 10}, {"Claim", "create", 10}},
	roCoder:      {{"DocumentReference", "read", 30}, {"Condition", "read", 20}, {"Procedure", "read", 20}, {"Encounter", "read", 15}, {"Condition", "update", 15}},
	roResearcher: {{"Observation", "search-type", 50}, {"Patient", "read", 20}, {"Condition", "search-type", 30}},
	roITAdmin:    {{"Patient", "search-type", 40}, {"Patient", "read", 30}, {"Observation", "read", 30}},
}

func init() { accMix[roResident] = accMix[roPhysician] }

func (g *accGen) pickMix(r accRole) (string, string) {
	m := accMix[r]
	total := 0.0
	for _, x := range m {
		total += x.w
	}
	y := g.r.Float64() * total
	for _, x := range m {
		if y -= x.w; y < 0 {
			return x.typ, x.sub
		}
	}
	return m[0].typ, m[0].sub
}

func (g *accGen) workstation(u *accUser) string {
	if g.chance(0.04) { // a colleague's terminal, another ward
		return pick(g.r, g.ws[g.r.IntN(len(g.ws))])
	}
	return pick(g.r, u.ws)
}

func (g *accGen) shiftWork(ui int, u *accUser, s, e time.Time) {
	def := accRoleDefs[u.role]
	hours := e.Sub(s).Hours()
	n := g.poisson(def.rate * u.rate * hours)
	for n > 0 {
		t := s.Add(time.Duration(g.r.Float64() * float64(e.Sub(s))))
		k := min(n, 1+g.poisson(def.session))
		n -= k
		g.session(ui, u, t, k, def.purpose, g.workstation(u))
	}
	// Researchers and IT occasionally export data for approved work.
	if (u.role == roResearcher && g.chance(0.08)) || (u.role == roITAdmin && g.chance(0.02)) {
		t := s.Add(time.Duration(g.r.Float64() * float64(e.Sub(s))))
		g.emit(ui, t, accAccess{subtype: "export", resType: "Observation", patient: -1, purpose: def.purpose, outcome: "0",
			query: "$export?_type=Observation,Condition&_since=2025-01-01", count: 2000 + g.r.IntN(20000), addr: pick(g.r, u.ws)}, "")
	}
}

// session writes k accesses of one chart (or search) session from t on.
func (g *accGen) session(ui int, u *accUser, t time.Time, k int, purpose, addr string) {
	p, ok := g.patientFor(ui, u, t)
	if !ok {
		return
	}
	bg := false
	if u.dept == deptED && u.role != roResident && p >= 0 && g.chance(0.02) {
		bg = true // a new arrival before the care team is set: legitimate break-glass
	}
	denyBurst := g.chance(0.002)
	for i := range k {
		typ, sub := g.pickMix(u.role)
		a := accAccess{subtype: sub, resType: typ, patient: p, purpose: purpose, outcome: "0", addr: addr}
		if bg {
			a.purpose = "ETREAT"
		}
		if g.chance(0.003) || denyBurst {
			a.outcome = "4"
		}
		if sub == "search-type" {
			a.count = 1 + g.r.IntN(40)
			if u.role == roResearcher || u.role == roITAdmin || (typ == "Patient" && g.chance(0.5)) {
				a.patient = -1
				a.count = 1 + g.r.IntN(300)
			}
		}
		g.emit(ui, t.Add(time.Duration(i)*time.Duration(10+g.r.IntN(80))*time.Second), a, "")
	}
}

// onCall: a physician checks a few of their patients from home at night,
// over the hospital VPN.
func (g *accGen) onCall(ui int, u *accUser, d int) {
	t := g.dayStart(d).Add(time.Duration((22 + 8*g.r.Float64()) * float64(time.Hour)))
	addr := fmt.Sprintf("10.250.%d.%d", g.r.IntN(8), 2+g.r.IntN(250))
	for range 1 + g.r.IntN(3) {
		g.session(ui, u, t, 2+g.r.IntN(4), "TREAT", addr)
		t = t.Add(time.Duration(5+g.r.IntN(40)) * time.Minute)
	}
}

// ---- AuditEvent JSON ----

func (g *accGen) emit(ui int, t time.Time, a accAccess, attack string) {
	u := g.users[ui]
	g.seq++
	id := fmt.Sprintf("ae-%s-%08d", g.tag, g.seq)
	g.pending = append(g.pending, accEvent{t: t.Truncate(time.Millisecond), user: ui, json: g.auditEvent(id, u, t, a), attack: attack})
}

var accAction = map[string]string{"read": "R", "vread": "R", "search-type": "E", "create": "C", "update": "U", "delete": "D", "export": "E"}

func (g *accGen) auditEvent(id string, u *accUser, t time.Time, a accAccess) []byte {
	subtype := arr{obj{{"system", SysRestful}, {"code", a.subtype}}}
	if a.subtype == "export" {
		subtype = arr{obj{{"system", SysRestful}, {"code", "operation"}}, obj{{"system", SysOperation}, {"code", "export"}, {"display", "$export"}}}
	}
	var ents arr
	if a.patient >= 0 {
		ents = append(ents, obj{
			{"what", obj{{"reference", "Patient/" + g.patients[a.patient].id}}},
			{"type", obj{{"system", SysEntityType}, {"code", "1"}, {"display", "Person"}}},
			{"role", obj{{"system", SysObjectRole}, {"code", "1"}, {"display", "Patient"}}},
		})
	}
	switch {
	case a.subtype == "search-type" || a.subtype == "export":
		q := a.query
		if q == "" {
			q = a.resType + "?"
			if a.patient >= 0 {
				q += "patient=" + g.patients[a.patient].id + "&"
			}
			q += "_count=" + strconv.Itoa(max(a.count, 20))
		}
		ents = append(ents, obj{
			{"type", obj{{"system", SysEntityType}, {"code", "2"}, {"display", "System Object"}}},
			{"role", obj{{"system", SysObjectRole}, {"code", "24"}, {"display", "Query"}}},
			{"query", base64.StdEncoding.EncodeToString([]byte(q))},
			{"detail", arr{obj{{"type", "result-count"}, {"valueString", strconv.Itoa(a.count)}}}},
		})
	case a.resType != "Patient":
		ents = append(ents, obj{
			{"what", obj{{"reference", a.resType + "/" + accHex(g.r, 12)}}},
			{"type", obj{{"system", SysEntityType}, {"code", "2"}, {"display", "System Object"}}},
			{"role", obj{{"system", SysObjectRole}, {"code", "4"}, {"display", "Domain Resource"}}},
		})
	}
	res := obj{
		{"resourceType", "AuditEvent"},
		{"id", id},
		{"type", obj{{"system", SysAuditType}, {"code", "rest"}, {"display", "RESTful Operation"}}},
		{"subtype", subtype},
		{"action", accAction[a.subtype]},
		{"recorded", t.UTC().Format("2006-01-02T15:04:05.000Z07:00")},
		{"outcome", a.outcome},
		{"purposeOfEvent", arr{obj{{"coding", arr{obj{{"system", SysActReason}, {"code", a.purpose}}}}}}},
		{"agent", arr{
			obj{
				{"type", obj{{"coding", arr{obj{{"system", sysSecRoleType}, {"code", "humanuser"}, {"display", "human user"}}}}}},
				{"who", obj{{"reference", "Practitioner/" + u.pracID}, {"identifier", obj{{"system", SysMember}, {"value", u.id}}}}},
				{"requestor", true},
				{"network", obj{{"address", a.addr}, {"type", "2"}}},
			},
			obj{
				{"type", obj{{"coding", arr{obj{{"system", "http://dicom.nema.org/resources/ontology/DCM"}, {"code", "110153"}, {"display", "Source Role ID"}}}}}},
				{"who", obj{{"identifier", obj{{"system", SysOrg}, {"value", g.o.Org}}}}},
				{"requestor", false},
			},
		}},
		{"source", obj{{"observer", obj{{"identifier", obj{{"system", SysOrg}, {"value", g.o.Org}}}}}}},
		{"entity", ents},
	}
	return appendJSON(nil, res)
}

func (g *accGen) flush(before time.Time, ev, lb io.Writer) error {
	slices.SortStableFunc(g.pending, func(a, b accEvent) int { return a.t.Compare(b.t) })
	n := len(g.pending)
	if !before.IsZero() {
		n, _ = slices.BinarySearchFunc(g.pending, before, func(e accEvent, t time.Time) int {
			if e.t.Before(t) {
				return -1
			}
			return 1
		})
	}
	var buf []byte
	for _, e := range g.pending[:n] {
		buf = append(buf[:0], e.json...)
		buf = append(buf, '\n')
		if _, err := ev.Write(buf); err != nil {
			return err
		}
		// The id is at a fixed place: {"resourceType":"AuditEvent","id":"...".
		id := e.json[len(`{"resourceType":"AuditEvent","id":"`):]
		id = id[:slices.Index(id, '"')]
		buf = append(buf[:0], `{"id":"`...)
		buf = append(buf, id...)
		if e.attack == "" {
			buf = append(buf, `","attack":null}`+"\n"...)
		} else {
			buf = append(buf, `","attack":"`+e.attack+`"}`+"\n"...)
			g.sum.AttackEvents++
			g.sum.PerType[e.attack]++
		}
		if _, err := lb.Write(buf); err != nil {
			return err
		}
		g.sum.Events++
	}
	g.pending = append(g.pending[:0], g.pending[n:]...)
	return nil
}
