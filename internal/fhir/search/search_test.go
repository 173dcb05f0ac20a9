package search

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/fhir"
)

// base is the lastUpdated of the first fixture; each next one is a minute
// later, so the default order (newest first) is the reverse of the list.
var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// fixtures are small resources covering every value shape the parameters
// read: Coding, CodeableConcept, Identifier, ContactPoint, code, boolean,
// HumanName, Address, references (relative, absolute, to a Group),
// dateTime, instant, Period (closed and open), Timing, and choice types.
var fixtures = []string{
	`{"resourceType":"Patient","id":"p1","active":true,"gender":"male","birthDate":"1970-01-01",
	  "name":[{"use":"official","family":"Smith","given":["John","Quincy"]}],
	  "identifier":[{"system":"urn:mrn","value":"MRN1","type":{"text":"Medical record number"}}],
	  "telecom":[{"system":"phone","value":"555-1234"},{"system":"email","value":"john@example.org"}],
	  "address":[{"line":["Bahnhofstrasse 1"],"city":"Zürich","postalCode":"8001","country":"CH"}],
	  "meta":{"tag":[{"system":"urn:tags","code":"vip"}]}}`,
	`{"resourceType":"Patient","id":"p2","active":false,"gender":"female","birthDate":"1980-05",
	  "name":[{"family":"Smíth","given":["Ann"]}],
	  "identifier":[{"system":"urn:mrn","value":"MRN2"},{"system":"urn:ssn","value":"123"}],
	  "managingOrganization":{"reference":"Organization/org1"}}`,
	`{"resourceType":"Patient","id":"p3","gender":"other","birthDate":"1970",
	  "name":[{"family":"Müller","given":["Jörg"],"text":"Jörg Müller"}],"deceasedDateTime":"2020-01-01"}`,
	`{"resourceType":"Patient","id":"p4","gender":"male","birthDate":"1990-12-31","deceasedBoolean":false,
	  "name":[{"family":"Smithers","given":["Waylon"]}],
	  "identifier":[{"system":"urn:mrn","value":"mrn1"}]}`,
	`{"resourceType":"Organization","id":"org1","name":"Acme Hospital","active":true}`,
	`{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},
	  "subject":{"reference":"Patient/p1"},"period":{"start":"2020-03-04T09:00:00Z","end":"2020-03-04T11:00:00Z"}}`,
	`{"resourceType":"Observation","id":"o1","status":"final",
	  "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"vital-signs"}]}],
	  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}],"text":"HR"},
	  "subject":{"reference":"Patient/p1"},"encounter":{"reference":"Encounter/e1"},
	  "identifier":[{"system":"urn:obs","value":"O1"}],
	  "effectiveDateTime":"2020-03-04T10:00:00Z","valueQuantity":{"value":72,"unit":"/min"}}`,
	`{"resourceType":"Observation","id":"o2","status":"preliminary",
	  "code":{"coding":[{"system":"http://loinc.org","code":"8310-5","display":"Body temperature"}]},
	  "subject":{"reference":"Patient/p1"},
	  "effectivePeriod":{"start":"2019-12-30","end":"2020-01-02"}}`,
	`{"resourceType":"Observation","id":"o3","status":"final",
	  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"},{"system":"http://snomed.info/sct","code":"364075005"}]},
	  "subject":{"reference":"https://fhir.example.org/r4/Patient/p2/_history/3"},
	  "effectiveInstant":"2021-06-01T08:30:15.123Z"}`,
	`{"resourceType":"Observation","id":"o4","status":"amended",
	  "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},
	  "subject":{"reference":"Group/g1"},
	  "effectivePeriod":{"start":"2022-01-01"}}`,
	`{"resourceType":"Observation","id":"o5","status":"final",
	  "code":{"coding":[{"system":"urn:local","code":"x1"}]},
	  "subject":{"reference":"Patient/p3"},
	  "effectiveTiming":{"event":["2018-01-01","2018-03-01"]},"valueString":"Positive"}`,
	`{"resourceType":"Observation","id":"o6","status":"cancelled",
	  "code":{"coding":[{"code":"8867-4"}]},
	  "subject":{"reference":"Patient/p4"}}`,
	`{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},
	  "code":{"coding":[{"system":"http://snomed.info/sct","code":"38341003"}]},
	  "clinicalStatus":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/condition-clinical","code":"active"}]},
	  "onsetDateTime":"2015","recordedDate":"2016-02-02"}`,
	`{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/p2"},
	  "code":{"text":"Back pain"},"onsetPeriod":{"start":"2010-01","end":"2011-06"}}`,
	`{"resourceType":"MedicationRequest","id":"mr1","status":"active","intent":"order",
	  "subject":{"reference":"Patient/p2"},"authoredOn":"2021-02-03",
	  "medicationCodeableConcept":{"coding":[{"system":"http://www.nlm.nih.gov/research/umls/rxnorm","code":"1049502"}]},
	  "dosageInstruction":[{"timing":{"event":["2021-02-04T08:00:00Z"]}}]}`,
	`{"resourceType":"MedicationRequest","id":"mr2","status":"active","intent":"order",
	  "subject":{"reference":"Patient/p1"},"authoredOn":"2021-03-01",
	  "medicationReference":{"reference":"Medication/med1"}}`,
}

