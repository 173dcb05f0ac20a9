package search_test

import (
	"fmt"
	"net/url"
	"time"

	"github.com/medledger/medledger/internal/fhir"
	"github.com/medledger/medledger/internal/fhir/search"
)

func Example() {
	var ix search.Index
	put := func(js string, updated time.Time) {
		r, err := fhir.Parse([]byte(js))
		if err != nil {
			panic(err)
		}
		ix.Put(r.Type, r.ID, 1, updated, r.Tree)
	}
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	put(`{"resourceType":"Patient","id":"p1","name":[{"family":"Smith","given":["Ann"]}],"birthDate":"1970-01-01"}`, t0)
	put(`{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p1"},
	      "code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"effectiveDateTime":"2020-03-04T10:00:00Z"}`, t0.Add(time.Minute))

	q, _ := url.ParseQuery("code=http://loinc.org|8867-4&date=ge2020-01-01&_include=Observation:patient&color=blue")
	res, err := ix.Search("Observation", q, search.Options{})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.IDs, res.Total, res.Includes)
	fmt.Println(res.Issues[0].Diagnostics)

	_, err = ix.Search("Patient", url.Values{"birthdate": {"1970-02-30"}}, search.Options{})
	fmt.Println(err)
	// Output:
	// [o1] 1 [{Patient p1}]
	// parameter "color" is unknown or unsupported for Observation: ignored
	// search: parameter "birthdate": not a date search value ([prefix]yyyy[-mm[-dd[Thh:mm[:ss[.fff]][zone]]]], prefix one of eq ne gt lt ge le sa eb ap)
}
