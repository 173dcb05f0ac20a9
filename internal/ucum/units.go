package ucum

import (
	"fmt"
	"math/big"
)

// unit is one known UCUM unit.
type unit struct {
	code   string   // UCUM code, case-sensitive
	disp   string   // display text when it differs from code
	dim    string   // dimension; units convert only within one
	factor *big.Rat // value in the dimension's base unit = v*factor + offset
	offset *big.Rat // nil unless affine (temperatures)
	metric string   // unit to convert to when no LOINC code says otherwise
}

func (u *unit) display() string {
	if u.disp != "" {
		return u.disp
	}
	return u.code
}

// Dimensions. Concentrations of mass and of substance are distinct, as
// converting between them needs the analyte's molar mass.
const (
	dimMass        = "mass"        // base g
	dimLength      = "length"      // base m
	dimTemperature = "temperature" // base K
	dimPressure    = "pressure"    // base Pa
	dimRate        = "rate"        // base /min
	dimFraction    = "fraction"    // base %
	dimBMI         = "bmi"         // base kg/m2
	dimArea        = "area"        // base m2
	dimMassConc    = "massconc"    // base g/L
	dimSubstConc   = "substconc"   // base mol/L
	dimEquivConc   = "equivconc"   // base eq/L
	dimNumberConc  = "numberconc"  // base /L
	dimVolume      = "volume"      // base L
	dimTime        = "time"        // base s
	dimCatConc     = "catconc"     // base U/L
	dimIUConc      = "iuconc"      // base [IU]/L
	dimSubstRatio  = "substratio"  // base mol/mol
	dimGFR         = "gfr"         // base mL/min/{1.73_m2}
	dimFlow        = "flow"        // base L/min
	dimSpeed       = "speed"       // base mm/h
	dimPH          = "ph"
	dimUnity       = "unity"
)

// unitTable lists the known units: code, dimension, factor to the base
// unit (exact decimal text or a fraction), metric target, display.
var unitTable = []struct {
	code, dim, factor, metric, disp string
}{
	{"kg", dimMass, "1000", "", ""},
	{"g", dimMass, "1", "", ""},
	{"mg", dimMass, "0.001", "", ""},
	{"ug", dimMass, "1e-6", "", ""},
	{"ng", dimMass, "1e-9", "", ""},
	{"pg", dimMass, "1e-12", "", ""},
	{"[lb_av]", dimMass, "453.59237", "kg", "lb"},
	{"[oz_av]", dimMass, "28.349523125", "g", "oz"},

	{"m", dimLength, "1", "", ""},
	{"cm", dimLength, "0.01", "", ""},
	{"mm", dimLength, "0.001", "", ""},
	{"[in_i]", dimLength, "0.0254", "cm", "in"},
	{"[ft_i]", dimLength, "0.3048", "cm", "ft"},

	// Temperatures are affine; see temperatureOffsets.
	{"K", dimTemperature, "1", "", ""},
	{"Cel", dimTemperature, "1", "", "°C"},
	{"[degF]", dimTemperature, "5/9", "Cel", "°F"},

	{"Pa", dimPressure, "1", "", ""},
	{"kPa", dimPressure, "1000", "", ""},
	{"mm[Hg]", dimPressure, "133.322", "", "mmHg"}, // UCUM: m[Hg] = 133.3220 kPa
	{"cm[H2O]", dimPressure, "98.0665", "", "cmH2O"},

	{"/min", dimRate, "1", "", ""},
	{"/s", dimRate, "60", "", ""},
	{"/h", dimRate, "1/60", "", ""},

	{"%", dimFraction, "1", "", ""},
	{"1", dimFraction, "100", "", ""},

	{"kg/m2", dimBMI, "1", "", ""},
	{"m2", dimArea, "1", "", ""},

	{"g/L", dimMassConc, "1", "", ""},
	{"g/dL", dimMassConc, "10", "", ""},
	{"mg/dL", dimMassConc, "0.01", "", ""},
	{"mg/L", dimMassConc, "0.001", "", ""},
	{"ug/mL", dimMassConc, "0.001", "", ""},
	{"ug/dL", dimMassConc, "1e-5", "", ""},
	{"ug/L", dimMassConc, "1e-6", "", ""},
	{"ng/mL", dimMassConc, "1e-6", "", ""},
	{"ng/dL", dimMassConc, "1e-8", "", ""},
	{"pg/mL", dimMassConc, "1e-9", "", ""},

	{"mol/L", dimSubstConc, "1", "", ""},
	{"mmol/L", dimSubstConc, "0.001", "", ""},
	{"umol/L", dimSubstConc, "1e-6", "", ""},
	{"nmol/L", dimSubstConc, "1e-9", "", ""},
	{"pmol/L", dimSubstConc, "1e-12", "", ""},

	{"meq/L", dimEquivConc, "0.001", "", "mEq/L"},

	{"/L", dimNumberConc, "1", "", ""},
	{"/uL", dimNumberConc, "1e6", "", ""},
	{"10*3/uL", dimNumberConc, "1e9", "", ""},
	{"10*6/uL", dimNumberConc, "1e12", "", ""},
	{"10*9/L", dimNumberConc, "1e9", "", ""},
	{"10*12/L", dimNumberConc, "1e12", "", ""},

	{"L", dimVolume, "1", "", ""},
	{"dL", dimVolume, "0.1", "", ""},
	{"mL", dimVolume, "0.001", "", ""},
	{"uL", dimVolume, "1e-6", "", ""},
	{"fL", dimVolume, "1e-15", "", ""},

	{"ms", dimTime, "0.001", "", ""},
	{"s", dimTime, "1", "", ""},
	{"min", dimTime, "60", "", ""},
	{"h", dimTime, "3600", "", ""},
	{"d", dimTime, "86400", "", ""},
	{"wk", dimTime, "604800", "", ""},
	{"mo", dimTime, "2629800", "", ""}, // UCUM: a_j/12
	{"a", dimTime, "31557600", "", ""}, // UCUM: a_j = 365.25 d

	{"U/L", dimCatConc, "1", "", ""},
	{"[IU]/L", dimIUConc, "1", "", ""},
	{"[IU]/mL", dimIUConc, "1000", "", ""},
	{"m[IU]/L", dimIUConc, "0.001", "", ""},
	{"m[IU]/mL", dimIUConc, "1", "", ""},
	{"u[IU]/mL", dimIUConc, "0.001", "", ""},

	{"mmol/mol", dimSubstRatio, "0.001", "", ""},
	{"mL/min/{1.73_m2}", dimGFR, "1", "", ""},
	{"L/min", dimFlow, "1", "", ""},
	{"mm/h", dimSpeed, "1", "", ""},
	{"[pH]", dimPH, "1", "", "pH"},
}

