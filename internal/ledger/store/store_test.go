package store_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

const chainID = "medledger-test-1"

// open opens a store that is closed when the test ends, unless the test
// closes it first with closeStore (pebble panics on a second Close).
func open(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	st, err := store.Open(o)
	if err != nil {
		t.Fatalf("Open(%+v): %v", o, err)
	}
	t.Cleanup(func() { closeStore(t, st) })
	return st
}

var closed sync.Map // *store.Store → true once closed

func closeStore(t testing.TB, st *store.Store) {
	t.Helper()
	if _, done := closed.LoadOrStore(st, true); done {
		return
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// chain builds consecutive blocks the way the sequencer does, keeping the
// tx log, so that the store is given realistic headers and Merkle nodes.
type chain struct {
	log    *txlog.Log
	height uint64
	prev   ledger.Hash
	nonce  uint64
	blocks []*store.Block
}

func newChain() *chain { return &chain{log: txlog.New(), prev: ledger.GenesisHash([]byte("{}"))} }

// next returns block height+1 with ntx transactions and the given changes.
func (c *chain) next(ntx int, changes []ledger.Change) *store.Block {
	c.height++
	b := &store.Block{Changes: changes}
	for i := range ntx {
		c.nonce++
		tx := &ledger.Tx{ChainID: chainID, Contract: "notary", Method: "anchor",
			Payload: []byte(fmt.Sprintf(`{"n":%d}`, c.nonce)), Signer: "st-mary/dr-who",
			Nonce: c.nonce, Signature: bytes.Repeat([]byte{byte(i)}, ledger.SignatureSize)}
		enc := tx.Encode()
		res := ledger.Result{Code: ledger.CodeOK, Events: []ledger.Event{{Type: "n", Attrs: []ledger.Attr{{Key: "i", Value: fmt.Sprint(i)}}}}}
		b.Txs = append(b.Txs, enc)
		b.IDs = append(b.IDs, tx.ID())
		b.Results = append(b.Results, res.Encode())
		c.log.Append(ledger.LeafHash(enc), func(id txlog.NodeID, h ledger.Hash) {
			b.Nodes = append(b.Nodes, store.Node{ID: id, Hash: h})
		})
	}
	hdr := ledger.Header{
		ChainID: chainID, Height: c.height, Time: int64(c.height) * 1e9, PrevHash: c.prev,
		TxCount: uint64(ntx), TxRoot: ledger.MerkleRoot(b.Txs), ResultsRoot: ledger.MerkleRoot(b.Results),
		ChangesHash: ledger.ChangesHash(changes), TxLogSize: c.log.Size(), TxLogRoot: c.log.Root(),
		Proposer: "0123456789abcdef",
	}
	b.Header = ledger.SignedHeader{Header: hdr, Signature: bytes.Repeat([]byte{0x5A}, ledger.SignatureSize)}
	c.prev = hdr.Hash()
	c.blocks = append(c.blocks, b)
	return b
}

func commit(t testing.TB, st *store.Store, b *store.Block) {
	t.Helper()
	if err := st.Commit(b); err != nil {
		t.Fatalf("Commit(block %d): %v", b.Header.Header.Height, err)
	}
}

func put(k, v string) ledger.Change { return ledger.Change{Key: []byte(k), Value: []byte(v)} }
func del(k string) ledger.Change    { return ledger.Change{Key: []byte(k), Delete: true} }

// checkBlocks checks that st holds exactly c's blocks.
func checkBlocks(t *testing.T, st *store.Store, c *chain) {
	t.Helper()
	if got := st.Height(); got != c.height {
		t.Errorf("Height() = %d; want %d", got, c.height)
	}
	last := c.blocks[len(c.blocks)-1].Header
	if got := st.Last(); got.Header != last.Header || !bytes.Equal(got.Signature, last.Signature) {
		t.Errorf("Last() = %+v; want %+v", got, last)
	}
	for _, b := range c.blocks {
		h := b.Header.Header.Height
		got, err := st.Header(h)
		if err != nil || got.Header != b.Header.Header || !bytes.Equal(got.Signature, b.Header.Signature) {
			t.Errorf("Header(%d) = %+v, %v; want %+v", h, got, err, b.Header)
		}
		first := b.Header.Header.TxLogSize - uint64(len(b.Txs))
		for i := range b.Txs {
			if got, err := st.Tx(h, uint32(i)); err != nil || !bytes.Equal(got, b.Txs[i]) {
				t.Errorf("Tx(%d, %d) = %x, %v; want %x", h, i, got, err, b.Txs[i])
			}
			if err := st.ViewTx(h, uint32(i), func(raw []byte) error {
				if !bytes.Equal(raw, b.Txs[i]) {
					t.Errorf("ViewTx(%d, %d) saw %x; want %x", h, i, raw, b.Txs[i])
				}
				return nil
			}); err != nil {
				t.Errorf("ViewTx(%d, %d): %v", h, i, err)
			}
			if got, err := st.Result(h, uint32(i)); err != nil || !bytes.Equal(got, b.Results[i]) {
				t.Errorf("Result(%d, %d) = %x, %v; want %x", h, i, got, err, b.Results[i])
			}
			want := store.Loc{Height: h, Index: uint32(i), Leaf: first + uint64(i)}
			if got, err := st.Locate(b.IDs[i]); err != nil || got != want {
				t.Errorf("Locate(%v) = %+v, %v; want %+v", b.IDs[i], got, err, want)
			}
			if ok, err := st.Has(b.IDs[i]); !ok || err != nil {
				t.Errorf("Has(%v) = %v, %v; want true", b.IDs[i], ok, err)
			}
		}
		if _, err := st.Tx(h, uint32(len(b.Txs))); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Tx(%d, %d) error = %v; want ErrNotFound", h, len(b.Txs), err)
		}
		if err := st.ViewTx(h, uint32(len(b.Txs)), func([]byte) error { t.Error("ViewTx called fn for a missing tx"); return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ViewTx(%d, %d) error = %v; want ErrNotFound", h, len(b.Txs), err)
		}
		if _, err := st.Result(h, uint32(len(b.Txs))); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Result(%d, %d) error = %v; want ErrNotFound", h, len(b.Txs), err)
		}
		for _, n := range b.Nodes {
			if got, err := st.Node(n.ID); err != nil || got != n.Hash {
				t.Errorf("Node(%v) = %v, %v; want %v", n.ID, got, err, n.Hash)
			}
		}
	}
	for _, h := range []uint64{0, c.height + 1, ^uint64(0)} {
		if _, err := st.Header(h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Header(%d) error = %v; want ErrNotFound", h, err)
		}
	}
	missing := ledger.Hash(sha256.Sum256([]byte("missing")))
	if _, err := st.Locate(missing); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Locate(missing) error = %v; want ErrNotFound", err)
	}
	if ok, err := st.Has(missing); ok || err != nil {
		t.Errorf("Has(missing) = %v, %v; want false, nil", ok, err)
	}
	if _, err := st.Node(txlog.NodeID{Level: 40, Index: 0}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Node(40/0) error = %v; want ErrNotFound", err)
	}
	// The persisted nodes are enough to restore the tx log.
	log, err := txlog.Open(last.Header.TxLogSize, st)
	if err != nil {
		t.Fatalf("txlog.Open(%d): %v", last.Header.TxLogSize, err)
	}
	if log.Root() != last.Header.TxLogRoot {
		t.Errorf("restored tx log root = %v; want %v", log.Root(), last.Header.TxLogRoot)
	}
}