func newFixtureIndex(t testing.TB) *Index {
	t.Helper()
	ix := &Index{}
	for i, s := range fixtures {
		r, err := fhir.Parse([]byte(s))
		if err != nil {
			t.Fatalf("fixture %d: %v", i, err)
		}
		ix.Put(r.Type, r.ID, 1, base.Add(time.Duration(i)*time.Minute), r.Tree)
	}
	return ix
}

// search runs typ?raw with lenient options and returns the page's ids.
func search(t *testing.T, ix *Index, typ, raw string) []string {
	t.Helper()
	res, err := searchRes(ix, typ, raw, Options{})
	if err != nil {
		t.Fatalf("Search(%s?%s): %v", typ, raw, err)
	}
	return res.IDs
}

func searchRes(ix *Index, typ, raw string, o Options) (*Result, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return nil, err
	}
	if o.Now.IsZero() {
		o.Now = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return ix.Search(typ, q, o)
}

func sorted(ids []string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// TestSearchParams runs every parameter kind and modifier over the
// fixtures; the result sets are compared regardless of order.
func TestSearchParams(t *testing.T) {
	ix := newFixtureIndex(t)
	tests := []struct {
		typ, q string
		want   string // space-separated ids
	}{
		{"Patient", "", "p1 p2 p3 p4"},
		// _id (token over id)
		{"Patient", "_id=p1", "p1"},
		{"Patient", "_id=p1,p3,nope", "p1 p3"},
		{"Patient", "_id:not=p1", "p2 p3 p4"},
		{"Patient", "_id=p1&_id=p2", ""},
		// token over code
		{"Patient", "gender=male", "p1 p4"},
		{"Patient", "gender=male,female", "p1 p2 p4"},
		{"Patient", "gender=|male", "p1 p4"},                                          // a primitive code has no system
		{"Patient", "gender=http://hl7.org/fhir/administrative-gender|male", "p1 p4"}, // its system is implicit
		{"Patient", "gender:not=male", "p2 p3"},
		{"Patient", "gender=MALE", ""}, // codes are case-sensitive
		// token over boolean
		{"Patient", "active=true", "p1"},
		{"Patient", "active=false", "p2"},
		{"Patient", "active:missing=true", "p3 p4"},
		{"Patient", "deceased=true", "p3"},
		{"Patient", "deceased=false", "p1 p2 p4"},
		// token over Identifier
		{"Patient", "identifier=MRN1", "p1"},
		{"Patient", "identifier=urn:mrn|MRN1", "p1"},
		{"Patient", "identifier=urn:ssn|MRN1", ""},
		{"Patient", "identifier=urn:mrn|", "p1 p2 p4"},
		{"Patient", "identifier=|MRN1", ""},
		{"Patient", "identifier=urn:ssn|123,urn:mrn|mrn1", "p2 p4"},
		{"Patient", "identifier:not=urn:mrn|MRN1", "p2 p3 p4"},
		{"Patient", "identifier:missing=true", "p3"},
		{"Patient", "identifier:missing=false", "p1 p2 p4"},
		{"Patient", "identifier:text=medical", "p1"},
		// token over ContactPoint, with the where(system=...) filters
		{"Patient", "telecom=555-1234", "p1"},
		{"Patient", "phone=555-1234", "p1"},
		{"Patient", "email=555-1234", ""},
		{"Patient", "email=john@example.org", "p1"},
		// token over Coding (meta.tag)
		{"Patient", "_tag=urn:tags|vip", "p1"},
		{"Patient", "_tag=vip", "p1"},
		// token over CodeableConcept
		{"Observation", "code=8867-4", "o1 o3 o4 o6"},
		{"Observation", "code=http://loinc.org|8867-4", "o1 o3 o4"},
		{"Observation", "code=|8867-4", "o6"},
		{"Observation", "code=http://loinc.org|", "o1 o2 o3 o4"},
		{"Observation", "code=http://snomed.info/sct|364075005", "o3"},
		{"Observation", "code=http://loinc.org|8310-5,urn:local|x1", "o2 o5"},
		{"Observation", "code:not=http://loinc.org|8867-4", "o2 o5 o6"},
		{"Observation", "code:text=heart", "o1"},
		{"Observation", "code:text=hr", "o1"},
		{"Observation", "code:text=body%20TEMP", "o2"},
		{"Observation", "category=vital-signs", "o1"},
		{"Observation", "category:missing=true", "o2 o3 o4 o5 o6"},
		{"Observation", "status=final", "o1 o3 o5"},
		{"Observation", "status=final,amended", "o1 o3 o4 o5"},
		{"Observation", "status:not=final", "o2 o4 o6"},
		{"Observation", "identifier=urn:obs|O1", "o1"},
		{"Observation", "value-string=pos", "o5"},
		{"Condition", "code:text=back", "c2"},
		{"Condition", "clinical-status=active", "c1"},
		{"MedicationRequest", "code=1049502", "mr1"},
		{"MedicationRequest", "medication=Medication/med1", "mr2"},
		{"MedicationRequest", "intent=order&status=active", "mr1 mr2"},
		// escaping: \, and \| are literal
		{"Observation", `code=8867-4\,x`, ""},
		// reference
		{"Observation", "patient=p1", "o1 o2"},
		{"Observation", "patient=Patient/p1", "o1 o2"},
		{"Observation", "patient=http://localhost/fhir/Patient/p1", "o1 o2"},
		{"Observation", "patient=Patient/p1/_history/1", "o1 o2"},
		{"Observation", "patient=p2", "o3"}, // stored as an absolute URL with a version
		{"Observation", "patient=p1,p3", "o1 o2 o5"},
		{"Observation", "patient=g1", ""}, // patient is subject.where(resolve() is Patient)
		{"Observation", "subject=g1", "o4"},
		{"Observation", "subject=Group/g1", "o4"},
		{"Observation", "subject:Group=g1", "o4"},
		{"Observation", "subject:Patient=g1", ""},
		{"Observation", "subject:Patient=p1", "o1 o2"},
		{"Observation", "subject=Patient/p1", "o1 o2"},
		{"Observation", "subject:missing=true", ""},
		{"Observation", "encounter=e1", "o1"},
		{"Observation", "encounter=Encounter/e1", "o1"},
		{"Observation", "patient=Patient/p1&patient=Patient/p3", ""},
		{"Encounter", "patient=p1", "e1"},
		{"Condition", "patient=p1", "c1"},
		{"Condition", "subject=Patient/p2", "c2"},
		{"Patient", "organization=org1", "p2"},
		// string over HumanName
		{"Patient", "name=smi", "p1 p2 p4"},
		{"Patient", "name=SMITH", "p1 p2 p4"},
		{"Patient", "name=smith", "p1 p2 p4"},
		{"Patient", "name=Smíth", "p1 p2 p4"},
		{"Patient", "name:exact=Smith", "p1"},
		{"Patient", "name:exact=Smíth", "p2"},
		{"Patient", "name:exact=smith", ""},
		{"Patient", "name:contains=ith", "p1 p2 p4"},
		{"Patient", "name:contains=ller", "p3"},
		{"Patient", "name=john", "p1"},
		{"Patient", "name=quin", "p1"},
		{"Patient", "name=jorg", "p3"},
		{"Patient", "name=mul", "p3"},
		{"Patient", "name=Müll", "p3"},
		{"Patient", "name=jörg%20m", "p3"}, // HumanName.text
		{"Patient", "name=ith", ""},        // prefix, not substring
		{"Patient", "name=smith,muller", "p1 p2 p3 p4"},
		{"Patient", "name=smith&name=john", "p1"},
		{"Patient", "family=smith", "p1 p2 p4"},
		{"Patient", "family=john", ""},
		{"Patient", "given=john", "p1"},
		{"Patient", "given=smith", ""},
		{"Patient", "given:exact=Ann", "p2"},
		{"Patient", "family:missing=true", ""},
		// string over Address
		{"Patient", "address=zurich", "p1"},
		{"Patient", "address=bahnhof", "p1"},
		{"Patient", "address-city=zür", "p1"},
		{"Patient", "address-postalcode=8001", "p1"},
		{"Organization", "name=acme", "org1"},
		// date over date (implicit ranges)
		{"Patient", "birthdate=1970-01-01", "p1"},
		{"Patient", "birthdate=1970", "p1 p3"},
		{"Patient", "birthdate=1970-01", "p1"},
		{"Patient", "birthdate=eq1970", "p1 p3"},
		{"Patient", "birthdate=ne1970", "p2 p4"},
		{"Patient", "birthdate=lt1980", "p1 p3"},
		{"Patient", "birthdate=le1980-05-01", "p1 p3"},
		{"Patient", "birthdate=ge1980-05-01", "p2 p4"}, // 1980-05 extends past that day
		{"Patient", "birthdate=gt1980-05-31", "p4"},
		{"Patient", "birthdate=sa1980", "p4"},
		{"Patient", "birthdate=eb1980", "p1 p3"},
		{"Patient", "birthdate=ge1970&birthdate=lt1990", "p1 p2 p3"},
		{"Patient", "birthdate=1970-01-01,1990-12-31", "p1 p4"},
		{"Patient", "death-date=2020", "p3"},
		// date over choice types: dateTime, Period, instant, Timing
		{"Observation", "date=2020-03-04", "o1"},
		{"Observation", "date=2020-03-04T10:00:00Z", "o1"},
		{"Observation", "date=2020-03-04T11:00:00%2B01:00", "o1"},
		{"Observation", "date=2020-03-04T11:00:00+01:00", "o1"}, // '+' arrives as ' '
		{"Observation", "date=2020-01", ""},                     // the period o2 overlaps but is not contained: eq fails
		{"Observation", "date=ge2020-01-01", "o1 o2 o3 o4"},
		{"Observation", "date=lt2020-01-01", "o2 o5"},
		{"Observation", "date=2021-06-01T08:30:15Z", "o3"},
		{"Observation", "date=sa2021", "o4"},
		{"Observation", "date=gt2100", "o4"}, // open-ended period
		{"Observation", "date=2018", "o5"},
		{"Observation", "date=2018-02", ""}, // the Timing spans Jan–Mar: not contained
		{"Observation", "date=ge2018-02-01&date=le2018-02-28", "o5"},
		{"Observation", "date:missing=true", "o6"},
		{"Observation", "code=http://loinc.org|8867-4&date=ge2020-01-01", "o1 o3 o4"},
		{"Observation", "code=http://loinc.org|8867-4&date=ge2020-01-01&patient=p1", "o1"},
		{"Encounter", "date=2020-03-04", "e1"},
		{"Encounter", "date=ge2020-03-04T10:30:00Z", "e1"},
		{"Encounter", "date=gt2020-03-04T11:00:00Z", ""},
		{"Condition", "onset-date=2015", "c1"},
		{"Condition", "onset-date=ge2011", "c1"}, // c2 ends mid-2011: neither above 2011 nor inside it
		{"Condition", "recorded-date=2016-02-02", "c1"},
		{"MedicationRequest", "authoredon=2021-02", "mr1"},
		{"MedicationRequest", "date=2021-02-04", "mr1"},
		// _lastUpdated: fixture i was updated at base + i minutes
		{"Patient", "_lastUpdated=ge2024-05-01T12:02:00Z", "p3 p4"},
		{"Patient", "_lastUpdated=2024-05-01T12:01Z", "p2"},
		{"Patient", "_lastUpdated=2024-05-01", "p1 p2 p3 p4"},
		{"Patient", "_lastUpdated=lt2024-05-01T12:01:00Z", "p1"},
		// unknown parameters are ignored (see TestIssues)
		{"Patient", "foo=bar", "p1 p2 p3 p4"},
		{"Patient", "name:phonetic=smith", "p1 p2 p3 p4"},
		// empty values are ignored
		{"Patient", "gender=", "p1 p2 p3 p4"},
	}
	for _, tt := range tests {
		got := sorted(search(t, ix, tt.typ, tt.q))
		want := strings.Fields(strings.ReplaceAll(tt.want, ",", ""))
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Errorf("%s?%s = %v; want %v", tt.typ, tt.q, got, want)
		}
	}
}

