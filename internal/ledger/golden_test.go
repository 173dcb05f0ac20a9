package ledger_test

import (
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/ledger"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden pins the canonical encodings and every hash the package
// defines. Nodes built from different versions must agree on these bytes;
// a change here is a network-breaking format change. Regenerate with
// -update only deliberately, and read the diff.
func TestGolden(t *testing.T) {
	var b strings.Builder
	put := func(name string, v []byte) { fmt.Fprintf(&b, "%s %s\n", name, hex.EncodeToString(v)) }
	hash := func(name string, h ledger.Hash) { put(name, h[:]) }

	tx := sampleTx()
	put("tx.encode", tx.Encode())
	put("tx.signing_bytes", tx.SigningBytes())
	hash("tx.id", tx.ID())

	h := sampleHeader()
	put("header.encode", h.Encode())
	hash("header.hash", h.Hash())
	sh := ledger.SignedHeader{Header: h, Signature: sig64(0x5A)}
	put("signed_header.encode", sh.Encode())

	r := ledger.Result{Code: ledger.CodeContract, Message: "no", Events: []ledger.Event{
		{Type: "notary.anchored", Attrs: []ledger.Attr{{Key: "hash", Value: "ab"}, {Key: "height", Value: "3"}}},
		{Type: "empty"},
	}}
	put("result.encode", r.Encode())

	var leaves [][]byte
	for i := range 5 {
		hash(fmt.Sprintf("merkle.root.%d", i), ledger.MerkleRoot(leaves))
		leaves = append(leaves, []byte{byte('a' + i)})
	}
	hash("leaf.hash.tx", ledger.LeafHash(tx.Encode()))

	cs := []ledger.Change{change("", ""), change("a", "1"), del("a\x00"), change("b", "\x00\xff")}
	hash("changes.hash.nil", ledger.ChangesHash(nil))
	hash("changes.hash.sample", ledger.ChangesHash(cs))
	hash("app.hash", ledger.AppHash(sha([]byte("p")), ledger.ChangesHash(cs), ledger.EmptyRoot, 5, ledger.MerkleRoot(leaves)))
	hash("genesis.hash", ledger.GenesisHash([]byte("{}")))

	path := filepath.Join("testdata", "encodings.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	gotLines, wantLines := strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gotLines), len(wantLines)) {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("%s line %d:\n got %s\nwant %s", path, i+1, g, w)
		}
	}
}
