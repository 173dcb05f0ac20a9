package synth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/fhir"
)

// testBundle is a generated bundle, decoded for inspection.
type testBundle struct {
	raw     []byte
	entries []testEntry
	byURL   map[string]*testEntry
	patient *fhir.Resource
	birth   time.Time
	death   time.Time // zero if alive
}

type testEntry struct {
	fullURL string
	method  string
	url     string
	ifNone  string
	res     *fhir.Resource
}

func decodeBundle(t *testing.T, b []byte) *testBundle {
	t.Helper()
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string          `json:"fullUrl"`
			Resource json.RawMessage `json:"resource"`
			Request  struct {
				Method      string `json:"method"`
				URL         string `json:"url"`
				IfNoneExist string `json:"ifNoneExist"`
			} `json:"request"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil {
		t.Fatalf("bundle is not JSON: %v", err)
	}
	if bundle.ResourceType != "Bundle" || bundle.Type != "transaction" {
		t.Fatalf("bundle is a %s of type %q; want a transaction Bundle", bundle.ResourceType, bundle.Type)
	}
	tb := &testBundle{raw: b, byURL: map[string]*testEntry{}}
	for _, e := range bundle.Entry {
		r, err := fhir.Parse(e.Resource)
		if err != nil {
			t.Fatalf("entry %s: fhir.Parse: %v", e.FullURL, err)
		}
		tb.entries = append(tb.entries, testEntry{e.FullURL, e.Request.Method, e.Request.URL, e.Request.IfNoneExist, r})
	}
	for i := range tb.entries {
		e := &tb.entries[i]
		if tb.byURL[e.fullURL] != nil {
			t.Fatalf("fullUrl %s is used twice", e.fullURL)
		}
		tb.byURL[e.fullURL] = e
		if e.res.Type == "Patient" {
			if tb.patient != nil {
				t.Fatal("two Patients in a bundle")
			}
			tb.patient = e.res
			tb.birth = mustTime(t, str(e.res.Tree, "birthDate"))
			if d := str(e.res.Tree, "deceasedDateTime"); d != "" {
				tb.death = mustTime(t, d)
			}
		}
	}
	if tb.patient == nil {
		t.Fatal("no Patient in the bundle")
	}
	return tb
}

// get follows a path of object keys and array indexes ("name.0.given").
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path string) string {
	s, _ := get(v, path).(string)
	return s
}

func num(v any, path string) float64 {
	n, _ := get(v, path).(json.Number)
	f, _ := n.Float64()
	return f
}

var (
	reDate     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	reDateTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)
	reUUID     = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := parseFHIRTime(s)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return tm
}

// parseFHIRTime parses a full date or a dateTime with seconds and zone,
// rejecting days that do not exist.
func parseFHIRTime(s string) (time.Time, error) {
	switch {
	case reDate.MatchString(s):
		return time.Parse(layoutDate, s)
	case reDateTime.MatchString(s):
		return time.Parse(time.RFC3339, s)
	}
	return time.Time{}, fmt.Errorf("not a date or dateTime")
}

// dateKeys are the element names whose values are dates, dateTimes or
// instants in the generated resources.
var dateKeys = map[string]bool{
	"birthDate": true, "deceasedDateTime": true, "start": true, "end": true, "onsetDateTime": true,
	"abatementDateTime": true, "recordedDate": true, "effectiveDateTime": true, "issued": true,
	"authoredOn": true, "occurrenceDateTime": true, "recorded": true, "date": true,
	"dateAsserted": true, "created": true, "creation": true,
}

// walk calls f for every object member in v, depth first.
func walk(v any, f func(key string, val any)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			f(k, val)
			walk(val, f)
		}
	case []any:
		for _, val := range x {
			walk(val, f)
		}
	}
}

func generate(t testing.TB, o Options) [][]byte {
	t.Helper()
	var out [][]byte
	for b, err := range Patients(o) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	if len(out) != o.N {
		t.Fatalf("Patients(N=%d) gave %d bundles", o.N, len(out))
	}
	return out
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		o    Options
		errs int
	}{
		{Options{}, 0},
		{Options{N: 10, Seed: -5, Now: time.Date(2030, 6, 1, 12, 0, 0, 0, time.FixedZone("x", 3600)), Org: "Clínica San José", Years: 30}, 0},
		{Options{N: -1}, 1},
		{Options{Years: -1}, 1},
		{Options{Years: 101}, 1},
		{Options{Now: time.Date(1850, 1, 1, 0, 0, 0, 0, time.UTC)}, 1},
		{Options{Org: " padded"}, 1},
		{Options{Org: "bad\x00name"}, 1},
		{Options{Org: "bad\xffutf8"}, 1},
		{Options{Org: strings.Repeat("x", 201)}, 1},
		{Options{N: -1, Years: -1, Org: "\t"}, 3},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		n := 0
		if err != nil {
			if !errors.Is(err, ErrOptions) {
				t.Errorf("%+v.Validate() = %v; does not wrap ErrOptions", tt.o, err)
			}
			n = strings.Count(err.Error(), "synth: invalid options")
		}
		if n != tt.errs {
			t.Errorf("%+v.Validate() = %v; want %d problems", tt.o, err, tt.errs)
		}
	}
	n := 0
	for b, err := range Patients(Options{N: -3}) {
		n++
		if b != nil || !errors.Is(err, ErrOptions) {
			t.Errorf("Patients(invalid) yielded (%d bytes, %v); want (nil, ErrOptions)", len(b), err)
		}
	}
	if n != 1 {
		t.Errorf("Patients(invalid) yielded %d times; want 1", n)
	}
	if _, err := New(Options{N: -1}); !errors.Is(err, ErrOptions) {
		t.Errorf("New(invalid) error = %v; want ErrOptions", err)
	}
}

func TestDeterministic(t *testing.T) {
	o := Options{N: 40, Seed: 42}
	a, b := generate(t, o), generate(t, o)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("patient %d differs between two runs with the same options", i)
		}
	}

	// A shorter run is a prefix of a longer one.
	short := generate(t, Options{N: 5, Seed: 42})
	for i := range short {
		if !bytes.Equal(short[i], a[i]) {
			t.Errorf("patient %d of N=5 differs from patient %d of N=40", i, i)
		}
	}

	// Concurrent generation gives the same bundles.
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	par := make([][]byte, o.N)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < o.N; i += 4 {
				par[i], _ = g.Patient(i)
			}
		})
	}
	wg.Wait()
	for i := range par {
		if !bytes.Equal(par[i], a[i]) {
			t.Errorf("patient %d generated concurrently differs", i)
		}
	}

	// The default reference date is fixed, not the clock.
	explicit := generate(t, Options{N: 3, Seed: 42, Now: defaultNow, Org: DefaultOrg, Years: DefaultYears})
	for i := range explicit {
		if !bytes.Equal(explicit[i], a[i]) {
			t.Errorf("patient %d with explicit defaults differs from zero Options", i)
		}
	}
}

func TestDifferentInputsDiffer(t *testing.T) {
	base := generate(t, Options{N: 20, Seed: 1})
	for _, o := range []Options{
		{N: 20, Seed: 2},
		{N: 20, Seed: 1, Now: defaultNow.AddDate(0, 0, 1)},
		{N: 20, Seed: 1, Org: "Riverside Community Health"},
		{N: 20, Seed: 1, Years: 3},
	} {
		other := generate(t, o)
		same := 0
		for i := range base {
			if bytes.Equal(base[i], other[i]) {
				same++
			}
		}
		// Only a shorter history leaves the youngest children unchanged.
		if same > 0 && o.Years == 0 || same > len(base)/4 {
			t.Errorf("%+v: %d of %d patients equal those of the base options", o, same, len(base))
		}
	}
	// Different seeds give different people.
	names := map[string]bool{}
	for _, seed := range []int64{1, 2} {
		for _, b := range generate(t, Options{N: 20, Seed: seed}) {
			id, err := Identify(b)
			if err != nil {
				t.Fatal(err)
			}
			names[id.Identifiers[1].Value] = true
		}
	}
	if len(names) != 40 {
		t.Errorf("40 patients of two seeds have %d distinct SSNs; want 40", len(names))
	}
}

// required lists the elements every generated resource of a type has:
// those FHIR R4 requires and those a consumer of the records relies on.
var required = map[string][]string{
	"AllergyIntolerance":  {"patient.reference", "code.coding.0.code", "clinicalStatus.coding.0.code", "recordedDate"},
	"CarePlan":            {"status", "intent", "subject.reference", "addresses.0.reference", "activity.0.detail.status"},
	"CareTeam":            {"status", "subject.reference", "participant.0.member.reference", "reasonReference.0.reference"},
	"Condition":           {"subject.reference", "code.coding.0.code", "clinicalStatus.coding.0.code", "verificationStatus.coding.0.code", "onsetDateTime", "recordedDate"},
	"DiagnosticReport":    {"status", "code.coding.0.code", "subject.reference", "encounter.reference", "result.0.reference", "effectiveDateTime", "issued"},
	"DocumentReference":   {"status", "type.coding.0.code", "subject.reference", "content.0.attachment.data", "content.0.attachment.contentType", "context.encounter.0.reference"},
	"Encounter":           {"status", "class.code", "type.0.coding.0.code", "subject.reference", "period.start", "period.end", "participant.0.individual.reference", "serviceProvider.reference"},
	"Immunization":        {"status", "vaccineCode.coding.0.code", "patient.reference", "occurrenceDateTime", "recorded"},
	"MedicationRequest":   {"status", "intent", "subject.reference", "medicationCodeableConcept.coding.0.code", "authoredOn", "requester.reference", "reasonReference.0.reference", "dosageInstruction.0.text"},
	"MedicationStatement": {"status", "subject.reference", "medicationCodeableConcept.coding.0.code", "effectivePeriod.start"},
	"Observation":         {"status", "code.coding.0.code", "category.0.coding.0.code", "subject.reference", "encounter.reference", "effectiveDateTime", "issued"},
	"Organization":        {"name", "identifier.0.value"},
	"Patient":             {"identifier.1.value", "name.0.family", "name.0.given.0", "gender", "birthDate", "address.0.line.0", "address.0.postalCode", "telecom.0.value", "maritalStatus.coding.0.code", "communication.0.language.coding.0.code", "generalPractitioner.0.reference", "managingOrganization.reference"},
	"Practitioner":        {"identifier.0.value", "name.0.family", "qualification.0.code.coding.0.code"},
	"PractitionerRole":    {"practitioner.reference", "organization.reference", "code.0.coding.0.code"},
	"Procedure":           {"status", "code.coding.0.code", "subject.reference", "encounter.reference", "performedPeriod.start"},
	"Provenance":          {"target.0.reference", "recorded", "agent.0.who.reference"},
}

// codeSystem is the system each resource's principal code is drawn from.
var codeSystem = map[string]struct{ path, system string }{
	"AllergyIntolerance":  {"code.coding.0.system", sysSNOMED},
	"Condition":           {"code.coding.0.system", sysSNOMED},
	"DiagnosticReport":    {"code.coding.0.system", sysLOINC},
	"Encounter":           {"class.system", sysActCode},
	"Immunization":        {"vaccineCode.coding.0.system", sysCVX},
	"MedicationRequest":   {"medicationCodeableConcept.coding.0.system", sysRxNorm},
	"MedicationStatement": {"medicationCodeableConcept.coding.0.system", sysRxNorm},
	"Observation":         {"code.coding.0.system", sysLOINC},
	"Procedure":           {"code.coding.0.system", sysSNOMED},
}

// checkBundle checks one bundle's structure, content, references and
// dates, and counts its resource types.
func checkBundle(t *testing.T, b []byte, now time.Time, types map[string]int) *testBundle {
	t.Helper()
	tb := decodeBundle(t, b)
	for i := range tb.entries {
		e := &tb.entries[i]
		r := e.res
		where := fmt.Sprintf("%s %s", r.Type, e.fullURL)
		types[r.Type]++
		if !fhir.Supported(r.Type) {
			t.Errorf("%s: unsupported type", where)
		}
		if !reUUID.MatchString(e.fullURL) {
			t.Errorf("%s: fullUrl is not a urn:uuid of a version 4 UUID", where)
		}
		if e.method != "POST" || e.url != r.Type {
			t.Errorf("%s: request is %s %s; want POST %s", where, e.method, e.url, r.Type)
		}
		if r.ID != "" {
			t.Errorf("%s: has an id; a transaction create must not", where)
		}
		switch r.Type {
		case "Organization", "Practitioner", "PractitionerRole":
			want := "identifier=" + str(r.Tree, "identifier.0.system") + "|" + str(r.Tree, "identifier.0.value")
			if e.ifNone != want {
				t.Errorf("%s: ifNoneExist = %q; want %q", where, e.ifNone, want)
			}
		default:
			if e.ifNone != "" {
				t.Errorf("%s: unexpected conditional create", where)
			}
		}
		for _, path := range required[r.Type] {
			if get(r.Tree, path) == nil {
				t.Errorf("%s: %s is missing", where, path)
			}
		}
		if cs, ok := codeSystem[r.Type]; ok && str(r.Tree, cs.path) != cs.system {
			t.Errorf("%s: %s = %q; want %q", where, cs.path, str(r.Tree, cs.path), cs.system)
		}
		check := func(cond bool, format string, args ...any) {
			if !cond {
				t.Errorf("%s: "+format, append([]any{where}, args...)...)
			}
		}
		switch r.Type {
		case "Encounter":
			check(slices.Contains([]string{"AMB", "EMER", "IMP"}, str(r.Tree, "class.code")), "class %q", str(r.Tree, "class.code"))
			check(!mustTime(t, str(r.Tree, "period.end")).Before(mustTime(t, str(r.Tree, "period.start"))), "ends before it starts")
		case "Observation":
			cat := str(r.Tree, "category.0.coding.0.code")
			check(str(r.Tree, "category.0.coding.0.system") == sysObsCat, "category system")
			check(cat == "vital-signs" || cat == "laboratory" || cat == "social-history", "category %q", cat)
			values := 0
			for _, k := range []string{"valueQuantity", "valueCodeableConcept", "component"} {
				if r.Tree[k] != nil {
					values++
				}
			}
			check(values == 1, "has %d kinds of value", values)
			if q, ok := r.Tree["valueQuantity"]; ok {
				check(str(q, "system") == sysUCUM && str(q, "code") != "", "quantity is not UCUM")
			}

		case "DocumentReference":
			data, err := base64.StdEncoding.DecodeString(str(r.Tree, "content.0.attachment.data"))
			check(err == nil && utf8.Valid(data) && len(data) > 50, "attachment is not base64 UTF-8 text")
			check(strings.HasPrefix(str(r.Tree, "content.0.attachment.contentType"), "text/plain"), "attachment is not text/plain")
		case "Practitioner", "Organization":
			check(str(r.Tree, "identifier.0.system") == sysNPI && validNPI(str(r.Tree, "identifier.0.value")), "NPI is invalid")
		case "Patient":
			check(str(r.Tree, "identifier.0.type.coding.0.code") == "MR" && str(r.Tree, "identifier.0.system") != "", "first identifier is not an MRN")
			check(str(r.Tree, "identifier.1.system") == sysSSN && strings.HasPrefix(str(r.Tree, "identifier.1.value"), "9"), "second identifier is not a 9xx SSN")
			check(str(r.Tree, "name.0.use") == "official", "first name is not official")
		}

		// What belongs to an encounter happens during it.
		if enc := tb.byURL[str(r.Tree, "encounter.reference")]; enc != nil && enc.res.Type == "Encounter" {
			start := mustTime(t, str(enc.res.Tree, "period.start"))
			end := mustTime(t, str(enc.res.Tree, "period.end"))
			for _, path := range []string{"effectiveDateTime", "occurrenceDateTime", "authoredOn", "performedPeriod.start", "performedPeriod.end"} {
				if s := str(r.Tree, path); s != "" {
					if tm := mustTime(t, s); tm.Before(start) || tm.After(end) {
						t.Errorf("%s: %s %s is outside its encounter (%s to %s)", where, path, s, start, end)
					}
				}
			}
		}

		// References resolve within the bundle, to a resource of a type
		// that makes sense.
		walk(r.Tree, func(k string, v any) {
			if k != "reference" {
				return
			}
			s, _ := v.(string)
			if tb.byURL[s] == nil {
				t.Errorf("%s: reference %q does not resolve in the bundle", where, s)
			}
		})
		for _, x := range []struct{ path, typ string }{
			{"subject.reference", "Patient"}, {"patient.reference", "Patient"}, {"encounter.reference", "Encounter"},
			{"requester.reference", "Practitioner"}, {"serviceProvider.reference", "Organization"},
			{"managingOrganization.reference", "Organization"}, {"generalPractitioner.0.reference", "Practitioner"},
		} {
			if s := str(r.Tree, x.path); s != "" && tb.byURL[s] != nil && tb.byURL[s].res.Type != x.typ {
				t.Errorf("%s: %s refers to a %s; want %s", where, x.path, tb.byURL[s].res.Type, x.typ)
			}
		}

		// Dates are real, not after Now, within the patient's life.
		walk(r.Tree, func(k string, v any) {
			s, ok := v.(string)
			if !ok || !dateKeys[k] {
				return
			}
			tm, err := parseFHIRTime(s)
			switch {
			case err != nil:
				t.Errorf("%s: %s = %q is not a real date or dateTime: %v", where, k, s, err)
			case tm.After(now):
				t.Errorf("%s: %s = %s is after Now (%s)", where, k, s, now.Format(time.RFC3339))
			case tm.Before(tb.birth):
				t.Errorf("%s: %s = %s is before the birth date", where, k, s)
			case !tb.death.IsZero() && tm.After(tb.death) && r.Type != "Provenance":
				t.Errorf("%s: %s = %s is after death", where, k, s)
			}
		})
	}
	return tb
}

func validNPI(s string) bool {
	if len(s) != 10 {
		return false
	}
	sum := 24
	for i := 0; i < 10; i++ {
		d := int(s[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if i%2 == 0 && i < 9 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}

func TestBundles(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 60
	}
	for _, o := range []Options{
		{N: n, Seed: 7},
		{N: n / 8, Seed: 8, Years: 40, Org: "Clínica Nuestra Señora de la Paz", Now: time.Date(2031, 7, 14, 15, 30, 5, 0, time.UTC)},
	} {
		types := map[string]int{}
		perPatient := 0
		now := o.withDefaults().Now
		for _, b := range generate(t, o) {
			before := types["Organization"] + types["Practitioner"] + types["PractitionerRole"]
			tb := checkBundle(t, b, now, types)
			shared := types["Organization"] + types["Practitioner"] + types["PractitionerRole"] - before
			perPatient += len(tb.entries) - shared
		}
		for _, typ := range fhir.SupportedTypes {
			// Consents are the patient's own decisions, made through the
			// API: synthetic ones would grant or deny real access.
			if types[typ] == 0 && typ != "Consent" {
				t.Errorf("%+v: no %s in %d patients", o, typ, o.N)
			}
		}
		avg := float64(perPatient) / float64(o.N)
		t.Logf("Years=%d: %.1f patient resources per bundle on average; %v", o.withDefaults().Years, avg, types)
		if o.Years == 0 && (avg < 40 || avg > 120) {
			t.Errorf("average %.1f patient resources per bundle; want 40 to 120", avg)
		}
	}
}

// TestLifetime checks that records are clinically coherent over time.
func TestLifetime(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 100
	}
	var diabetics, growthPairs, bmiChecks int
	for _, b := range generate(t, Options{N: n, Seed: 11, Years: 15}) {
		tb := decodeBundle(t, b)
		age := func(s string) float64 { return float64(mustTime(t, s).Sub(tb.birth)) / float64(yearDur) }
		type point struct {
			at time.Time
			v  float64
		}
		var heights []point
		byEnc := map[string]map[string]float64{} // encounter → LOINC → value
		condCode := map[string]string{}          // Condition fullUrl → SNOMED code
		var penicillinOnset []time.Time
		doses := map[string][]point{} // CVX → (occurrence, dose number)
		for _, e := range tb.entries {
			r := e.res.Tree
			switch e.res.Type {
			case "Observation":
				code := str(r, "code.coding.0.code")
				if byEnc[str(r, "encounter.reference")] == nil {
					byEnc[str(r, "encounter.reference")] = map[string]float64{}
				}
				byEnc[str(r, "encounter.reference")][code] = num(r, "valueQuantity.value")
				if code == obsHeight.code {
					heights = append(heights, point{mustTime(t, str(r, "effectiveDateTime")), num(r, "valueQuantity.value")})
				}
				v := num(r, "valueQuantity.value")
				if _, ok := r["valueQuantity"]; ok && (v <= 0 || math.IsInf(v, 0)) {
					t.Errorf("Observation %s has value %v", code, v)
				}
				if code == obsBP.code {
					sys, dia := num(r, "component.0.valueQuantity.value"), num(r, "component.1.valueQuantity.value")
					if sys < 70 || sys > 220 || dia < 40 || dia >= sys {
						t.Errorf("implausible blood pressure %v/%v", sys, dia)
					}
				}
			case "Condition":
				condCode[e.fullURL] = str(r, "code.coding.0.code")
				onset, recorded := mustTime(t, str(r, "onsetDateTime")), mustTime(t, str(r, "recordedDate"))
				if recorded.Before(onset) {
					t.Errorf("Condition %s recorded before its onset", condCode[e.fullURL])
				}
			case "AllergyIntolerance":
				if str(r, "code.coding.0.code") == "764146007" {
					penicillinOnset = append(penicillinOnset, mustTime(t, str(r, "onsetDateTime")))
				}
			case "Immunization":
				a := age(str(r, "occurrenceDateTime"))
				if n := num(r, "protocolApplied.0.doseNumberPositiveInt"); n > 0 {
					cvx := str(r, "vaccineCode.coding.0.code")
					doses[cvx] = append(doses[cvx], point{mustTime(t, str(r, "occurrenceDateTime")), n})
				}
				switch cvx := str(r, "vaccineCode.coding.0.code"); cvx {
				case vHepB.cvx, vDTaP.cvx, vHib.cvx, vIPV.cvx, vPCV13.cvx, vRota.cvx, vMMR.cvx, vVaricela.cvx, vHepA.cvx:
					if a >= 7 {
						t.Errorf("childhood vaccine %s at age %.1f", cvx, a)
					}
				case vZoster.cvx:
					if a < 50 {
						t.Errorf("zoster vaccine at age %.1f", a)
					}
				case vPPSV23.cvx:
					if a < 65 {
						t.Errorf("PPSV23 at age %.1f", a)
					}
				case vFlu.cvx:
					if a < 0.5 {
						t.Errorf("influenza vaccine at age %.1f", a)
					}
				}
			}
		}

		// Doses of a series are given in order, one at a time.
		for cvx, ds := range doses {
			slices.SortFunc(ds, func(a, b point) int { return a.at.Compare(b.at) })
			for i, d := range ds {
				if d.v != float64(i+1) || i > 0 && !d.at.After(ds[i-1].at) {
					t.Errorf("CVX %s: dose %v given as number %d of the series", cvx, d.v, i+1)
				}
			}
		}

		// Children grow.
		slices.SortFunc(heights, func(a, b point) int { return a.at.Compare(b.at) })
		for i := 1; i < len(heights); i++ {
			a := float64(heights[i].at.Sub(tb.birth)) / float64(yearDur)
			if a < 15 && heights[i].at.Sub(heights[i-1].at) > 180*day {
				growthPairs++
				if heights[i].v <= heights[i-1].v {
					t.Errorf("a child shrank from %.1f to %.1f cm at age %.1f", heights[i-1].v, heights[i].v, a)
				}
			}
		}
		// BMI is weight over height squared, as measured.
		for _, obs := range byEnc {
			w, h, bmi := obs[obsWeight.code], obs[obsHeight.code], obs[obsBMI.code]
			if w > 0 && h > 0 && bmi > 0 {
				bmiChecks++
				if got := w / (h * h / 1e4); math.Abs(got-bmi) > 0.1 {
					t.Errorf("BMI %.1f but weight %.1f kg and height %.1f cm give %.2f", bmi, w, h, got)
				}
			}
		}
		for _, e := range tb.entries {
			r := e.res.Tree
			switch e.res.Type {
			case "Condition":
				// A type 2 diabetes diagnosis is backed by a raised HbA1c.
				if str(r, "code.coding.0.code") == "44054006" && str(r, "category.0.coding.0.code") == "problem-list-item" {
					if a1c, ok := byEnc[str(r, "encounter.reference")][obsA1c.code]; ok {
						diabetics++
						if a1c < 6.5 {
							t.Errorf("type 2 diabetes diagnosed with HbA1c %.1f", a1c)
						}
					}
				}
			case "MedicationRequest", "MedicationStatement":
				rx := str(r, "medicationCodeableConcept.coding.0.code")
				reason := condCode[str(r, "reasonReference.0.reference")]
				want := map[string][]string{
					medMetformin.code.code:   {"44054006"},
					medLisinopril.code.code:  {"38341003"},
					medSimvastatin.code.code: {"55822004"},
					medAlbuterol.code.code:   {"195967001", "13645005"},
					medCitalopram.code.code:  {"35489007"},
				}[rx]
				if want != nil && !slices.Contains(want, reason) {
					t.Errorf("RxNorm %s prescribed for SNOMED %q; want one of %v", rx, reason, want)
				}
				if rx == medAmoxicillin.code.code {
					at := mustTime(t, str(r, "authoredOn"))
					for _, o := range penicillinOnset {
						if !o.After(at) {
							t.Error("amoxicillin prescribed to a patient allergic to penicillin")
						}
					}
				}
			}
		}
	}
	t.Logf("%d growth pairs, %d BMI checks, %d diabetes diagnoses with HbA1c", growthPairs, bmiChecks, diabetics)
	if growthPairs == 0 || bmiChecks == 0 || diabetics == 0 {
		t.Error("the population did not exercise the checks")
	}
}

func TestIdentity(t *testing.T) {
	o := Options{N: 300, Seed: 3}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	mrns, ssns := map[string]bool{}, map[string]bool{}
	rePhone := regexp.MustCompile(`^\(\d{3}\) 555-01\d{2}$`)
	for i := range o.N {
		b, id := g.Patient(i)
		got, err := Identify(b)
		if err != nil {
			t.Fatalf("Identify(patient %d): %v", i, err)
		}
		if !reflect.DeepEqual(got, id) {
			t.Fatalf("Identify(patient %d) = %+v; Patient returned %+v", i, got, id)
		}
		if len(id.Names) == 0 || len(id.Given) == 0 || len(id.Family) == 0 || id.BirthDate == "" || len(id.Identifiers) < 2 || len(id.Address) == 0 || len(id.Telecom) == 0 {
			t.Fatalf("patient %d: incomplete identity %+v", i, id)
		}
		for _, needle := range id.Needles() {
			if needle == "" || !bytes.Contains(b, []byte(needle)) {
				t.Errorf("patient %d: needle %q is not in the bundle", i, needle)
			}
		}
		mrns[id.Identifiers[0].Value] = true
		ssns[id.Identifiers[1].Value] = true
		for _, tel := range id.Telecom {
			if !rePhone.MatchString(tel) && !strings.HasSuffix(tel, ".example.com") && !strings.HasSuffix(tel, "@example.com") &&
				!strings.HasSuffix(tel, "@example.org") && !strings.HasSuffix(tel, "@example.net") {
				t.Errorf("patient %d: telecom %q is not a fictional number or reserved mail domain", i, tel)
			}
		}
	}
	if len(mrns) != o.N || len(ssns) != o.N {
		t.Errorf("%d patients have %d MRNs and %d SSNs; want all distinct", o.N, len(mrns), len(ssns))
	}

	if _, err := Identify([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Organization"}}]}`)); !errors.Is(err, ErrNoPatient) {
		t.Errorf("Identify(no patient) error = %v; want ErrNoPatient", err)
	}
	for _, in := range []string{``, `[]`, `{"resourceType":"Patient"}`, `{"resourceType":"Bundle","entry":[{"resource":7}]}`} {
		if _, err := Identify([]byte(in)); err == nil || errors.Is(err, ErrNoPatient) {
			t.Errorf("Identify(%q) error = %v; want a not-a-bundle error", in, err)
		}
	}
}

