package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzSearch runs random query strings against the fixtures: Search must
// never panic, must either answer with a consistent page or fail with an
// *Error, and must never repeat a value that looks like data (6+ characters
// with a digit) in an error or issue, except those of _sort and _include,
// which name parameters and types.
func FuzzSearch(f *testing.F) {
	for _, s := range []string{
		"", "name=smi", "name:exact=Smíth", "name:contains=ith&_sort=-family", "birthdate=ge1970&birthdate=lt1990",
		"birthdate=xx1970", "birthdate=1970-02-30", "_count=abc", "_count=0", "_count=5000&_offset=3",
		"gender:not=male,female", "identifier=urn:mrn|MRN1", "identifier=|MRN1", "identifier=urn:mrn|",
		"_id=p1,p2", "_lastUpdated=ge2024-05-01T12:02:00Z", "foo=bar", "name:phonetic=x",
		"_include=Patient:organization", "_include=*", "_include=Patient", "_sort=,", "active:missing=true",
		`code=8867-4\,x`, `identifier=a\|b|c`, "date=2020-03-04T11:00:00+01:00", "%zz=1", "name=%C3",
		"_sort=-birthdate,family,_id", "telecom:missing=maybe", "subject:Patient=p1&_include=Observation:subject:Patient",
	} {
		f.Add(uint8(0), s)
		f.Add(uint8(2), s)
	}
	ix := newFixtureIndex(f)
	types := []string{"Patient", "Organization", "Observation", "Encounter", "Condition", "MedicationRequest", "Basic"}
	f.Fuzz(func(t *testing.T, ti uint8, raw string) {
		typ := types[int(ti)%len(types)]
		q, _ := url.ParseQuery(raw) // keep what parses
		for _, strict := range []bool{false, true} {
			res, err := ix.Search(typ, q, Options{Strict: strict, Now: time.Unix(1.7e9, 0)})
			var texts []string
			if err != nil {
				var se *Error
				if !errors.As(err, &se) || se.Issue.Code == "" || se.Issue.Severity != "error" {
					t.Fatalf("%s?%s: error %v is not a well-formed *Error", typ, raw, err)
				}
				if !strict && errors.Is(err, ErrUnsupported) {
					t.Fatalf("%s?%s: ErrUnsupported when lenient", typ, raw)
				}
				texts = append(texts, err.Error())
			} else {
				checkResult(t, typ+"?"+raw, res)
				for _, is := range res.Issues {
					texts = append(texts, is.Diagnostics)
				}
			}
			var names strings.Builder
			for k := range q {
				names.WriteString(k + "\n")
			}
			for k, vs := range q {
				if k == "_sort" || k == "_include" {
					continue // their values are parameter names and types, which may be repeated
				}
				for _, v := range vs {
					if len(v) < 6 || !strings.ContainsAny(v, "0123456789") || strings.Contains(names.String(), v) {
						continue
					}
					for _, s := range texts {
						if strings.Contains(s, v) {
							t.Fatalf("%s?%s: %q repeats the value %q", typ, raw, s, v)
						}
					}
				}
			}
		}
	})
}

func checkResult(t *testing.T, what string, res *Result) {
	t.Helper()
	if len(res.IDs) != len(res.Versions) || len(res.IDs) > res.Count || res.Total < res.Offset+len(res.IDs) && len(res.IDs) > 0 {
		t.Fatalf("%s: inconsistent page %+v", what, res)
	}
	if res.Count < 0 || res.Count > MaxCount {
		t.Fatalf("%s: count %d", what, res.Count)
	}
	seen := map[string]bool{}
	for _, id := range res.IDs {
		if seen[id] {
			t.Fatalf("%s: %s twice in a page", what, id)
		}
		seen[id] = true
	}
	if wantNext := res.Offset + res.Count; res.Count > 0 && wantNext < res.Total {
		if res.Next != wantNext {
			t.Fatalf("%s: Next = %d; want %d", what, res.Next, wantNext)
		}
	} else if res.Next != 0 {
		t.Fatalf("%s: Next = %d on the last page", what, res.Next)
	}
	for _, is := range res.Issues {
		if is.Severity == "" || is.Code == "" || is.Diagnostics == "" {
			t.Fatalf("%s: malformed issue %+v", what, is)
		}
	}
}
