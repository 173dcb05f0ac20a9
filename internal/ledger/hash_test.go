package ledger_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/medledger/medledger/internal/ledger"
)

func sha(b ...[]byte) ledger.Hash {
	return sha256.Sum256(bytes.Join(b, nil))
}

// naiveRoot is RFC 6962 section 2.1's Merkle Tree Hash, written straight
// from the definition.
func naiveRoot(leaves [][]byte) ledger.Hash {
	switch n := len(leaves); n {
	case 0:
		return sha()
	case 1:
		return sha([]byte{0x00}, leaves[0])
	default:
		k := 1
		for k*2 < n { // the largest power of two smaller than n
			k *= 2
		}
		l, r := naiveRoot(leaves[:k]), naiveRoot(leaves[k:])
		return sha([]byte{0x01}, l[:], r[:])
	}
}

func TestMerkleRootMatchesNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := 0; n <= 40; n++ {
		leaves := make([][]byte, n)
		for i := range leaves {
			leaves[i] = make([]byte, rng.IntN(40)) // includes empty leaves
			for j := range leaves[i] {
				leaves[i][j] = byte(rng.Uint32())
			}
		}
		if got, want := ledger.MerkleRoot(leaves), naiveRoot(leaves); got != want {
			t.Errorf("MerkleRoot(%d leaves) = %v; want %v", n, got, want)
		}
	}
}

func TestMerkleRootKnownValues(t *testing.T) {
	// The empty root is SHA-256 of the empty string (RFC 6962 2.1).
	const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := ledger.MerkleRoot(nil).String(); got != empty {
		t.Errorf("MerkleRoot(nil) = %s; want %s", got, empty)
	}
	if ledger.EmptyRoot.String() != empty {
		t.Errorf("EmptyRoot = %v; want %s", ledger.EmptyRoot, empty)
	}
	if got, want := ledger.MerkleRoot([][]byte{}), ledger.EmptyRoot; got != want {
		t.Errorf("MerkleRoot([]) = %v; want %v", got, want)
	}
	// A single leaf's root is its leaf hash, SHA-256(0x00 || data); the
	// leaf hash of the empty string is the RFC 6962 test vector.
	const emptyLeaf = "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
	if got := ledger.LeafHash(nil).String(); got != emptyLeaf {
		t.Errorf("LeafHash(nil) = %s; want %s", got, emptyLeaf)
	}
	if got, want := ledger.MerkleRoot([][]byte{[]byte("x")}), ledger.LeafHash([]byte("x")); got != want {
		t.Errorf("MerkleRoot([x]) = %v; want LeafHash(x) = %v", got, want)
	}
	// Order matters, and a leaf is not confused with an interior node.
	a, b := []byte("a"), []byte("b")
	if ledger.MerkleRoot([][]byte{a, b}) == ledger.MerkleRoot([][]byte{b, a}) {
		t.Errorf("MerkleRoot ignores leaf order")
	}
	la, lb := ledger.LeafHash(a), ledger.LeafHash(b)
	inner := append(la[:], lb[:]...)
	if ledger.MerkleRoot([][]byte{inner}) == ledger.MerkleRoot([][]byte{a, b}) {
		t.Errorf("a leaf holding two child hashes has the same root as the two-leaf tree")
	}
}

