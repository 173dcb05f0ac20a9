package synth

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"unicode"
)

// org is the managing organization and its staff: shared by every patient
// of a population and derived from the organization's name alone.
type org struct {
	name      string
	slug      string // DNS label made of the name
	mrnPrefix string
	sysMRN    string // identifier system of the medical record numbers
	sysRole   string // identifier system of the practitioner roles
	fullURL   string
	st        *state
	city      city
	entry     raw // pre-encoded bundle entry
	staff     []*practitioner
	bySpec    [numSpecs][]*practitioner
}

type specialty int

const (
	specFamily specialty = iota
	specInternal
	specPediatrics
	specEmergency
	specCardiology
	specEndocrinology
	specPulmonology
	specSurgery
	specNurse
	numSpecs
)

var specDefs = [numSpecs]struct {
	n    int // staff of this specialty
	code code
}{
	specFamily:        {6, sct("419772000", "Family practice")},
	specInternal:      {4, sct("419192003", "Internal medicine")},
	specPediatrics:    {4, sct("394537008", "Pediatric specialty")},
	specEmergency:     {4, sct("773568002", "Emergency medicine")},
	specCardiology:    {2, sct("394579002", "Cardiology")},
	specEndocrinology: {1, sct("394583002", "Endocrinology")},
	specPulmonology:   {1, sct("418112009", "Pulmonary medicine")},
	specSurgery:       {2, sct("394609007", "General surgery")},
	specNurse:         {4, code{}},
}

// practitioner is a staff member, with a PractitionerRole at the
// organization.
type practitioner struct {
	index   int
	fullURL string
	roleURL string
	display string
	entry   raw // Practitioner and PractitionerRole entries, pre-encoded
}

// raw is pre-encoded JSON, spliced into a bundle as is.
type raw []byte

// rngFor returns a generator seeded from a string, independent of any
// Options.Seed.
func rngFor(s string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(s))
	s1 := mix(h.Sum64())
	return rand.New(rand.NewPCG(s1, mix(s1+0x9e3779b97f4a7c15)))
}

// mix is the SplitMix64 finalizer: it spreads nearby seeds apart.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// newUUID draws a random (version 4) UUID as a urn:uuid.
func newUUID(r *rand.Rand) string {
	a := r.Uint64()&^0xf000 | 0x4000
	b := r.Uint64()&^(0xc<<60) | 0x8<<60
	var buf [45]byte
	n := copy(buf[:], "urn:uuid:")
	put := func(v uint64, shift, digits int) {
		for i := digits - 1; i >= 0; i-- {
			buf[n+i] = hexDigits[(v>>(shift+4*(digits-1-i)))&0xf]
		}
		n += digits
	}
	put(a, 32, 8)
	buf[n] = '-'
	n++
	put(a, 16, 4)
	buf[n] = '-'
	n++
	put(a, 0, 4)
	buf[n] = '-'
	n++
	put(b, 48, 4)
	buf[n] = '-'
	n++
	put(b, 0, 12)
	return string(buf[:n])
}

