// Package synth generates synthetic patient records as FHIR R4 (4.0.1)
// transaction Bundles, one per patient: demographics with the identifiers a
// real record carries, and years of encounters, conditions, observations,
// medications, allergies, immunizations, procedures, reports, care plans
// and notes that agree with one another and with the patient's age.
//
// The people are synthetic and never real: names are random combinations
// of common names, telephone numbers lie in the 555-01xx range reserved for
// fiction, mail addresses are at example.com, .org and .net, and social
// security numbers are in the 9xx area, which is never assigned. Nothing is
// derived from real records.
//
// Generation is deterministic: the same Options give byte-identical
// bundles on every run and platform. Patient i depends only on the Options
// other than N and on i, so a run of N patients is a prefix of a longer
// run. The package performs no I/O and reads no clock.
package synth

import (
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Options configures generation. Every field's zero value is a valid
// default.
type Options struct {
	// N is how many patients to generate; zero generates none.
	N int
	// Seed selects the population. Different seeds give different patients.
	Seed int64
	// Now is the reference date: no generated date or time is later, and
	// ages are computed at Now. Zero means 2026-01-01T00:00:00Z, so that
	// output does not depend on when it is generated. It is used in UTC
	// and truncated to the second.
	Now time.Time
	// Org is the name of the organization that manages the records and
	// employs the practitioners. Zero means "Synthetic General Hospital".
	// The organization, its identifier systems and its staff depend only
	// on this name, so populations generated with different seeds share
	// them.
	Org string
	// Years is how many years before Now the encounter history goes back
	// (children's records start at birth if that is later). Zero means 8.
	// It scales the record size: with 8, a bundle holds about 95 resources
	// about the patient on average (10th to 90th percentile roughly 40 to
	// 155) plus about 10 shared Organization, Practitioner and
	// PractitionerRole entries; with 40, about 310.
	Years int
}

// Defaults for Options' zero values.
const (
	DefaultOrg   = "Synthetic General Hospital"
	DefaultYears = 8
)

// defaultNow is the reference date used when Options.Now is zero: fixed,
// so that output never depends on the clock.
var defaultNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// ErrOptions is wrapped by the errors Validate, New and Patients return
// for invalid Options.
var ErrOptions = errors.New("synth: invalid options")

// Validate reports every problem with o at once, each wrapping ErrOptions;
// it returns nil for valid Options, including the zero value.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrOptions}, args...)...))
	}
	if o.N < 0 {
		bad("N is %d; want 0 or more", o.N)
	}
	if o.Years < 0 || o.Years > 100 {
		bad("Years is %d; want 0 (default) to 100", o.Years)
	}
	if !o.Now.IsZero() {
		if y := o.Now.UTC().Year(); y < 1900 || y > 9999 {
			bad("Now is in year %d; want 1900 to 9999", y)
		}
	}
	if o.Org != "" {
		switch {
		case len(o.Org) > 200:
			bad("Org is %d bytes long; want at most 200", len(o.Org))
		case !utf8.ValidString(o.Org):
			bad("Org is not valid UTF-8")
		case strings.TrimSpace(o.Org) != o.Org || strings.TrimSpace(o.Org) == "":
			bad("Org has leading or trailing space")
		case strings.IndexFunc(o.Org, unicode.IsControl) >= 0:
			bad("Org contains control characters")
		}
	}
	return errors.Join(errs...)
}

// withDefaults returns o with zero fields replaced by their defaults.
func (o Options) withDefaults() Options {
	if o.Now.IsZero() {
		o.Now = defaultNow
	}
	o.Now = o.Now.UTC().Truncate(time.Second)
	if o.Org == "" {
		o.Org = DefaultOrg
	}
	if o.Years == 0 {
		o.Years = DefaultYears
	}
	return o
}

// Generator makes the patients of one population. It is immutable once
// built and safe for concurrent use, so patients can be generated in
// parallel.
type Generator struct {
	o   Options
	org *org
}

// New validates o and returns its generator. Errors wrap ErrOptions.
func New(o Options) (*Generator, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	return &Generator{o: o, org: newOrg(o.Org)}, nil
}

// N is the number of patients the generator's Options ask for.
func (g *Generator) N() int { return g.o.N }