func TestHashText(t *testing.T) {
	h := sha([]byte("x"))
	s := h.String()
	tests := []struct {
		in   string
		want ledger.Hash
		ok   bool
	}{
		{s, h, true},
		{strings.ToUpper(s), h, true},
		{"", ledger.Hash{}, false},
		{s[:63], ledger.Hash{}, false},
		{s + "0", ledger.Hash{}, false},
		{"g" + s[1:], ledger.Hash{}, false},
		{" " + s[1:], ledger.Hash{}, false},
	}
	for _, tc := range tests {
		got, err := ledger.ParseHash(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseHash(%q) = %v, %v; want %v, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		var u ledger.Hash
		if err := u.UnmarshalText([]byte(tc.in)); (err == nil) != tc.ok || u != tc.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, ok=%v", tc.in, u, err, tc.want, tc.ok)
		}
	}
	if m, _ := h.MarshalText(); string(m) != s {
		t.Errorf("MarshalText() = %q; want %q", m, s)
	}
	if _, err := ledger.HashFromSlice(h[:31]); err == nil {
		t.Errorf("HashFromSlice(31 bytes) = nil error")
	}
	if got, err := ledger.HashFromSlice(h[:]); err != nil || got != h {
		t.Errorf("HashFromSlice(h) = %v, %v; want %v", got, err, h)
	}
	if !(ledger.Hash{}).IsZero() || h.IsZero() {
		t.Errorf("IsZero wrong")
	}
}

func TestGenesisHashDomain(t *testing.T) {
	doc := []byte(`{"chain_id":"x"}`)
	if ledger.GenesisHash(doc) == sha(doc) {
		t.Errorf("GenesisHash(doc) = sha256(doc); want domain separation")
	}
	if ledger.GenesisHash(doc) == ledger.GenesisHash(append(doc, ' ')) {
		t.Errorf("GenesisHash ignores a byte")
	}
}

func change(k, v string) ledger.Change { return ledger.Change{Key: []byte(k), Value: []byte(v)} }
func del(k string) ledger.Change       { return ledger.Change{Key: []byte(k), Delete: true} }

func TestChangesHash(t *testing.T) {
	empty := ledger.ChangesHash(nil)
	tests := []struct {
		name string
		a, b []ledger.Change
		same bool
	}{
		{"nil and empty", nil, []ledger.Change{}, true},
		{"identical", []ledger.Change{change("a", "1"), del("b")}, []ledger.Change{change("a", "1"), del("b")}, true},
		{"delete ignores its value", []ledger.Change{{Key: []byte("k"), Value: []byte("x"), Delete: true}}, []ledger.Change{del("k")}, true},
		{"nil and empty value", []ledger.Change{{Key: []byte("k")}}, []ledger.Change{{Key: []byte("k"), Value: []byte{}}}, true},
		{"order matters", []ledger.Change{change("a", "1"), change("b", "2")}, []ledger.Change{change("b", "2"), change("a", "1")}, false},
		{"delete vs empty value", []ledger.Change{del("k")}, []ledger.Change{change("k", "")}, false},
		{"delete vs value 0x01", []ledger.Change{del("k")}, []ledger.Change{change("k", "\x01")}, false},
		{"key/value boundary", []ledger.Change{change("ab", "c")}, []ledger.Change{change("a", "bc")}, false},
		{"change boundary", []ledger.Change{change("a", "b"), change("c", "d")}, []ledger.Change{change("a", "b\x01c\x00\x01d")}, false},
		{"empty vs one empty key", nil, []ledger.Change{change("", "")}, false},
		{"one vs two", []ledger.Change{change("k", "")}, []ledger.Change{change("k", ""), change("k", "")}, false},
		{"value differs", []ledger.Change{change("k", "1")}, []ledger.Change{change("k", "2")}, false},
		{"key differs", []ledger.Change{change("k", "1")}, []ledger.Change{change("j", "1")}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ha, hb := ledger.ChangesHash(tc.a), ledger.ChangesHash(tc.b)
			if (ha == hb) != tc.same {
				t.Errorf("ChangesHash(%v) == ChangesHash(%v) is %v; want %v", tc.a, tc.b, ha == hb, tc.same)
			}
		})
	}
	if empty == sha() || empty == ledger.EmptyRoot {
		t.Errorf("ChangesHash(nil) = %v is not domain separated", empty)
	}
}

