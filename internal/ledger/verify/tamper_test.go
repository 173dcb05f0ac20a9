package verify_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/verify"
	"github.com/medledger/medledger/internal/node"
)

func verifyDir(t *testing.T, dir string, doc *genesis.Doc, o verify.Options) *verify.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := node.VerifyDir(ctx, dir, doc, o)
	if err != nil {
		t.Fatalf("VerifyDir: %v", err)
	}
	return rep
}

// TestUntampered checks the harness itself: the pristine ledger, a
// ledger rebuilt by re-execution, and ledgers that only someone holding
// the node key can produce all verify.
func TestUntampered(t *testing.T) {
	f := newFixture(t)
	mid := f.mid(t)
	last := f.last
	for _, c := range []struct {
		name string
		dir  func(t *testing.T) string
		o    verify.Options
		want uint64 // expected height
	}{
		{"pristine", f.copy, verify.Options{}, last},
		{"pristine/trusted-head-at-tip", f.copy, verify.Options{Trusted: f.head(last)}, last},
		{"pristine/trusted-head-in-the-middle", f.copy, verify.Options{Trusted: f.head(mid)}, last},
		{"re-executed", func(t *testing.T) string { return f.rebuild(t, last, last+1, nil, nil, "") }, verify.Options{}, last},
		// A consistent truncation is a valid, shorter ledger: without a
		// trusted tree head nothing can tell (see TestTamper for with).
		{"truncated-consistently/no-trusted-head", func(t *testing.T) string { return f.rebuild(t, last-1, last, nil, nil, "") }, verify.Options{}, last - 1},
		// The node key is the root of trust: a history rewritten and
		// signed with it verifies, unless a trusted head says otherwise
		// (see TestTamper).
		{"rewritten-with-node-key/trusted-head-before-it", func(t *testing.T) string {
			return f.rebuild(t, last, mid, f.replaceFirstTx(t, mid), f.nodeKey, f.nodeKey.KeyID())
		}, verify.Options{Trusted: f.head(mid - 1)}, last},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep := verifyDir(t, c.dir(t), f.doc, c.o)
			if !rep.OK {
				t.Fatalf("verify: %v; want OK", rep.Problem)
			}
			if rep.Height != c.want {
				t.Errorf("verify height = %d; want %d", rep.Height, c.want)
			}
			if want := f.headers[c.want].Header.TxLogSize; rep.Txs != want {
				t.Errorf("verify txs = %d; want %d", rep.Txs, want)
			}
		})
	}
}

// replaceFirstTx returns an edit that replaces the first transaction of
// block h with a fresh anchor signed by the admin.
func (f *fixture) replaceFirstTx(t *testing.T, h uint64) func(uint64, [][]byte) [][]byte {
	raw := f.anchor(t, f.admin, f.adminID, "anchor")
	return func(bh uint64, txs [][]byte) [][]byte {
		if bh != h {
			return txs
		}
		out := slices.Clone(txs)
		out[0] = raw
		return out
	}
}

