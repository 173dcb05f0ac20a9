// Package ucum normalises observation quantities to canonical UCUM units
// (https://ucum.org) and checks them for plausibility.
//
// It knows a curated table of units that clinical systems actually send
// (vital signs, body measurements and common laboratory units), their UCUM
// codes, and the common non-UCUM spellings of them ("lbs", "°F", "mmHg",
// "bpm", "K/uL", ...). It is not a general UCUM expression parser: a unit
// outside the table is rejected with ErrUnknownUnit, even when it is valid
// UCUM, so that every accepted unit has a known dimension.
//
// Arithmetic is exact (math/big.Rat) and the precision of converted values
// follows fixed rules, documented on Normalize. The package performs no I/O
// and holds no mutable state; everything in it is safe for concurrent use.
package ucum

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/fhir"
)

// System is the FHIR code system URI of UCUM.
const System = "http://unitsofmeasure.org"

// Quantity is a measured amount as exchanged in FHIR or HL7 v2.
type Quantity struct {
	// Value is the exact decimal text, e.g. "70.50". Precision is
	// significant and kept.
	Value string
	// Unit is the unit as displayed or received ("lbs", "°F", "mmHg").
	Unit string
	// Code is the unit's code in System, normally a UCUM code ("[lb_av]").
	Code string
	// System is the code system of Code; "" or System for UCUM.
	System string
}

// ErrUnknownUnit is wrapped by the errors of Normalize for a unit that is
// neither a known UCUM code nor a known synonym of one.
var ErrUnknownUnit = errors.New("ucum: unknown unit")

// ErrBadValue is wrapped by the errors of Normalize for a value that is not
// a decimal number (or an absurdly long or large one). The error text never
// contains the value.
var ErrBadValue = errors.New("ucum: value is not a decimal number")

// UnitError reports a unit that is not known. The unit text is quoted in
// the message: units are not personal data.
type UnitError struct {
	Unit    string // as received, truncated to 40 characters
	Suggest string // UCUM codes to suggest instead
}

func (e *UnitError) Error() string {
	return fmt.Sprintf("unit %q is not a known UCUM unit or synonym; send a UCUM code such as %s", e.Unit, e.Suggest)
}

// Unwrap returns ErrUnknownUnit.
func (e *UnitError) Unwrap() error { return ErrUnknownUnit }

// Expression is the FHIRPath location given in the issues of Normalize.
const Expression = "Observation.valueQuantity"

// Limits on accepted values, to keep exact arithmetic cheap and results
// short. Values outside them are rejected with ErrBadValue.
const (
	maxValueLen  = 100 // characters of decimal text
	maxExponent  = 60  // magnitude of a written decimal exponent
	maxSigDigits = 30  // significant digits
	maxMagnitude = 21  // non-zero values lie in [1e-21, 1e21)
)

// Normalize returns q in its canonical UCUM unit, with the issues found,
// for an observation coded loinc ("" when unknown).
//
// The unit is taken from q.Code when q.System is "" or UCUM, else from
// q.Unit, else from q.Code; matching is exact first, then against known
// synonyms ignoring case, spaces and the micro sign. "C" and "F" are read
// as temperatures only when loinc is a temperature.
//
// Target unit: when loinc is one Normalize knows, the unit of that LOINC
// code (e.g. kg for 29463-7 body weight, even when sent in g or lb);
// mass and substance concentrations convert into each other only there,
// with the analyte's molar mass (glucose: 180.156 g/mol). Otherwise US
// customary units become metric (lb→kg, oz→g, in→cm, ft→cm, °F→Cel) and
// every other unit is kept.
//
// Precision: an unconverted value keeps its text (only a leading "+",
// superfluous leading zeros and a bare decimal point are tidied into FHIR
// decimal syntax). A conversion by a power of ten moves the decimal point
// and is exact ("3500 g" → "3.500 kg"). Any other multiplicative
// conversion keeps one significant digit more than the value received
// ("154 lb" → "69.85 kg"). °F→Cel keeps one decimal place more than the
// value received ("98.6 [degF]" → "37.00 Cel"); K→Cel keeps the decimal
// places received. Rounding is half away from zero on the exact result.
//
// The result has System UCUM, Code the UCUM code, and Unit the unit as
// received when the value was not converted ("mmHg" for mm[Hg]), else a
// display form of the new unit ("kg", "°C").
//
// Issues are warnings with code "value" at Expression: the value is
// outside the plausible range for its LOINC code, its unit is not a unit
// of that code's kind, or it has no unit. Diagnostics never contain the
// value.
//
// An empty unit is allowed: the value comes back tidied, with no unit.
// Errors wrap ErrUnknownUnit (see UnitError) or ErrBadValue; the latter
// also for values with more than 30 significant digits or a magnitude
// outside [1e-21, 1e21), before or after conversion.
func Normalize(q Quantity, loinc string) (Quantity, []fhir.Issue, error) {
	d, err := parseDecimal(q.Value)
	if err != nil {
		return Quantity{}, nil, err
	}
	r, hasRule := rules[loinc]
	var issues []fhir.Issue
	warn := func(format string, args ...any) {
		issues = append(issues, fhir.Issue{
			Severity: "warning", Code: "value",
			Diagnostics: fmt.Sprintf(format, args...),
			Expression:  []string{Expression},
		})
	}

	from, spelled, err := resolveQuantity(q, r, hasRule)
	if err != nil {
		return Quantity{}, nil, err
	}
	if from == nil {
		if hasRule {
			warn("%s has no unit; plausibility not checked", r.name)
		}
		return Quantity{Value: d.text}, issues, nil
	}

	to := from
	switch {
	case hasRule && convertible(from, units[r.unit], r):
		to = units[r.unit]
	case hasRule:
		warn("unit %s is not a unit of %s (expected %s); plausibility not checked", from.code, r.name, r.unit)
	case from.metric != "":
		to = units[from.metric]
	}

	out := Quantity{Value: d.text, Unit: spelled, Code: to.code, System: System}
	outDec := d
	if to != from {
		out.Value = convert(d, from, to, r)
		out.Unit = to.display()
		// Keep every result acceptable as input, so that normalising is
		// idempotent.
		if outDec, err = parseDecimal(out.Value); err != nil {
			return Quantity{}, nil, fmt.Errorf("%w in %s", err, to.code)
		}
	} else if out.Unit == "" {
		out.Unit = to.display()
	}

	if hasRule && to.code == r.unit {
		v := outDec.rat
		if v.Cmp(r.min) < 0 || v.Cmp(r.max) > 0 {
			warn("%s is outside the plausible range %s–%s %s", r.name, r.minText, r.maxText, r.unit)
		}
	}
	return out, issues, nil
}

