package hl7v2

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/validate"
	"github.com/medledger/medledger/internal/ucum"
)

var (
	sampleA04 = msg(msh("ADT^A04^ADT_A01", "MSG00002"), samplePID,
		seg("PV1", 1, "1", 2, "O", 19, "VN0002^^^GOODHEALTH", 44, "202403151000"))
	sampleA08 = msg(msh("ADT^A08^ADT_A01", "MSG00003"), samplePID, seg("PV1", 1, "1", 2, "N"))

	oruPID    = seg("PID", 1, "1", 3, "123456^^^GOODHEALTH&2.16.840.1.113883.19.5&ISO^MR", 5, "Testpatient^Jane^Q.", 7, "19800229", 8, "F")
	oruORC    = seg("ORC", 1, "RE", 2, "PLC100^ORDERSYS", 3, "FIL200^LABSYS")
	oruOBR    = seg("OBR", 1, "1", 2, "PLC100^ORDERSYS", 3, "FIL200^LABSYS", 4, "51990-0^Basic metabolic panel^LN", 7, "20240316093000-0500", 24, "CH", 25, "F")
	sampleORU = msg(
		msh("ORU^R01^ORU_R01", "LAB0001", 3, "LABSYS", 7, "20240316101500-0500"),
		oruPID, oruORC, oruOBR,
		seg("OBX", 1, "1", 2, "NM", 3, "29463-7^Body weight^LN", 5, "154", 6, "lb^pound^ANSI+", 11, "F", 14, "20240316094500-0500"),
		seg("OBX", 1, "2", 2, "NM", 3, "8310-5^Body temperature^LN", 5, "98.6", 6, "[degF]^degF^UCUM", 11, "F"),
		seg("OBX", 1, "3", 2, "NM", 3, "2345-7^Glucose^LN", 5, "182", 6, "mg/dL^mg/dL^UCUM", 7, "70-99", 8, "H", 11, "F"),
		seg("NTE", 1, "1", 3, "Specimen slightly hemolysed.~Repeat advised."),
		seg("OBX", 1, "4", 2, "NM", 3, "29463-7^Body weight^LN", 4, "2", 5, "700", 6, "kg^kilogram^UCUM", 11, "P"),
		seg("OBX", 1, "5", 2, "ST", 3, "8251-1^Service comment^LN", 5, `Fasting\S\sample`, 11, "C"),
		seg("OBX", 1, "6", 2, "CWE", 3, "5778-6^Color of urine^LN", 5, "YEL^Yellow^L", 11, "F"),
		seg("OBX", 1, "7", 2, "SN", 3, "2160-0^Creatinine^LN", 5, "<^0.5", 6, "mg/dL^^UCUM", 7, "0.6-1.2", 8, "L", 11, "F"),
		seg("OBX", 1, "8", 2, "SN", 3, "5370-6^Antibody titer^LN", 5, "^1^:^128", 11, "X"),
	)
)

// tree is a decoded Bundle; get reads it by dotted path ("entry.0.fullUrl").
type tree = map[string]any