// TestTamper changes a real ledger in one place at a time, below the
// store or by re-executing and re-signing, and checks that verification
// fails naming the height of the change and what kind of problem it is.
func TestTamper(t *testing.T) {
	f := newFixture(t)
	mid := f.mid(t)
	last := f.last
	attacker, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	nodeID := f.nodeKey.KeyID()
	n := uint32(f.headers[mid].Header.TxCount)
	first := f.headers[mid].Header.TxLogSize - uint64(n) // first tx-log leaf of block mid

	// Tampering helpers, each returning a new ledger directory.
	headerFlip := func(h uint64, fld protowire.Number, mask byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := store.HeaderKey(h)
				s, e := headerField(t, db.get(k), fld)
				db.flip(k, s+(e-s)/2, mask)
			})
		}
	}
	// varintFlip changes a varint header field by a small amount, keeping
	// the encoding canonical.
	varintFlip := func(h uint64, fld protowire.Number) func(t *testing.T) string {
		return func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := store.HeaderKey(h)
				s, _ := headerField(t, db.get(k), fld)
				db.flip(k, s, 0x02)
			})
		}
	}
	txFlip := func(i uint32, fld protowire.Number) func(t *testing.T) string {
		return func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := store.TxKey(mid, i)
				s, e := field(t, db.get(k), fld)
				db.flip(k, s+(e-s)/2, 0x01)
			})
		}
	}
	swap := func(k1, k2 []byte) func(db *rawDB) {
		return func(db *rawDB) {
			v1, v2 := db.get(k1), db.get(k2)
			db.set(k1, v2)
			db.set(k2, v1)
		}
	}
	// stateAt finds a live version written at height h.
	stateAt := func(db *rawDB, h uint64) (sk, val []byte) {
		db.each(store.SpaceState, func(k, v []byte) bool {
			_, kh, err := store.ParseStateKey(k)
			if err == nil && kh == h && len(v) > 1 {
				sk, val = k, v
				return false
			}
			return true
		})
		if sk == nil {
			t.Fatalf("no live state version at height %d", h)
		}
		return sk, val
	}
	// indexOf finds the index key of transaction i of block h.
	indexOf := func(db *rawDB, h uint64, i uint32) []byte {
		var key []byte
		db.each(store.SpaceIndex, func(k, v []byte) bool {
			loc, err := store.DecodeLoc(v)
			if err == nil && loc.Height == h && loc.Index == i {
				key = k
				return false
			}
			return true
		})
		if key == nil {
			t.Fatalf("no index entry for %d/%d", h, i)
		}
		return key
	}
	// genesisKey finds the metadata key holding the genesis document.
	genesisKey := func(db *rawDB) []byte {
		var key []byte
		db.each('m', func(k, v []byte) bool {
			if bytes.Equal(v, f.doc.Canonical()) {
				key = k
				return false
			}
			return true
		})
		if key == nil {
			t.Fatal("genesis document not found in the store")
		}
		return key
	}
	otherDoc, err := genesis.Load(f.home.Genesis())
	if err != nil {
		t.Fatal(err)
	}
	otherDoc.GenesisTime = otherDoc.GenesisTime.Add(-time.Second)

	type tc struct {
		name   string
		height uint64
		kinds  []string
		dir    func(t *testing.T) string
		o      verify.Options
		doc    *genesis.Doc // default f.doc
		// mayRefuse accepts a VerifyDir error wrapping store.ErrCorrupt
		// instead of a report.
		mayRefuse bool
	}
	cases := []tc{
		// Headers: a changed field either breaks the link or ordering
		// checks, or the block signature; a broken encoding is a decode
		// problem. Every one is named at its own height.
		{name: "header/chain_id", height: mid, kinds: []string{verify.KindHeader}, dir: headerFlip(mid, 1, 0x01)},
		{name: "header/height", height: mid, kinds: []string{verify.KindHeader}, dir: varintFlip(mid, 2)},
		{name: "header/time", height: mid, kinds: []string{verify.KindSignature}, dir: varintFlip(mid, 3)},
		{name: "header/prev_hash", height: mid, kinds: []string{verify.KindHeader}, dir: headerFlip(mid, 4, 0x01)},
		{name: "header/tx_count", height: mid, kinds: []string{verify.KindMissing, verify.KindSignature}, dir: varintFlip(mid, 5)},
		{name: "header/tx_root", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 6, 0x01)},
		{name: "header/results_root", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 7, 0x01)},
		{name: "header/changes_hash", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 8, 0x01)},
		{name: "header/app_hash", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 9, 0x80)},
		{name: "header/txlog_size", height: mid, kinds: []string{verify.KindSignature}, dir: varintFlip(mid, 10)},
		{name: "header/txlog_root", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 11, 0x01)},
		{name: "header/proposer", height: mid, kinds: []string{verify.KindSignature}, dir: headerFlip(mid, 12, 0x01)},
		{name: "header/signature", height: mid, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := store.HeaderKey(mid)
				s, e := field(t, db.get(k), 2)
				db.flip(k, s+(e-s)/2, 0x01)
			})
		}},
		{name: "header/encoding", height: mid, kinds: []string{verify.KindDecode}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.flip(store.HeaderKey(mid), 0, 0x01) })
		}},
		{name: "header/first-block/app_hash", height: 1, kinds: []string{verify.KindSignature}, dir: headerFlip(1, 9, 0x01)},
		{name: "header/last-block/app_hash", height: last, kinds: []string{verify.KindSignature}, dir: headerFlip(last, 9, 0x01)},
		{
			// store.Open decodes the latest header, so today the
			// database does not open and no report names the height.
			name: "header/last-block/encoding", height: last, kinds: []string{verify.KindDecode}, mayRefuse: true,
			dir: func(t *testing.T) string {
				return f.edit(t, func(db *rawDB) { db.flip(store.HeaderKey(last), 0, 0x01) })
			},
		},

		// Transactions: the block's tx root no longer matches.
		{name: "tx/payload", height: mid, kinds: []string{verify.KindTxRoot}, dir: txFlip(1, 4)},
		{name: "tx/signature", height: mid, kinds: []string{verify.KindTxRoot}, dir: txFlip(1, 7)},
		{name: "tx/nonce", height: mid, kinds: []string{verify.KindTxRoot}, dir: txFlip(0, 6)},
		{name: "tx/encoding", height: mid, kinds: []string{verify.KindDecode}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.flip(store.TxKey(mid, 1), 0, 0x01) })
		}},
		{name: "tx/deleted", height: mid, kinds: []string{verify.KindMissing}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.TxKey(mid, n-1)) })
		}},
		{name: "tx/reordered", height: mid, kinds: []string{verify.KindTxRoot}, dir: func(t *testing.T) string {
			// Swap the transactions, their results and index entries:
			// a reordering consistent everywhere but the header.
			return f.edit(t, func(db *rawDB) {
				x0, x1 := indexOf(db, mid, 0), indexOf(db, mid, 1)
				swap(store.TxKey(mid, 0), store.TxKey(mid, 1))(db)
				swap(store.ResultKey(mid, 0), store.ResultKey(mid, 1))(db)
				swap(x0, x1)(db)
			})
		}},
		{name: "tx/signatures-swapped", height: mid, kinds: []string{verify.KindTxRoot}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k0, k1 := store.TxKey(mid, 0), store.TxKey(mid, 1)
				v0, v1 := db.get(k0), db.get(k1)
				s0, e0 := field(t, v0, 7)
				s1, e1 := field(t, v1, 7)
				sig0 := bytes.Clone(v0[s0:e0])
				copy(v0[s0:e0], v1[s1:e1])
				copy(v1[s1:e1], sig0)
				db.set(k0, v0)
				db.set(k1, v1)
			})
		}},
		{name: "tx/extra-in-block", height: mid, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				db.set(store.TxKey(mid, n), db.get(store.TxKey(mid, 0)))
				db.set(store.ResultKey(mid, n), db.get(store.ResultKey(mid, 0)))
			})
		}},
		{name: "tx/extra-beyond-last", height: last + 1, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.set(store.TxKey(last+1, 0), db.get(store.TxKey(mid, 0))) })
		}},

		// Results: re-execution gives something else.
		{name: "result/byte", height: mid, kinds: []string{verify.KindResult}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := store.ResultKey(mid, 1)
				db.flip(k, len(db.get(k))/2, 0x01)
			})
		}},
		{name: "result/code", height: mid, kinds: []string{verify.KindResult}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				r := ledger.Result{Code: ledger.CodeDenied, Message: "refused"}
				db.set(store.ResultKey(mid, 0), r.Encode())
			})
		}},
		{name: "result/swapped", height: mid, kinds: []string{verify.KindResult}, dir: func(t *testing.T) string {
			return f.edit(t, swap(store.ResultKey(mid, 0), store.ResultKey(mid, 1)))
		}},
		{name: "result/deleted", height: mid, kinds: []string{verify.KindMissing}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.ResultKey(mid, 0)) })
		}},

		// World state: the versions written at a height no longer hash to
		// that block's changes.
		{name: "state/value", height: mid, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k, v := stateAt(db, mid)
				db.flip(k, 1+(len(v)-1)/2, 0x01)
			})
		}},
		{name: "state/put-made-delete", height: mid, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k, _ := stateAt(db, mid)
				db.set(k, []byte{1})
			})
		}},
		{name: "state/version-deleted", height: mid, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k, _ := stateAt(db, mid)
				db.del(k)
			})
		}},
		{name: "state/spurious-key", height: mid, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				db.set(store.StateKey([]byte("notary/d/0000000000000000000000000000000000000000000000000000000000000000"), mid), []byte("\x00{}"))
			})
		}},
		{name: "state/spurious-version-of-existing-key", height: mid, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			// The genesis admin's record, re-written at height mid
			// with a value it really had: only its height is wrong.
			return f.edit(t, func(db *rawDB) {
				k := []byte("members/m/" + f.adminID)
				db.set(store.StateKey(k, mid), db.get(store.StateKey(k, 0)))
			})
		}},
		{name: "state/genesis-version", height: 0, kinds: []string{verify.KindState}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k, v := stateAt(db, 0)
				db.flip(k, 1+(len(v)-1)/2, 0x01)
			})
		}},
		{name: "state/beyond-last", height: last + 1, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				db.set(store.StateKey([]byte("notary/d/x"), last+1), []byte("\x00{}"))
			})
		}},

		// The transaction index.
		{name: "index/moved", height: mid, kinds: []string{verify.KindIndex}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				k := indexOf(db, mid, 1)
				db.flip(k, 11, 0x01) // low byte of the index within the block
			})
		}},
		{name: "index/deleted", height: mid, kinds: []string{verify.KindIndex}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(indexOf(db, mid, 1)) })
		}},
		{name: "index/spurious", height: mid, kinds: []string{verify.KindIndex}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) {
				var id ledger.Hash
				id[0] = 0x42
				db.set(store.IndexKey(id), db.get(indexOf(db, mid, 1)))
			})
		}},

		// Tx-log Merkle nodes created by a block.
		{name: "node/leaf", height: mid, kinds: []string{verify.KindTxLog}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.flip(store.NodeKey(0, first+1), 7, 0x01) })
		}},
		{name: "node/inner", height: mid, kinds: []string{verify.KindTxLog}, dir: func(t *testing.T) string {
			end := first + uint64(n)
			return f.edit(t, func(db *rawDB) { db.flip(store.NodeKey(1, end/2-1), 31, 0x01) })
		}},
		{name: "node/deleted", height: mid, kinds: []string{verify.KindTxLog}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.NodeKey(0, first)) })
		}},
		{name: "node/spurious", height: last + 1, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			size := f.headers[last].Header.TxLogSize
			return f.edit(t, func(db *rawDB) { db.set(store.NodeKey(0, size), db.get(store.NodeKey(0, 0))) })
		}},

		// Removed history.
		{name: "gap/middle-header-deleted", height: mid, kinds: []string{verify.KindMissing}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.HeaderKey(mid)) })
		}},
		{name: "gap/first-header-deleted", height: 1, kinds: []string{verify.KindMissing}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.HeaderKey(1)) })
		}},
		{name: "truncated/last-header-only", height: last, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(store.HeaderKey(last)) })
		}},
		{name: "truncated/last-block-header-txs-results", height: last, kinds: []string{verify.KindExtra}, dir: func(t *testing.T) string {
			// What remains of the block (index entries, state versions,
			// tx-log nodes) is beyond the new last block.
			return f.edit(t, func(db *rawDB) {
				db.del(store.HeaderKey(last))
				for i := range uint32(f.headers[last].Header.TxCount) {
					db.del(store.TxKey(last, i))
					db.del(store.ResultKey(last, i))
				}
			})
		}},
		{
			name: "truncated/consistently/trusted-head", height: last, kinds: []string{verify.KindTruncated},
			dir: func(t *testing.T) string { return f.rebuild(t, last-1, last, nil, nil, "") },
			o:   verify.Options{Trusted: f.head(last)},
		},
		{
			name: "truncated/three-blocks/trusted-head", height: last - 2, kinds: []string{verify.KindTruncated},
			dir: func(t *testing.T) string { return f.rebuild(t, last-3, last, nil, nil, "") },
			o:   verify.Options{Trusted: f.head(last)},
		},

		// Genesis.
		{name: "genesis/replaced", height: 0, kinds: []string{verify.KindGenesis}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.set(genesisKey(db), otherDoc.Canonical()) })
		}},
		{name: "genesis/deleted", height: 0, kinds: []string{verify.KindGenesis}, dir: func(t *testing.T) string {
			return f.edit(t, func(db *rawDB) { db.del(genesisKey(db)) })
		}},
		{
			// The stored genesis and the operator's genesis.json both
			// replaced: the chain no longer links to the genesis.
			name: "genesis/replaced-everywhere", height: 1, kinds: []string{verify.KindHeader}, doc: otherDoc,
			dir: func(t *testing.T) string {
				return f.edit(t, func(db *rawDB) { db.set(genesisKey(db), otherDoc.Canonical()) })
			},
		},

		// Forgeries consistent in everything (tx root, results, state,
		// tx log, app hash, links) but the key that signs the blocks.
		{name: "forged/last-block/claims-node-key", height: last, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			return f.rebuild(t, last, last, f.replaceFirstTx(t, last), attacker, nodeID)
		}},
		{name: "forged/middle-block/claims-node-key", height: mid, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			return f.rebuild(t, last, mid, f.replaceFirstTx(t, mid), attacker, nodeID)
		}},
		{name: "forged/middle-block/own-key", height: mid, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			return f.rebuild(t, last, mid, f.replaceFirstTx(t, mid), attacker, attacker.KeyID())
		}},
		{name: "forged/middle-block/re-signed-only", height: mid, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			return f.rebuild(t, last, mid, nil, attacker, nodeID)
		}},
		{name: "forged/middle-block/tx-dropped", height: mid, kinds: []string{verify.KindSignature}, dir: func(t *testing.T) string {
			drop := func(h uint64, txs [][]byte) [][]byte {
				if h == mid {
					return txs[1:]
				}
				return txs
			}
			return f.rebuild(t, last, mid, drop, attacker, nodeID)
		}},
		{
			// With the node key itself the forgery verifies (see
			// TestUntampered), but not against a head a client saw.
			name: "forged/with-node-key/trusted-head", height: mid, kinds: []string{verify.KindTruncated},
			dir: func(t *testing.T) string { return f.rebuild(t, last, mid, f.replaceFirstTx(t, mid), f.nodeKey, nodeID) },
			o:   verify.Options{Trusted: f.head(mid)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			doc := c.doc
			if doc == nil {
				doc = f.doc
			}
			dir := c.dir(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := node.VerifyDir(ctx, dir, doc, c.o)
			if err != nil {
				if c.mayRefuse && errors.Is(err, store.ErrCorrupt) {
					t.Logf("VerifyDir refused the ledger without a report: %v", err)
					return
				}
				t.Fatalf("VerifyDir: %v", err)
			}
			if rep.OK {
				t.Fatalf("verify reports OK (height %d, %d txs) for a tampered ledger", rep.Height, rep.Txs)
			}
			p := rep.Problem
			if p.Height != c.height || !slices.Contains(c.kinds, p.Kind) {
				t.Errorf("verify problem = %q; want height %d, kind in %v", p, c.height, c.kinds)
			}
			if p.What == "" {
				t.Errorf("problem at height %d has no description", p.Height)
			}
		})
	}
}