func TestTotalsAndPaging(t *testing.T) {
	ix := newFixtureIndex(t)
	res, err := searchRes(ix, "Observation", "_count=2", Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Newest first: o6 was put last.
	if res.Total != 6 || !slices.Equal(res.IDs, []string{"o6", "o5"}) || res.Next != 2 || res.Count != 2 {
		t.Fatalf("page 1 = %+v", res)
	}
	res, _ = searchRes(ix, "Observation", "_count=2&_offset=4", Options{})
	if res.Total != 6 || !slices.Equal(res.IDs, []string{"o2", "o1"}) || res.Next != 0 || res.Offset != 4 {
		t.Fatalf("page 3 = %+v", res)
	}
	res, _ = searchRes(ix, "Observation", "_count=0", Options{})
	if res.Total != 6 || len(res.IDs) != 0 || res.Next != 0 {
		t.Fatalf("_count=0 = %+v", res)
	}
	res, _ = searchRes(ix, "Observation", "_offset=10", Options{})
	if res.Total != 6 || len(res.IDs) != 0 {
		t.Fatalf("beyond the end = %+v", res)
	}
	res, _ = searchRes(ix, "Observation", "_count=5000", Options{})
	if res.Count != MaxCount || len(res.Issues) != 1 || res.Issues[0].Severity != "information" {
		t.Fatalf("_count=5000 = %+v", res)
	}
	if res, _ := searchRes(ix, "Observation", "", Options{}); res.Count != DefaultCount {
		t.Fatalf("default _count = %d", res.Count)
	}
}

// TestPagingStable pages through many equal-timestamp resources with every
// page size and checks the pages form the full order without gaps or
// repeats.
func TestPagingStable(t *testing.T) {
	ix := &Index{}
	when := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 103 {
		// Ties on _lastUpdated and on birthdate: only the id breaks them.
		tree := map[string]any{"resourceType": "Patient", "birthDate": fmt.Sprintf("19%02d", i%7)}
		ix.Put("Patient", fmt.Sprintf("p%03d", (i*37)%103), 1, when.Add(time.Duration(i%5)*time.Second), tree)
	}
	for _, order := range []string{"", "_sort=birthdate", "_sort=-birthdate,-_lastUpdated", "_sort=_id"} {
		full, err := searchRes(ix, "Patient", order+"&_count=1000", Options{})
		if err != nil || full.Total != 103 || len(full.IDs) != 103 {
			t.Fatalf("%s: full = %v, %v", order, full, err)
		}
		for _, size := range []int{1, 2, 7, 50, 102, 103} {
			var got []string
			for off := 0; ; {
				res, err := searchRes(ix, "Patient", fmt.Sprintf("%s&_count=%d&_offset=%d", order, size, off), Options{})
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, res.IDs...)
				if res.Next == 0 {
					break
				}
				off = res.Next
			}
			if !slices.Equal(got, full.IDs) {
				t.Errorf("%s _count=%d: pages concatenate to %v; want %v", order, size, got, full.IDs)
			}
		}
	}
}