func TestCommitAndReopen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "db")
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if st.Height() != 0 || st.Last().Header.Height != 0 {
		t.Errorf("new store: Height() = %d, Last() = %+v; want 0 and zero", st.Height(), st.Last())
	}
	if _, err := st.Genesis(); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Genesis() before InitGenesis: error = %v; want ErrNotFound", err)
	}
	doc := []byte(`{"chain_id":"medledger-test-1"}`)
	if err := st.InitGenesis(doc, []ledger.Change{put("g", "0")}); err != nil {
		t.Fatal(err)
	}
	c := newChain()
	for i, n := range []int{0, 2, 3, 1, 5} {
		commit(t, st, c.next(n, []ledger.Change{put(fmt.Sprintf("k%d", i), "v")}))
		if st.Height() != c.height {
			t.Fatalf("Height() after commit = %d; want %d", st.Height(), c.height)
		}
	}
	t.Run("open", func(t *testing.T) { checkBlocks(t, st, c) })
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	for _, o := range []store.Options{{Dir: dir}, {Dir: dir, MustExist: true}, {Dir: dir, ReadOnly: true}} {
		t.Run(fmt.Sprintf("reopen %+v", o), func(t *testing.T) {
			st := open(t, o)
			checkBlocks(t, st, c)
			if got, err := st.Genesis(); err != nil || !bytes.Equal(got, doc) {
				t.Errorf("Genesis() = %q, %v; want %q", got, err, doc)
			}
			if v, ok, err := st.Get([]byte("g")); err != nil || !ok || string(v) != "0" {
				t.Errorf(`Get("g") = %q, %v, %v; want "0"`, v, ok, err)
			}
			if v, ok, err := st.Get([]byte("k4")); err != nil || !ok || string(v) != "v" {
				t.Errorf(`Get("k4") = %q, %v, %v; want "v"`, v, ok, err)
			}
		})
	}

	t.Run("readonly refuses writes", func(t *testing.T) {
		st := open(t, store.Options{Dir: dir, ReadOnly: true})
		if err := st.Commit(c.next(1, nil)); err == nil {
			t.Errorf("Commit on a read-only store = nil; want an error")
		}
		c.height-- // the block was not committed
		c.blocks = c.blocks[:len(c.blocks)-1]
		if st.Height() != c.height {
			t.Errorf("Height() after failed commit = %d; want %d", st.Height(), c.height)
		}
	})
}

