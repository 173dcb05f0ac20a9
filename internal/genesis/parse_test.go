package genesis

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// parseTests are byte-level cases for Parse. They seed FuzzParse.
func parseTests() []struct {
	name    string
	in      []byte
	wantErr string // "" for success
} {
	valid := validDoc().Canonical()
	var indented bytes.Buffer
	json.Indent(&indented, valid, "", "\t")
	replace := func(old, new string) []byte {
		return []byte(strings.Replace(string(valid), old, new, 1))
	}
	return []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{"canonical", valid, ""},
		{"indented with trailing newline", append(indented.Bytes(), '\n'), ""},
		{"time with offset", replace(`"2026-01-02T03:04:05.6Z"`, `"2026-01-02T05:04:05.6+02:00"`), ""},
		{"escaped key", replace(`"chain_id"`, `"chain\u005fid"`), ""},
		{"empty", nil, "malformed"},
		{"null", []byte("null"), "chain_id: missing"},
		{"array", []byte("[]"), "malformed"},
		{"empty object", []byte("{}"), "validators: at least one"},
		{"truncated", valid[:len(valid)/2], "malformed"},
		{"trailing object", append(bytes.Clone(valid), "{}"...), "data after the JSON object"},
		{"trailing garbage", append(bytes.Clone(valid), " x"...), "data after the JSON object"},
		{"unknown top-level field", replace(`{"chain_id"`, `{"comment":"hi","chain_id"`), `unknown field "comment"`},
		{"unknown nested field", replace(`"kind":"payer"`, `"kind":"payer","country":"UK"`), `unknown field "country"`},
		{"mis-cased field", replace(`"chain_id"`, `"Chain_ID"`), `unknown field "Chain_ID"`},
		{"unicode-folded field", replace(`"members"`, "\"member\u017f\""), "unknown field"},
		{"duplicate field", replace(`{"chain_id":"medledger-test-1"`, `{"chain_id":"other","chain_id":"medledger-test-1"`), `duplicate field "chain_id"`},
		{"duplicate nested field", replace(`"power":10`, `"power":1,"power":10`), `duplicate field "power"`},
		{"same key in sibling objects", valid, ""},
		{"invalid UTF-8", replace("Acme Health", "Acme \xffHealth"), "UTF-8"},
		{"wrong type", replace(`"power":10`, `"power":"10"`), "malformed"},
		{"fractional power", replace(`"power":10`, `"power":1.5`), "malformed"},
		{"time not RFC 3339", replace(`"2026-01-02T03:04:05.6Z"`, `"2026-01-02 03:04:05"`), "malformed"},
		{"too large", append(bytes.Clone(valid), bytes.Repeat([]byte(" "), MaxSize)...), "larger than"},
		{"invalid content", replace(`"power":10`, `"power":0`), "validators[0].power"},
	}
}

func TestParse(t *testing.T) {
	want := validDoc()
	for _, tt := range parseTests() {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v; want error containing %q", err, tt.wantErr)
				}
				if d != nil {
					t.Error("Parse returned a document with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse error: %v", err)
			}
			if d.Hash() != want.Hash() {
				t.Errorf("Parse(...).Canonical() =\n%s\nwant\n%s", d.Canonical(), want.Canonical())
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// is valid and has a stable canonical form that parses back to itself.
func FuzzParse(f *testing.F) {
	for _, tt := range parseTests() {
		if len(tt.in) <= 64<<10 {
			f.Add(tt.in)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse(b)
		if err != nil {
			if d != nil {
				t.Fatal("Parse returned a document with an error")
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("Parse accepted a document that Validate rejects: %v", err)
		}
		c := d.Canonical()
		d2, err := Parse(c)
		if err != nil {
			t.Fatalf("Parse(Canonical()) error: %v\ncanonical: %s", err, c)
		}
		if c2 := d2.Canonical(); !bytes.Equal(c, c2) {
			t.Fatalf("Canonical is not stable:\n%s\n%s", c, c2)
		}
	})
}
