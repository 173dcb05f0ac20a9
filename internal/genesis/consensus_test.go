package genesis

import (
	"strings"
	"testing"
)

// TestConsensus checks the consensus field: omitted from the canonical
// form when empty (genesis hashes made before it existed hold), validated,
// and under CometBFT one validator per organisation and CometBFT's chain
// id limit.
func TestConsensus(t *testing.T) {
	d := validDoc()
	if got := string(d.Canonical()); got != wantCanonical {
		t.Fatalf("Canonical() without consensus changed:\n%s", got)
	}
	d.Consensus = ConsensusCometBFT
	if !strings.HasSuffix(string(d.Canonical()), `,"consensus":"cometbft"}`) {
		t.Errorf("Canonical() = %s; want consensus last", d.Canonical())
	}
	if err := d.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	tests := []struct {
		name string
		edit func(*Doc)
		want string // in the error; empty: valid
	}{
		{"solo", func(d *Doc) { d.Consensus = ConsensusSolo }, ""},
		{"unknown engine", func(d *Doc) { d.Consensus = "raft" }, `consensus: "raft" is not a consensus engine`},
		{"two validators of one org", func(d *Doc) {
			d.Consensus = ConsensusCometBFT
			d.Validators = append(d.Validators, Validator{Name: "node1", Org: "st-mary", PublicKey: testKey(11), Power: 10})
		}, `validators[1].org: organisation "st-mary" already runs validators[0]`},
		{"two validators of one org under solo", func(d *Doc) {
			d.Validators = append(d.Validators, Validator{Name: "node1", Org: "st-mary", PublicKey: testKey(11), Power: 10})
		}, ""},
		{"chain id too long for CometBFT", func(d *Doc) {
			d.Consensus = ConsensusCometBFT
			d.ChainID = strings.Repeat("a", MaxCometBFTChainIDLen+1)
		}, "CometBFT's limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDoc()
			tt.edit(d)
			err := d.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v; want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v; want an error containing %q", err, tt.want)
			}
			if tt.want == "" {
				p, err := Parse(d.Canonical())
				if err != nil || p.Consensus != d.Consensus {
					t.Errorf("Parse(Canonical()) = %+v, %v", p, err)
				}
			}
		})
	}
}
