package hl7v2

import (
	"strings"
)

// adt converts ADT^A01 (admit), ADT^A04 (register an outpatient) and
// ADT^A08 (update patient information): the Patient is updated on its
// identifier (created if new), and so is the Encounter on its visit
// number (A08: only when PV1-19 is given, so that an update never creates
// a stray encounter).
func (c *converter) adt(trigger string) error {
	pid := c.m.Segment("PID", 1)
	if pid == nil {
		return errorf(ErrInvalid, "", "the PID segment is missing")
	}
	pat, key, err := c.patient(pid, 1)
	if err != nil {
		return err
	}
	patURL := c.uuid("Patient", c.control, "1")
	c.add(patURL, pat, request{Method: "PUT", URL: "Patient?" + conditional(key)})

	pv1 := c.m.Segment("PV1", 1)
	if pv1 == nil {
		if trigger == "A08" {
			return nil
		}
		return errorf(ErrInvalid, "", "the PV1 segment is missing (required in ADT^%s)", trigger)
	}
	if trigger == "A08" && text(pv1.Field(19).Value()) == "" {
		return nil
	}
	return c.encounter(pv1, trigger, patURL)
}

// patient maps the n-th PID segment. key is the identifier to match the
// Patient on: the first medical record number (type MR) of PID-3, else
// its first identifier, else PID-2's.
func (c *converter) patient(pid *Segment, n int) (*patient, identifier, error) {
	p := &patient{ResourceType: "Patient"}
	loc := func(f int) string { return c.loc("PID", n, f) }

	var key identifier
	haveKey, haveMR := false, false
	for _, f := range []int{3, 2} {
		for _, r := range pid.Field(f).Reps() {
			id, ok := c.cx(r, "")
			if !ok {
				continue
			}
			p.Identifier = append(p.Identifier, id)
			isMR := id.Type != nil && id.Type.Coding[0].Code == "MR"
			if !haveKey || isMR && !haveMR {
				key, haveKey, haveMR = id, true, isMR
			}
		}
		if len(p.Identifier) > 0 {
			break // PID-2 (external ID, deprecated) only when PID-3 is empty
		}
	}
	if !haveKey {
		return nil, key, errorf(ErrInvalid, loc(3), "the patient has no identifier (PID-3 is empty)")
	}
	if key.System == "" {
		return nil, key, errorf(ErrInvalid, loc(3), "the patient identifier names no assigning authority (CX.4) and MSH-4/MSH-3 name no sender to scope it")
	}

	for _, r := range pid.Field(5).Reps() {
		if hn, ok := xpn(r); ok {
			p.Name = append(p.Name, hn)
		}
	}
	p.Telecom = append(p.Telecom, c.telecoms(pid.Field(13), "home")...)
	p.Telecom = append(p.Telecom, c.telecoms(pid.Field(14), "work")...)

	if sex := text(pid.Field(8).Value()); sex != "" {
		if g, ok := genders[strings.ToUpper(sex)]; ok {
			p.Gender = g
		} else {
			c.warn("code-invalid", loc(8), c.expr("gender"), "administrative sex is not one of M, F, O, U, A, N (HL7 table 0001); gender omitted")
		}
	}
	if s := text(pid.Field(7).Value()); s != "" {
		t, err := parseTS(s)
		if err != nil {
			return nil, key, &Error{Loc: loc(7), Kind: ErrInvalid, Err: err}
		}
		p.BirthDate = t.date()
	}
	for _, r := range pid.Field(11).Reps() {
		if a, ok := xad(r); ok {
			p.Address = append(p.Address, a)
		}
	}
	if ms := text(pid.Field(16).Value()); ms != "" {
		if m, ok := maritalStatuses[strings.ToUpper(ms)]; ok {
			sys := "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
			if m.code == "UNK" || m.code == "OTH" {
				sys = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
			}
			p.MaritalStatus = &codeableConcept{Coding: []coding{{System: sys, Code: m.code, Display: m.display}}}
		} else {
			c.warn("code-invalid", loc(16), c.expr("maritalStatus"), "marital status is not a code of HL7 table 0002; omitted")
		}
	}
	death, err := c.dateTime(pid.Field(29).Value(), loc(29))
	if err != nil {
		return nil, key, err
	}
	switch ind := strings.ToUpper(text(pid.Field(30).Value())); {
	case death != "":
		p.DeceasedDateTime = death
	case ind == "Y":
		t := true
		p.DeceasedBoolean = &t
	case ind == "N":
		f := false
		p.DeceasedBoolean = &f
	}
	return p, key, nil
}

