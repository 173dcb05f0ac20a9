package records_test

import (
	"encoding/json"
	"strings"
	"testing"

	ct "github.com/medledger/medledger/internal/contract/contracttest"
	"github.com/medledger/medledger/internal/contracts/records"
	"github.com/medledger/medledger/internal/ledger"
)

const (
	hashA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	hashB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	pt    = "pt_0123456789abcdef0123"
)

func write(signer string, want ledger.Code, as ...records.Anchor) ct.Step {
	return ct.Step{Call: ct.Call{Signer: signer, Contract: "records", Method: "write", Payload: records.Write{Anchors: as}}, Want: want}
}

func a(typ, id string, v uint64, op, hash string) records.Anchor {
	return records.Anchor{Type: typ, ID: id, Version: v, Op: op, Hash: hash, Patient: pt, Author: "st-mary/dr-who"}
}

func TestWrite(t *testing.T) {
	const node = "st-mary/node"
	tests := []struct {
		name  string
		steps []ct.Step
	}{
		{"create update delete recreate", []ct.Step{
			write(node, ledger.CodeOK, a("Observation", "o1", 1, "create", hashA)),
			write(node, ledger.CodeOK, a("Observation", "o1", 2, "update", hashB)),
			write(node, ledger.CodeOK, a("Observation", "o1", 3, "delete", "")),
			write(node, ledger.CodeOK, a("Observation", "o1", 4, "create", hashA)),
		}},
		{"versions in one write", []ct.Step{
			write(node, ledger.CodeOK, a("Patient", "p1", 1, "create", hashA), a("Patient", "p1", 2, "update", hashB)),
		}},
		{"skipped version", []ct.Step{
			write(node, ledger.CodeOK, a("Patient", "p1", 1, "create", hashA)),
			write(node, ledger.CodeContract, a("Patient", "p1", 3, "update", hashB)),
		}},
		{"create twice", []ct.Step{
			write(node, ledger.CodeOK, a("Patient", "p1", 1, "create", hashA)),
			write(node, ledger.CodeContract, a("Patient", "p1", 2, "create", hashB)),
		}},
		{"update missing", []ct.Step{write(node, ledger.CodeContract, a("Patient", "p9", 1, "update", hashA))}},
		{"delete missing", []ct.Step{write(node, ledger.CodeContract, a("Patient", "p9", 1, "delete", ""))}},
		{"all or nothing", []ct.Step{
			write(node, ledger.CodeContract, a("Patient", "p1", 1, "create", hashA), a("Patient", "p2", 2, "create", hashA)),
			write(node, ledger.CodeOK, a("Patient", "p1", 1, "create", hashA)), // p1 was not created above
		}},
		{"bad hash", []ct.Step{write(node, ledger.CodeContract, a("Patient", "p1", 1, "create", strings.ToUpper(hashA)))}},
		{"delete with hash", []ct.Step{
			write(node, ledger.CodeOK, a("Patient", "p1", 1, "create", hashA)),
			write(node, ledger.CodeContract, a("Patient", "p1", 2, "delete", hashA)),
		}},
		{"patient must be a pseudonym", []ct.Step{write(node, ledger.CodeContract, records.Anchor{Type: "Observation", ID: "o1", Version: 1, Op: "create", Hash: hashA, Patient: "Patient/123", Author: "x"})}},
		{"bad id", []ct.Step{write(node, ledger.CodeContract, a("Patient", "no spaces", 1, "create", hashA))}},
		{"practitioner may not anchor directly", []ct.Step{write("st-mary/dr-who", ledger.CodeDenied, a("Patient", "p1", 1, "create", hashA))}},
		{"empty write", []ct.Step{write(node, ledger.CodeContract)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ct.NewFixture(t, records.Contract{})
			f.Run(tt.steps)
		})
	}
}

func TestStoredVersion(t *testing.T) {
	f := ct.NewFixture(t, records.Contract{})
	f.Run([]ct.Step{write("st-mary/node", ledger.CodeOK, a("Observation", "o1", 1, "create", hashA))})
	raw, ok, err := f.State.Get([]byte("records/" + records.VersionKey("Observation", "o1", 1)))
	if err != nil || !ok {
		t.Fatalf("version anchor not stored: %v", err)
	}
	var v records.Version
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v.Hash != hashA || v.Org != "st-mary" || v.Signer != "st-mary/node" || v.Patient != pt || v.Height == 0 {
		t.Errorf("stored version = %+v", v)
	}
	raw, _, _ = f.State.Get([]byte("records/" + records.HeadKey("Observation", "o1")))
	var h records.Head
	json.Unmarshal(raw, &h)
	if h.Version != 1 || h.Hash != hashA {
		t.Errorf("head = %+v", h)
	}
}
