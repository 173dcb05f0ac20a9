package access

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Feature indexes: the per-access feature vector. FeatureNames gives
// their names in model files; docs/models.md describes each.
const (
	FRelSurprisal = iota
	FOutsideCare
	FNoEncounter
	FVIPOutsideCare
	FEmployeeOutsideCare
	FSameAddress
	FSameStreet
	FSameSurname
	FOffHours
	FNetNewUser
	FNetRareOrg
	FAddrNewUser
	FDenied
	FDeniedHour
	FBreakGlass
	FBreakGlassSurprisal
	FBreakGlassOutsideCare
	FBreakGlass7d
	FExport
	FExportSurprisal
	FSearchSizeZ
	FSearchesHour
	FVolumeHourZ
	FPatientsTodayZ
	FUnexplained2h
	FTypeSurprisal
	NumFeatures
)

// FeatureNames are the feature names, by index.
var FeatureNames = [NumFeatures]string{
	"rel_surprisal", "outside_care", "no_encounter", "vip_outside_care", "employee_outside_care",
	"same_address", "same_street", "same_surname", "off_hours", "net_new_user", "net_rare_org", "addr_new_user",
	"denied", "denied_hour", "break_glass", "break_glass_surprisal", "break_glass_outside_care", "break_glass_7d",
	"export", "export_surprisal", "search_size_z", "searches_hour", "volume_hour_z", "patients_today_z",
	"unexplained_2h", "type_surprisal",
}

// FeatureIndex returns the index of a feature name, or -1.
func FeatureIndex(name string) int {
	for i, n := range FeatureNames {
		if n == name {
			return i
		}
	}
	return -1
}

// Params are the detector's baseline parameters, stored in a model's
// "params". The zero value of each field selects its default.
type Params struct {
	// MinHistory is how many events a user must have made before
	// "new network", "new address" and volume features count (default 50).
	MinHistory int `json:"min_history,omitempty"`
	// Smoothing is the pseudo-count added to every category of a learned
	// frequency (default 1).
	Smoothing float64 `json:"smoothing,omitempty"`
	// HourPrior is the weight of the role's hour-of-day profile in a
	// user's profile, in events (default 20).
	HourPrior float64 `json:"hour_prior,omitempty"`
	// Unexplained is the relation surprisal (nats) at or above which an
	// access counts as unexplained for the user's role (default 2.3,
	// i.e. relations the role has in under 10% of its accesses).
	Unexplained float64 `json:"unexplained,omitempty"`
	// History is how many past values (active hours, user-days, searches)
	// the robust baselines keep (default 256).
	History int `json:"history,omitempty"`
}

func (p Params) withDefaults() Params {
	if p.MinHistory <= 0 {
		p.MinHistory = 50
	}
	if p.Smoothing <= 0 {
		p.Smoothing = 1
	}
	if p.HourPrior <= 0 {
		p.HourPrior = 20
	}
	if p.Unexplained <= 0 {
		p.Unexplained = 2.3
	}
	if p.History <= 0 {
		p.History = 256
	}
	return p
}

// robust is a bounded history of values with a cached median and MAD.
type robust struct {
	vals   []float64
	next   int
	dirty  int
	med    float64
	scale  float64
	capcty int
}

func newRobust(n int) *robust { return &robust{capcty: n} }

func (r *robust) add(v float64) {
	if len(r.vals) < r.capcty {
		r.vals = append(r.vals, v)
	} else {
		r.vals[r.next] = v
		r.next = (r.next + 1) % r.capcty
	}
	r.dirty++
	// Recompute while the history is short, then every 16 values.
	if len(r.vals) < 32 || r.dirty >= 16 {
		r.refresh()
	}
}

func (r *robust) refresh() {
	r.dirty = 0
	s := slices.Clone(r.vals)
	slices.Sort(s)
	r.med = median(s)
	for i := range s {
		s[i] = math.Abs(s[i] - r.med)
	}
	slices.Sort(s)
	r.scale = 1.4826 * median(s)
}

