package ucum

import (
	"errors"
	"math/big"
	"strings"
	"testing"
)

var normalizeTests = []struct {
	name    string
	in      Quantity
	loinc   string
	want    Quantity
	issue   string // substring of the one expected issue; "" for none
	wantErr error
}{
	{
		name: "implausible weight flagged", in: Quantity{Value: "700", Unit: "kg"}, loinc: "29463-7",
		want:  Quantity{Value: "700", Unit: "kg", Code: "kg", System: System},
		issue: "body weight is outside the plausible range 0.2–400 kg",
	},
	{
		name: "lb to kg, one more significant digit", in: Quantity{Value: "154", Unit: "lb"}, loinc: "29463-7",
		want: Quantity{Value: "69.85", Code: "kg", System: System},
	},
	{
		name: "lbs to kg without LOINC", in: Quantity{Value: "154", Unit: "lbs"},
		want: Quantity{Value: "69.85", Code: "kg", System: System},
	},
	{
		name: "UCUM [lb_av] code", in: Quantity{Value: "154.0", Code: "[lb_av]", System: System},
		want: Quantity{Value: "69.853", Code: "kg", System: System},
	},
	{
		name: "°F to Cel, one more decimal place", in: Quantity{Value: "98.6", Unit: "°F"}, loinc: "8310-5",
		want: Quantity{Value: "37.00", Code: "Cel", System: System},
	},
	{
		name: "degF without LOINC", in: Quantity{Value: "101.3", Unit: "degF"},
		want: Quantity{Value: "38.50", Code: "Cel", System: System},
	},
	{
		name: "bare F only for temperatures", in: Quantity{Value: "100.4", Unit: "F"}, loinc: "8310-5",
		want: Quantity{Value: "38.00", Code: "Cel", System: System},
	},
	{
		name: "bare F without LOINC is unknown", in: Quantity{Value: "100.4", Unit: "F"},
		wantErr: ErrUnknownUnit,
	},
	{
		name: "K to Cel keeps places", in: Quantity{Value: "310.15", Code: "K"}, loinc: "8310-5",
		want: Quantity{Value: "37.00", Code: "Cel", System: System},
	},
	{
		name: "implausible temperature", in: Quantity{Value: "59", Unit: "Cel"}, loinc: "8310-5",
		want:  Quantity{Value: "59", Unit: "Cel", Code: "Cel", System: System},
		issue: "body temperature is outside the plausible range 25–45 Cel",
	},
	{
		name: "in to cm", in: Quantity{Value: "70", Unit: "in"}, loinc: "8302-2",
		want: Quantity{Value: "178", Code: "cm", System: System},
	},
	{
		name: "[in_i] to cm", in: Quantity{Value: "70.5", Code: "[in_i]"},
		want: Quantity{Value: "179.1", Code: "cm", System: System},
	},
	{
		name: "ft to cm", in: Quantity{Value: "5.5", Unit: "ft"}, loinc: "8302-2",
		want: Quantity{Value: "168", Code: "cm", System: System},
	},
	{
		name: "oz to g", in: Quantity{Value: "12", Unit: "oz"},
		want: Quantity{Value: "340", Code: "g", System: System},
	},
	{
		name: "g to kg by LOINC moves the point", in: Quantity{Value: "3500", Unit: "g"}, loinc: "29463-7",
		want: Quantity{Value: "3.500", Code: "kg", System: System},
	},
	{
		name: "g kept without LOINC", in: Quantity{Value: "3500", Unit: "g"},
		want: Quantity{Value: "3500", Unit: "g", Code: "g", System: System},
	},
	{
		name:  "canonical passthrough",
		in:    Quantity{Value: "70.0", Unit: "kg", Code: "kg", System: System},
		loinc: "29463-7",
		want:  Quantity{Value: "70.0", Unit: "kg", Code: "kg", System: System},
	},
	{
		name: "mmHg spelled", in: Quantity{Value: "120", Unit: "mmHg"}, loinc: "8480-6",
		want: Quantity{Value: "120", Unit: "mmHg", Code: "mm[Hg]", System: System},
	},
	{
		name: "kPa to mm[Hg] by LOINC", in: Quantity{Value: "16", Unit: "kPa"}, loinc: "8480-6",
		want: Quantity{Value: "120", Code: "mm[Hg]", System: System},
	},
	{
		name: "diastolic implausible", in: Quantity{Value: "8", Code: "mm[Hg]"}, loinc: "8462-4",
		want:  Quantity{Value: "8", Unit: "mmHg", Code: "mm[Hg]", System: System},
		issue: "diastolic blood pressure is outside the plausible range 20–200 mm[Hg]",
	},
	{
		name: "bpm", in: Quantity{Value: "72", Unit: "bpm"}, loinc: "8867-4",
		want: Quantity{Value: "72", Unit: "bpm", Code: "/min", System: System},
	},
	{
		name: "{beats}/min", in: Quantity{Value: "300", Code: "{beats}/min"}, loinc: "8867-4",
		want:  Quantity{Value: "300", Code: "/min", System: System, Unit: "/min"},
		issue: "heart rate is outside the plausible range 20–250 /min",
	},
	{
		name: "BMI kg/m²", in: Quantity{Value: "24.2", Unit: "kg/m²"}, loinc: "39156-5",
		want: Quantity{Value: "24.2", Unit: "kg/m²", Code: "kg/m2", System: System},
	},
	{
		name: "HbA1c %", in: Quantity{Value: "6.8", Unit: "%"}, loinc: "4548-4",
		want: Quantity{Value: "6.8", Unit: "%", Code: "%", System: System},
	},
	{
		name: "HbA1c in mmol/mol is not %", in: Quantity{Value: "51", Unit: "mmol/mol"}, loinc: "4548-4",
		want:  Quantity{Value: "51", Unit: "mmol/mol", Code: "mmol/mol", System: System},
		issue: "unit mmol/mol is not a unit of HbA1c (expected %)",
	},
	{
		name: "SpO2 as a fraction", in: Quantity{Value: "0.97", Code: "1"}, loinc: "59408-5",
		want: Quantity{Value: "97", Code: "%", System: System},
	},
	{
		name: "glucose mg/dL, case-insensitive", in: Quantity{Value: "99", Unit: "MG/DL"}, loinc: "2339-0",
		want: Quantity{Value: "99", Unit: "MG/DL", Code: "mg/dL", System: System},
	},
	{
		name: "glucose mmol/L to mg/dL with LOINC", in: Quantity{Value: "5.5", Unit: "mmol/L"}, loinc: "2339-0",
		want: Quantity{Value: "99.1", Code: "mg/dL", System: System},
	},
	{
		name: "glucose mg/dL to mmol/L with LOINC", in: Quantity{Value: "99", Unit: "mg/dL"}, loinc: "15074-8",
		want: Quantity{Value: "5.50", Code: "mmol/L", System: System},
	},
	{
		name: "mmol/L kept without LOINC (no guessing)", in: Quantity{Value: "5.5", Unit: "mmol/L"},
		want: Quantity{Value: "5.5", Unit: "mmol/L", Code: "mmol/L", System: System},
	},
	{
		name: "mmol/L of another analyte is not glucose", in: Quantity{Value: "5.5", Unit: "mmol/L"}, loinc: "2951-2",
		want: Quantity{Value: "5.5", Unit: "mmol/L", Code: "mmol/L", System: System},
	},
	{
		name: "implausible glucose", in: Quantity{Value: "2000", Unit: "mg/dL"}, loinc: "2345-7",
		want:  Quantity{Value: "2000", Unit: "mg/dL", Code: "mg/dL", System: System},
		issue: "serum glucose is outside the plausible range 10–1500 mg/dL",
	},
	{
		name: "micro sign", in: Quantity{Value: "1.2", Unit: "µg/mL"},
		want: Quantity{Value: "1.2", Unit: "µg/mL", Code: "ug/mL", System: System},
	},
	{
		name: "lab count spelling", in: Quantity{Value: "7.2", Unit: "K/uL"},
		want: Quantity{Value: "7.2", Unit: "K/uL", Code: "10*3/uL", System: System},
	},
	{
		name: "annotation is unity", in: Quantity{Value: "3", Code: "{score}"},
		want: Quantity{Value: "3", Unit: "{score}", Code: "{score}", System: System},
	},
	{
		name: "value tidied, not converted", in: Quantity{Value: "+070.50", Unit: "kg"},
		want: Quantity{Value: "70.50", Unit: "kg", Code: "kg", System: System},
	},
	{
		name: "bare point", in: Quantity{Value: ".5", Unit: "kg"},
		want: Quantity{Value: "0.5", Unit: "kg", Code: "kg", System: System},
	},
	{
		name: "exponent kept", in: Quantity{Value: "1.5e2", Unit: "cm"},
		want: Quantity{Value: "1.5e2", Unit: "cm", Code: "cm", System: System},
	},
	{
		name: "no unit", in: Quantity{Value: "70"}, loinc: "29463-7",
		want:  Quantity{Value: "70"},
		issue: "body weight has no unit",
	},
	{
		name: "unit text from a non-UCUM system", in: Quantity{Value: "10", Code: "LBS", System: "urn:example:units"},
		want: Quantity{Value: "4.54", Code: "kg", System: System},
	},
	{name: "unknown unit", in: Quantity{Value: "11", Unit: "stone"}, loinc: "29463-7", wantErr: ErrUnknownUnit},
	{name: "not a number", in: Quantity{Value: "abc", Unit: "kg"}, wantErr: ErrBadValue},
	{name: "comparator is not a number", in: Quantity{Value: "<5", Unit: "kg"}, wantErr: ErrBadValue},
	{name: "empty value", in: Quantity{Unit: "kg"}, wantErr: ErrBadValue},
	{name: "huge value", in: Quantity{Value: "1e40", Unit: "kg"}, wantErr: ErrBadValue},
	{name: "too many digits", in: Quantity{Value: strings.Repeat("1", 31), Unit: "kg"}, wantErr: ErrBadValue},
}

