package hl7v2

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/medledger/medledger/internal/ucum"
)

type oruReport struct {
	res       *diagnosticReport // in c.entries; results added as OBX come
	key       string            // identity that observation keys derive from
	effective string            // OBR-7
}

// oru converts ORU^R01 (unsolicited observation results). Each PID starts
// a patient (created only if no Patient has its identifier), each OBR a
// DiagnosticReport of that patient, each OBX an Observation in the
// preceding OBR's report; an NTE after an OBX becomes a note on it.
// Other segments (PD1, PV1, ORC, SPM, ...) are read only for order numbers
// (ORC) or ignored.
func (c *converter) oru() error {
	var (
		patURL  string
		rep     *oruReport
		lastObs *observation
		orc     *Segment
		n       = map[string]int{}
	)
	for i := 1; i < len(c.m.Segments); i++ {
		s := &c.m.Segments[i]
		n[s.Name]++
		switch s.Name {
		case "PID":
			rep, lastObs, orc = nil, nil, nil
			p, key, err := c.patient(s, n["PID"])
			if err != nil {
				return err
			}
			patURL = c.uuid("Patient", c.control, itoa(n["PID"]))
			c.add(patURL, p, request{Method: "POST", URL: "Patient", IfNoneExist: conditional(key)})
		case "ORC":
			orc = s
		case "OBR":
			lastObs = nil
			if patURL == "" {
				return errorf(ErrInvalid, c.loc("OBR", n["OBR"], 1), "OBR is not preceded by a PID segment")
			}
			var err error
			if rep, err = c.report(s, n["OBR"], orc, patURL); err != nil {
				return err
			}
			orc = nil
		case "OBX":
			if rep == nil {
				return errorf(ErrInvalid, c.loc("OBX", n["OBX"], 1), "OBX is not preceded by an OBR segment")
			}
			o, err := c.observation(s, n["OBX"], rep, patURL)
			if err != nil {
				return err
			}
			lastObs = o
		case "NTE":
			if lastObs != nil {
				var lines []string
				for _, r := range s.Field(3).Reps() {
					lines = appendNonEmpty(lines, r.Comp(1))
				}
				if len(lines) > 0 {
					lastObs.Note = append(lastObs.Note, annotation{Text: strings.Join(lines, "\n")})
				}
			}
		}
	}
	switch {
	case patURL == "":
		return errorf(ErrInvalid, "", "the PID segment is missing")
	case n["OBR"] == 0:
		return errorf(ErrInvalid, "", "there is no OBR segment: no results to convert")
	}
	return nil
}

// reportStatuses maps HL7 table 0123 (result status, OBR-25) to FHIR
// DiagnosticReport status.
var reportStatuses = map[string]string{
	"O": "registered", "I": "registered", "S": "registered",
	"A": "partial", "P": "preliminary", "R": "preliminary",
	"C": "corrected", "F": "final", "X": "cancelled",
}

// report maps the n-th OBR (with the ORC before it, if any) to a
// DiagnosticReport, matched on its filler order number (OBR-3, else
// ORC-3), else its placer order number (OBR-2, else ORC-2).
func (c *converter) report(obr *Segment, n int, orc *Segment, patURL string) (*oruReport, error) {
	loc := func(f int) string { return c.loc("OBR", n, f) }
	code := c.cwe(obr.Field(4).Rep(1))
	if code == nil {
		return nil, errorf(ErrInvalid, loc(4), "the universal service identifier is empty")
	}
	d := &diagnosticReport{ResourceType: "DiagnosticReport", Code: *code, Subject: &reference{Reference: patURL}}
	r := &oruReport{res: d}

	orderNumber := func(obrField, orcField int, typ string) (identifier, bool) {
		if id, ok := c.ei(obr.Field(obrField).Rep(1), typ); ok {
			return id, true
		}
		if orc != nil {
			return c.ei(orc.Field(orcField).Rep(1), typ)
		}
		return identifier{}, false
	}
	filler, haveFiller := orderNumber(3, 3, "FILL")
	placer, havePlacer := orderNumber(2, 2, "PLAC")
	var key identifier
	switch {
	case haveFiller:
		key = filler
	case havePlacer:
		key = placer
	}
	if haveFiller {
		d.Identifier = append(d.Identifier, filler)
	}
	if havePlacer {
		d.Identifier = append(d.Identifier, placer)
	}
	if key.Value != "" && key.System != "" {
		r.key = "order\x1f" + key.System + "\x1f" + key.Value
	} else {
		r.key = "message\x1f" + c.control + "\x1f" + itoa(n)
		key = c.derivedIdentifier("DiagnosticReport", r.key)
		d.Identifier = append(d.Identifier, key)
	}

	status := strings.ToUpper(text(obr.Field(25).Value()))
	if s, ok := reportStatuses[status]; ok {
		d.Status = s
	} else {
		d.Status = "unknown"
		if status != "" {
			c.warn("code-invalid", loc(25), c.expr("status"), "result status is not a code of HL7 table 0123; status set to unknown")
		}
	}
	if sect := text(obr.Field(24).Value()); sect != "" {
		d.Category = []codeableConcept{{Coding: []coding{{System: "http://terminology.hl7.org/CodeSystem/v2-0074", Code: sect}}}}
	}
	var err error
	if r.effective, err = c.dateTime(obr.Field(7).Value(), loc(7)); err != nil {
		return nil, err
	}
	d.EffectiveDateTime = r.effective
	c.add(c.uuid("DiagnosticReport", r.key), d, request{Method: "PUT", URL: "DiagnosticReport?" + conditional(key)})
	return r, nil
}

