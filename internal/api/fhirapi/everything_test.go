package fhirapi_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

// create posts a resource and returns its id.
func (s *server) create(typ, body string) string {
	s.t.Helper()
	resp, b := s.do("POST", "/"+typ, body)
	if resp.StatusCode != 201 {
		s.t.Fatalf("create %s: %d %v", typ, resp.StatusCode, b)
	}
	return b["id"].(string)
}

func observation(pid, code string, extra string) string {
	return `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"` + code + `"}]},` +
		`"subject":{"reference":"Patient/` + pid + `"}` + extra + `}`
}

// bundleEntries returns the resources of a Bundle's entries by search mode
// as "Type/id", and the links by relation.
func bundleEntries(t *testing.T, b map[string]any) (modes map[string][]string, links map[string]string) {
	t.Helper()
	modes, links = map[string][]string{}, map[string]string{}
	for _, e := range asSlice(b["entry"]) {
		e := e.(map[string]any)
		mode := e["search"].(map[string]any)["mode"].(string)
		res := e["resource"].(map[string]any)
		id, _ := res["id"].(string)
		modes[mode] = append(modes[mode], res["resourceType"].(string)+"/"+id)
	}
	for _, l := range asSlice(b["link"]) {
		l := l.(map[string]any)
		links[l["relation"].(string)] = l["url"].(string)
	}
	return modes, links
}

func asSlice(v any) []any { s, _ := v.([]any); return s }

func TestEverything(t *testing.T) {
	s := newServer(t)
	pa := s.create("Patient", patient)
	pb := s.create("Patient", `{"resourceType":"Patient","name":[{"family":"Other"}]}`)
	doc := s.create("Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Doctor"}]}`)
	want := []string{"Patient/" + pa}
	for i, code := range []string{"8867-4", "29463-7", "8310-5"} {
		extra := ""
		if i == 0 {
			extra = `,"performer":[{"reference":"Practitioner/` + doc + `"}]`
		}
		want = append(want, "Observation/"+s.create("Observation", observation(pa, code, extra)))
	}
	want = append(want, "Condition/"+s.create("Condition", `{"resourceType":"Condition","code":{"text":"asthma"},"subject":{"reference":"Patient/`+pa+`"}}`))
	other := s.create("Observation", observation(pb, "8867-4", ""))

	resp, b := s.do("GET", "/Patient/"+pa+"/$everything", "")
	if resp.StatusCode != 200 || b["type"] != "searchset" {
		t.Fatalf("$everything: %d %v", resp.StatusCode, b)
	}
	modes, links := bundleEntries(t, b)
	if b["total"] != float64(len(want)) {
		t.Errorf("total = %v; want %d", b["total"], len(want))
	}
	got := modes["match"]
	if !sameSet(got, want) {
		t.Errorf("matches %v; want %v", got, want)
	}
	if got[0] != "Patient/"+pa {
		t.Errorf("first match %s; want the Patient", got[0])
	}
	if !slices.Equal(modes["include"], []string{"Practitioner/" + doc}) {
		t.Errorf("includes %v; want the referenced Practitioner", modes["include"])
	}
	for _, x := range append(got, modes["include"]...) {
		if x == "Patient/"+pb || x == "Observation/"+other {
			t.Errorf("another patient's resource %s in $everything", x)
		}
	}
	if links["next"] != "" {
		t.Errorf("a next link on the only page: %s", links["next"])
	}

	// Paging: every match once over the pages.
	var paged []string
	next := s.url + "/Patient/" + pa + "/$everything?_count=2"
	for pages := 0; next != ""; pages++ {
		if pages > len(want) {
			t.Fatal("paging does not end")
		}
		u, _ := url.Parse(next)
		resp, b := s.do("GET", strings.TrimPrefix(u.Path, "/fhir")+"?"+u.RawQuery, "")
		if resp.StatusCode != 200 {
			t.Fatalf("page %d: %d %v", pages, resp.StatusCode, b)
		}
		m, l := bundleEntries(t, b)
		if len(m["match"]) > 2 {
			t.Errorf("page %d has %d matches; want at most 2", pages, len(m["match"]))
		}
		paged = append(paged, m["match"]...)
		next = l["next"]
	}
	if !slices.Equal(paged, got) {
		t.Errorf("paged matches %v; want %v", paged, got)
	}

	tests := []struct {
		query string
		total float64
	}{
		{"_type=Observation", 3},
		{"_type=Patient,Condition", 2},
		{"_since=2999-01-01T00:00:00Z", 0},
		{"_since=2000-01-01T00:00:00%2B01:00", float64(len(want))},
		{"_count=0", float64(len(want))},
	}
	for _, tt := range tests {
		resp, b := s.do("GET", "/Patient/"+pa+"/$everything?"+tt.query, "")
		if resp.StatusCode != 200 || b["total"] != tt.total {
			t.Errorf("$everything?%s: %d total %v; want %v", tt.query, resp.StatusCode, b["total"], tt.total)
		}
	}

	errs := []struct {
		path   string
		status int
	}{
		{"/Patient/nope/$everything", 404},
		{"/Patient/" + pa + "/$everything?_since=yesterday", 400},
		{"/Patient/" + pa + "/$everything?_type=Basic", 400},
		{"/Patient/" + pa + "/$everything?_count=x", 400},
	}
	for _, tt := range errs {
		resp, oo := s.do("GET", tt.path, "")
		if resp.StatusCode != tt.status || oo["resourceType"] != "OperationOutcome" {
			t.Errorf("GET %s: %d %v; want %d with an OperationOutcome", tt.path, resp.StatusCode, oo["resourceType"], tt.status)
		}
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