func TestNormalize(t *testing.T) {
	for _, tt := range normalizeTests {
		t.Run(tt.name, func(t *testing.T) {
			got, issues, err := Normalize(tt.in, tt.loinc)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Normalize(%+v, %q) error = %v; want %v", tt.in, tt.loinc, err, tt.wantErr)
				}
				if tt.in.Value != "" && strings.Contains(err.Error(), tt.in.Value) {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Normalize(%+v, %q): %v", tt.in, tt.loinc, err)
			}
			want := tt.want
			if want.Unit == "" && want.Code != "" {
				want.Unit = units[want.Code].display()
			}
			if got != want {
				t.Errorf("Normalize(%+v, %q) = %+v; want %+v", tt.in, tt.loinc, got, want)
			}
			switch {
			case tt.issue == "" && len(issues) > 0:
				t.Errorf("unexpected issues %+v", issues)
			case tt.issue != "" && (len(issues) != 1 || !strings.Contains(issues[0].Diagnostics, tt.issue)):
				t.Errorf("issues = %+v; want one containing %q", issues, tt.issue)
			}
			for _, is := range issues {
				if is.Severity != "warning" || is.Code != "value" || len(is.Expression) != 1 || is.Expression[0] != Expression {
					t.Errorf("issue %+v: want a warning with code value at %s", is, Expression)
				}
				if strings.Contains(is.Diagnostics, tt.in.Value) {
					t.Errorf("issue %q quotes the value", is.Diagnostics)
				}
			}
		})
	}
}