// observationStatuses maps HL7 table 0085 (OBX-11) to FHIR Observation
// status.
var observationStatuses = map[string]string{
	"F": "final", "U": "final",
	"C": "corrected", "A": "amended",
	"P": "preliminary", "R": "preliminary", "S": "preliminary",
	"I": "registered", "O": "registered",
	"X": "cancelled", "N": "cancelled",
	"D": "entered-in-error", "W": "entered-in-error",
}

// interpretations are the codes of HL7 table 0078 (abnormal flags, OBX-8)
// that are also v3 ObservationInterpretation codes, with displays.
var interpretations = map[string]string{
	"L": "Low", "H": "High", "LL": "Critical low", "HH": "Critical high",
	"<": "Off scale low", ">": "Off scale high", "N": "Normal", "A": "Abnormal",
	"AA": "Critical abnormal", "U": "Significant change up", "D": "Significant change down",
	"B": "Better", "W": "Worse", "S": "Susceptible", "R": "Resistant", "I": "Intermediate",
	"MS": "moderately susceptible", "VS": "very susceptible", "NEG": "Negative", "POS": "Positive",
	"IND": "Indeterminate", "DET": "Detected", "ND": "Not detected", "E": "Equivocal",
	"EX": "outside threshold", "HU": "Significantly high", "LU": "Significantly low",
	"NR": "Non-reactive", "RR": "Reactive", "WR": "Weakly reactive", "QCF": "Quality control failure",
	"TOX": "Cytotoxic substance present", "SDD": "Susceptible-dose dependent",
	"SYN-R": "Synergy - resistant", "SYN-S": "Synergy - susceptible",
}

// observation maps the n-th OBX to an Observation in report r.
func (c *converter) observation(obx *Segment, n int, r *oruReport, patURL string) (*observation, error) {
	loc := func(f int) string { return c.loc("OBX", n, f) }
	code := c.cwe(obx.Field(3).Rep(1))
	if code == nil {
		return nil, errorf(ErrInvalid, loc(3), "the observation identifier is empty")
	}
	loinc := loincOf(code)
	o := &observation{ResourceType: "Observation", Code: *code, Subject: &reference{Reference: patURL}}

	// Identity: the observation instance identifier (OBX-21) when given,
	// else one derived from the report's order number, the observation
	// code and sub-ID, so that a corrected result sent later in another
	// message updates this one.
	var key identifier
	var fullURL string
	if id, ok := c.ei(obx.Field(21).Rep(1), ""); ok && id.System != "" {
		key = id
		o.Identifier = append(o.Identifier, id)
		fullURL = c.uuid("Observation", "instance", id.System, id.Value)
	} else {
		what := code.Text
		if len(code.Coding) > 0 {
			what = code.Coding[0].System + "|" + code.Coding[0].Code
		}
		k := r.key + "\x1f" + what + "\x1f" + text(obx.Field(4).Value())
		c.obsKeys[k]++
		if dup := c.obsKeys[k]; dup > 1 {
			k += "\x1f" + itoa(dup)
		}
		fullURL = c.uuid("Observation", k)
		key = c.derivedIdentifier("Observation", k)
		o.Identifier = append(o.Identifier, key)
	}

	status := strings.ToUpper(text(obx.Field(11).Value()))
	if s, ok := observationStatuses[status]; ok {
		o.Status = s
	} else {
		o.Status = "unknown"
		c.warn("code-invalid", loc(11), c.expr("status"), "result status is empty or not a code of HL7 table 0085; status set to unknown")
	}
	cat := coding{System: "http://terminology.hl7.org/CodeSystem/observation-category", Code: "laboratory", Display: "Laboratory"}
	if ucum.IsVitalSign(loinc) {
		cat.Code, cat.Display = "vital-signs", "Vital Signs"
	}
	o.Category = []codeableConcept{{Coding: []coding{cat}}}

	eff, err := c.dateTime(obx.Field(14).Value(), loc(14))
	if err != nil {
		return nil, err
	}
	if eff == "" {
		eff = r.effective
	}
	o.EffectiveDateTime = eff

	if err := c.value(o, obx, loc, loinc); err != nil {
		return nil, err
	}
	c.referenceRange(o, obx, loinc)

	for _, rep := range obx.Field(8).Reps() {
		flag := strings.ToUpper(text(rep.Comp(1)))
		if flag == "" {
			continue
		}
		if disp, ok := interpretations[flag]; ok {
			o.Interpretation = append(o.Interpretation, codeableConcept{Coding: []coding{{
				System: "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", Code: flag, Display: disp,
			}}})
		} else {
			c.warn("code-invalid", loc(8), c.expr("interpretation"), "abnormal flag is not a code of HL7 table 0078; omitted")
		}
	}

	c.add(fullURL, o, request{Method: "PUT", URL: "Observation?" + conditional(key)})
	r.res.Result = append(r.res.Result, reference{Reference: fullURL})
	return o, nil
}