func parseBundle(b []byte) (tree, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var t tree
	if err := d.Decode(&t); err != nil {
		return nil, err
	}
	if t["resourceType"] != "Bundle" || t["type"] != "transaction" {
		return nil, fmt.Errorf("not a transaction Bundle")
	}
	for i, e := range t["entry"].([]any) {
		res := e.(tree)["resource"]
		raw, _ := json.Marshal(res)
		if _, err := fhir.Parse(raw); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return t, nil
}

func get(t tree, path string) any {
	var cur any = t
	for _, k := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[k]
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	if n, ok := cur.(json.Number); ok {
		return n.String()
	}
	return cur
}

var validator = sync.OnceValues(func() (*validate.Validator, error) {
	v, err := validate.New()
	if err != nil {
		return nil, err
	}
	return v.WithTypes(append(fhir.SupportedTypes, "Bundle")...)
})

// convert converts a sample and checks what every bundle must satisfy:
// valid FHIR, conditional requests, version-5 UUID fullUrls, no PHI in
// issues, and determinism.
func convert(t *testing.T, in []byte, o Options) (tree, []fhir.Issue) {
	t.Helper()
	m, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	b, issues, err := Convert(m, o)
	if err != nil {
		t.Fatal(err)
	}
	b2, _, _ := Convert(m, o)
	if !bytes.Equal(b, b2) {
		t.Error("Convert is not deterministic")
	}
	tr, err := parseBundle(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	v, err := validator()
	if err != nil {
		t.Fatal(err)
	}
	r, err := fhir.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if is := v.Validate(r); is != nil {
		t.Errorf("bundle is not valid FHIR: %+v\n%s", is, b)
	}
	uuidRE := regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for i, e := range tr["entry"].([]any) {
		u, _ := get(e.(tree), "fullUrl").(string)
		if !uuidRE.MatchString(u) || seen[u] {
			t.Errorf("entry %d: fullUrl %q is not a fresh version-5 urn:uuid", i, u)
		}
		seen[u] = true
		method, url := get(e.(tree), "request.method"), get(e.(tree), "request.url").(string)
		if method == "PUT" && !strings.Contains(url, "?identifier=") || method == "POST" && get(e.(tree), "request.ifNoneExist") == nil {
			t.Errorf("entry %d: request %v %s is not conditional", i, method, url)
		}
	}
	// A server resolving fullUrls in references must not be able to
	// rewrite the identifiers that conditional requests match on.
	for i, e := range tr["entry"].([]any) {
		ids, _ := get(e.(tree), "resource.identifier").([]any)
		for _, id := range ids {
			if v := get(id.(tree), "value"); seen[v.(string)] {
				t.Errorf("entry %d: identifier %v is also a fullUrl", i, v)
			}
		}
	}
	exprRE := regexp.MustCompile(`^Bundle\.entry\[(\d+)\]\.resource\.[a-zA-Z.]+$`)
	for _, is := range issues {
		assertNoPHI(t, "issue", is.Diagnostics)
		for _, e := range is.Expression {
			m := exprRE.FindStringSubmatch(e)
			if m == nil {
				t.Errorf("issue expression %q is not a bundle entry path", e)
				continue
			}
			if i, _ := strconv.Atoi(m[1]); i >= len(tr["entry"].([]any)) {
				t.Errorf("issue expression %q points past the entries", e)
			}
		}
	}
	return tr, issues
}

func TestConvertA01(t *testing.T) {
	b, issues := convert(t, sampleA01, Options{})
	if len(issues) != 0 {
		t.Errorf("issues: %+v", issues)
	}
	patURL := get(b, "entry.0.fullUrl")
	checks := []struct {
		path string
		want any
	}{
		{"entry.#", 2},
		{"entry.0.request.method", "PUT"},
		{"entry.0.request.url", "Patient?identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7C123456"},
		{"entry.0.resource.resourceType", "Patient"},
		{"entry.0.resource.identifier.0.system", "urn:oid:2.16.840.1.113883.19.5"},
		{"entry.0.resource.identifier.0.value", "123456"},
		{"entry.0.resource.identifier.0.type.coding.0.system", "http://terminology.hl7.org/CodeSystem/v2-0203"},
		{"entry.0.resource.identifier.0.type.coding.0.code", "MR"},
		{"entry.0.resource.identifier.1.system", "http://hl7.org/fhir/sid/us-ssn"},
		{"entry.0.resource.identifier.1.type.coding.0.code", "SS"},
		{"entry.0.resource.name.0.use", "official"},
		{"entry.0.resource.name.0.family", "Testpatient"},
		{"entry.0.resource.name.0.given.0", "Jane"},
		{"entry.0.resource.name.0.given.1", "Q."},
		{"entry.0.resource.name.0.prefix.0", "Ms."},
		{"entry.0.resource.name.1.use", "maiden"},
		{"entry.0.resource.name.1.family", "Smith"},
		{"entry.0.resource.birthDate", "1980-02-29"},
		{"entry.0.resource.gender", "female"},
		{"entry.0.resource.address.0.use", "home"},
		{"entry.0.resource.address.0.line.0", "123 Example Street"},
		{"entry.0.resource.address.0.line.1", "Apt 4"},
		{"entry.0.resource.address.0.city", "Springfield"},
		{"entry.0.resource.address.0.state", "IL"},
		{"entry.0.resource.address.0.postalCode", "62701"},
		{"entry.0.resource.address.0.country", "USA"},
		{"entry.0.resource.telecom.0.system", "phone"},
		{"entry.0.resource.telecom.0.value", "+1 217 5550123"},
		{"entry.0.resource.telecom.0.use", "home"},
		{"entry.0.resource.telecom.1.system", "email"},
		{"entry.0.resource.telecom.1.value", "jane.testpatient@example.org"},
		{"entry.0.resource.telecom.2.value", "(217)555-0199"},
		{"entry.0.resource.telecom.2.use", "work"},
		{"entry.0.resource.maritalStatus.coding.0.system", "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"},
		{"entry.0.resource.maritalStatus.coding.0.code", "M"},
		{"entry.0.resource.deceasedBoolean", false},
		{"entry.1.request.method", "PUT"},
		{"entry.1.request.url", "Encounter?identifier=urn%3Amedledger%3Ahl7v2%3Aauthority%3AGOODHEALTH%7CVN0001"},
		{"entry.1.resource.resourceType", "Encounter"},
		{"entry.1.resource.status", "in-progress"},
		{"entry.1.resource.class.system", "http://terminology.hl7.org/CodeSystem/v3-ActCode"},
		{"entry.1.resource.class.code", "IMP"},
		{"entry.1.resource.subject.reference", patURL},
		{"entry.1.resource.identifier.0.value", "VN0001"},
		{"entry.1.resource.identifier.0.type.coding.0.code", "VN"},
		{"entry.1.resource.period.start", "2024-03-15T08:00:00+01:00"},
		{"entry.1.resource.participant.0.type.0.coding.0.code", "ATND"},
		{"entry.1.resource.participant.0.individual.display", "Dr. Alice Attending"},
		{"entry.1.resource.participant.0.individual.identifier.system", "http://hl7.org/fhir/sid/us-npi"},
		{"entry.1.resource.participant.0.individual.identifier.value", "1234"},
		{"entry.1.resource.location.0.location.display", "4E 401 B"},
	}
	for _, c := range checks {
		var got any
		if p, ok := strings.CutSuffix(c.path, ".#"); ok {
			got = len(get(b, p).([]any))
		} else {
			got = get(b, c.path)
		}
		if got != c.want {
			t.Errorf("%s = %v; want %v", c.path, got, c.want)
		}
	}
}

func TestConvertA04A08(t *testing.T) {
	b, issues := convert(t, sampleA04, Options{Location: time.FixedZone("", -5*3600)})
	for path, want := range map[string]any{
		"entry.1.resource.status":       "arrived",
		"entry.1.resource.class.code":   "AMB",
		"entry.1.resource.period.start": "2024-03-15T10:00:00+01:00", // MSH-7's offset wins over Location
		// No OID on the visit number's authority: the base URI.
		"entry.1.resource.identifier.0.system": DefaultAuthorityBase + "GOODHEALTH",
	} {
		if got := get(b, path); got != want {
			t.Errorf("A04 %s = %v; want %v", path, got, want)
		}
	}
	if len(issues) != 0 {
		t.Errorf("A04 issues: %+v", issues)
	}

	// A08 updates the patient; with no visit number it leaves encounters alone.
	b, _ = convert(t, sampleA08, Options{})
	if n := len(b["entry"].([]any)); n != 1 || get(b, "entry.0.request.method") != "PUT" ||
		!strings.HasPrefix(get(b, "entry.0.request.url").(string), "Patient?identifier=") {
		t.Errorf("A08 = %d entries, %v %v", n, get(b, "entry.0.request.method"), get(b, "entry.0.request.url"))
	}

	// Discharged: finished, with an end; no offset anywhere: UTC, noted.
	disch := msg(seg("MSH", 3, "ADTSYS", 4, "GOODHEALTH", 7, "20240320", 9, "ADT^A08", 10, "MSG4", 12, "2.3"), samplePID,
		seg("PV1", 1, "1", 2, "E", 19, "VN9", 44, "202403150800", 45, "202403201130"))
	b, issues = convert(t, disch, Options{})
	for path, want := range map[string]any{
		"entry.1.resource.status":     "finished",
		"entry.1.resource.class.code": "EMER",
		"entry.1.resource.period.end": "2024-03-20T11:30:00Z",
	} {
		if got := get(b, path); got != want {
			t.Errorf("discharge %s = %v; want %v", path, got, want)
		}
	}
	if len(issues) != 1 || issues[0].Severity != "information" {
		t.Errorf("discharge issues = %+v; want one note that UTC was assumed", issues)
	}
	b, issues = convert(t, disch, Options{Location: time.FixedZone("", 2*3600)})
	if got := get(b, "entry.1.resource.period.end"); got != "2024-03-20T11:30:00+02:00" || len(issues) != 0 {
		t.Errorf("with Location: end = %v, issues %+v", got, issues)
	}
}

func TestConvertPIDDetails(t *testing.T) {
	pid := seg("PID", 1, "1", 3, "55^^^^MR~", 5, `""`, 7, "1975", 8, "X",
		11, "PO Box 1^^Shelbyville^^^^M", 16, "Q", 29, "20240101123000+0000", 30, "Y")
	in := msg(msh("ADT^A08", "D1"), pid)
	b, issues := convert(t, in, Options{Systems: map[string]string{"GOODHEALTH": "https://goodhealth.example/mrn"}})
	for path, want := range map[string]any{
		// No assigning authority: scoped to the sending facility (MSH-4).
		"entry.0.resource.identifier.0.system": "https://goodhealth.example/mrn",
		"entry.0.resource.birthDate":           "1975",
		"entry.0.resource.address.0.type":      "postal",
		"entry.0.resource.deceasedDateTime":    "2024-01-01T12:30:00Z",
		"entry.0.resource.name":                nil, // "" is the HL7 null
		"entry.0.resource.gender":              nil,
		"entry.0.resource.maritalStatus":       nil,
	} {
		if got := get(b, path); got != want {
			t.Errorf("%s = %v; want %v", path, got, want)
		}
	}
	var locs []string
	for _, is := range issues {
		locs = append(locs, strings.SplitN(is.Diagnostics, ":", 2)[0])
	}
	if strings.Join(locs, ",") != "PID-8,PID-16" {
		t.Errorf("issues at %v; want PID-8, PID-16", locs)
	}
}

func TestConvertORU(t *testing.T) {
	b, issues := convert(t, sampleORU, Options{})
	patURL := get(b, "entry.0.fullUrl")
	checks := []struct {
		path string
		want any
	}{
		{"entry.0.request.method", "POST"},
		{"entry.0.request.url", "Patient"},
		{"entry.0.request.ifNoneExist", "identifier=urn%3Aoid%3A2.16.840.1.113883.19.5%7C123456"},

		// OBX 1: 154 lb → kg, effective from OBX-14, a vital sign.
		{"entry.2.resource.resourceType", "Observation"},
		{"entry.2.resource.status", "final"},
		{"entry.2.resource.category.0.coding.0.code", "vital-signs"},
		{"entry.2.resource.code.coding.0.system", "http://loinc.org"},
		{"entry.2.resource.code.coding.0.code", "29463-7"},
		{"entry.2.resource.code.coding.0.display", "Body weight"},
		{"entry.2.resource.subject.reference", patURL},
		{"entry.2.resource.valueQuantity.value", "69.85"},
		{"entry.2.resource.valueQuantity.unit", "kg"},
		{"entry.2.resource.valueQuantity.system", "http://unitsofmeasure.org"},
		{"entry.2.resource.valueQuantity.code", "kg"},
		{"entry.2.resource.effectiveDateTime", "2024-03-16T09:45:00-05:00"},
		{"entry.2.resource.identifier.0.system", "urn:ietf:rfc:3986"},
		// OBX 2: °F → Cel, effective from OBR-7.
		{"entry.3.resource.valueQuantity.value", "37.00"},
		{"entry.3.resource.valueQuantity.code", "Cel"},
		{"entry.3.resource.effectiveDateTime", "2024-03-16T09:30:00-05:00"},
		// OBX 3: range, flag, note.
		{"entry.4.resource.category.0.coding.0.code", "laboratory"},
		{"entry.4.resource.valueQuantity.value", "182"},
		{"entry.4.resource.valueQuantity.code", "mg/dL"},
		{"entry.4.resource.referenceRange.0.low.value", "70"},
		{"entry.4.resource.referenceRange.0.high.value", "99"},
		{"entry.4.resource.referenceRange.0.high.code", "mg/dL"},
		{"entry.4.resource.interpretation.0.coding.0.system", "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"},
		{"entry.4.resource.interpretation.0.coding.0.code", "H"},
		{"entry.4.resource.note.0.text", "Specimen slightly hemolysed.\nRepeat advised."},
		// OBX 4: implausible, converted anyway.
		{"entry.5.resource.status", "preliminary"},
		{"entry.5.resource.valueQuantity.value", "700"},
		// OBX 5: text with an escape, corrected.
		{"entry.6.resource.status", "corrected"},
		{"entry.6.resource.valueString", "Fasting^sample"},
		// OBX 6: a local code has no system.
		{"entry.7.resource.valueCodeableConcept.coding.0.code", "YEL"},
		{"entry.7.resource.valueCodeableConcept.coding.0.display", "Yellow"},
		{"entry.7.resource.valueCodeableConcept.coding.0.system", nil},
		// OBX 7: SN with a comparator.
		{"entry.8.resource.valueQuantity.comparator", "<"},
		{"entry.8.resource.valueQuantity.value", "0.5"},
		{"entry.8.resource.referenceRange.0.low.value", "0.6"},
		{"entry.8.resource.interpretation.0.coding.0.code", "L"},
		// OBX 8: SN ratio, cancelled.
		{"entry.9.resource.status", "cancelled"},
		{"entry.9.resource.valueRatio.numerator.value", "1"},
		{"entry.9.resource.valueRatio.denominator.value", "128"},
		// The report.
		{"entry.1.resource.resourceType", "DiagnosticReport"},
		{"entry.1.request.url", "DiagnosticReport?identifier=urn%3Amedledger%3Ahl7v2%3Aauthority%3ALABSYS%7CFIL200"},
		{"entry.1.resource.status", "final"},
		{"entry.1.resource.code.coding.0.code", "51990-0"},
		{"entry.1.resource.category.0.coding.0.code", "CH"},
		{"entry.1.resource.effectiveDateTime", "2024-03-16T09:30:00-05:00"},
		{"entry.1.resource.identifier.0.type.coding.0.code", "FILL"},
		{"entry.1.resource.identifier.1.value", "PLC100"},
		{"entry.1.resource.identifier.1.type.coding.0.code", "PLAC"},
		{"entry.1.resource.subject.reference", patURL},
	}
	for _, c := range checks {
		if got := get(b, c.path); got != c.want {
			t.Errorf("%s = %v; want %v", c.path, got, c.want)
		}
	}
	for i := 1; i <= 8; i++ {
		if got, want := get(b, fmt.Sprintf("entry.1.resource.result.%d.reference", i-1)), get(b, fmt.Sprintf("entry.%d.fullUrl", i+1)); got != want {
			t.Errorf("report result %d = %v; want %v", i-1, got, want)
		}
	}
	if len(issues) != 1 {
		t.Fatalf("issues = %+v; want one", issues)
	}
	want := fhir.Issue{Severity: "warning", Code: "value",
		Diagnostics: "OBX(4): body weight is outside the plausible range 0.2–400 kg",
		Expression:  []string{"Bundle.entry[5].resource.valueQuantity"}}
	if got := issues[0]; got.Severity != want.Severity || got.Code != want.Code || got.Diagnostics != want.Diagnostics || got.Expression[0] != want.Expression[0] {
		t.Errorf("issue = %+v; want %+v", got, want)
	}
}

// ORU^R01 may carry several patients, each with their reports.
func TestConvertORUTwoPatients(t *testing.T) {
	pid2 := seg("PID", 1, "2", 3, "654321^^^GOODHEALTH", 5, "Otherpatient^Sam")
	obr2 := seg("OBR", 1, "1", 3, "FIL300^LABSYS", 4, "2345-7^Glucose^LN", 25, "Q")
	obx := seg("OBX", 1, "1", 2, "NM", 3, "2345-7^Glucose^LN", 5, "90", 6, "mg/dL", 11, "F")
	b, issues := convert(t, msg(msh("ORU^R01", "TWO"), oruPID, oruOBR, obx, pid2, obr2, obx), Options{})
	types := []string{}
	for _, e := range b["entry"].([]any) {
		types = append(types, get(e.(tree), "resource.resourceType").(string))
	}
	if got := strings.Join(types, ","); got != "Patient,DiagnosticReport,Observation,Patient,DiagnosticReport,Observation" {
		t.Fatalf("entries = %s", got)
	}
	if get(b, "entry.5.resource.subject.reference") != get(b, "entry.3.fullUrl") ||
		get(b, "entry.4.resource.subject.reference") != get(b, "entry.3.fullUrl") ||
		get(b, "entry.2.resource.subject.reference") != get(b, "entry.0.fullUrl") {
		t.Error("results are not linked to their own patient")
	}
	// OBR(2)-25 "Q" is not a result status: unknown, with an issue at the report.
	if get(b, "entry.4.resource.status") != "unknown" || len(issues) != 1 ||
		issues[0].Expression[0] != "Bundle.entry[4].resource.status" || !strings.HasPrefix(issues[0].Diagnostics, "OBR(2)-25: ") {
		t.Errorf("status %v, issues %+v", get(b, "entry.4.resource.status"), issues)
	}
}

// A result resent in a later message (new control ID), corrected, updates
// the same Observation; a resent message changes nothing.
func TestConvertIdempotent(t *testing.T) {
	obx := func(status string) string {
		return seg("OBX", 1, "1", 2, "NM", 3, "2345-7^Glucose^LN", 5, "182", 6, "mg/dL^^UCUM", 11, status)
	}
	first, _ := convert(t, msg(msh("ORU^R01", "C1"), oruPID, oruOBR, obx("P")), Options{})
	again, _ := convert(t, msg(msh("ORU^R01", "C1"), oruPID, oruOBR, obx("P")), Options{})
	later, _ := convert(t, msg(msh("ORU^R01", "C2"), oruPID, oruOBR, obx("C")), Options{})
	for _, p := range []string{"entry.0.fullUrl", "entry.1.fullUrl", "entry.2.fullUrl", "entry.1.request.url", "entry.2.request.url"} {
		if get(first, p) != get(again, p) {
			t.Errorf("resending changes %s", p)
		}
	}
	for _, p := range []string{"entry.1.request.url", "entry.2.request.url", "entry.0.request.ifNoneExist"} {
		if get(first, p) != get(later, p) {
			t.Errorf("a correction does not target the same resource: %s %v vs %v", p, get(first, p), get(later, p))
		}
	}
	if get(first, "entry.0.fullUrl") == get(later, "entry.0.fullUrl") {
		t.Error("different messages share a patient fullUrl")
	}

	// Without order numbers, identity falls back to the message.
	bare := seg("OBR", 1, "1", 4, "51990-0^BMP^LN")
	b1, _ := convert(t, msg(msh("ORU^R01", "C1"), oruPID, bare, obx("F")), Options{})
	b2, _ := convert(t, msg(msh("ORU^R01", "C2"), oruPID, bare, obx("F")), Options{})
	if get(b1, "entry.1.request.url") == get(b2, "entry.1.request.url") || get(b1, "entry.2.request.url") == get(b2, "entry.2.request.url") {
		t.Error("observations of different messages without order numbers collide")
	}
	// Two identical OBX in one report stay distinct.
	b3, _ := convert(t, msg(msh("ORU^R01", "C3"), oruPID, oruOBR, obx("F"), obx("F")), Options{})
	if get(b3, "entry.2.request.url") == get(b3, "entry.3.request.url") {
		t.Error("duplicate OBX collide")
	}
}

func TestConvertUnits(t *testing.T) {
	stone := msg(msh("ORU^R01", "U1"), oruPID, oruOBR,
		seg("OBX", 1, "1", 2, "NM", 3, "29463-7^Body weight^LN", 5, "11", 6, "stone", 11, "F"))
	m, _ := Parse(stone)
	_, _, err := Convert(m, Options{})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ucum.ErrUnknownUnit) {
		t.Fatalf("Convert with an unknown unit: %v; want ErrInvalid and ucum.ErrUnknownUnit", err)
	}
	want := `hl7v2: OBX-6: unit "stone" is not a known UCUM unit or synonym; send a UCUM code such as kg`
	if err.Error() != want {
		t.Errorf("error = %q; want %q", err, want)
	}
	if AckCode(err) != AE {
		t.Errorf("AckCode = %s; want AE", AckCode(err))
	}

	b, issues := convert(t, stone, Options{KeepUnknownUnits: true})
	if get(b, "entry.2.resource.valueQuantity.unit") != "stone" || get(b, "entry.2.resource.valueQuantity.code") != nil {
		t.Errorf("kept quantity = %v", get(b, "entry.2.resource.valueQuantity"))
	}
	if len(issues) != 1 || issues[0].Code != "code-invalid" || !strings.HasPrefix(issues[0].Diagnostics, "OBX-6: ") {
		t.Errorf("issues = %+v", issues)
	}

	// Values and types of every kind.
	vals := msg(msh("ORU^R01", "U2"), oruPID, oruOBR,
		seg("OBX", 1, "1", 2, "DT", 3, "11778-8^Delivery date^LN", 5, "20240401", 11, "F"),
		seg("OBX", 1, "2", 2, "TS", 3, "1234-5^Collected^L", 5, "202404011230+0200", 11, "F"),
		seg("OBX", 1, "3", 2, "TM", 3, "1234-6^Time^L", 5, "0930", 11, "F"),
		seg("OBX", 1, "4", 2, "TX", 3, "1234-7^Text^L", 5, "line one~line two", 11, "F"),
		seg("OBX", 1, "5", 2, "SN", 3, "1234-8^Range^L", 5, "^10^-^20", 6, "mmol/L", 11, "F"),
		seg("OBX", 1, "6", 2, "ED", 3, "1234-9^Document^L", 5, "^AP^PDF^Base64^AAAA", 11, "F"),
		seg("OBX", 1, "7", 2, "NM", 3, "8867-4^Heart rate^LN", 5, "72", 6, "bpm", 11, "F"),
		seg("OBX", 1, "8", 2, "NM", 3, "8302-2^Height^LN", 5, "70", 6, "[in_i]^inch^UCUM", 11, "F"),
		seg("OBX", 1, "9", 2, "SN", 3, "1234-1^Dipstick^L", 5, "^2^+", 11, "F"),
	)
	b, issues = convert(t, vals, Options{})
	for path, want := range map[string]any{
		"entry.2.resource.valueDateTime":                  "2024-04-01",
		"entry.3.resource.valueDateTime":                  "2024-04-01T12:30:00+02:00",
		"entry.4.resource.valueTime":                      "09:30:00",
		"entry.5.resource.valueString":                    "line one\nline two",
		"entry.6.resource.valueRange.low.value":           "10",
		"entry.6.resource.valueRange.high.code":           "mmol/L",
		"entry.7.resource.dataAbsentReason.coding.0.code": "unsupported",
		"entry.8.resource.valueQuantity.code":             "/min",
		"entry.8.resource.valueQuantity.unit":             "bpm",
		"entry.9.resource.valueQuantity.value":            "178",
		"entry.9.resource.valueQuantity.code":             "cm",
		"entry.10.resource.valueString":                   "2+",
	} {
		if got := get(b, path); got != want {
			t.Errorf("%s = %v; want %v", path, got, want)
		}
	}
	if len(issues) != 1 || !strings.HasPrefix(issues[0].Diagnostics, "OBX(6)-2: value type \"ED\" is not supported") {
		t.Errorf("issues = %+v", issues)
	}
}

var convertErrorTests = []struct {
	name string
	in   []byte
	kind error
	msg  string // the whole error text
}{
	{"unsupported type", msg(msh("ADT^A03^ADT_A03", "E1"), samplePID), ErrUnsupported,
		"hl7v2: MSH-9: message type ADT^A03 is not supported (ADT^A01, ADT^A04, ADT^A08, ORU^R01)"},
	{"unsupported type with PHI in MSH-9", msg(msh(patientName, "E1")), ErrUnsupported,
		"hl7v2: MSH-9: message type (not shown) is not supported (ADT^A01, ADT^A04, ADT^A08, ORU^R01)"},
	{"no PID", msg(msh("ADT^A01", "E2"), samplePV1), ErrInvalid, "hl7v2: the PID segment is missing"},
	{"no PV1 in A01", msg(msh("ADT^A01", "E3"), samplePID), ErrInvalid, "hl7v2: the PV1 segment is missing (required in ADT^A01)"},
	{"no identifier", msg(msh("ADT^A01", "E4"), seg("PID", 1, "1", 5, "Testpatient^Jane^Q."), samplePV1), ErrInvalid,
		"hl7v2: PID-3: the patient has no identifier (PID-3 is empty)"},
	{"no authority, no sender", msg(seg("MSH", 9, "ADT^A08", 10, "E5"), seg("PID", 1, "1", 3, patientMRN, 5, "Testpatient^Jane")), ErrInvalid,
		"hl7v2: PID-3: the patient identifier names no assigning authority (CX.4) and MSH-4/MSH-3 name no sender to scope it"},
	{"bad birth date", msg(msh("ADT^A08", "E6"), seg("PID", 1, "1", 3, patientMRN+"^^^GH", 5, "Testpatient^Jane", 7, "19800231")), ErrInvalid,
		"hl7v2: PID-7: not a valid HL7 date/time (TS/DTM)"},
	{"bad admit time", msg(msh("ADT^A01", "E7"), samplePID, seg("PV1", 2, "I", 44, "2024031525")), ErrInvalid,
		"hl7v2: PV1-44: not a valid HL7 date/time (TS/DTM)"},
	{"NM not a number", msg(msh("ORU^R01", "E8"), oruPID, oruOBR, seg("OBX", 1, "1", 2, "NM", 3, "2345-7^Glucose^LN", 5, "Jane Q. Testpatient", 6, "mg/dL", 11, "F")), ErrInvalid,
		"hl7v2: OBX-5: numeric value: ucum: value is not a decimal number"},
	{"OBX before OBR", msg(msh("ORU^R01", "E9"), oruPID, seg("OBX", 1, "1", 2, "ST", 3, "x^y^L", 5, "z")), ErrInvalid,
		"hl7v2: OBX-1: OBX is not preceded by an OBR segment"},
	{"OBR before PID", msg(msh("ORU^R01", "E10"), oruOBR), ErrInvalid, "hl7v2: OBR-1: OBR is not preceded by a PID segment"},
	{"no OBR", msg(msh("ORU^R01", "E11"), oruPID), ErrInvalid, "hl7v2: there is no OBR segment: no results to convert"},
	{"no OBX-3", msg(msh("ORU^R01", "E12"), oruPID, oruOBR, seg("OBX", 1, "1", 2, "ST", 5, "Testpatient", 11, "F")), ErrInvalid,
		"hl7v2: OBX-3: the observation identifier is empty"},
	{"no OBR-4", msg(msh("ORU^R01", "E13"), oruPID, seg("OBR", 1, "1", 3, "F1")), ErrInvalid, "hl7v2: OBR-4: the universal service identifier is empty"},
	{"value without type", msg(msh("ORU^R01", "E14"), oruPID, oruOBR, seg("OBX", 1, "1", 3, "x^y^L", 5, "Testpatient", 11, "F")), ErrInvalid,
		"hl7v2: OBX-2: the value type is empty but OBX-5 has a value"},
	{"bad SN comparator", msg(msh("ORU^R01", "E15"), oruPID, oruOBR, seg("OBX", 1, "1", 2, "SN", 3, "x^y^L", 5, "<>^5", 11, "F")), ErrInvalid,
		"hl7v2: OBX-5: the SN comparator is not one of =, <, <=, >, >="},
}

func TestConvertErrors(t *testing.T) {
	for _, tt := range convertErrorTests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Convert(m, Options{})
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Convert error = %v; want %v", err, tt.kind)
			}
			if err.Error() != tt.msg {
				t.Errorf("Convert error = %q;\nwant %q", err, tt.msg)
			}
			assertNoPHI(t, "error", err.Error())
			assertNoPHI(t, "ACK", string(ACK(m, AckCode(err), err.Error())))
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{AuthorityBase: "not a uri", Systems: map[string]string{"X": "relative/path"}, CodeSystems: map[string]string{"L": ""}}
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad options")
	}
	for _, want := range []string{"AuthorityBase", `Systems["X"]`, `CodeSystems["L"]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not report %s", err, want)
		}
	}
	m, _ := Parse(sampleA01)
	if _, _, err := Convert(m, o); err == nil {
		t.Error("Convert accepted bad options")
	}
	if err := (&Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}

func TestParseTS(t *testing.T) {
	utc := time.UTC
	tests := []struct {
		in, date, dateTime string
	}{
		{"2024", "2024", "2024"},
		{"202402", "2024-02", "2024-02"},
		{"20240229", "2024-02-29", "2024-02-29"},
		{"2024022913", "2024-02-29", "2024-02-29T13:00:00Z"},
		{"202402291305", "2024-02-29", "2024-02-29T13:05:00Z"},
		{"20240229130559.1234-0330", "2024-02-29", "2024-02-29T13:05:59.1234-03:30"},
		{"20240229130559+0000", "2024-02-29", "2024-02-29T13:05:59Z"},
	}
	for _, tt := range tests {
		ts, err := parseTS(tt.in)
		if err != nil {
			t.Errorf("parseTS(%q): %v", tt.in, err)
			continue
		}
		if ts.date() != tt.date || ts.dateTime(utc) != tt.dateTime {
			t.Errorf("parseTS(%q) = %s, %s; want %s, %s", tt.in, ts.date(), ts.dateTime(utc), tt.date, tt.dateTime)
		}
	}
	for _, bad := range []string{"", "20", "20230229", "20241301", "2024010124", "202401011260", "20240101.5", "20240101120000.", "20240101+01", "2024-01-01", "20240101120000+2500"} {
		if _, err := parseTS(bad); err == nil {
			t.Errorf("parseTS(%q) succeeded", bad)
		}
	}
}
