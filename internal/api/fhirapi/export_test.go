package fhirapi_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// raw sends a request and returns the response with its whole body, for
// answers that are not FHIR JSON (manifests, NDJSON).
func (s *server) raw(method, u string, hdr ...string) (*http.Response, []byte) {
	s.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = s.url + u
	}
	req, _ := http.NewRequest(method, u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

// kickoff starts an export and returns its status URL.
func (s *server) kickoff(path string) string {
	s.t.Helper()
	resp, b := s.do("GET", path, "", "Prefer", "respond-async", "Accept", "application/fhir+json")
	loc := resp.Header.Get("Content-Location")
	if resp.StatusCode != 202 || !strings.Contains(loc, "/fhir/$export-status/") {
		s.t.Fatalf("kick-off %s: %d Content-Location %q %v", path, resp.StatusCode, loc, b)
	}
	return loc
}

// manifest is the Bulk Data completion manifest.
type manifest struct {
	TransactionTime     string `json:"transactionTime"`
	Request             string `json:"request"`
	RequiresAccessToken bool   `json:"requiresAccessToken"`
	Output              []struct {
		Type  string `json:"type"`
		URL   string `json:"url"`
		Count int    `json:"count"`
	} `json:"output"`
	Error []json.RawMessage `json:"error"`
}

// wait polls a status URL until the export completes.
func (s *server) wait(status string) manifest {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, b := s.raw("GET", status, "Accept", "application/json")
		switch resp.StatusCode {
		case 202:
			if resp.Header.Get("X-Progress") == "" || resp.Header.Get("Retry-After") == "" {
				s.t.Errorf("202 without X-Progress or Retry-After: %v", resp.Header)
			}
			if time.Now().After(deadline) {
				s.t.Fatalf("export %s still running after 20s", status)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		case 200:
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				s.t.Errorf("manifest Content-Type %q", ct)
			}
			var m manifest
			if err := json.Unmarshal(b, &m); err != nil {
				s.t.Fatalf("manifest: %v: %s", err, b)
			}
			if m.Output == nil || m.Error == nil {
				s.t.Errorf("manifest without output or error array: %s", b)
			}
			return m
		default:
			s.t.Fatalf("status %s: %d %s", status, resp.StatusCode, b)
		}
	}
}

// exportRoot is where the node under test writes exports: data/exports in
// its home.
func (s *server) exportRoot() string { return filepath.Join(s.dir, "data", "exports") }

// jobDir returns the directory of the job behind a status URL.
func (s *server) jobDir(status string) string {
	return filepath.Join(s.exportRoot(), path.Base(status))
}

func (s *server) total(typ string) int {
	s.t.Helper()
	_, b := s.do("GET", "/"+typ+"?_count=0", "")
	return int(b["total"].(float64))
}

// seed writes two patients with observations, and a practitioner.
func (s *server) seed() (pa, pb string) {
	pa = s.create("Patient", patient)
	pb = s.create("Patient", `{"resourceType":"Patient","name":[{"family":"Other"}]}`)
	s.create("Practitioner", `{"resourceType":"Practitioner","name":[{"family":"Doctor"}]}`)
	for _, p := range []string{pa, pa, pb} {
		s.create("Observation", observation(p, "8867-4", ""))
	}
	return pa, pb
}