// genders maps HL7 table 0001 (administrative sex) to FHIR
// AdministrativeGender.
var genders = map[string]string{
	"M": "male", "F": "female", "O": "other", "U": "unknown",
	"A": "other",   // ambiguous
	"N": "unknown", // not applicable
}

// maritalStatuses maps HL7 table 0002 to the FHIR R4 marital status
// value set (v3 MaritalStatus, and NullFlavor for unknown and other).
var maritalStatuses = map[string]struct{ code, display string }{
	"A": {"L", "Legally Separated"}, // separated
	"E": {"L", "Legally Separated"},
	"D": {"D", "Divorced"},
	"M": {"M", "Married"},
	"S": {"S", "Never Married"},
	"W": {"W", "Widowed"},
	"C": {"T", "Domestic partner"}, // common law
	"G": {"T", "Domestic partner"}, // living together
	"P": {"T", "Domestic partner"},
	"R": {"T", "Domestic partner"}, // registered domestic partner
	"N": {"A", "Annulled"},
	"I": {"I", "Interlocutory"},
	"B": {"U", "unmarried"},
	"U": {"UNK", "unknown"},
	"T": {"UNK", "unknown"}, // unreported
	"O": {"OTH", "other"},
}

// nameUses maps HL7 table 0200 (name type) to FHIR name use.
var nameUses = map[string]string{
	"L": "official", "D": "usual", "M": "maiden", "N": "nickname",
	"TEMP": "temp", "S": "anonymous", "BAD": "old", "NOUSE": "old", "NB": "old",
}

// xpn maps an HL7 XPN (family^given^middle^suffix^prefix^degree^type).
func xpn(r Rep) (humanName, bool) {
	hn := humanName{
		Family: text(r.Sub(1, 1)),
		Given:  appendNonEmpty(nil, r.Comp(2), r.Comp(3)),
		Prefix: appendNonEmpty(nil, r.Comp(5)),
		Suffix: appendNonEmpty(nil, r.Comp(4), r.Comp(6)),
		Use:    nameUses[strings.ToUpper(text(r.Comp(7)))],
	}
	return hn, hn.Family != "" || len(hn.Given) > 0
}

// addressUses maps HL7 table 0190 (address type) to FHIR address use, or
// type for "M" (mailing).
var addressUses = map[string]string{
	"H": "home", "B": "work", "O": "work", "C": "temp", "BA": "old",
}

// xad maps an HL7 XAD (street^other^city^state^zip^country^type^^county).
func xad(r Rep) (address, bool) {
	a := address{
		Line:       appendNonEmpty(nil, r.Sub(1, 1), r.Comp(2)),
		City:       text(r.Comp(3)),
		State:      text(r.Comp(4)),
		PostalCode: text(r.Comp(5)),
		Country:    text(r.Comp(6)),
		District:   text(r.Comp(9)),
	}
	typ := strings.ToUpper(text(r.Comp(7)))
	if typ == "M" {
		a.Type = "postal"
	} else {
		a.Use = addressUses[typ]
	}
	ok := len(a.Line) > 0 || a.City != "" || a.State != "" || a.PostalCode != "" || a.Country != "" || a.District != ""
	return a, ok
}

// telecoms maps the repetitions of an XTN field. use is the FHIR use for
// the field (PID-13 home, PID-14 work) unless XTN.2 says otherwise.
func (c *converter) telecoms(f Field, use string) []contactPoint {
	var out []contactPoint
	for _, r := range f.Reps() {
		useCode, equip := strings.ToUpper(text(r.Comp(2))), strings.ToUpper(text(r.Comp(3)))
		cp := contactPoint{System: "phone", Use: use}
		switch useCode {
		case "WPN":
			cp.Use = "work"
		case "PRN", "ORN", "VHN":
			cp.Use = "home"
		}
		switch equip {
		case "CP":
			cp.Use = "mobile"
		case "FX":
			cp.System = "fax"
		case "BP":
			cp.System = "pager"
		}
		if useCode == "NET" || equip == "INTERNET" || equip == "X.400" {
			cp.System, cp.Value = "email", text(r.Comp(4))
			if cp.Use == "mobile" {
				cp.Use = use
			}
		} else {
			cp.Value = text(r.Comp(1))
			if cp.Value == "" {
				// v2.5+: country^area^local^extension in components 5–8.
				parts := appendNonEmpty(nil, r.Comp(5), r.Comp(6), r.Comp(7))
				if cc := text(r.Comp(5)); cc != "" {
					parts[0] = "+" + strings.TrimPrefix(cc, "+")
				}
				cp.Value = strings.Join(parts, " ")
				if ext := text(r.Comp(8)); ext != "" && cp.Value != "" {
					cp.Value += " ext. " + ext
				}
			}
		}
		if cp.Value == "" {
			continue
		}
		out = append(out, cp)
	}
	return out
}