// npi draws a National Provider Identifier: a leading 1 (individual) or
// 2 (organization), eight digits and the Luhn check digit computed with
// the 80840 prefix, as the NPI standard specifies.
func npi(r *rand.Rand, lead int) string {
	d := make([]int, 9)
	d[0] = lead
	for i := 1; i < 9; i++ {
		d[i] = r.IntN(10)
	}
	sum := 24 // the prefix 80840's contribution
	for i := 0; i < 9; i++ {
		v := d[i]
		if i%2 == 0 { // every other digit from the rightmost of the nine
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	var sb strings.Builder
	for _, v := range d {
		sb.WriteByte(byte('0' + v))
	}
	sb.WriteByte(byte('0' + (10-sum%10)%10))
	return sb.String()
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// phone draws a fictional number: 555-0100 to 555-0199 is reserved for
// fiction in every North American area code.
func phone(r *rand.Rand, area string) string {
	return fmt.Sprintf("(%s) 555-01%02d", area, r.IntN(100))
}

func streetLine(r *rand.Rand) string {
	return fmt.Sprintf("%d %s %s", 1+r.IntN(9899), pick(r, streetNames), pick(r, streetKinds))
}

func postalCode(r *rand.Rand, c city) string {
	return fmt.Sprintf("%s%02d", c.zip, 1+r.IntN(98))
}

func address(use string, lines []string, c city, st *state, zip string) obj {
	ls := make(arr, len(lines))
	for i, l := range lines {
		ls[i] = l
	}
	return obj{{"use", use}, {"type", "both"}, {"line", ls}, {"city", c.name}, {"state", st.code},
		{"postalCode", zip}, {"country", "US"}}
}

// slugOf makes a DNS label of a name: ASCII letters and digits, lower
// case, words joined by hyphens, at most 40 characters.
func slugOf(name string) string {
	var sb strings.Builder
	dash := false
	for _, c := range foldASCII(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			dash = false
			sb.WriteRune(c)
		case c >= 'A' && c <= 'Z':
			if dash && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			dash = false
			sb.WriteRune(unicode.ToLower(c))
		default:
			dash = true
		}
		if sb.Len() >= 40 {
			break
		}
	}
	s := strings.Trim(sb.String(), "-")
	if s == "" {
		h := fnv.New32a()
		h.Write([]byte(name))
		s = fmt.Sprintf("org-%08x", h.Sum32())
	}
	return s
}

// initials are the upper-case initials of a name's words, used as the
// medical record number prefix.
func initials(name string) string {
	var sb strings.Builder
	for _, w := range strings.Fields(foldASCII(name)) {
		if c := w[0]; c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			sb.WriteRune(unicode.ToUpper(rune(c)))
		}
		if sb.Len() == 4 {
			break
		}
	}
	if sb.Len() < 2 {
		return "MR"
	}
	return sb.String()
}

var asciiFolder = strings.NewReplacer(
	"á", "a", "é", "e", "í", "i", "ó", "o", "ú", "u", "ñ", "n", "ü", "u",
	"Á", "A", "É", "E", "Í", "I", "Ó", "O", "Ú", "U", "Ñ", "N", "'", "")

// foldASCII removes the accents the name tables use, for mail addresses
// and DNS labels.
func foldASCII(s string) string { return asciiFolder.Replace(s) }

func newOrg(name string) *org {
	r := rngFor("synth/org/" + name)
	o := &org{name: name, slug: slugOf(name), mrnPrefix: initials(name)}
	base := "https://" + o.slug + ".example.org/fhir/sid/"
	o.sysMRN = base + "mrn"
	o.sysRole = base + "practitioner-role"
	o.fullURL = newUUID(r)
	o.st = &states[r.IntN(len(states))]
	o.city = o.st.cities[0]
	orgNPI := npi(r, 2)
	line := streetLine(r)
	zip := postalCode(r, o.city)
	res := obj{
		{"resourceType", "Organization"},
		{"identifier", arr{obj{{"system", sysNPI}, {"value", orgNPI}}}},
		{"active", true},
		{"type", ccs(code{sysOrgType, "prov", "Healthcare Provider"})},
		{"name", name},
		{"telecom", arr{obj{{"system", "phone"}, {"value", phone(r, o.city.area)}, {"use", "work"}}}},
		{"address", arr{address("work", []string{line}, o.city, o.st, zip)}},
	}
	o.entry = raw(appendJSON(nil, entry(o.fullURL, res, "identifier="+sysNPI+"|"+orgNPI)))

	for s := range numSpecs {
		for range specDefs[s].n {
			p := o.newPractitioner(r, s, len(o.staff), zip, line)
			o.staff = append(o.staff, p)
			o.bySpec[s] = append(o.bySpec[s], p)
		}
	}
	return o
}

func (o *org) newPractitioner(r *rand.Rand, s specialty, index int, zip, line string) *practitioner {
	p := &practitioner{index: index, fullURL: newUUID(r), roleURL: newUUID(r)}
	cul := pickCulture(r)
	female := r.IntN(2) == 0
	born := 1950 + r.IntN(45)
	given := givenName(r, cul, female, born)
	family := pick(r, cul.family)
	gender := "male"
	if female {
		gender = "female"
	}
	id := npi(r, 1)
	name := obj{{"use", "official"}, {"family", family}, {"given", arr{given}}}
	var qual obj
	roleCode := code{sysPracRole, "doctor", "Doctor"}
	if s == specNurse {
		p.display = given + " " + family + ", RN"
		name = append(name, kv{"text", p.display}, kv{"suffix", arr{"RN"}})
		qual = obj{{"code", cc(code{sysV2Degree, "RN", "Registered Nurse"})}}
		roleCode = code{sysPracRole, "nurse", "Nurse"}
	} else {
		p.display = "Dr. " + given + " " + family
		name = append(name, kv{"text", p.display}, kv{"prefix", arr{"Dr."}}, kv{"suffix", arr{"MD"}})
		qual = obj{{"code", cc(code{sysV2Degree, "MD", "Doctor of Medicine"})}}
	}
	mail := strings.ToLower(foldASCII(given)+"."+foldASCII(family)) + "@" + o.slug + ".example.org"
	mail = strings.ReplaceAll(mail, " ", "")
	res := obj{
		{"resourceType", "Practitioner"},
		{"identifier", arr{obj{{"system", sysNPI}, {"value", id}}}},
		{"active", true},
		{"name", arr{name}},
		{"telecom", arr{
			obj{{"system", "phone"}, {"value", phone(r, o.city.area)}, {"use", "work"}},
			obj{{"system", "email"}, {"value", mail}, {"use", "work"}},
		}},
		{"address", arr{address("work", []string{line}, o.city, o.st, zip)}},
		{"gender", gender},
		{"qualification", arr{qual}},
	}
	role := obj{
		{"resourceType", "PractitionerRole"},
		{"identifier", arr{obj{{"system", o.sysRole}, {"value", "PR-" + id}}}},
		{"active", true},
		{"practitioner", refd(p.fullURL, p.display)},
		{"organization", refd(o.fullURL, o.name)},
		{"code", ccs(roleCode)},
	}
	if s != specNurse {
		role = append(role, kv{"specialty", ccs(specDefs[s].code)})
	}
	b := appendJSON(nil, entry(p.fullURL, res, "identifier="+sysNPI+"|"+id))
	b = append(b, ',')
	b = appendJSON(b, entry(p.roleURL, role, "identifier="+o.sysRole+"|PR-"+id))
	p.entry = raw(b)
	return p
}

// entry is a transaction entry that creates res; with ifNoneExist, only
// if no resource matches that search.
func entry(fullURL string, res obj, ifNoneExist string) obj {
	return obj{
		{"fullUrl", fullURL},
		{"resource", res},
		{"request", obj{{"method", "POST"}, {"url", res[0].v.(string)}, {"ifNoneExist", ifNoneExist}}},
	}
}

func pickCulture(r *rand.Rand) *culture {
	total := 0.0
	for i := range cultures {
		total += cultures[i].weight
	}
	x := r.Float64() * total
	for i := range cultures {
		x -= cultures[i].weight
		if x < 0 {
			return &cultures[i]
		}
	}
	return &cultures[0]
}

func givenName(r *rand.Rand, c *culture, female bool, born int) string {
	switch {
	case female && born >= 1980:
		return pick(r, c.femaleNow)
	case female:
		return pick(r, c.female)
	case born >= 1980:
		return pick(r, c.maleNow)
	default:
		return pick(r, c.male)
	}
}