func TestBulkExport(t *testing.T) {
	s := newServer(t)
	s.seed()
	status := s.kickoff("/$export")
	m := s.wait(status)
	if _, err := time.Parse(time.RFC3339, m.TransactionTime); err != nil {
		t.Errorf("transactionTime %q: %v", m.TransactionTime, err)
	}
	if m.Request != s.url+"/$export" {
		t.Errorf("request = %q; want %q", m.Request, s.url+"/$export")
	}
	if len(m.Error) != 0 {
		t.Errorf("errors: %s", m.Error)
	}
	counts := map[string]int{}
	for _, o := range m.Output {
		if !strings.HasPrefix(o.URL, s.url+"/$export-file/") {
			t.Errorf("output url %q is not on the request's base", o.URL)
		}
		resp, b := s.raw("GET", o.URL)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/fhir+ndjson" {
			t.Fatalf("GET %s: %d %q", o.URL, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		lines := 0
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			var r map[string]any
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s line %d: %v", o.Type, lines+1, err)
			}
			if r["resourceType"] != o.Type {
				t.Errorf("%s file holds a %v", o.Type, r["resourceType"])
			}
			lines++
		}
		if lines != o.Count || o.Count == 0 {
			t.Errorf("%s: manifest count %d, file has %d lines", o.Type, o.Count, lines)
		}
		counts[o.Type] = o.Count
		fi, err := os.Stat(filepath.Join(s.jobDir(status), path.Base(o.URL)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: file mode %v; want 0600", o.Type, fi.Mode().Perm())
		}
	}
	for _, typ := range []string{"Patient", "Practitioner", "Observation"} {
		if counts[typ] != s.total(typ) || counts[typ] == 0 {
			t.Errorf("%s: exported %d; the server holds %d", typ, counts[typ], s.total(typ))
		}
	}
	if fi, err := os.Stat(s.jobDir(status)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("job directory: %v %v; want mode 0700", fi, err)
	}
	if fi, err := os.Stat(s.exportRoot()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("export directory: %v %v; want mode 0700", fi, err)
	}

	// DELETE discards a finished export and its files.
	if resp, _ := s.raw("DELETE", status); resp.StatusCode != 202 {
		t.Errorf("DELETE: %d; want 202", resp.StatusCode)
	}
	if _, err := os.Stat(s.jobDir(status)); !os.IsNotExist(err) {
		t.Errorf("files kept after DELETE: %v", err)
	}
	if resp, _ := s.raw("GET", status); resp.StatusCode != 404 {
		t.Errorf("status after DELETE: %d; want 404", resp.StatusCode)
	}
	if resp, _ := s.raw("GET", m.Output[0].URL); resp.StatusCode != 404 {
		t.Errorf("file after DELETE: %d; want 404", resp.StatusCode)
	}
}

// exportTypes runs an export to completion and returns its counts by
// type, then deletes it.
func (s *server) exportTypes(kick string) map[string]int {
	s.t.Helper()
	status := s.kickoff(kick)
	m := s.wait(status)
	out := map[string]int{}
	for _, o := range m.Output {
		out[o.Type] = o.Count
	}
	s.raw("DELETE", status)
	return out
}

func TestBulkExportScope(t *testing.T) {
	s := newServer(t)
	pa, _ := s.seed()
	before := time.Now().UTC()
	time.Sleep(5 * time.Millisecond)
	s.create("Observation", observation(pa, "29463-7", ""))
	obs := s.total("Observation")
	tests := []struct {
		kick string
		want map[string]int
	}{
		{"/$export?_type=Patient,Practitioner", map[string]int{"Patient": 2, "Practitioner": 1}},
		{"/Observation/$export", map[string]int{"Observation": obs}},
		{"/Patient/$export?_type=Observation", map[string]int{"Observation": obs}},
		{"/$export?_since=" + url.QueryEscape(before.Format(time.RFC3339Nano)), map[string]int{"Observation": 1}},
		{"/$export?_since=2999-01-01T00:00:00Z", map[string]int{}},
	}
	for _, tt := range tests {
		got := s.exportTypes(tt.kick)
		// Provenance and other types the server may write on its own are
		// outside these scopes except for the system-level _since one.
		delete(got, "Provenance")
		if mustJSON(got) != mustJSON(tt.want) {
			t.Errorf("%s exported %v; want %v", tt.kick, got, tt.want)
		}
	}
	// Patient level: the compartment only, never Practitioners.
	got := s.exportTypes("/Patient/$export")
	if got["Practitioner"] != 0 || got["Patient"] != 2 || got["Observation"] != obs {
		t.Errorf("/Patient/$export exported %v", got)
	}
}