// temperatureOffsets gives the offsets of the affine units, in K:
// K = Cel + 273.15 = ([degF] + 459.67) × 5/9.
var temperatureOffsets = map[string]string{
	"Cel":    "273.15",
	"[degF]": "45967/180",
}

// synonyms maps spellings that are not UCUM codes to codes. Keys are
// compared after fold, so case and spaces do not matter.
var synonyms = map[string]string{
	"lb": "[lb_av]", "lbs": "[lb_av]", "pound": "[lb_av]", "pounds": "[lb_av]",
	"oz": "[oz_av]", "ounce": "[oz_av]", "ounces": "[oz_av]",
	"kgs": "kg", "kilogram": "kg", "kilograms": "kg",
	"gm": "g", "gms": "g", "gram": "g", "grams": "g",
	"mcg": "ug",

	"in": "[in_i]", "inch": "[in_i]", "inches": "[in_i]",
	"ft": "[ft_i]", "foot": "[ft_i]", "feet": "[ft_i]",
	"cms": "cm", "centimeter": "cm", "centimeters": "cm", "centimetre": "cm", "centimetres": "cm",
	"meter": "m", "meters": "m", "metre": "m", "metres": "m",
	"millimeter": "mm", "millimetre": "mm",

	"°c": "Cel", "degc": "Cel", "[degc]": "Cel", "celsius": "Cel", "centigrade": "Cel", "degreesc": "Cel",
	"°f": "[degF]", "degf": "[degF]", "fahrenheit": "[degF]", "degreesf": "[degF]",
	"kelvin": "K",

	"mmhg": "mm[Hg]", "cmh2o": "cm[H2O]",

	"bpm": "/min", "beats/min": "/min", "{beats}/min": "/min", "1/min": "/min",
	"/minute": "/min", "permin": "/min", "perminute": "/min",
	"breaths/min": "/min", "{breaths}/min": "/min", "{beat}/min": "/min", "{breath}/min": "/min",

	"percent": "%", "pct": "%",

	"kg/m^2": "kg/m2", "m^2": "m2",

	"mcg/ml": "ug/mL", "mcg/dl": "ug/dL", "mcg/l": "ug/L",

	"k/ul": "10*3/uL", "x10^3/ul": "10*3/uL", "10^3/ul": "10*3/uL", "x10e3/ul": "10*3/uL",
	"10e3/ul": "10*3/uL", "x10*3/ul": "10*3/uL", "thou/ul": "10*3/uL",
	"m/ul": "10*6/uL", "x10^6/ul": "10*6/uL", "10^6/ul": "10*6/uL", "x10e6/ul": "10*6/uL",
	"10e6/ul": "10*6/uL", "mill/ul": "10*6/uL",
	"x10^9/l": "10*9/L", "10^9/l": "10*9/L", "x10e9/l": "10*9/L", "10e9/l": "10*9/L",
	"x10^12/l": "10*12/L", "10^12/l": "10*12/L", "x10e12/l": "10*12/L", "10e12/l": "10*12/L",
	"/mm3": "/uL", "/cumm": "/uL",

	"iu/l": "[IU]/L", "iu/ml": "[IU]/mL", "miu/l": "m[IU]/L", "miu/ml": "m[IU]/mL", "uiu/ml": "u[IU]/mL",
	"ml/min/1.73m2": "mL/min/{1.73_m2}", "ml/min/1.73_m2": "mL/min/{1.73_m2}",
	"ph":  "[pH]",
	"sec": "s", "secs": "s", "seconds": "s", "hr": "h", "hrs": "h", "hours": "h",
	"days": "d", "day": "d", "weeks": "wk", "months": "mo", "years": "a", "yr": "a", "yrs": "a",
}