func TestPatientPanicsOnNegativeIndex(t *testing.T) {
	g, _ := New(Options{})
	defer func() {
		if recover() == nil {
			t.Error("Patient(-1) did not panic")
		}
	}()
	g.Patient(-1)
}

// TestCatalogue checks the code tables the generator relies on by
// position, and the identifier helpers.
func TestCatalogue(t *testing.T) {
	for _, x := range []struct {
		d    *acuteDef
		code string
	}{{acuteChestPain, "29857009"}, {acutePneumonia, "233604007"}, {acuteAppendicitis, "74400008"}} {
		if x.d.snomed.code != x.code {
			t.Errorf("acute episode %q is at the wrong index; want %s", x.d.snomed.display, x.code)
		}
	}
	if allergyDefs[0].code.code != "764146007" {
		t.Error("allergyDefs[0] must be penicillin")
	}
	for k, d := range chronicDefs {
		if d.snomed.code == "" || d.icd.code == "" {
			t.Errorf("chronic condition %d has no codes", k)
		}
	}
	r := rngFor("npi")
	for range 1000 {
		if s := npi(r, 1); !validNPI(s) {
			t.Fatalf("npi() = %s; check digit is wrong", s)
		}
	}
	// The check digit of the CMS example NPI 123456789-3.
	if !validNPI("1234567893") || validNPI("1234567890") {
		t.Error("validNPI disagrees with the CMS example")
	}
	for _, tt := range []struct{ in, slug, initials string }{
		{"Synthetic General Hospital", "synthetic-general-hospital", "SGH"},
		{"Clínica San José", "clinica-san-jose", "CSJ"},
		{"St. Mary's", "st-marys", "SM"},
		{"東京病院", "org-", "MR"},
	} {
		if got := slugOf(tt.in); !strings.HasPrefix(got, tt.slug) {
			t.Errorf("slugOf(%q) = %q; want prefix %q", tt.in, got, tt.slug)
		}
		if got := initials(tt.in); got != tt.initials {
			t.Errorf("initials(%q) = %q; want %q", tt.in, got, tt.initials)
		}
	}
}