func median(s []float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// z is the robust z-score of v, 0 without history; the scale has a floor
// (floor, and 10% of the median) so that a constant history does not make
// every small change infinite.
func (r *robust) z(v, floor float64) float64 {
	if len(r.vals) < 5 {
		return 0
	}
	sc := max(r.scale, floor, 0.1*math.Abs(r.med))
	return (v - r.med) / sc
}

// window is the times (Unix seconds) of recent events, oldest first.
type window struct{ ts []int64 }

func (w *window) add(t int64) { w.ts = append(w.ts, t) }

// count drops times before t-span and returns how many remain.
func (w *window) count(t, span int64) int {
	i := 0
	for i < len(w.ts) && w.ts[i] < t-span {
		i++
	}
	if i > 0 {
		w.ts = append(w.ts[:0], w.ts[i:]...)
	}
	return len(w.ts)
}

// freq is a learned categorical distribution.
type freq struct {
	n     map[string]float64
	total float64
}

func (f *freq) add(k string) {
	if f.n == nil {
		f.n = map[string]float64{}
	}
	f.n[k]++
	f.total++
}

// surprisal is -ln P(k) with add-s smoothing over the categories seen
// plus one unseen, clipped to [0, 10].
func (f *freq) surprisal(k string, s float64) float64 {
	cats := float64(len(f.n) + 1)
	p := (f.n[k] + s) / (f.total + s*cats)
	return min(max(-math.Log(p), 0), 10)
}

type userState struct {
	info    User
	known   bool
	role    *roleState
	events  int
	hours   [24]float64
	nets    map[string]struct{}
	addrs   map[string]struct{}
	recent  window // all events, last hour
	failed  window // failures, last hour
	search  window // searches and exports, last hour
	bg      window // break-glass accesses, last 7 days
	hourly  *robust
	curHour int64
	hourN   int
	day     int64
	today   map[string]struct{} // patients today
	daily   *robust             // distinct patients per day, past days
	unexpl  []unexplained       // unexplained accesses, last 2 hours
	unexplN map[string]int      // how many of unexpl each patient has
	lastT   int64
}

type unexplained struct {
	t       int64
	patient string
}

type roleState struct {
	rel       [numRelations]float64
	relTotal  float64
	types     freq
	bg        freq // "1"/"0" per department
	bgDept    map[string]*freq
	export    freq
	sizes     *robust // log10(1+count) of searches
	daily     *robust // distinct patients per user-day
	hours     [24]float64
	hourTotal float64
}

// state is the detector's memory: per-user and per-role baselines and
// the organisation's network profile.
type state struct {
	p     Params
	dir   Directory
	users map[string]*userState
	roles map[string]*roleState
	nets  freq // /16 networks across the organisation
	lastT int64
}

func newState(p Params, dir Directory) *state {
	return &state{p: p.withDefaults(), dir: dir, users: map[string]*userState{}, roles: map[string]*roleState{}}
}

func (s *state) role(name string) *roleState {
	r, ok := s.roles[name]
	if !ok {
		r = &roleState{sizes: newRobust(s.p.History * 4), daily: newRobust(s.p.History * 4), bgDept: map[string]*freq{}}
		s.roles[name] = r
	}
	return r
}

func (s *state) user(e *Event) *userState {
	key := e.User
	u, ok := s.users[key]
	if ok {
		return u
	}
	u = &userState{nets: map[string]struct{}{}, addrs: map[string]struct{}{}, hourly: newRobust(s.p.History),
		today: map[string]struct{}{}, daily: newRobust(64), day: -1 << 62}
	if s.dir != nil && key != "" {
		u.info, u.known = s.dir.User(key)
		if !u.known && e.UserRef != "" {
			u.info, u.known = s.dir.User(e.UserRef)
		}
	}
	// The peer group is the role within the department: a radiologist
	// reads every in-house patient's images, a ward physician does not.
	role := u.info.Role
	if role == "" {
		role = "unknown"
	}
	u.role = s.role(role + "|" + u.info.Dept)
	s.users[key] = u
	return u
}

// network returns the /16 (IPv4) or /48 (IPv6) of a network address, or
// the host name's domain, as the "network" a login comes from.
func network(addr string) string {
	if addr == "" {
		return ""
	}
	if strings.Count(addr, ".") == 3 && strings.IndexFunc(addr, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }) < 0 {
		i := strings.IndexByte(addr, '.')
		j := strings.IndexByte(addr[i+1:], '.')
		return addr[:i+1+j]
	}
	if strings.Contains(addr, ":") {
		parts := strings.SplitN(addr, ":", 4)
		if len(parts) >= 3 {
			return strings.Join(parts[:3], ":")
		}
		return addr
	}
	if i := strings.IndexByte(addr, '.'); i > 0 {
		return addr[i+1:]
	}
	return addr
}

