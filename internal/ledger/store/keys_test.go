package store_test

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
)

var stateKeyCases = []struct {
	key string
	h   uint64
}{
	{"", 0},
	{"a", 1},
	{"\x00", 2},
	{"\x00\x00", 3},
	{"\x00\x01", 4},
	{"\x00\xff", 5},
	{"\xff", ^uint64(0)},
	{"a\x00b", 1 << 32},
	{"members/m/st-mary/admin", 12345},
	{"\xff\xff\x00\x01\x00", 7},
}

func TestStateKeyRoundTrip(t *testing.T) {
	for _, tc := range stateKeyCases {
		sk := store.StateKey([]byte(tc.key), tc.h)
		k, h, err := store.ParseStateKey(sk)
		if err != nil || string(k) != tc.key || h != tc.h {
			t.Errorf("ParseStateKey(StateKey(%q, %d)) = %q, %d, %v", tc.key, tc.h, k, h, err)
		}
	}
}

func TestParseStateKeyErrors(t *testing.T) {
	height := binary.BigEndian.AppendUint64(nil, ^uint64(5))
	sk := func(body string) []byte { return append([]byte("s"+body), height...) }
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"prefix only", []byte("s")},
		{"too short", []byte("s\x00\x01\x00\x00\x00\x00\x00\x00\x00")},
		{"wrong space", append([]byte("h\x00\x01"), height...)},
		{"no terminator", sk("abc")},
		{"terminator missing second byte", sk("a\x00")},
		{"bad escape 00 02", sk("a\x00\x02\x00\x01")},
		{"bad escape 00 00", sk("a\x00\x00\x00\x01")},
		{"bytes after terminator", sk("a\x00\x01b")},
		{"two terminators", sk("a\x00\x01\x00\x01")},
		{"terminator only in height", []byte("sa\x00\x01")},
	}
	for _, tc := range tests {
		if k, h, err := store.ParseStateKey(tc.in); err == nil {
			t.Errorf("%s: ParseStateKey(%q) = %q, %d, nil; want an error", tc.name, tc.in, k, h)
		}
	}
}

// FuzzStateKey checks that StateKey(k, h) parses back to (k, h), and that
// every stored key ParseStateKey accepts is the one StateKey builds (so
// each version has exactly one stored key).
func FuzzStateKey(f *testing.F) {
	for _, tc := range stateKeyCases {
		f.Add([]byte(tc.key), tc.h)
		f.Add(store.StateKey([]byte(tc.key), tc.h), tc.h)
	}
	f.Fuzz(func(t *testing.T, k []byte, h uint64) {
		sk := store.StateKey(k, h)
		gk, gh, err := store.ParseStateKey(sk)
		if err != nil || !bytes.Equal(gk, k) || gh != h {
			t.Fatalf("ParseStateKey(StateKey(%q, %d)) = %q, %d, %v", k, h, gk, gh, err)
		}
		// Treat the input as a stored key too.
		if pk, ph, err := store.ParseStateKey(k); err == nil {
			if again := store.StateKey(pk, ph); !bytes.Equal(again, k) {
				t.Fatalf("ParseStateKey(%q) = %q, %d, but StateKey of that = %q", k, pk, ph, again)
			}
		}
	})
}

// keyGen draws state keys from a small alphabet rich in escape bytes, so
// that keys often share prefixes.
var keyGen = rapid.Custom(func(t *rapid.T) string {
	return string(rapid.SliceOfN(rapid.SampledFrom([]byte{0x00, 0x01, 'a', 'b', 0xFF}), 0, 4).Draw(t, "bytes"))
})

// TestStateKeyOrder checks the property Scan relies on: stored keys sort
// by user key, then newest version first.
func TestStateKeyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		k1, k2 := keyGen.Draw(t, "k1"), keyGen.Draw(t, "k2")
		h1, h2 := rapid.Uint64().Draw(t, "h1"), rapid.Uint64().Draw(t, "h2")
		got := bytes.Compare(store.StateKey([]byte(k1), h1), store.StateKey([]byte(k2), h2))
		want := cmp.Compare(k1, k2)
		if want == 0 {
			want = cmp.Compare(h2, h1) // newer sorts first
		}
		if got != want {
			t.Fatalf("Compare(StateKey(%q, %d), StateKey(%q, %d)) = %d; want %d", k1, h1, k2, h2, got, want)
		}
	})
}