// patientClasses maps HL7 table 0004 (patient class) to v3 ActCode.
var patientClasses = map[string]coding{
	"I": {Code: "IMP", Display: "inpatient encounter"},
	"O": {Code: "AMB", Display: "ambulatory"},
	"E": {Code: "EMER", Display: "emergency"},
	"P": {Code: "PRENC", Display: "pre-admission"},
	"R": {Code: "AMB", Display: "ambulatory"},          // recurring patient
	"B": {Code: "IMP", Display: "inpatient encounter"}, // obstetrics
}

// participants are the PV1 fields naming practitioners, with their v3
// ParticipationType.
var participants = []struct {
	field         int
	code, display string
}{
	{7, "ATND", "attender"},
	{8, "REF", "referrer"},
	{9, "CON", "consultant"},
	{17, "ADM", "admitter"},
}

// encounter maps PV1 to an Encounter of the patient at patURL, matched on
// its visit number (PV1-19).
func (c *converter) encounter(pv1 *Segment, trigger, patURL string) error {
	loc := func(f int) string { return c.loc("PV1", 1, f) }
	e := &encounter{ResourceType: "Encounter", Subject: &reference{Reference: patURL}}
	fullURL := c.uuid("Encounter", c.control, "1")

	key, ok := c.cx(pv1.Field(19).Rep(1), "VN")
	if !ok {
		key = c.derivedIdentifier("Encounter", c.control, "1")
	}
	e.Identifier = append(e.Identifier, key)

	class := strings.ToUpper(text(pv1.Field(2).Value()))
	if cd, ok := patientClasses[class]; ok {
		cd.System = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
		e.Class = cd
	} else {
		e.Class = coding{System: "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", Code: "UNK", Display: "unknown"}
		c.warn("code-invalid", loc(2), c.expr("class"), "patient class is empty or not one of I, O, E, P, R, B (HL7 table 0004); class set to unknown")
	}

	start, err := c.dateTime(pv1.Field(44).Value(), loc(44))
	if err != nil {
		return err
	}
	end, err := c.dateTime(pv1.Field(45).Value(), loc(45))
	if err != nil {
		return err
	}
	if start != "" || end != "" {
		e.Period = &period{Start: start, End: end}
	}
	switch {
	case end != "":
		e.Status = "finished"
	case trigger == "A01":
		e.Status = "in-progress"
	case trigger == "A04":
		e.Status = "arrived"
	case start != "":
		e.Status = "in-progress"
	default:
		e.Status = "unknown"
	}

	for _, p := range participants {
		for _, r := range pv1.Field(p.field).Reps() {
			ref, ok := c.xcn(r)
			if !ok {
				continue
			}
			e.Participant = append(e.Participant, encounterParticipant{
				Type: []codeableConcept{{Coding: []coding{{
					System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: p.code, Display: p.display,
				}}}},
				Individual: ref,
			})
		}
	}
	// PV1-3 PL: point of care^room^bed^facility^...
	pl := pv1.Field(3).Rep(1)
	if parts := appendNonEmpty(nil, pl.Comp(1), pl.Comp(2), pl.Comp(3)); len(parts) > 0 {
		e.Location = []encounterLocation{{Location: reference{Display: strings.Join(parts, " ")}}}
	}
	c.add(fullURL, e, request{Method: "PUT", URL: "Encounter?" + conditional(key)})
	return nil
}

// xcn maps an HL7 XCN (ID^family^given^middle^suffix^prefix^degree^
// source^authority^...^ID type in 13) to a logical Practitioner
// reference with the practitioner's identifier and name.
func (c *converter) xcn(r Rep) (*reference, bool) {
	ref := &reference{Type: "Practitioner"}
	if id := text(r.Comp(1)); id != "" {
		sys := c.authority(r.Sub(9, 1), r.Sub(9, 2), r.Sub(9, 3))
		if sys == "" {
			sys = c.senderSystem()
		}
		ref.Identifier = &identifier{System: sys, Value: id}
	}
	name := appendNonEmpty(nil, r.Comp(6), r.Comp(3), r.Comp(4), r.Sub(2, 1), r.Comp(5), r.Comp(7))
	ref.Display = strings.Join(name, " ")
	return ref, ref.Identifier != nil || ref.Display != ""
}