// value sets the Observation's value[x] from OBX-2 (value type), OBX-5
// (value) and OBX-6 (units).
func (c *converter) value(o *observation, obx *Segment, loc func(int) string, loinc string) error {
	vt := strings.ToUpper(text(obx.Field(2).Value()))
	val := obx.Field(5)
	first := val.Rep(1)
	if text(val.Raw()) == "" {
		return nil
	}
	units := obx.Field(6).Rep(1)
	switch vt {
	case "NM":
		q, err := c.quantity(text(first.Comp(1)), units, loinc, c.expr("valueQuantity"), loc(5), loc(6), true)
		if err != nil {
			return err
		}
		o.ValueQuantity = q
	case "SN":
		return c.structuredNumeric(o, first, units, loc, loinc)
	case "ST", "TX", "FT", "ID", "IS":
		var lines []string
		for _, r := range val.Reps() {
			lines = appendNonEmpty(lines, r.Comp(1))
		}
		o.ValueString = strings.Join(lines, "\n")
	case "CE", "CWE", "CNE", "CF":
		o.ValueCodeableConcept = c.cwe(first)
	case "DT", "TS", "DTM":
		dt, err := c.dateTime(first.Comp(1), loc(5))
		if err != nil {
			return err
		}
		o.ValueDateTime = dt
	case "TM":
		tm, err := parseTM(text(first.Comp(1)))
		if err != nil {
			return &Error{Loc: loc(5), Kind: ErrInvalid, Err: err}
		}
		o.ValueTime = tm
	case "":
		return errorf(ErrInvalid, loc(2), "the value type is empty but OBX-5 has a value")
	default:
		c.warn("not-supported", loc(2), c.expr("value"), "value type %s is not supported (NM, SN, ST, TX, FT, CE, CWE, DT, TS, TM); value omitted", safeCode(vt))
		o.DataAbsentReason = &codeableConcept{Coding: []coding{{
			System: "http://terminology.hl7.org/CodeSystem/data-absent-reason", Code: "unsupported", Display: "Unsupported",
		}}}
	}
	return nil
}

// structuredNumeric maps an SN value: comparator^number^separator^number.
func (c *converter) structuredNumeric(o *observation, r Rep, units Rep, loc func(int) string, loinc string) error {
	cmp, n1, sep, n2 := text(r.Comp(1)), text(r.Comp(2)), text(r.Comp(3)), text(r.Comp(4))
	switch {
	case n1 != "" && n2 != "" && sep == "-":
		lo, err := c.quantity(n1, units, loinc, c.expr("valueRange.low"), loc(5), loc(6), false)
		if err != nil {
			return err
		}
		hi, err := c.quantity(n2, units, loinc, c.expr("valueRange.high"), loc(5), loc(6), false)
		if err != nil {
			return err
		}
		o.ValueRange = &valueRange{Low: lo, High: hi}
	case n1 != "" && n2 != "" && (sep == ":" || sep == "/"):
		num, err := plainNumber(n1, loc(5))
		if err != nil {
			return err
		}
		den, err := plainNumber(n2, loc(5))
		if err != nil {
			return err
		}
		o.ValueRatio = &ratio{Numerator: &quantity{Value: num}, Denominator: &quantity{Value: den}}
	case n1 != "" && sep == "" && n2 == "":
		q, err := c.quantity(n1, units, loinc, c.expr("valueQuantity"), loc(5), loc(6), cmp == "" || cmp == "=")
		if err != nil {
			return err
		}
		switch cmp {
		case "", "=":
		case "<", "<=", ">", ">=":
			q.Comparator = cmp
		default:
			return errorf(ErrInvalid, loc(5), "the SN comparator is not one of =, <, <=, >, >=")
		}
		o.ValueQuantity = q
	default:
		// Categorical forms such as "2^+" keep their text.
		o.ValueString = cmp + n1 + sep + n2
	}
	return nil
}