func TestCommitRefusesWrongHeight(t *testing.T) {
	st := open(t, store.Options{Dir: t.TempDir()})
	c := newChain()
	b1 := c.next(1, nil)
	b2 := c.next(1, nil)

	bad := func(b *store.Block, mod func(*store.Block)) *store.Block {
		cp := *b
		cp.Txs, cp.IDs, cp.Results = slices.Clone(b.Txs), slices.Clone(b.IDs), slices.Clone(b.Results)
		mod(&cp)
		return &cp
	}
	withHeight := func(h uint64) func(*store.Block) {
		return func(b *store.Block) { b.Header.Header.Height = h }
	}
	tests := []struct {
		name string
		b    *store.Block
	}{
		{"height 0", bad(b1, withHeight(0))},
		{"height 2 first", b2},
		{"height far ahead", bad(b1, withHeight(1000))},
		{"height max", bad(b1, withHeight(^uint64(0)))},
		{"more results than txs", bad(b1, func(b *store.Block) { b.Results = append(b.Results, b.Results[0]) })},
		{"fewer ids than txs", bad(b1, func(b *store.Block) { b.IDs = nil })},
		{"no txs but results", bad(b1, func(b *store.Block) { b.Txs = nil })},
	}
	for _, tc := range tests {
		if err := st.Commit(tc.b); err == nil {
			t.Errorf("%s: Commit(height %d) = nil; want an error", tc.name, tc.b.Header.Header.Height)
		}
		if st.Height() != 0 {
			t.Fatalf("%s: Height() = %d after a refused commit; want 0", tc.name, st.Height())
		}
	}
	// Nothing of the refused blocks was written.
	if ok, _ := st.Has(b1.IDs[0]); ok {
		t.Errorf("Has(tx of refused block) = true")
	}
	commit(t, st, b1)
	if err := st.Commit(b1); err == nil {
		t.Errorf("Commit(block 1) twice = nil; want an error")
	}
	commit(t, st, b2)
	if st.Height() != 2 {
		t.Errorf("Height() = %d; want 2", st.Height())
	}
}