func TestUnknownUnitMessage(t *testing.T) {
	_, _, err := Normalize(Quantity{Value: "11", Unit: "stone"}, "29463-7")
	want := `unit "stone" is not a known UCUM unit or synonym; send a UCUM code such as kg`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v; want %s", err, want)
	}
	var ue *UnitError
	if !errors.As(err, &ue) || ue.Unit != "stone" {
		t.Errorf("error %v is not a *UnitError for stone", err)
	}
}

func TestFormat(t *testing.T) {
	tests := []struct {
		v    string
		sig  int
		want string
	}{
		{"69.85322498", 4, "69.85"},
		{"99.96", 3, "100"},
		{"0.0012345", 3, "0.00123"},
		{"-2.5", 1, "-3"},
		{"2.5", 1, "3"},
		{"182.88", 2, "180"},
		{"0", 3, "0"},
		{"123456", 2, "120000"},
	}
	for _, tt := range tests {
		r, _ := new(big.Rat).SetString(tt.v)
		if got := formatSignificant(r, tt.sig); got != tt.want {
			t.Errorf("formatSignificant(%s, %d) = %s; want %s", tt.v, tt.sig, got, tt.want)
		}
	}
	fixed := []struct {
		v      string
		places int
		want   string
	}{
		{"37", 2, "37.00"},
		{"0.005", 2, "0.01"},
		{"-0.004", 2, "0.00"},
		{"1234", -2, "1200"},
		{"1250", -2, "1300"},
		{"0.05", 0, "0"},
	}
	for _, tt := range fixed {
		r, _ := new(big.Rat).SetString(tt.v)
		if got := formatFixed(r, tt.places); got != tt.want {
			t.Errorf("formatFixed(%s, %d) = %s; want %s", tt.v, tt.places, got, tt.want)
		}
	}
}

