package search

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// synth makes deterministic synthetic resources for tests and benchmarks:
// resource i is a Patient when i%10 == 0 and otherwise an Observation of
// that patient, so n resources hold n/10 patients with 9 observations each.
type synth struct {
	seed uint64
	r    *rand.Rand // for queries and test choices; resource(i) does not use it
}

func newSynth(seed uint64) *synth {
	return &synth{seed: seed, r: rand.New(rand.NewPCG(seed, 99))}
}

var (
	families = []string{"Smith", "Smithson", "Smythe", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
		"Davis", "Rodriguez", "Martinez", "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
		"Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez",
		"Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill",
		"Flores", "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
		"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
		"Dubois", "Lefèvre", "Moreau", "Laurent", "Simon", "Michel", "García", "Fernández", "González", "Rossi",
		"Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
		"Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
		"Jensen", "Nielsen", "Hansen", "Pedersen", "Andersen", "Larsen", "Sørensen", "Rasmussen", "Jørgensen"}
	givens = []string{"James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
		"Elizabeth", "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles",
		"Karen", "Christopher", "Nancy", "Daniel", "Lisa", "Matthew", "Betty", "Anthony", "Margaret", "Mark",
		"Sandra", "Donald", "Ashley", "Steven", "Kimberly", "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle",
		"Zoë", "Renée", "José", "Jörg", "Åsa", "Björn", "Chloé", "Inês", "Łucja", "Søren"}
	cities = []string{"Springfield", "Zürich", "Genève", "Lyon", "Kraków", "Århus", "Boston", "Portland", "Madrid", "Köln"}
	loinc  = [][2]string{{"8867-4", "Heart rate"}, {"8310-5", "Body temperature"}, {"8480-6", "Systolic blood pressure"},
		{"8462-4", "Diastolic blood pressure"}, {"29463-7", "Body weight"}, {"8302-2", "Body height"},
		{"39156-5", "Body mass index"}, {"9279-1", "Respiratory rate"}, {"2708-6", "Oxygen saturation"},
		{"2339-0", "Glucose"}, {"2093-3", "Cholesterol"}, {"4548-4", "Hemoglobin A1c"}, {"718-7", "Hemoglobin"},
		{"6690-2", "Leukocytes"}, {"777-3", "Platelets"}, {"2160-0", "Creatinine"}, {"2951-2", "Sodium"},
		{"2823-3", "Potassium"}, {"1742-6", "ALT"}, {"1920-8", "AST"}}
)

func (g *synth) rng(i int) *rand.Rand { return rand.New(rand.NewPCG(g.seed, uint64(i))) }

// resource returns resource i; the same i always gives the same resource.
func (g *synth) resource(i int) (typ, id string, tree map[string]any) {
	r := g.rng(i)
	pid := fmt.Sprintf("pat-%d", i/10)
	if i%10 == 0 {
		given := []any{givens[r.IntN(len(givens))]}
		if r.IntN(3) == 0 {
			given = append(given, givens[r.IntN(len(givens))])
		}
		return "Patient", pid, map[string]any{
			"resourceType": "Patient", "id": pid, "active": true,
			"gender":    []string{"male", "female", "other", "unknown"}[r.IntN(4)],
			"birthDate": fmt.Sprintf("%04d-%02d-%02d", 1930+r.IntN(91), 1+r.IntN(12), 1+r.IntN(28)),
			"name":      []any{map[string]any{"use": "official", "family": families[r.IntN(len(families))], "given": given}},
			"identifier": []any{
				map[string]any{"system": "urn:oid:1.2.36.146.595.217.0.1", "value": fmt.Sprintf("MRN-%07d", i/10),
					"type": map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}}}},
				map[string]any{"system": "http://hl7.org/fhir/sid/us-ssn", "value": fmt.Sprintf("%09d", r.IntN(1e9))},
			},
			"telecom": []any{map[string]any{"system": "phone", "value": fmt.Sprintf("+1-555-%04d", r.IntN(1e4)), "use": "home"}},
			"address": []any{map[string]any{"line": []any{fmt.Sprintf("%d Main St", 1+r.IntN(999))},
				"city": cities[r.IntN(len(cities))], "postalCode": fmt.Sprintf("%05d", r.IntN(1e5))}},
		}
	}
	id = fmt.Sprintf("obs-%d", i)
	c := loinc[r.IntN(len(loinc))]
	cat := "vital-signs"
	if r.IntN(2) == 0 {
		cat = "laboratory"
	}
	tree = map[string]any{
		"resourceType": "Observation", "id": id,
		"status":        []string{"final", "final", "final", "amended", "preliminary"}[r.IntN(5)],
		"category":      []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": cat}}}},
		"code":          map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": c[0], "display": c[1]}}, "text": c[1]},
		"subject":       map[string]any{"reference": "Patient/" + pid},
		"encounter":     map[string]any{"reference": fmt.Sprintf("Encounter/enc-%d", i/3)},
		"valueQuantity": map[string]any{"value": r.IntN(200), "unit": "1", "system": "http://unitsofmeasure.org", "code": "1"},
	}
	when := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d+01:00", 2010+r.IntN(15), 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
	switch r.IntN(10) {
	case 0:
		tree["effectivePeriod"] = map[string]any{"start": when}
	case 1:
		tree["effectiveInstant"] = when
	default:
		tree["effectiveDateTime"] = when
	}
	return "Observation", id, tree
}

