package synth

import "time"

// Code systems and naming systems, as the FHIR R4 specification and
// terminology.hl7.org name them.
const (
	sysSNOMED    = "http://snomed.info/sct"
	sysLOINC     = "http://loinc.org"
	sysRxNorm    = "http://www.nlm.nih.gov/research/umls/rxnorm"
	sysCVX       = "http://hl7.org/fhir/sid/cvx"
	sysICD10CM   = "http://hl7.org/fhir/sid/icd-10-cm"
	sysUCUM      = "http://unitsofmeasure.org"
	sysNPI       = "http://hl7.org/fhir/sid/us-npi"
	sysSSN       = "http://hl7.org/fhir/sid/us-ssn"
	sysPassport  = "http://hl7.org/fhir/sid/passport-USA"
	sysBCP47     = "urn:ietf:bcp:47"
	sysV2ID      = "http://terminology.hl7.org/CodeSystem/v2-0203"
	sysV2Degree  = "http://terminology.hl7.org/CodeSystem/v2-0360|2.7"
	sysV2Diag    = "http://terminology.hl7.org/CodeSystem/v2-0074"
	sysV2Func    = "http://terminology.hl7.org/CodeSystem/v2-0443"
	sysActCode   = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	sysMarital   = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
	sysPartType  = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	sysRoute     = "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration"
	sysActSite   = "http://terminology.hl7.org/CodeSystem/v3-ActSite"
	sysInterp    = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
	sysDataOp    = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
	sysObsCat    = "http://terminology.hl7.org/CodeSystem/observation-category"
	sysCondClin  = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	sysCondVer   = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
	sysCondCat   = "http://terminology.hl7.org/CodeSystem/condition-category"
	sysAllergyCl = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
	sysAllergyVr = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
	sysOrgType   = "http://terminology.hl7.org/CodeSystem/organization-type"
	sysPracRole  = "http://terminology.hl7.org/CodeSystem/practitioner-role"
	sysAdmit     = "http://terminology.hl7.org/CodeSystem/admit-source"
	sysDischarge = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
	sysDiagRole  = "http://terminology.hl7.org/CodeSystem/diagnosis-role"
	sysImmOrigin = "http://terminology.hl7.org/CodeSystem/immunization-origin"
	sysCourse    = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
	sysProvAgent = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
	sysDocCat    = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
)

// code is one coded concept: a system, a code and its display.
type code struct{ sys, code, display string }

func (c code) coding() obj {
	return obj{{"system", c.sys}, {"code", c.code}, {"display", c.display}}
}

// cc is a CodeableConcept of one or more codings; its text is the first
// coding's display without a SNOMED CT semantic tag.
func cc(cs ...code) obj {
	codings := make(arr, len(cs))
	for i, c := range cs {
		codings[i] = c.coding()
	}
	return obj{{"coding", codings}, {"text", trimSemantic(cs[0].display)}}
}

// ccs is a one-element array of a CodeableConcept, the shape of the many
// 0..* CodeableConcept elements (category, type, reasonCode).
func ccs(cs ...code) arr { return arr{cc(cs...)} }

func ref(fullURL string) obj { return obj{{"reference", fullURL}} }

func refd(fullURL, display string) obj {
	return obj{{"reference", fullURL}, {"display", display}}
}

// qty is a UCUM Quantity.
func qty(v float64, prec int, unit, ucum string) obj {
	return obj{{"value", dec{v, prec}}, {"unit", unit}, {"system", sysUCUM}, {"code", ucum}}
}

// Date formats. Times are UTC, so dateTime and instant values carry "Z"
// and always have seconds, which makes every one of them a valid instant.
const (
	layoutDate     = "2006-01-02"
	layoutDateTime = "2006-01-02T15:04:05Z07:00"
)

func fdate(t time.Time) string { return t.UTC().Format(layoutDate) }
func fdt(t time.Time) string   { return t.UTC().Format(layoutDateTime) }

func period(start, end time.Time) obj {
	p := obj{{"start", fdt(start)}}
	if !end.IsZero() {
		p = append(p, kv{"end", fdt(end)})
	}
	return p
}