// TestCorruptFile flips one byte of the largest Pebble table after the
// database was closed, in each region of the file: verification must fail,
// with a report or by refusing to open the database, never report a good
// ledger (nor crash: Pebble's default corruption handler is fatal).
func TestCorruptFile(t *testing.T) {
	f := newFixture(t)
	ents, err := os.ReadDir(f.pristine)
	if err != nil {
		t.Fatal(err)
	}
	var largest string
	var size int64
	for _, e := range ents {
		if filepath.Ext(e.Name()) != ".sst" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > size {
			largest, size = e.Name(), fi.Size()
		}
	}
	if size < 64<<10 {
		t.Fatalf("largest table %q is %d bytes; want the data in a table of at least 64 KiB", largest, size)
	}
	for _, c := range []struct {
		name string
		off  int64
	}{
		{"first-data-block", 100},
		{"data-quarter", size / 4},
		{"data-middle", size / 2},
		{"data-three-quarters", 3 * size / 4},
		{"index-or-filter", size - 1000},
		{"footer", size - 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := f.copy(t)
			p := filepath.Join(dir, largest)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			b[c.off] ^= 0x01
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			rep, err := node.VerifyDir(ctx, dir, f.doc, verify.Options{})
			switch {
			case err != nil:
				t.Logf("byte %d of %d: VerifyDir refused the database: %v", c.off, size, err)
			case rep.OK:
				t.Fatalf("byte %d of %s (%d bytes) flipped: verify reports OK", c.off, largest, size)
			default:
				t.Logf("byte %d of %d: %v", c.off, size, rep.Problem)
			}
		})
	}
}