func TestSort(t *testing.T) {
	ix := newFixtureIndex(t)
	tests := []struct{ typ, q, want string }{
		{"Patient", "", "p4 p3 p2 p1"}, // _lastUpdated descending
		{"Patient", "_sort=_lastUpdated", "p1 p2 p3 p4"},
		{"Patient", "_sort=-_lastUpdated", "p4 p3 p2 p1"},
		{"Patient", "_sort=birthdate", "p1 p3 p2 p4"}, // 1970 and 1970-01-01 both start 1970-01-01: the id breaks the tie
		{"Patient", "_sort=-birthdate", "p4 p2 p3 p1"},
		{"Patient", "_sort=family", "p3 p1 p2 p4"},      // muller, smith, smith (p2 "Smíth" folds to smith), smithers
		{"Patient", "_sort=-family", "p4 p1 p2 p3"},     // ties still by id ascending
		{"Patient", "_sort=family,-_id", "p3 p2 p1 p4"}, // the second key breaks the smith tie
		{"Patient", "_sort=-_id", "p4 p3 p2 p1"},
		{"Patient", "_sort=identifier", "p2 p1 p4 p3"}, // lowest values 123 < MRN1 < mrn1, then none
		{"Observation", "_sort=date", "o5 o2 o1 o3 o4 o6"},
		{"Observation", "_sort=-date", "o4 o3 o1 o2 o5 o6"}, // open end first; missing last either way
		{"Observation", "_sort=-date&status=final", "o3 o1 o5"},
	}
	for _, tt := range tests {
		got := search(t, ix, tt.typ, tt.q)
		if want := strings.Fields(tt.want); !slices.Equal(got, want) {
			t.Errorf("%s?%s = %v; want %v", tt.typ, tt.q, got, want)
		}
	}
}

