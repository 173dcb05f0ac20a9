package hl7v2

import "encoding/json"

// The FHIR R4 shapes Convert writes. Fields are in the order of the FHIR
// specification, so that output reads like the specification's examples.

type bundle struct {
	ResourceType string  `json:"resourceType"`
	Type         string  `json:"type"`
	Entry        []entry `json:"entry"`
}

type entry struct {
	FullURL  string  `json:"fullUrl"`
	Resource any     `json:"resource"`
	Request  request `json:"request"`
}

type request struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

type identifier struct {
	Use    string           `json:"use,omitempty"`
	Type   *codeableConcept `json:"type,omitempty"`
	System string           `json:"system,omitempty"`
	Value  string           `json:"value,omitempty"`
}

type reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

type humanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
	Prefix []string `json:"prefix,omitempty"`
	Suffix []string `json:"suffix,omitempty"`
}

type contactPoint struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
	Use    string `json:"use,omitempty"`
}

type address struct {
	Use        string   `json:"use,omitempty"`
	Type       string   `json:"type,omitempty"`
	Line       []string `json:"line,omitempty"`
	City       string   `json:"city,omitempty"`
	District   string   `json:"district,omitempty"`
	State      string   `json:"state,omitempty"`
	PostalCode string   `json:"postalCode,omitempty"`
	Country    string   `json:"country,omitempty"`
}

type period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type quantity struct {
	Value      json.Number `json:"value,omitempty"`
	Comparator string      `json:"comparator,omitempty"`
	Unit       string      `json:"unit,omitempty"`
	System     string      `json:"system,omitempty"`
	Code       string      `json:"code,omitempty"`
}

type valueRange struct {
	Low  *quantity `json:"low,omitempty"`
	High *quantity `json:"high,omitempty"`
}

type ratio struct {
	Numerator   *quantity `json:"numerator,omitempty"`
	Denominator *quantity `json:"denominator,omitempty"`
}

type referenceRange struct {
	Low  *quantity `json:"low,omitempty"`
	High *quantity `json:"high,omitempty"`
	Text string    `json:"text,omitempty"`
}

type annotation struct {
	Text string `json:"text"`
}

type patient struct {
	ResourceType     string           `json:"resourceType"`
	Identifier       []identifier     `json:"identifier,omitempty"`
	Name             []humanName      `json:"name,omitempty"`
	Telecom          []contactPoint   `json:"telecom,omitempty"`
	Gender           string           `json:"gender,omitempty"`
	BirthDate        string           `json:"birthDate,omitempty"`
	DeceasedBoolean  *bool            `json:"deceasedBoolean,omitempty"`
	DeceasedDateTime string           `json:"deceasedDateTime,omitempty"`
	Address          []address        `json:"address,omitempty"`
	MaritalStatus    *codeableConcept `json:"maritalStatus,omitempty"`
}

type encounter struct {
	ResourceType string                 `json:"resourceType"`
	Identifier   []identifier           `json:"identifier,omitempty"`
	Status       string                 `json:"status"`
	Class        coding                 `json:"class"`
	Subject      *reference             `json:"subject,omitempty"`
	Participant  []encounterParticipant `json:"participant,omitempty"`
	Period       *period                `json:"period,omitempty"`
	Location     []encounterLocation    `json:"location,omitempty"`
}

type encounterParticipant struct {
	Type       []codeableConcept `json:"type,omitempty"`
	Individual *reference        `json:"individual,omitempty"`
}

type encounterLocation struct {
	Location reference `json:"location"`
}

type observation struct {
	ResourceType         string            `json:"resourceType"`
	Identifier           []identifier      `json:"identifier,omitempty"`
	Status               string            `json:"status"`
	Category             []codeableConcept `json:"category,omitempty"`
	Code                 codeableConcept   `json:"code"`
	Subject              *reference        `json:"subject,omitempty"`
	EffectiveDateTime    string            `json:"effectiveDateTime,omitempty"`
	ValueQuantity        *quantity         `json:"valueQuantity,omitempty"`
	ValueCodeableConcept *codeableConcept  `json:"valueCodeableConcept,omitempty"`
	ValueString          string            `json:"valueString,omitempty"`
	ValueRange           *valueRange       `json:"valueRange,omitempty"`
	ValueRatio           *ratio            `json:"valueRatio,omitempty"`
	ValueTime            string            `json:"valueTime,omitempty"`
	ValueDateTime        string            `json:"valueDateTime,omitempty"`
	DataAbsentReason     *codeableConcept  `json:"dataAbsentReason,omitempty"`
	Interpretation       []codeableConcept `json:"interpretation,omitempty"`
	Note                 []annotation      `json:"note,omitempty"`
	ReferenceRange       []referenceRange  `json:"referenceRange,omitempty"`
}

type diagnosticReport struct {
	ResourceType      string            `json:"resourceType"`
	Identifier        []identifier      `json:"identifier,omitempty"`
	Status            string            `json:"status"`
	Category          []codeableConcept `json:"category,omitempty"`
	Code              codeableConcept   `json:"code"`
	Subject           *reference        `json:"subject,omitempty"`
	EffectiveDateTime string            `json:"effectiveDateTime,omitempty"`
	Result            []reference       `json:"result,omitempty"`
}