// Patient returns patient i's transaction Bundle (compact JSON) and the
// identity it contains. i may be any non-negative number, also N or more;
// Patient panics if i is negative. The caller owns the returned slice.
func (g *Generator) Patient(i int) (bundle []byte, id Identity) {
	if i < 0 {
		panic("synth: negative patient index")
	}
	p := newPatient(g, i)
	p.generate()
	return p.bundle(), p.identity()
}

// Patients returns a sequence of o.N transaction Bundles, one per patient,
// in order. If o is invalid, the sequence yields a single error wrapping
// ErrOptions; generation itself cannot fail. Each yielded slice is new
// and owned by the caller.
func Patients(o Options) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		g, err := New(o)
		if err != nil {
			yield(nil, err)
			return
		}
		for i := range g.o.N {
			b, _ := g.Patient(i)
			if !yield(b, nil) {
				return
			}
		}
	}
}

// Identity is what identifies a generated patient: the strings a test can
// look for to prove a system does not keep or leak them in clear.
type Identity struct {
	// Names are the patient's names as written (HumanName.text): the
	// official name, then any nickname and maiden name.
	Names []string
	// Given and Family are the parts of those names.
	Given  []string
	Family []string
	// BirthDate is YYYY-MM-DD.
	BirthDate string
	// Identifiers are the medical record number, the social security
	// number, and a driver's licence and passport number when present.
	Identifiers []Identifier
	// Telecom holds telephone numbers and mail addresses.
	Telecom []string
	// Address holds street address lines.
	Address []string
}

// Identifier is one business identifier of a patient.
type Identifier struct {
	System string
	Value  string
}

// Needles returns the distinctive strings of id, in a fixed order: the
// full names, identifier values, birth date, telecom values and address
// lines. Single given or family names are left out, being short common
// words that also occur by chance. A birth date is only distinctive where
// no other dates are written, such as in encrypted or hashed data.
func (id Identity) Needles() []string {
	var out []string
	out = append(out, id.Names...)
	for _, x := range id.Identifiers {
		out = append(out, x.Value)
	}
	out = append(out, id.BirthDate)
	out = append(out, id.Telecom...)
	out = append(out, id.Address...)
	return out
}

// ErrNoPatient is returned by Identify for a bundle without a Patient.
var ErrNoPatient = errors.New("synth: no Patient in the bundle")

// Identify extracts the Identity of the first Patient in a Bundle, such as
// one written by Patients and read back from a file. It returns an error
// if b is not a Bundle, and ErrNoPatient if it has no Patient. Its result
// equals the Identity Generator.Patient returns with the bundle.
func Identify(b []byte) (Identity, error) {
	var bundle struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(b, &bundle); err != nil || bundle.ResourceType != "Bundle" {
		return Identity{}, errors.New("synth: not a FHIR Bundle")
	}
	for _, e := range bundle.Entry {
		var head struct {
			ResourceType string `json:"resourceType"`
		}
		if err := json.Unmarshal(e.Resource, &head); err != nil {
			return Identity{}, errors.New("synth: not a FHIR Bundle")
		}
		if head.ResourceType != "Patient" {
			continue
		}
		var pat struct {
			Identifier []struct {
				System string `json:"system"`
				Value  string `json:"value"`
			} `json:"identifier"`
			Name []struct {
				Text   string   `json:"text"`
				Family string   `json:"family"`
				Given  []string `json:"given"`
			} `json:"name"`
			Telecom []struct {
				Value string `json:"value"`
			} `json:"telecom"`
			BirthDate string `json:"birthDate"`
			Address   []struct {
				Line []string `json:"line"`
			} `json:"address"`
		}
		if err := json.Unmarshal(e.Resource, &pat); err != nil {
			return Identity{}, errors.New("synth: the Patient is not FHIR JSON")
		}
		var id Identity
		for _, n := range pat.Name {
			id.Names = append(id.Names, n.Text)
			id.Given = append(id.Given, n.Given...)
			if n.Family != "" {
				id.Family = append(id.Family, n.Family)
			}
		}
		id.BirthDate = pat.BirthDate
		for _, x := range pat.Identifier {
			id.Identifiers = append(id.Identifiers, Identifier{x.System, x.Value})
		}
		for _, t := range pat.Telecom {
			id.Telecom = append(id.Telecom, t.Value)
		}
		for _, a := range pat.Address {
			id.Address = append(id.Address, a.Line...)
		}
		return id, nil
	}
	return Identity{}, ErrNoPatient
}