func TestInitGenesisTwice(t *testing.T) {
	dir := t.TempDir()
	st := open(t, store.Options{Dir: dir})
	if err := st.InitGenesis([]byte("doc1"), []ledger.Change{put("a", "1")}); err != nil {
		t.Fatalf("InitGenesis: %v", err)
	}
	if err := st.InitGenesis([]byte("doc2"), []ledger.Change{put("a", "2")}); err == nil {
		t.Errorf("second InitGenesis = nil; want an error")
	}
	closeStore(t, st)
	st = open(t, store.Options{Dir: dir})
	if err := st.InitGenesis([]byte("doc3"), nil); err == nil {
		t.Errorf("InitGenesis after reopen = nil; want an error")
	}
	if got, _ := st.Genesis(); string(got) != "doc1" {
		t.Errorf("Genesis() = %q; want doc1", got)
	}
	if v, _, _ := st.Get([]byte("a")); string(v) != "1" {
		t.Errorf(`Get("a") = %q; want "1" (the second genesis must not write)`, v)
	}
	if v, _, _ := st.GetAt([]byte("a"), 0); string(v) != "1" {
		t.Errorf(`GetAt("a", 0) = %q; want "1"`, v)
	}
}

func TestOpenMissing(t *testing.T) {
	for _, o := range []store.Options{{ReadOnly: true}, {MustExist: true}, {ReadOnly: true, MustExist: true}} {
		dir := filepath.Join(t.TempDir(), "missing")
		o.Dir = dir
		if st, err := store.Open(o); err == nil {
			st.Close()
			t.Errorf("Open(%+v) of a missing dir = nil error", o)
		}
		// (With MustExist alone pebble leaves an empty directory behind.)
		if _, err := os.Stat(dir); o.ReadOnly && !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Open(%+v) of a missing dir created it (stat: %v)", o, err)
		}
	}
	// A directory that exists but holds no database is missing too.
	empty := t.TempDir()
	if st, err := store.Open(store.Options{Dir: empty, ReadOnly: true}); err == nil {
		st.Close()
		t.Errorf("Open(ReadOnly) of an empty dir = nil error")
	}
}

// versions is the state of a store at each height, from genesis (0).
type versions []map[string]string

// apply returns the state after cs on top of the last state.
func (vs versions) apply(cs []ledger.Change) versions {
	next := map[string]string{}
	if len(vs) > 0 {
		for k, v := range vs[len(vs)-1] {
			next[k] = v
		}
	}
	for _, c := range cs {
		if c.Delete {
			delete(next, string(c.Key))
		} else {
			next[string(c.Key)] = string(c.Value)
		}
	}
	return append(vs, next)
}

// at returns the state as of height h (the latest for h beyond the end).
func (vs versions) at(h uint64) map[string]string {
	return vs[min(h, uint64(len(vs)-1))]
}