func TestInclude(t *testing.T) {
	ix := newFixtureIndex(t)
	tests := []struct{ typ, q, want string }{
		{"Observation", "_include=Observation:patient&status=final", "Patient/p1 Patient/p2 Patient/p3"},
		{"Observation", "_include=Observation:patient&patient=p1", "Patient/p1"},
		{"Observation", "_include=Observation:subject", "Patient/p1 Patient/p2 Patient/p3 Patient/p4"}, // Group/g1 is not indexed
		{"Observation", "_include=Observation:subject:Patient&_id=o1,o4", "Patient/p1"},
		{"Observation", "_include=Observation:subject:Group&_id=o1,o4", ""},
		{"Observation", "_include=Observation:encounter&_include=Observation:patient&_id=o1", "Encounter/e1 Patient/p1"},
		{"Observation", "_include=Observation:patient&_count=1", "Patient/p4"}, // only the page's (o6)
		{"Observation", "_include=Observation:patient&_count=0", ""},
		{"Encounter", "_include=Encounter:patient", "Patient/p1"},
		{"Patient", "_include=Patient:organization", "Organization/org1"},
		{"MedicationRequest", "_include=MedicationRequest:patient", "Patient/p1 Patient/p2"},
	}
	for _, tt := range tests {
		res, err := searchRes(ix, tt.typ, tt.q, Options{})
		if err != nil {
			t.Fatalf("%s?%s: %v", tt.typ, tt.q, err)
		}
		var got []string
		for _, r := range res.Includes {
			got = append(got, r.Type+"/"+r.ID)
		}
		if got = sorted(got); !slices.Equal(got, strings.Fields(tt.want)) && !(len(got) == 0 && tt.want == "") {
			t.Errorf("%s?%s includes %v; want %v", tt.typ, tt.q, got, tt.want)
		}
		if len(res.Issues) != 0 {
			t.Errorf("%s?%s: issues %v", tt.typ, tt.q, res.Issues)
		}
	}
}