func plainNumber(s, loc string) (json.Number, error) {
	q, _, err := ucum.Normalize(ucum.Quantity{Value: s}, "")
	if err != nil {
		return "", &Error{Loc: loc, Kind: ErrInvalid, Err: fmt.Errorf("numeric value: %w", err)}
	}
	return json.Number(q.Value), nil
}

// quantity converts a number with OBX-6 units through package ucum. With
// check, its plausibility issues are kept (at expr); reference ranges and
// comparator values are converted the same way but not checked.
func (c *converter) quantity(v string, units Rep, loinc, expr, loc5, loc6 string, check bool) (*quantity, error) {
	if v == "" {
		return nil, nil
	}
	in := ucumQuantity(units)
	in.Value = v
	q, issues, err := ucum.Normalize(in, loinc)
	switch {
	case errors.Is(err, ucum.ErrUnknownUnit) && c.o.KeepUnknownUnits:
		num, nerr := plainNumber(v, loc5)
		if nerr != nil {
			return nil, nerr
		}
		unit := in.Unit
		if unit == "" {
			unit = in.Code
		}
		if check {
			c.warn("code-invalid", loc6, expr, "%v; kept as text without a UCUM code", err)
		}
		return &quantity{Value: num, Unit: unit}, nil
	case errors.Is(err, ucum.ErrUnknownUnit):
		return nil, &Error{Loc: loc6, Kind: ErrInvalid, Err: err}
	case err != nil:
		return nil, &Error{Loc: loc5, Kind: ErrInvalid, Err: fmt.Errorf("numeric value: %w", err)}
	}
	if check {
		seg, _, _ := strings.Cut(loc5, "-")
		for _, is := range issues {
			is.Diagnostics = seg + ": " + is.Diagnostics
			is.Expression = []string{expr}
			c.issues = append(c.issues, is)
		}
	}
	return &quantity{Value: json.Number(q.Value), Unit: q.Unit, System: q.System, Code: q.Code}, nil
}

// ucumQuantity reads OBX-6 (CE/CWE: identifier^text^coding system): a
// UCUM code when the system is UCUM, else the unit as spelled.
func ucumQuantity(units Rep) ucum.Quantity {
	id, txt, sys := text(units.Comp(1)), text(units.Comp(2)), strings.ToUpper(text(units.Comp(3)))
	if id == "" {
		id = txt
	}
	if sys == "UCUM" {
		disp := txt
		if disp == "" {
			disp = id
		}
		return ucum.Quantity{Code: id, System: ucum.System, Unit: disp}
	}
	return ucum.Quantity{Unit: id}
}

// referenceRange maps OBX-7: "lo-hi", "<hi", "<=hi", ">lo", ">=lo", in
// the result's units; anything else is kept as text.
func (c *converter) referenceRange(o *observation, obx *Segment, loinc string) {
	s := text(obx.Field(7).Value())
	if s == "" {
		return
	}
	units := obx.Field(6).Rep(1)
	q := func(v string) *quantity {
		out, err := c.quantity(v, units, loinc, "", "", "", false)
		if err != nil {
			return nil
		}
		return out
	}
	rr := referenceRange{}
	switch {
	case strings.HasPrefix(s, "<"):
		rr.High = q(strings.TrimLeft(s, "<= "))
	case strings.HasPrefix(s, ">"):
		rr.Low = q(strings.TrimLeft(s, ">= "))
	default:
		// The separating hyphen is one that is not a sign.
		for i := 1; i < len(s); i++ {
			if s[i] != '-' {
				continue
			}
			lo, hi := strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+1:])
			if l, h := q(lo), q(hi); l != nil && h != nil {
				rr.Low, rr.High = l, h
				break
			}
		}
	}
	if rr.Low == nil && rr.High == nil {
		rr.Text = s
	}
	o.ReferenceRange = []referenceRange{rr}
}