// scan returns the live keys with prefix p as of height h, in order.
func (vs versions) scan(p string, h uint64) []string {
	state := vs.at(h)
	var keys []string
	for k := range state {
		if len(k) >= len(p) && k[:len(p)] == p {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // byte order
	var out []string
	for _, k := range keys {
		out = append(out, k+"="+state[k])
	}
	return out
}

// fataler is what scan needs of a *testing.T or a *rapid.T.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func scan(t fataler, st *store.Store, p string, h uint64) []string {
	t.Helper()
	var out []string
	err := st.Scan([]byte(p), h, func(k, v []byte) bool {
		out = append(out, string(k)+"="+string(v))
		return true
	})
	if err != nil {
		t.Fatalf("Scan(%q, %d): %v", p, h, err)
	}
	return out
}

func TestStateVersions(t *testing.T) {
	blocks := [][]ledger.Change{
		{put("a", "0"), put("b", "0"), put("z", "0")}, // genesis
		{put("a", "1"), put("c", "1"), put("e", "")},  // 1
		{del("a"), put("b", "2")},                     // 2: delete
		{put("a", "3")},                               // 3: re-create
		{del("c"), del("d"), put("e", "4")},           // 4: delete, delete of a never-set key
		{},                                            // 5: no changes
		{put("z", "6"), put("b", "6")},                // 6
	}
	keys := []string{"a", "b", "c", "d", "e", "z", "", "zz"}

	for _, hot := range []bool{false, true} {
		t.Run(fmt.Sprintf("hot=%v", hot), func(t *testing.T) {
			dir := t.TempDir()
			o := store.Options{Dir: dir}
			if hot {
				o.HotPrefixes = [][]byte{[]byte("a"), []byte("z")}
			}
			st := open(t, o)
			if err := st.InitGenesis([]byte("{}"), blocks[0]); err != nil {
				t.Fatal(err)
			}
			vs := versions{}.apply(blocks[0])
			c := newChain()
			check := func(st *store.Store) {
				t.Helper()
				for h := uint64(0); h <= c.height+2; h++ {
					for _, k := range keys {
						want, wantOK := vs.at(h)[k]
						v, ok, err := st.GetAt([]byte(k), h)
						if err != nil || ok != wantOK || string(v) != want {
							t.Errorf("GetAt(%q, %d) = %q, %v, %v; want %q, %v", k, h, v, ok, err, want, wantOK)
						}
					}
					if got, want := scan(t, st, "", h), vs.scan("", h); !slices.Equal(got, want) {
						t.Errorf("Scan(\"\", %d) = %q; want %q", h, got, want)
					}
				}
				for _, k := range keys {
					want, wantOK := vs.at(^uint64(0))[k]
					for _, h := range []uint64{^uint64(0)} {
						if v, ok, err := st.GetAt([]byte(k), h); err != nil || ok != wantOK || string(v) != want {
							t.Errorf("GetAt(%q, max) = %q, %v, %v; want %q, %v", k, v, ok, err, want, wantOK)
						}
					}
					if v, ok, err := st.Get([]byte(k)); err != nil || ok != wantOK || string(v) != want {
						t.Errorf("Get(%q) = %q, %v, %v; want %q, %v", k, v, ok, err, want, wantOK)
					}
				}
			}
			check(st)
			for _, cs := range blocks[1:] {
				ledger.SortChanges(cs)
				commit(t, st, c.next(0, cs))
				vs = vs.apply(cs)
				check(st)
			}
			closeStore(t, st)
			check(open(t, store.Options{Dir: dir, ReadOnly: true}))
		})
	}
}

// trickyKeys are state keys that stress the escaping of the stored key:
// zero and 0xFF bytes, the escape sequences themselves, and keys that are
// prefixes of one another.
var trickyKeys = []string{
	"", "\x00", "\x00\x00", "\x00\x01", "\x00\xff", "\x01", "\x02",
	"a", "a\x00", "a\x00\x00", "a\x00\x01", "a\x00\x02", "a\x00\xff", "a\x00b", "a\x01", "a\xff", "a\xff\xff",
	"ab", "ab\x00", "abc", "b",
	"\xff", "\xff\x00", "\xff\x01", "\xff\xff", "\xff\xff\xff",
}

func TestScanTrickyKeys(t *testing.T) {
	st := open(t, store.Options{Dir: t.TempDir()})
	var genesis []ledger.Change
	for _, k := range trickyKeys {
		genesis = append(genesis, put(k, "g"))
	}
	if err := st.InitGenesis(nil, genesis); err != nil {
		t.Fatal(err)
	}
	vs := versions{}.apply(genesis)
	c := newChain()
	// Block h deletes every key whose index is divisible by h+1 and
	// rewrites every other one, so each height has a different live set.
	for h := 1; h <= 4; h++ {
		var cs []ledger.Change
		for i, k := range trickyKeys {
			switch {
			case i%(h+1) == 0:
				cs = append(cs, del(k))
			case (i+h)%3 == 0:
				cs = append(cs, put(k, fmt.Sprint(h)))
			}
		}
		ledger.SortChanges(cs)
		commit(t, st, c.next(0, cs))
		vs = vs.apply(cs)
	}
	prefixes := append([]string{"z", "a\x00\x00\x00", "\x00\x02"}, trickyKeys...)
	for _, p := range prefixes {
		for _, h := range []uint64{0, 1, 2, 3, 4, 5, ^uint64(0)} {
			if got, want := scan(t, st, p, h), vs.scan(p, h); !slices.Equal(got, want) {
				t.Errorf("Scan(%q, %d) = %q; want %q", p, h, got, want)
			}
		}
	}
	for _, k := range trickyKeys {
		for h := uint64(0); h <= 5; h++ {
			want, wantOK := vs.at(h)[k]
			if v, ok, err := st.GetAt([]byte(k), h); err != nil || ok != wantOK || string(v) != want {
				t.Errorf("GetAt(%q, %d) = %q, %v, %v; want %q, %v", k, h, v, ok, err, want, wantOK)
			}
		}
	}
}

func TestScanStops(t *testing.T) {
	st := open(t, store.Options{Dir: t.TempDir()})
	if err := st.InitGenesis(nil, []ledger.Change{put("a", "1"), put("b", "2"), put("c", "3")}); err != nil {
		t.Fatal(err)
	}
	for stopAfter := 1; stopAfter <= 3; stopAfter++ {
		n := 0
		err := st.Scan(nil, ^uint64(0), func(k, v []byte) bool {
			n++
			return n < stopAfter
		})
		if err != nil || n != stopAfter {
			t.Errorf("Scan stopping after %d calls: %d calls, %v", stopAfter, n, err)
		}
	}
}

func TestCheckpoint(t *testing.T) {
	st := open(t, store.Options{Dir: t.TempDir()})
	if err := st.InitGenesis([]byte("doc"), []ledger.Change{put("a", "0"), put("b\x00", "0")}); err != nil {
		t.Fatal(err)
	}
	c := newChain()
	commit(t, st, c.next(3, []ledger.Change{put("a", "1")}))
	commit(t, st, c.next(2, []ledger.Change{del("b\x00"), put("c", "2")}))

	dir := filepath.Join(t.TempDir(), "checkpoint")
	if err := st.Checkpoint(dir); err != nil {
		t.Fatalf("Checkpoint(%s): %v", dir, err)
	}
	if err := st.Checkpoint(dir); err == nil {
		t.Errorf("Checkpoint into an existing dir = nil; want an error")
	}
	// The original moves on; the checkpoint must not.
	want := dump(t, st)
	commit(t, st, c.next(1, []ledger.Change{put("a", "3")}))

	cp := open(t, store.Options{Dir: dir, ReadOnly: true})
	if got := dump(t, cp); !slices.Equal(got, want) {
		t.Errorf("checkpoint contents differ:\n got %q\nwant %q", got, want)
	}
	c.blocks, c.height = c.blocks[:2], 2
	checkBlocks(t, cp, c)
	if v, _, _ := cp.Get([]byte("a")); string(v) != "1" {
		t.Errorf(`checkpoint Get("a") = %q; want "1"`, v)
	}
}

// dump lists every key and value of every key space, via Raw.
func dump(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	for space := 0; space < 0xFF; space++ {
		err := st.Raw(byte(space), func(k, v []byte) error {
			if k[0] != byte(space) {
				return fmt.Errorf("Raw(%#x) gave key %q", space, k)
			}
			out = append(out, fmt.Sprintf("%x=%x", k, v))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSorted(out) {
		t.Errorf("Raw does not iterate in key order")
	}
	return out
}

func TestRaw(t *testing.T) {
	st := open(t, store.Options{Dir: t.TempDir()})
	if err := st.InitGenesis(nil, []ledger.Change{put("k", "0")}); err != nil {
		t.Fatal(err)
	}
	c := newChain()
	for _, n := range []int{2, 0, 3} {
		commit(t, st, c.next(n, []ledger.Change{put("k", fmt.Sprint(n)), put(fmt.Sprint("x", n), "")}))
	}
	type pos struct {
		h uint64
		i uint32
	}
	var want []pos
	for _, b := range c.blocks {
		for i := range b.Txs {
			want = append(want, pos{b.Header.Header.Height, uint32(i)})
		}
	}
	for _, space := range []byte{store.SpaceTx, store.SpaceResult} {
		var got []pos
		err := st.Raw(space, func(k, v []byte) error {
			h, i, err := store.ParsePos(k)
			if err != nil {
				return err
			}
			got = append(got, pos{h, i})
			return nil
		})
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Raw(%q) positions = %v, %v; want %v", space, got, err, want)
		}
	}
	var heights []uint64
	st.Raw(store.SpaceHeader, func(k, v []byte) error {
		sh, err := ledger.DecodeSignedHeader(v)
		if err != nil {
			t.Errorf("header %x: %v", k, err)
		}
		heights = append(heights, sh.Header.Height)
		return nil
	})
	if !slices.Equal(heights, []uint64{1, 2, 3}) {
		t.Errorf("Raw(SpaceHeader) heights = %v; want [1 2 3]", heights)
	}
	n := 0
	st.Raw(store.SpaceIndex, func(k, v []byte) error {
		n++
		if _, err := store.DecodeLoc(v); err != nil {
			t.Errorf("DecodeLoc(%x): %v", v, err)
		}
		return nil
	})
	if n != 5 {
		t.Errorf("Raw(SpaceIndex) visited %d entries; want 5", n)
	}
	// State versions of "k": genesis and three blocks, newest first.
	var ks []string
	st.Raw(store.SpaceState, func(sk, v []byte) error {
		k, h, err := store.ParseStateKey(sk)
		if err != nil {
			t.Errorf("ParseStateKey(%x): %v", sk, err)
		}
		val, live, err := store.DecodeStateValue(v)
		if err != nil || !live {
			t.Errorf("DecodeStateValue(%x) = %q, %v, %v", v, val, live, err)
		}
		ks = append(ks, fmt.Sprintf("%s@%d=%s", k, h, val))
		return nil
	})
	if want := []string{"k@3=3", "k@2=0", "k@1=2", "k@0=0", "x0@2=", "x2@1=", "x3@3="}; !slices.Equal(ks, want) {
		t.Errorf("Raw(SpaceState) = %q; want %q", ks, want)
	}
	stop := errors.New("stop")
	calls := 0
	if err := st.Raw(store.SpaceTx, func(k, v []byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Raw with a failing fn = %v after %d calls; want stop after 1", err, calls)
	}
}

func TestDecodeHelpers(t *testing.T) {
	stateValues := []struct {
		raw  []byte
		v    string
		live bool
		ok   bool
	}{
		{[]byte{0}, "", true, true},
		{[]byte{0, 'x', 0}, "x\x00", true, true},
		{[]byte{1}, "", false, true},
		{nil, "", false, false},
		{[]byte{1, 'x'}, "", false, false},
		{[]byte{2}, "", false, false},
		{[]byte{0xFF, 'x'}, "", false, false},
	}
	for _, tc := range stateValues {
		v, live, err := store.DecodeStateValue(tc.raw)
		if (err == nil) != tc.ok || (tc.ok && (string(v) != tc.v || live != tc.live)) {
			t.Errorf("DecodeStateValue(%x) = %q, %v, %v; want %q, %v, ok=%v", tc.raw, v, live, err, tc.v, tc.live, tc.ok)
		}
		if err != nil && !errors.Is(err, store.ErrCorrupt) {
			t.Errorf("DecodeStateValue(%x) error %v does not wrap ErrCorrupt", tc.raw, err)
		}
	}
	if _, err := store.DecodeLoc(make([]byte, 19)); !errors.Is(err, store.ErrCorrupt) {
		t.Errorf("DecodeLoc(19 bytes) error = %v; want ErrCorrupt", err)
	}
	if _, _, err := store.ParsePos(make([]byte, 12)); err == nil {
		t.Errorf("ParsePos(12 bytes) = nil error")
	}
	if h, i, err := store.ParsePos(store.TxKey(7, 9)); h != 7 || i != 9 || err != nil {
		t.Errorf("ParsePos(TxKey(7, 9)) = %d, %d, %v", h, i, err)
	}
}

// TestConcurrentReads runs readers against one writer (under -race in CI)
// and checks what they see: committed versions never change, the latest
// header is readable at the height read, and Get converges.
func TestConcurrentReads(t *testing.T) {
	for _, hot := range []bool{false, true} {
		t.Run(fmt.Sprintf("hot=%v", hot), func(t *testing.T) {
			o := store.Options{Dir: t.TempDir()}
			if hot {
				o.HotPrefixes = [][]byte{[]byte("k")}
			}
			st := open(t, o)
			if err := st.InitGenesis(nil, []ledger.Change{put("k", "0")}); err != nil {
				t.Fatal(err)
			}
			const blocks = 40
			c := newChain()
			var wg sync.WaitGroup
			done := make(chan struct{})
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						h := st.Height()
						if h > 0 {
							if _, err := st.Header(h); err != nil {
								t.Errorf("Header(Height() = %d): %v", h, err)
								return
							}
						}
						if last := st.Last().Header.Height; last < h {
							t.Errorf("Last() height %d < Height() %d read before it", last, h)
							return
						}
						// Version h of "k" was written by block h and is
						// immutable.
						if v, ok, err := st.GetAt([]byte("k"), h); err != nil || !ok || string(v) != fmt.Sprint(h) {
							t.Errorf(`GetAt("k", %d) = %q, %v, %v; want %q`, h, v, ok, err, fmt.Sprint(h))
							return
						}
						v, ok, err := st.Get([]byte("k"))
						var n uint64
						if _, serr := fmt.Sscan(string(v), &n); err != nil || !ok || serr != nil || n < h {
							t.Errorf(`Get("k") = %q, %v, %v at height >= %d`, v, ok, err, h)
							return
						}
						scan(t, st, "k", h)
					}
				}()
			}
			for h := 1; h <= blocks; h++ {
				commit(t, st, c.next(1, []ledger.Change{put("k", fmt.Sprint(h))}))
			}
			close(done)
			wg.Wait()
			if v, _, err := st.Get([]byte("k")); string(v) != fmt.Sprint(blocks) || err != nil {
				t.Errorf(`Get("k") after the writer finished = %q, %v; want %q`, v, err, fmt.Sprint(blocks))
			}
		})
	}
}

// TestHotPrefixes checks that the in-memory copy of hot keys never
// disagrees with the database, whatever order reads and writes come in.
func TestHotPrefixes(t *testing.T) {
	hot := store.Options{HotPrefixes: [][]byte{[]byte("members/"), []byte("policy/")}}
	tests := []struct {
		name string
		run  func(t *testing.T, st *store.Store, c *chain)
	}{
		{"read before genesis", func(t *testing.T, st *store.Store, c *chain) {
			st.Get([]byte("members/a"))
			if err := st.InitGenesis(nil, []ledger.Change{put("members/a", "1")}); err != nil {
				t.Fatal(err)
			}
		}},
		{"read, write, read", func(t *testing.T, st *store.Store, c *chain) {
			st.InitGenesis(nil, []ledger.Change{put("members/a", "0")})
			st.Get([]byte("members/a"))
			st.Get([]byte("policy/b"))
			commit(t, st, c.next(0, []ledger.Change{put("members/a", "1"), put("policy/b", "1")}))
		}},
		{"delete", func(t *testing.T, st *store.Store, c *chain) {
			st.InitGenesis(nil, []ledger.Change{put("members/a", "0"), put("policy/b", "0")})
			st.Get([]byte("members/a"))
			commit(t, st, c.next(0, []ledger.Change{del("members/a"), del("policy/b")}))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := hot
			o.Dir = t.TempDir()
			st := open(t, o)
			c := newChain()
			tc.run(t, st, c)
			for _, k := range []string{"members/a", "policy/b", "members/none"} {
				want, wantOK, err := st.GetAt([]byte(k), ^uint64(0))
				if err != nil {
					t.Fatal(err)
				}
				if v, ok, err := st.Get([]byte(k)); string(v) != string(want) || ok != wantOK || err != nil {
					t.Errorf("Get(%q) = %q, %v, %v; GetAt(%q, latest) = %q, %v", k, v, ok, err, k, want, wantOK)
				}
			}
		})
	}
}