// resolveQuantity finds the unit of q. It returns nil, "" with no error
// when q has no unit at all. spelled is the unit text to keep as display
// when the value is not converted.
func resolveQuantity(q Quantity, r rule, hasRule bool) (u *unit, spelled string, err error) {
	ucumCode := q.System == "" || q.System == System
	var tries []string
	if ucumCode && q.Code != "" {
		tries = append(tries, q.Code)
	}
	if q.Unit != "" {
		tries = append(tries, q.Unit)
	}
	if !ucumCode && q.Code != "" {
		tries = append(tries, q.Code)
	}
	if len(tries) == 0 {
		return nil, "", nil
	}
	for _, s := range tries {
		if u := lookup(s, hasRule && units[r.unit].dim == dimTemperature); u != nil {
			return u, q.Unit, nil
		}
	}
	suggest := "kg, cm, Cel, mm[Hg] or mg/dL"
	if hasRule {
		suggest = r.unit
	}
	return nil, "", &UnitError{Unit: truncate(tries[0], 40), Suggest: suggest}
}

// lookup resolves a unit spelling: an exact UCUM code, then a synonym or
// a code ignoring case, spaces and micro signs.
func lookup(s string, temperature bool) *unit {
	s = strings.TrimSpace(s)
	if u, ok := units[s]; ok {
		return u
	}
	if temperature {
		switch s {
		case "C":
			return units["Cel"]
		case "F":
			return units["[degF]"]
		}
	}
	if code, ok := folded[fold(s)]; ok {
		return units[code]
	}
	if isAnnotation(s) {
		return annotationUnit(s)
	}
	return nil
}

// fold maps a unit spelling to its case-, space- and micro-insensitive key.
func fold(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch c {
		case ' ', '\t':
		case 'µ', 'μ': // micro sign U+00B5, Greek mu U+03BC
			b.WriteByte('u')
		case '²':
			b.WriteByte('2')
		case '³':
			b.WriteByte('3')
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// isAnnotation reports whether s is a UCUM annotation alone, such as
// "{score}", which UCUM defines as the dimensionless unity.
func isAnnotation(s string) bool {
	if len(s) < 2 || len(s) > 40 || s[0] != '{' || s[len(s)-1] != '}' {
		return false
	}
	for i := 1; i < len(s)-1; i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

func annotationUnit(code string) *unit {
	return &unit{code: code, dim: "annotation:" + code, factor: big.NewRat(1, 1)}
}

// convertible reports whether Normalize can convert from into to for an
// observation with rule r.
func convertible(from, to *unit, r rule) bool {
	if from.dim == to.dim {
		return true
	}
	return r.molarMass != nil &&
		(from.dim == dimMassConc && to.dim == dimSubstConc || from.dim == dimSubstConc && to.dim == dimMassConc)
}

// convert converts d from one unit to another convertible one and formats
// the result by the precision rules of Normalize.
func convert(d decimal, from, to *unit, r rule) string {
	v := new(big.Rat).Set(d.rat)
	if from.offset != nil || to.offset != nil {
		// Affine (temperatures): base = v*factor + offset.
		v.Mul(v, from.factor)
		if from.offset != nil {
			v.Add(v, from.offset)
		}
		if to.offset != nil {
			v.Sub(v, to.offset)
		}
		v.Quo(v, to.factor)
		places := d.decimals()
		if from.factor.Cmp(to.factor) != 0 {
			places++ // °F→Cel: a degree Fahrenheit is 5/9 of a kelvin
		}
		return formatFixed(v, places)
	}
	ratio := new(big.Rat).Quo(from.factor, to.factor)
	switch {
	case from.dim == dimSubstConc && to.dim == dimMassConc:
		ratio.Mul(ratio, r.molarMass)
	case from.dim == dimMassConc && to.dim == dimSubstConc:
		ratio.Quo(ratio, r.molarMass)
	}
	v.Mul(v, ratio)
	if k, ok := powerOfTen(ratio); ok {
		return formatFixed(v, max(d.decimals()-k, 0))
	}
	return formatSignificant(v, d.sigDigits()+1)
}

// powerOfTen reports whether r is 10^k, and k.
func powerOfTen(r *big.Rat) (int, bool) {
	isPow := func(x *big.Int) (int, bool) {
		s := x.String()
		if s[0] != '1' || strings.Trim(s[1:], "0") != "" {
			return 0, false
		}
		return len(s) - 1, true
	}
	if r.Sign() <= 0 {
		return 0, false
	}
	n, ok1 := isPow(r.Num())
	m, ok2 := isPow(r.Denom())
	if !ok1 || !ok2 || (n != 0 && m != 0) {
		return 0, false
	}
	return n - m, true
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j] + "…"
		}
		i++
	}
	return s
}