func TestTables(t *testing.T) {
	// init panics on duplicates, ambiguous spellings and unknown targets;
	// check here what it cannot.
	for code, u := range units {
		if u.metric != "" && (units[u.metric] == nil || units[u.metric].dim != u.dim) {
			t.Errorf("unit %s: metric target %s is unknown or of another dimension", code, u.metric)
		}
		if got := lookup(code, false); got != u {
			t.Errorf("lookup(%q) does not find its own unit", code)
		}
	}
	for loinc, r := range rules {
		if r.min.Cmp(r.max) >= 0 {
			t.Errorf("rule %s: empty range", loinc)
		}
	}
	if !IsVitalSign("8867-4") || IsVitalSign("2339-0") || IsVitalSign("") {
		t.Error("IsVitalSign gives wrong answers")
	}
	if c, ok := Known("lbs"); !ok || c != "[lb_av]" {
		t.Errorf("Known(lbs) = %q, %v", c, ok)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, tt := range normalizeTests {
		f.Add(tt.in.Value, tt.in.Unit, tt.in.Code, tt.loinc)
	}
	f.Fuzz(func(t *testing.T, value, unit, code, loinc string) {
		q, issues, err := Normalize(Quantity{Value: value, Unit: unit, Code: code}, loinc)
		if err != nil {
			if !errors.Is(err, ErrUnknownUnit) && !errors.Is(err, ErrBadValue) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if !isFHIRDecimal(q.Value) {
			t.Fatalf("Normalize(%q, %q, %q) value %q is not a FHIR decimal", value, unit, code, q.Value)
		}
		for _, is := range issues {
			// Plausibility issues name the observation, never the value.
			if subject, _, ok := strings.Cut(is.Diagnostics, " is outside"); ok && subject != rules[loinc].name {
				t.Fatalf("issue %q: subject is not the observation's name", is.Diagnostics)
			}
		}
		// Normalising is idempotent.
		q2, _, err := Normalize(q, loinc)
		if err != nil {
			t.Fatalf("Normalize(%+v) again: %v", q, err)
		}
		if q2.Value != q.Value || q2.Code != q.Code {
			t.Fatalf("not idempotent: %+v then %+v", q, q2)
		}
	})
}