// TestStateModel is a differential test: random blocks of writes and
// deletes go to a store and to a naive model of every height's state, and
// random point reads, historical reads and prefix scans must agree, also
// across reopening.
func TestStateModel(t *testing.T) {
	root := t.TempDir()
	n := 0
	rapid.Check(t, func(rt *rapid.T) {
		n++
		dir := fmt.Sprintf("%s/%d", root, n)
		defer os.RemoveAll(dir)
		hot := rapid.Bool().Draw(rt, "hot")
		o := store.Options{Dir: dir}
		if hot {
			o.HotPrefixes = [][]byte{{'a'}, {0x00}}
		}
		st, err := store.Open(o)
		if err != nil {
			rt.Fatal(err)
		}
		defer func() { st.Close() }()

		genesis := changesGen.Draw(rt, "genesis")
		if err := st.InitGenesis(nil, genesis); err != nil {
			rt.Fatal(err)
		}
		vs := versions{}.apply(genesis)
		c := newChain()
		heightGen := rapid.Custom(func(t *rapid.T) uint64 {
			if rapid.IntRange(0, 9).Draw(t, "latest") == 0 {
				return ^uint64(0)
			}
			return rapid.Uint64Range(0, c.height+1).Draw(t, "h")
		})
		rt.Repeat(map[string]func(*rapid.T){
			"commit": func(t *rapid.T) {
				cs := changesGen.Draw(t, "changes")
				b := c.next(rapid.IntRange(0, 2).Draw(t, "txs"), cs)
				if err := st.Commit(b); err != nil {
					t.Fatalf("Commit(%d): %v", c.height, err)
				}
				vs = vs.apply(cs)
			},
			"get": func(t *rapid.T) {
				k := keyGen.Draw(t, "key")
				want, wantOK := vs.at(^uint64(0))[k]
				v, ok, err := st.Get([]byte(k))
				if err != nil || ok != wantOK || string(v) != want {
					t.Fatalf("Get(%q) = %q, %v, %v; want %q, %v", k, v, ok, err, want, wantOK)
				}
			},
			"getAt": func(t *rapid.T) {
				k, h := keyGen.Draw(t, "key"), heightGen.Draw(t, "height")
				want, wantOK := vs.at(h)[k]
				v, ok, err := st.GetAt([]byte(k), h)
				if err != nil || ok != wantOK || string(v) != want {
					t.Fatalf("GetAt(%q, %d) = %q, %v, %v; want %q, %v", k, h, v, ok, err, want, wantOK)
				}
			},
			"scan": func(t *rapid.T) {
				p, h := keyGen.Draw(t, "prefix"), heightGen.Draw(t, "height")
				if got, want := scan(t, st, p, h), vs.scan(p, h); !slices.Equal(got, want) {
					t.Fatalf("Scan(%q, %d) = %q; want %q", p, h, got, want)
				}
			},
			"reopen": func(t *rapid.T) {
				if err := st.Close(); err != nil {
					t.Fatal(err)
				}
				if st, err = store.Open(o); err != nil {
					t.Fatal(err)
				}
				if st.Height() != c.height {
					t.Fatalf("Height() after reopen = %d; want %d", st.Height(), c.height)
				}
			},
		})
	})
}

// changesGen draws a sorted block of changes with unique keys.
var changesGen = rapid.Custom(func(t *rapid.T) []ledger.Change {
	keys := rapid.SliceOfNDistinct(keyGen, 0, 6, rapid.ID).Draw(t, "keys")
	slices.Sort(keys)
	cs := make([]ledger.Change, len(keys))
	for i, k := range keys {
		if rapid.IntRange(0, 3).Draw(t, "delete") == 0 {
			cs[i] = del(k)
		} else {
			cs[i] = put(k, rapid.SampledFrom([]string{"", "v", "\x00", "\xff\x00"}).Draw(t, "value"))
		}
	}
	return cs
})