func TestBulkExportErrors(t *testing.T) {
	s := newServer(t)
	tests := []struct {
		name, method, path string
		hdr                []string
		status             int
	}{
		{"no Prefer", "GET", "/$export", nil, 400},
		{"Prefer other", "GET", "/$export", []string{"Prefer", "return=minimal"}, 400},
		{"unknown _type", "GET", "/$export?_type=Basic", []string{"Prefer", "respond-async"}, 400},
		{"_type outside type level", "GET", "/Observation/$export?_type=Patient", []string{"Prefer", "respond-async"}, 400},
		{"_type outside compartment", "GET", "/Patient/$export?_type=Practitioner", []string{"Prefer", "respond-async"}, 400},
		{"bad _since", "GET", "/$export?_since=2024-13-01", []string{"Prefer", "respond-async"}, 400},
		{"_typeFilter", "GET", "/$export?_typeFilter=Observation%3Fstatus%3Dfinal", []string{"Prefer", "respond-async"}, 400},
		{"_outputFormat", "GET", "/$export?_outputFormat=text/csv", []string{"Prefer", "respond-async"}, 400},
		{"unsupported type", "GET", "/Basic/$export", []string{"Prefer", "respond-async"}, 404},
		{"unknown job", "GET", "/$export-status/0123456789abcdef0123456789abcdef", nil, 404},
		{"delete unknown job", "DELETE", "/$export-status/0123456789abcdef0123456789abcdef", nil, 404},
		{"unknown file", "GET", "/$export-file/0123456789abcdef0123456789abcdef.Patient.ndjson", nil, 404},
		{"traversal", "GET", "/$export-file/..%2F..%2Fetc%2Fpasswd", nil, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, oo := s.do(tt.method, tt.path, "", tt.hdr...)
			if resp.StatusCode != tt.status || oo["resourceType"] != "OperationOutcome" {
				t.Errorf("%s %s: %d %v; want %d with an OperationOutcome", tt.method, tt.path, resp.StatusCode, oo, tt.status)
			}
		})
	}
	// Lenient handling ignores what it does not support.
	resp, b := s.do("GET", "/$export?_typeFilter=x&_elements=id", "", "Prefer", "respond-async, handling=lenient")
	if resp.StatusCode != 202 {
		t.Fatalf("lenient kick-off: %d %v; want 202", resp.StatusCode, b)
	}
	s.wait(resp.Header.Get("Content-Location"))
	s.raw("DELETE", resp.Header.Get("Content-Location"))
}

func TestBulkExportCancel(t *testing.T) {
	s := newServer(t)
	s.seed()
	status := s.kickoff("/$export")
	if resp, b := s.do("DELETE", strings.TrimPrefix(status, s.url), ""); resp.StatusCode != 202 {
		t.Fatalf("DELETE: %d %v", resp.StatusCode, b)
	}
	if _, err := os.Stat(s.jobDir(status)); !os.IsNotExist(err) {
		t.Errorf("files kept after DELETE: %v", err)
	}
	if resp, _ := s.raw("GET", status); resp.StatusCode != 404 {
		t.Errorf("status after DELETE: %d; want 404", resp.StatusCode)
	}
	if resp, _ := s.raw("DELETE", status); resp.StatusCode != 404 {
		t.Errorf("second DELETE: %d; want 404", resp.StatusCode)
	}
}

// TestBulkExportLimit fills the table of kept exports: the next kick-off
// is refused with 429 and Retry-After until one is deleted.
func TestBulkExportLimit(t *testing.T) {
	s := newServer(t)
	var kept []string
	t.Cleanup(func() {
		for _, st := range kept {
			s.raw("DELETE", st)
		}
	})
	for {
		resp, b := s.do("GET", "/$export", "", "Prefer", "respond-async")
		if resp.StatusCode == 429 {
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			break
		}
		if resp.StatusCode != 202 {
			t.Fatalf("kick-off: %d %v", resp.StatusCode, b)
		}
		kept = append(kept, resp.Header.Get("Content-Location"))
		s.wait(kept[len(kept)-1])
		if len(kept) > 100 {
			t.Fatal("kick-off never refused")
		}
	}
	if len(kept) < 2 {
		t.Errorf("refused after %d exports; want room for at least 2", len(kept))
	}
	s.raw("DELETE", kept[0])
	kept = kept[1:]
	st := s.kickoff("/$export")
	kept = append(kept, st)
	s.wait(st)
}