func TestIssues(t *testing.T) {
	ix := newFixtureIndex(t)
	tests := []struct {
		typ, q string
		issues int // issues when lenient; Strict must then fail
	}{
		{"Patient", "foo=bar", 1},
		{"Patient", "foo=bar&baz=1&name=smith", 2},
		{"Patient", "name:phonetic=smith", 1},
		{"Patient", "gender:exact=male", 1},
		{"Patient", "identifier:of-type=urn:x|MR|1", 1},
		{"Observation", "code:below=http://loinc.org|8867-4", 1},
		{"Observation", "value-quantity=gt5", 1}, // quantity is not implemented
		{"Observation", "subject.name=smith", 1}, // chaining is not implemented
		{"Observation", "_has:Observation:patient:code=1", 1},
		{"Observation", "_revinclude=Provenance:target", 1},
		{"Observation", "_include=*", 1},
		{"Observation", "_include=Patient:organization", 1},
		{"Observation", "_include=Observation:code", 1},
		{"Observation", "_include:iterate=Observation:patient", 1},
		{"Observation", "_sort=nope", 1},
		{"Observation", "_sort:asc=date", 1},
		{"Observation", "_lastUpdated:missing=true", 1},
	}
	for _, tt := range tests {
		res, err := searchRes(ix, tt.typ, tt.q, Options{})
		if err != nil {
			t.Errorf("%s?%s lenient: %v", tt.typ, tt.q, err)
			continue
		}
		if len(res.Issues) != tt.issues {
			t.Errorf("%s?%s: issues %v; want %d", tt.typ, tt.q, res.Issues, tt.issues)
		}
		for _, is := range res.Issues {
			if is.Severity != "warning" || is.Code != "not-supported" {
				t.Errorf("%s?%s: issue %+v", tt.typ, tt.q, is)
			}
		}
		_, err = searchRes(ix, tt.typ, tt.q, Options{Strict: true})
		var se *Error
		if !errors.Is(err, ErrUnsupported) || !errors.As(err, &se) || se.Issue.Severity != "error" {
			t.Errorf("%s?%s strict: err = %v; want ErrUnsupported", tt.typ, tt.q, err)
		}
	}
	// Result parameters for the caller are no issue.
	res, err := searchRes(ix, "Patient", "_format=json&_pretty=true&_summary=true&_elements=id&_total=accurate", Options{Strict: true})
	if err != nil || len(res.Issues) != 0 {
		t.Errorf("caller parameters: %v, %v", res, err)
	}
	// Unknown types.
	if _, err := searchRes(ix, "Basic", "", Options{}); !errors.Is(err, ErrType) {
		t.Errorf("Search(Basic) err = %v; want ErrType", err)
	}
}

// TestMalformed checks that malformed values are errors in either mode and
// that the error never quotes the value.
func TestMalformed(t *testing.T) {
	ix := newFixtureIndex(t)
	tests := []struct{ typ, q, param string }{
		{"Patient", "birthdate=Smith1970", "birthdate"},
		{"Patient", "birthdate=xx1970-01-01", "birthdate"},
		{"Patient", "birthdate=1970-02-30", "birthdate"},
		{"Patient", "birthdate=ge", "birthdate"},
		{"Patient", "_lastUpdated=yesterday", "_lastUpdated"},
		{"Observation", "date=gt2020-13-01", "date"},
		{"Observation", "date=2020-01-01&date=ge2020-01-01T25:00", "date"},
		{"Patient", "_count=abc", "_count"},
		{"Patient", "_count=-1", "_count"},
		{"Patient", "_count=1&_count=2", "_count"},
		{"Patient", "_count=99999999999999999999999", "_count"},
		{"Patient", "_offset=x", "_offset"},
		{"Patient", "_offset=99999999999", "_offset"},
		{"Patient", "name:missing=maybe", "name:missing"},
		{"Patient", "_include=Patient", "_include"},
		{"Patient", "_include=Patient:organization:bad!", "_include"},
		{"Patient", "_sort=,", "_sort"},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			_, err := searchRes(ix, tt.typ, tt.q, Options{Strict: strict})
			var se *Error
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &se) {
				t.Errorf("%s?%s: err = %v; want ErrInvalid", tt.typ, tt.q, err)
				continue
			}
			if se.Param != tt.param || se.Issue.Code != "invalid" || se.Issue.Severity != "error" {
				t.Errorf("%s?%s: %+v", tt.typ, tt.q, se)
			}
			for _, leak := range []string{"Smith", "1970", "yesterday", "abc", "maybe", "2020-13", "25:00", "bad!"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("%s?%s: error %q quotes the value", tt.typ, tt.q, err)
				}
			}
		}
	}
	// A parameter name that could be data is not repeated.
	res, _ := searchRes(ix, "Patient", "John%20Smith%201970=1", Options{})
	if len(res.Issues) != 1 || strings.Contains(res.Issues[0].Diagnostics, "Smith") {
		t.Errorf("odd name: issues %v", res.Issues)
	}
}