// orgNetwork groups addresses for the organisation-wide profile: all
// private IPv4 ranges (RFC 1918) are one internal network, so that small
// departments' subnets do not look rare; public addresses group by /16.
func orgNetwork(addr, net string) string {
	switch {
	case strings.HasPrefix(addr, "10."), strings.HasPrefix(addr, "192.168."):
		return "private"
	case strings.HasPrefix(addr, "172."):
		if n := addr[4 : strings.IndexByte(addr[4:], '.')+4]; len(n) == 2 && n >= "16" && n <= "31" {
			return "private"
		}
	case strings.HasPrefix(addr, "fd"), strings.HasPrefix(addr, "fc"):
		return "private"
	}
	return net
}

// observe computes e's features into x from the state before e, then
// learns from e. It also returns the relation it judged, for reasons.
func (s *state) observe(e *Event, x *[NumFeatures]float64) (Relation, *userState) {
	*x = [NumFeatures]float64{}
	u := s.user(e)
	ro := u.role
	p := s.p
	t := s.lastT
	if !e.Time.IsZero() {
		t = e.Time.Unix()
		s.lastT = max(s.lastT, t)
	}
	// The day and hour of the event as its timestamp writes them (the
	// hospital's local time when it records with its offset).
	var hour int = -1
	var day int64
	if !e.Time.IsZero() {
		_, off := e.Time.Zone()
		local := t + int64(off)
		hour = int(local%86400) / 3600
		if hour < 0 {
			hour += 24
		}
		day = local / 86400
	}

	// Relation and the people involved.
	rel := RelUnknown
	var pat Patient
	patKnown := false
	if e.Patient != "" && s.dir != nil {
		at := e.Time
		if at.IsZero() {
			at = time.Unix(t, 0) // the latest time seen
		}
		rel = s.dir.Relation(e.User, e.Patient, at)
		if rel == RelUnknown && e.UserRef != "" {
			rel = s.dir.Relation(e.UserRef, e.Patient, at)
		}
		pat, patKnown = s.dir.Patient(e.Patient)
	}
	for _, l := range e.Labels {
		switch l {
		case "CELEB", "VIP":
			pat.VIP = true
		case "EMP":
			pat.Employee = true
		}
	}
	outside := 0.0 // how far the access is from a care relationship
	if e.Patient != "" {
		switch rel {
		case RelNone, RelFacility:
			outside = 1
		case RelUnknown:
			outside = 0.5
		}
	}
	if e.Patient != "" && rel != RelUnknown {
		x[FRelSurprisal] = -math.Log((ro.rel[rel] + p.Smoothing) / (ro.relTotal + p.Smoothing*float64(numRelations-1)))
		x[FOutsideCare] = outside
		if rel == RelNone {
			x[FNoEncounter] = 1
		}
	}
	// How far the peer group's habits leave this access unexplained: by
	// the relation, or by what was opened (a biller reading notes).
	typeKey := e.DataType + "|" + e.Op.String()
	x[FTypeSurprisal] = ro.types.surprisal(typeKey, p.Smoothing)
	unexplainedRel := 1.0
	if rel != RelUnknown {
		unexplainedRel = min(1, max(x[FRelSurprisal]/p.Unexplained, (x[FTypeSurprisal]-2)/4))
	}
	if pat.VIP {
		// Any VIP access outside the care team deserves a look; less so
		// when the role routinely serves in-house patients (laboratory).
		x[FVIPOutsideCare] = outside * max(0.6, unexplainedRel)
	}
	if pat.Employee {
		// Staff are many and are treated here: only accesses that the
		// user's role does not usually have count.
		x[FEmployeeOutsideCare] = outside * unexplainedRel
	}
	if patKnown && u.known {
		near := max(outside, 0.25)
		ua, pa := u.info.Addr, pat.Addr
		sameCity := ua.City != "" && ua.City == pa.City || ua.Postal != "" && ua.Postal == pa.Postal
		switch {
		case ua.Line != "" && ua.Line == pa.Line && sameCity:
			x[FSameAddress] = near
		case ua.Street != "" && ua.Street == pa.Street && sameCity:
			x[FSameStreet] = near
		}
		if u.info.Family != "" && u.info.Family == pat.Family {
			x[FSameSurname] = near
		}
	}

	// Time of day against the user's profile (the role's as a prior).
	if hour >= 0 {
		var best, ph float64
		for h := range 24 {
			v := u.hours[h] + p.HourPrior*(ro.hours[h]+0.1)/(ro.hourTotal+2.4)
			if h == hour {
				ph = v
			}
			best = max(best, v)
		}
		if best > 0 {
			x[FOffHours] = min(math.Log(best/ph), 8)
		}
	}

	// Network.
	net := network(e.Addr)
	if net != "" {
		if u.events >= p.MinHistory {
			if _, ok := u.nets[net]; !ok {
				x[FNetNewUser] = 1
			}
			if _, ok := u.addrs[e.Addr]; !ok {
				x[FAddrNewUser] = 1
			}
		}
		if s.nets.total >= 1000 {
			x[FNetRareOrg] = s.nets.surprisal(orgNetwork(e.Addr, net), 0.5)
		}
	}

	// Failures.
	nFailed := u.failed.count(t, 3600)
	if e.Failed() {
		x[FDenied] = 1
		nFailed++
	}
	x[FDeniedHour] = math.Log1p(float64(nFailed))

	// Break-glass.
	bgKey := "0"
	if e.BreakGlass() {
		bgKey = "1"
		x[FBreakGlass] = 1
		bd := ro.bgDept[u.info.Dept]
		if bd == nil {
			bd = &freq{}
		}
		// Surprisal against the role in this department, tempered by the
		// role overall.
		x[FBreakGlassSurprisal] = min(bd.surprisal("1", p.Smoothing), ro.bg.surprisal("1", p.Smoothing)+1)
		if e.Patient != "" {
			x[FBreakGlassOutsideCare] = outside
		}
		x[FBreakGlass7d] = math.Log1p(float64(u.bg.count(t, 7*86400)))
	}

	// Bulk access.
	if e.Op == OpExport {
		x[FExport] = 1
		x[FExportSurprisal] = ro.export.surprisal("1", p.Smoothing)
	}
	isSearch := e.Op == OpSearch || e.Op == OpExport
	var size float64
	if isSearch && e.Count >= 0 {
		size = math.Log10(1 + float64(e.Count))
		x[FSearchSizeZ] = min(max(ro.sizes.z(size, 0.3), 0), 10)
	}
	nSearch := u.search.count(t, 3600)
	if isSearch {
		nSearch++
		x[FSearchesHour] = math.Log1p(float64(nSearch))
	}

	// Volume against the user's own hours and the role's days.
	nRecent := u.recent.count(t, 3600) + 1
	if u.events >= p.MinHistory {
		x[FVolumeHourZ] = min(max(u.hourly.z(float64(nRecent), 3), 0), 10)
	}
	if day != u.day {
		if u.day > -1<<61 && len(u.today) > 0 {
			ro.daily.add(float64(len(u.today)))
			u.daily.add(float64(len(u.today)))
		}
		u.day = day
		clear(u.today)
	}
	if e.Patient != "" {
		u.today[e.Patient] = struct{}{}
	}
	// Patients today against the role's days, and against the user's own
	// once they have a week of history (busy people stay busy).
	pz := min(max(ro.daily.z(float64(len(u.today)), 3), 0), 10)
	if len(u.daily.vals) >= 5 {
		pz = min(pz, max(u.daily.z(float64(len(u.today)), 3), 0))
	}
	x[FPatientsTodayZ] = pz
	// Distinct patients opened without an explaining relationship in the
	// last two hours: browsing comes in bursts.
	if u.unexplN == nil {
		u.unexplN = map[string]int{}
	}
	k := 0
	for k < len(u.unexpl) && u.unexpl[k].t < t-7200 {
		if u.unexplN[u.unexpl[k].patient]--; u.unexplN[u.unexpl[k].patient] == 0 {
			delete(u.unexplN, u.unexpl[k].patient)
		}
		k++
	}
	u.unexpl = u.unexpl[k:]
	if e.Patient != "" && (x[FRelSurprisal] >= p.Unexplained || rel == RelNone) {
		u.unexpl = append(u.unexpl, unexplained{t, e.Patient})
		u.unexplN[e.Patient]++
	}
	if n := len(u.unexplN); n > 1 {
		x[FUnexplained2h] = math.Log(float64(n))
	}

	// Learn from e.
	u.events++
	if hour >= 0 {
		u.hours[hour]++
		ro.hours[hour]++
		ro.hourTotal++
		hr := t / 3600
		if hr != u.curHour {
			if u.hourN > 0 {
				u.hourly.add(float64(u.hourN))
			}
			u.curHour, u.hourN = hr, 0
		}
		u.hourN++
	}
	if net != "" {
		u.nets[net] = struct{}{}
		u.addrs[e.Addr] = struct{}{}
		s.nets.add(orgNetwork(e.Addr, net))
	}
	u.recent.add(t)
	if e.Failed() {
		u.failed.add(t)
	}
	if isSearch {
		u.search.add(t)
		if e.Count >= 0 {
			ro.sizes.add(size)
		}
	}
	if e.Patient != "" && rel != RelUnknown {
		ro.rel[rel]++
		ro.relTotal++
	}
	ro.types.add(typeKey)
	bd := ro.bgDept[u.info.Dept]
	if bd == nil {
		bd = &freq{}
		ro.bgDept[u.info.Dept] = bd
	}
	bd.add(bgKey)
	ro.bg.add(bgKey)
	if bgKey == "1" {
		u.bg.add(t)
	}
	if e.Op == OpExport {
		ro.export.add("1")
	} else {
		ro.export.add("0")
	}
	u.lastT = t
	return rel, u
}

// hourProfile returns the user's usual working span as "HH:00–HH:00" (the
// shortest span holding 90% of their accesses), or "" without history.
func (u *userState) usualHours() string {
	total := 0.0
	for _, v := range u.hours {
		total += v
	}
	if total < 20 {
		return ""
	}
	bestLen, bestStart := 25, 0
	for start := range 24 {
		acc := 0.0
		for l := 1; l <= 24; l++ {
			acc += u.hours[(start+l-1)%24]
			if acc >= 0.9*total {
				if l < bestLen {
					bestLen, bestStart = l, start
				}
				break
			}
		}
	}
	return time.Date(0, 1, 1, bestStart, 0, 0, 0, time.UTC).Format("15:04") + "–" +
		time.Date(0, 1, 1, (bestStart+bestLen)%24, 0, 0, 0, time.UTC).Format("15:04")
}