// query returns a random query over what resource makes, mixing every
// kind, modifier, OR, AND, sort and paging; some are malformed on purpose.
func (g *synth) query() (typ, raw string) {
	r := g.r
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	date := func() string {
		return pick("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap") +
			pick("2015", "2020-03", "2018-06-15", "2021-01-01T10:00", "2019-07-04T12:30:00Z", "1970", "1985-02", "1960-01-01", "bad")
	}
	var parts []string
	if r.IntN(2) == 0 {
		typ = "Patient"
		for range 1 + r.IntN(3) {
			switch r.IntN(9) {
			case 0:
				parts = append(parts, pick("name", "family", "given", "name:exact", "name:contains", "family:missing")+"="+
					pick("smi", "Smith", "müller", "MULL", "jo", "zo", "sø", "er", "true", "false", "x"))
			case 1:
				parts = append(parts, "birthdate="+date())
			case 2:
				parts = append(parts, pick("gender", "gender:not")+"="+pick("male", "female", "male,female", "other", "|male"))
			case 3:
				parts = append(parts, pick("identifier", "identifier:not")+"="+
					pick(fmt.Sprintf("urn:oid:1.2.36.146.595.217.0.1|MRN-%07d", r.IntN(300)), "http://hl7.org/fhir/sid/us-ssn|", fmt.Sprintf("MRN-%07d", r.IntN(300))))
			case 4:
				parts = append(parts, "_id="+fmt.Sprintf("pat-%d,pat-%d", r.IntN(300), r.IntN(300)))
			case 5:
				parts = append(parts, "_sort="+pick("family", "-family", "birthdate", "-birthdate", "_lastUpdated", "-_id", "given,-birthdate"))
			case 6:
				parts = append(parts, "address-city="+pick("zur", "Köln", "spring", "a"))
			case 7:
				parts = append(parts, "_lastUpdated="+date())
			default:
				parts = append(parts, "phone:missing="+pick("true", "false"))
			}
		}
	} else {
		typ = "Observation"
		for range 1 + r.IntN(3) {
			switch r.IntN(9) {
			case 0:
				parts = append(parts, pick("patient", "subject", "subject:Patient", "patient:missing")+"="+
					pick(fmt.Sprintf("pat-%d", r.IntN(300)), fmt.Sprintf("Patient/pat-%d", r.IntN(300)), fmt.Sprintf("pat-%d,pat-%d", r.IntN(300), r.IntN(300)), "true"))
			case 1:
				c := loinc[r.IntN(len(loinc))][0]
				parts = append(parts, pick("code", "code:not")+"="+pick("http://loinc.org|"+c, c, "http://loinc.org|", "|"+c, c+","+loinc[r.IntN(len(loinc))][0]))
			case 2:
				parts = append(parts, "date="+date())
			case 3:
				parts = append(parts, pick("status", "status:not")+"="+pick("final", "amended,preliminary"))
			case 4:
				parts = append(parts, "code:text="+pick("body", "heart", "HEMO", "x"))
			case 5:
				parts = append(parts, "_sort="+pick("date", "-date", "-_lastUpdated", "code,-date", "patient"))
			case 6:
				parts = append(parts, "_include=Observation:"+pick("patient", "subject", "subject:Patient", "encounter"))
			case 7:
				parts = append(parts, "encounter="+fmt.Sprintf("enc-%d", r.IntN(1000)))
			default:
				parts = append(parts, "category="+pick("laboratory", "vital-signs", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"))
			}
		}
	}
	parts = append(parts, fmt.Sprintf("_count=%d", pick2(r, 0, 1, 10, 50)), fmt.Sprintf("_offset=%d", pick2(r, 0, 0, 5, 40)))
	return typ, strings.Join(parts, "&")
}

func pick2(r *rand.Rand, xs ...int) int { return xs[r.IntN(len(xs))] }