func TestUpdateAndDelete(t *testing.T) {
	ix := newFixtureIndex(t)
	check := func() {
		t.Helper()
		ix.mu.RLock()
		defer ix.mu.RUnlock()
		for typ, st := range ix.types {
			if err := st.check(); err != nil {
				t.Fatalf("%s: %v", typ, err)
			}
		}
	}
	check()
	n := ix.Len()
	if n != len(fixtures) {
		t.Fatalf("Len = %d; want %d", n, len(fixtures))
	}

	// An update replaces every value.
	upd := map[string]any{"resourceType": "Patient", "gender": "female", "birthDate": "2001-02-03",
		"name": []any{map[string]any{"family": "Jones"}}}
	ix.Put("Patient", "p1", 2, base.Add(time.Hour), upd)
	check()
	for q, want := range map[string]string{
		"name=smith": "p2 p4", "name=jones": "p1", "gender=male": "p4", "birthdate=1970": "p3",
		"identifier=MRN1": "", "_tag=vip": "", "birthdate=2001": "p1", "telecom=555-1234": "",
	} {
		if got := sorted(search(t, ix, "Patient", q)); strings.Join(got, " ") != want {
			t.Errorf("after update, Patient?%s = %v; want %q", q, got, want)
		}
	}
	// An older version does not overwrite a newer one.
	r, _ := fhir.Parse([]byte(fixtures[0]))
	ix.Put("Patient", "p1", 1, base, r.Tree)
	if got := search(t, ix, "Patient", "name=jones"); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("a stale Put was applied: name=jones = %v", got)
	}

	// Delete removes the resource from every posting list.
	ix.Delete("Observation", "o1")
	ix.Delete("Observation", "nope")
	ix.Delete("Nope", "o1")
	check()
	ix.mu.RLock()
	st := ix.types["Observation"]
	for _, maps := range [][]map[string]*posting{st.vals, st.texts} {
		for _, m := range maps {
			for _, head := range m {
				for p := head; p != nil; p = p.next {
					for _, d := range p.docs {
						if st.docs[d].id == "o1" || st.docs[d].id == "" {
							t.Errorf("posting %q|%q still lists a deleted document", p.a, p.b)
						}
					}
				}
			}
		}
	}
	// Postings only o1 had are gone, groups included.
	if _, ok := st.vals[st.sc.byName["encounter"].num]["e1"]; ok {
		t.Error("encounter posting of the deleted o1 survived")
	}
	if st.texts[st.sc.byName["code"].num]["hr"] != nil {
		t.Error("text posting of the deleted o1 survived")
	}
	ix.mu.RUnlock()
	for _, q := range []string{"_id=o1", "encounter=e1", "identifier=O1", "category=vital-signs", "code:text=heart", "date=2020-03-04"} {
		if got := search(t, ix, "Observation", q); len(got) != 0 {
			t.Errorf("after delete, Observation?%s = %v", q, got)
		}
	}
	if res, _ := searchRes(ix, "Observation", "", Options{}); res.Total != 5 {
		t.Errorf("after delete, total = %d", res.Total)
	}
	if ix.Len() != n-1 {
		t.Errorf("Len = %d; want %d", ix.Len(), n-1)
	}
	// The free slot is reused, and the index stays consistent.
	ix.Put("Observation", "o7", 1, base, map[string]any{"resourceType": "Observation", "status": "final",
		"code": map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "8867-4"}}}})
	check()
	if got := sorted(search(t, ix, "Observation", "code=http://loinc.org|8867-4")); !slices.Equal(got, []string{"o3", "o4", "o7"}) {
		t.Errorf("after reuse, code = %v", got)
	}
	// Deleting everything leaves no postings at all.
	for _, id := range []string{"o2", "o3", "o4", "o5", "o6", "o7"} {
		ix.Delete("Observation", id)
	}
	check()
	ix.mu.RLock()
	for i, m := range st.vals {
		if len(m) != 0 || len(st.texts[i]) != 0 || len(st.prefix[i]) != 0 {
			t.Errorf("param %s keeps postings after every delete", st.sc.params[i].name)
		}
	}
	ix.mu.RUnlock()
}

// TestConcurrent runs writers and searchers together; run it with -race.
func TestConcurrent(t *testing.T) {
	ix := &Index{}
	gen := newSynth(1)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 300 {
				typ, id, tree := gen.resource(w*1000 + i%150)
				if i%7 == 3 {
					ix.Delete(typ, id)
					continue
				}
				ix.Put(typ, id, uint64(i), base.Add(time.Duration(i)*time.Second), tree)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			for i := range 200 {
				q := []string{"name=smi", "patient=pat-3", "code=http://loinc.org|8867-4&date=ge2020", "birthdate=le1980", "_sort=family"}[i%5]
				typ := "Observation"
				if strings.HasPrefix(q, "name") || strings.HasPrefix(q, "birth") || strings.HasPrefix(q, "_sort") {
					typ = "Patient"
				}
				res, err := searchRes(ix, typ, q+"&_count=10", Options{})
				if err != nil || len(res.IDs) > 10 || res.Total < len(res.IDs) {
					t.Errorf("%s?%s = %v, %v", typ, q, res, err)
				}
			}
		})
	}
	wg.Wait()
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for typ, st := range ix.types {
		if err := st.check(); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
}