func TestAppendJSON(t *testing.T) {
	v := obj{
		{"a", "x\"\\\n\t\x01<&>é"},
		{"skip", ""},
		{"n", 3},
		{"d", dec{1.5, 2}},
		{"b", false},
		{"e", obj{}},
		{"l", arr{1, "two", obj{{"k", true}}}},
		{"r", raw(`{"pre":1}`)},
	}
	got := string(appendJSON(nil, v))
	want := `{"a":"x\"\\\n\t\u0001<&>é","n":3,"d":1.50,"b":false,"l":[1,"two",{"k":true}],"r":{"pre":1}}`
	if got != want {
		t.Errorf("appendJSON = %s; want %s", got, want)
	}
}

// FuzzAppendString checks the string encoder against encoding/json: its
// output is valid JSON that decodes to the input, with each invalid UTF-8
// byte replaced by U+FFFD.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "José García", "q\"b\\s", "\x00\x1f\x7f", "\xff\xfe", "a\u2028b", "😀", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		if !json.Valid(b) {
			t.Fatalf("appendString(%q) = %s is not valid JSON", s, b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		var want strings.Builder
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			want.WriteRune(r) // RuneError for an invalid byte
			i += size
		}
		if got != want.String() {
			t.Fatalf("appendString(%q) decodes to %q; want %q", s, got, want.String())
		}
	})
}

func BenchmarkPatient(b *testing.B) {
	g, err := New(Options{N: 1000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var n, size int
	i := 0
	for b.Loop() {
		bundle, _ := g.Patient(i % 1000)
		size += len(bundle)
		n += bytes.Count(bundle, []byte(`"fullUrl"`))
		i++
	}
	b.ReportMetric(float64(n)/float64(i), "resources/op")
	b.ReportMetric(float64(size)/float64(i), "bytes/op")
}

// BenchmarkPopulation1000 generates 1,000 patients in parallel on all
// of GOMAXPROCS, as `medledger synth patients` can.
func BenchmarkPopulation1000(b *testing.B) {
	g, err := New(Options{N: 1000, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		var wg sync.WaitGroup
		workers := max(1, min(g.N(), runtime.GOMAXPROCS(0)))
		for w := range workers {
			wg.Go(func() {
				for i := w; i < g.N(); i += workers {
					g.Patient(i)
				}
			})
		}
		wg.Wait()
	}
}

// BenchmarkPatients1000 generates 1,000 patients with the sequential
// iterator.
func BenchmarkPatients1000(b *testing.B) {
	for b.Loop() {
		for _, err := range Patients(Options{N: 1000, Seed: 1}) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