// TestChangesHasher checks the incremental hasher against ChangesHash on
// random sorted change sets, and that Sum does not disturb the hasher.
func TestChangesHasher(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 30 {
		keys := map[string]bool{}
		for range n {
			k := make([]byte, rng.IntN(6))
			for i := range k {
				k[i] = []byte{0x00, 'a', 0xFF}[rng.IntN(3)]
			}
			keys[string(k)] = true
		}
		var cs []ledger.Change
		for k := range keys {
			if rng.IntN(3) == 0 {
				cs = append(cs, del(k))
			} else {
				cs = append(cs, change(k, strings.Repeat("v", rng.IntN(300))))
			}
		}
		ledger.SortChanges(cs)
		for i := 1; i < len(cs); i++ {
			if bytes.Compare(cs[i-1].Key, cs[i].Key) >= 0 {
				t.Fatalf("SortChanges: %q before %q", cs[i-1].Key, cs[i].Key)
			}
		}
		c := ledger.NewChangesHasher()
		for _, ch := range cs {
			c.Add(ch.Key, ch.Value, ch.Delete)
		}
		want := ledger.ChangesHash(cs)
		if got := c.Sum(); got != want {
			t.Errorf("ChangesHasher over %d changes = %v; ChangesHash = %v", len(cs), got, want)
		}
		if got := c.Sum(); got != want {
			t.Errorf("second Sum() over %d changes = %v; want %v (Sum must not change the hasher)", len(cs), got, want)
		}
	}
}

func TestAppHash(t *testing.T) {
	h := func(s string) ledger.Hash { return sha([]byte(s)) }
	type in struct {
		prev, changes, results ledger.Hash
		size                   uint64
		root                   ledger.Hash
	}
	base := in{h("prev"), h("changes"), h("results"), 7, h("root")}
	app := func(x in) ledger.Hash { return ledger.AppHash(x.prev, x.changes, x.results, x.size, x.root) }
	want := app(base)
	if app(base) != want {
		t.Fatalf("AppHash is not deterministic")
	}
	variants := map[string]func(*in){
		"prev":              func(x *in) { x.prev = h("other") },
		"changes":           func(x *in) { x.changes = h("other") },
		"results":           func(x *in) { x.results = h("other") },
		"size":              func(x *in) { x.size++ },
		"size high bit":     func(x *in) { x.size |= 1 << 63 },
		"root":              func(x *in) { x.root = h("other") },
		"changes<->results": func(x *in) { x.changes, x.results = x.results, x.changes },
		"prev<->root":       func(x *in) { x.prev, x.root = x.root, x.prev },
	}
	seen := map[ledger.Hash]string{want: "base"}
	for name, mod := range variants {
		x := base
		mod(&x)
		got := app(x)
		if prev, dup := seen[got]; dup {
			t.Errorf("AppHash after changing %s = %v, same as %s", name, got, prev)
		}
		seen[got] = name
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], base.size)
	if want == sha(base.prev[:], base.changes[:], base.results[:], size[:], base.root[:]) {
		t.Errorf("AppHash is not domain separated")
	}
}

func TestValidNames(t *testing.T) {
	tests := []struct {
		s           string
		name, membr bool
	}{
		{"notary", true, true},
		{"a", true, true},
		{"a.b_c9", true, true},
		{strings.Repeat("a", 64), true, true},
		{strings.Repeat("a", 65), false, true},
		{strings.Repeat("a", 128), false, true},
		{strings.Repeat("a", 129), false, false},
		{"", false, false},
		{"A", false, true},
		{"9a", false, true},
		{"st-mary/dr-who", false, true},
		{"x:y@z", false, true},
		{"-x", false, false},
		{"a b", false, false},
		{"a\n", false, false},
		{"é", false, false},
	}
	for _, tc := range tests {
		if got := ledger.ValidName(tc.s); got != tc.name {
			t.Errorf("ValidName(%q) = %v; want %v", tc.s, got, tc.name)
		}
		if got := ledger.ValidMemberID(tc.s); got != tc.membr {
			t.Errorf("ValidMemberID(%q) = %v; want %v", tc.s, got, tc.membr)
		}
	}
}

func ExampleMerkleRoot() {
	fmt.Println(ledger.MerkleRoot(nil))
	// Output: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}