// rule is what Normalize knows of one LOINC code.
type rule struct {
	name             string   // for diagnostics, e.g. "body weight"
	unit             string   // canonical UCUM code
	min, max         *big.Rat // plausible range, inclusive, in unit
	minText, maxText string
	molarMass        *big.Rat // g/mol, for mass↔substance concentration; nil if none
	// Vital reports whether the code is a vital sign (FHIR vital-signs
	// profile); used by IsVitalSign.
	vital bool
}

// ruleTable lists the LOINC codes with plausibility ranges. The ranges
// are deliberately wide: they catch unit mix-ups and typing errors (a
// weight of 700 kg), not clinical abnormality.
var ruleTable = []struct {
	loinc, name, unit, min, max, molarMass string
	vital                                  bool
}{
	{"29463-7", "body weight", "kg", "0.2", "400", "", true},
	{"3141-9", "body weight", "kg", "0.2", "400", "", true},
	{"8302-2", "body height", "cm", "20", "250", "", true},
	{"8306-3", "body height (lying)", "cm", "20", "250", "", true},
	{"8310-5", "body temperature", "Cel", "25", "45", "", true},
	{"8331-1", "oral temperature", "Cel", "25", "45", "", true},
	{"8867-4", "heart rate", "/min", "20", "250", "", true},
	{"9279-1", "respiratory rate", "/min", "2", "80", "", true},
	{"8480-6", "systolic blood pressure", "mm[Hg]", "40", "300", "", true},
	{"8462-4", "diastolic blood pressure", "mm[Hg]", "20", "200", "", true},
	{"39156-5", "body mass index", "kg/m2", "8", "100", "", true},
	{"2708-6", "oxygen saturation", "%", "20", "100", "", true},
	{"59408-5", "oxygen saturation (pulse oximetry)", "%", "20", "100", "", true},
	{"4548-4", "HbA1c", "%", "2", "20", "", false},
	{"17856-6", "HbA1c", "%", "2", "20", "", false},
	{"2339-0", "blood glucose", "mg/dL", "10", "1500", "180.156", false},
	{"2345-7", "serum glucose", "mg/dL", "10", "1500", "180.156", false},
	{"15074-8", "blood glucose", "mmol/L", "0.55", "83", "180.156", false},
	{"14749-6", "serum glucose", "mmol/L", "0.55", "83", "180.156", false},
}

// Tables built at init from the lists above; read-only afterwards.
var (
	units  = map[string]*unit{}  // by UCUM code
	folded = map[string]string{} // fold(spelling) → UCUM code
	rules  = map[string]rule{}   // by LOINC code
)

func init() {
	for _, e := range unitTable {
		u := &unit{code: e.code, dim: e.dim, factor: mustRat(e.factor), metric: e.metric, disp: e.disp}
		if o, ok := temperatureOffsets[e.code]; ok {
			u.offset = mustRat(o)
		}
		if _, dup := units[e.code]; dup {
			panic("ucum: duplicate unit " + e.code)
		}
		units[e.code] = u
	}
	add := func(spelling, code string) {
		k := fold(spelling)
		if prev, ok := folded[k]; ok && prev != code {
			panic(fmt.Sprintf("ucum: spelling %q is ambiguous (%s, %s)", spelling, prev, code))
		}
		folded[k] = code
	}
	for _, e := range unitTable {
		add(e.code, e.code)
	}
	for s, code := range synonyms {
		if units[code] == nil {
			panic("ucum: synonym " + s + " of unknown unit " + code)
		}
		add(s, code)
	}
	for _, e := range ruleTable {
		if units[e.unit] == nil {
			panic("ucum: rule " + e.loinc + " has unknown unit " + e.unit)
		}
		r := rule{name: e.name, unit: e.unit, min: mustRat(e.min), max: mustRat(e.max),
			minText: e.min, maxText: e.max, vital: e.vital}
		if e.molarMass != "" {
			r.molarMass = mustRat(e.molarMass)
		}
		rules[e.loinc] = r
	}
}

func mustRat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic("ucum: bad table number " + s)
	}
	return r
}

// IsVitalSign reports whether loinc is one of the vital-sign codes
// Normalize knows (FHIR R4 vital-signs profile), so that callers can
// categorise an Observation as "vital-signs".
func IsVitalSign(loinc string) bool { return rules[loinc].vital }

// Known reports whether a unit spelling (a UCUM code or a synonym) is
// known to Normalize, and its UCUM code.
func Known(spelling string) (code string, ok bool) {
	u := lookup(spelling, false)
	if u == nil {
		return "", false
	}
	return u.code, true
}