// TestPostingsMatchScan is a differential test: for random resources,
// updates, deletes and queries, the plan driven by posting lists returns
// exactly what scanning every document returns.
func TestPostingsMatchScan(t *testing.T) {
	ix := &Index{}
	gen := newSynth(7)
	for i := range 3000 {
		typ, id, tree := gen.resource(i % 2500)
		ix.Put(typ, id, uint64(i), base.Add(time.Duration(gen.r.IntN(5000))*time.Second), tree)
		if i%11 == 0 {
			typ, id, _ := gen.resource(gen.r.IntN(2500))
			ix.Delete(typ, id)
		}
	}
	queries, found := 0, 0
	for range 2000 {
		typ, raw := gen.query()
		q, _ := url.ParseQuery(raw)
		o := Options{Now: base}
		sc := schemas[typ]
		pq, err := parse(sc, q, o)
		if err != nil {
			continue
		}
		queries++
		ix.mu.RLock()
		a, b := &Result{}, &Result{}
		if st := ix.types[typ]; st != nil {
			ix.runLocked(st, pq, a, true)
			ix.runLocked(st, pq, b, false)
		}
		ix.mu.RUnlock()
		if a.Total != b.Total || !slices.Equal(a.IDs, b.IDs) || !slices.Equal(a.Includes, b.Includes) {
			t.Fatalf("%s?%s: postings give %d %v, scan %d %v", typ, raw, a.Total, a.IDs, b.Total, b.IDs)
		}
		if a.Total > 0 {
			found++
		}
	}
	// The comparison means something only if many queries match.
	if queries < 1000 || found < queries/4 {
		t.Fatalf("%d of the random queries parsed, %d matched something", queries, found)
	}
}

// TestWindow checks the selection of deep pages against a full sort, on
// random, sorted, reversed and organ-pipe inputs.
func TestWindow(t *testing.T) {
	g := newSynth(3)
	byValue := func(x, y uint32) int { return int(x) - int(y) }
	for round := range 400 {
		n := g.r.IntN(3000)
		a := make([]uint32, n)
		for i := range a {
			switch round % 4 {
			case 0:
				a[i] = uint32(i)
			case 1:
				a[i] = uint32(n - i)
			case 2:
				a[i] = uint32(min(i, n-i)*2 + i%2)
			default:
				a[i] = uint32(i)
			}
		}
		if round%4 == 3 {
			g.r.Shuffle(n, func(i, j int) { a[i], a[j] = a[j], a[i] })
		}
		want := slices.Clone(a)
		slices.Sort(want)
		off, count := g.r.IntN(n+2), 1+g.r.IntN(1200)
		got := window(slices.Clone(a), off, count, byValue)
		if off < n {
			want = want[off:min(off+count, n)]
		} else {
			want = nil
		}
		if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("round %d: window(n=%d, off=%d, count=%d) = %v; want %v", round, n, off, count, got, want)
		}
	}
}

// TestDeepPages pages through more matches than the heap keeps, so both
// ways of choosing a page are used, against the order computed here.
func TestDeepPages(t *testing.T) {
	ix := &Index{}
	type rec struct {
		id   string
		when time.Time
	}
	var recs []rec
	g := newSynth(5)
	for i := range 2600 {
		r := rec{fmt.Sprintf("p%05d", g.r.IntN(1e5)), base.Add(time.Duration(g.r.IntN(400)) * time.Second)}
		ix.Put("Patient", r.id, uint64(i), r.when, map[string]any{"resourceType": "Patient"})
		recs = slices.DeleteFunc(recs, func(x rec) bool { return x.id == r.id })
		recs = append(recs, r)
	}
	slices.SortFunc(recs, func(x, y rec) int {
		if c := y.when.Compare(x.when); c != 0 {
			return c
		}
		return strings.Compare(x.id, y.id)
	})
	var want []string
	for _, r := range recs {
		want = append(want, r.id)
	}
	for _, size := range []int{1000, 333, 7} {
		var got []string
		for off := 0; ; {
			res, err := searchRes(ix, "Patient", fmt.Sprintf("_count=%d&_offset=%d", size, off), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != len(want) {
				t.Fatalf("total %d; want %d", res.Total, len(want))
			}
			got = append(got, res.IDs...)
			if res.Next == 0 {
				break
			}
			off = res.Next
		}
		if !slices.Equal(got, want) {
			t.Errorf("_count=%d: pages differ from the expected order", size)
		}
	}
	// A deep page on its own.
	res, _ := searchRes(ix, "Patient", "_count=5&_offset=2000", Options{})
	if !slices.Equal(res.IDs, want[2000:2005]) {
		t.Errorf("_offset=2000 = %v; want %v", res.IDs, want[2000:2005])
	}
}
