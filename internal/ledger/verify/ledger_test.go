package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/chain"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/demo"
	"github.com/medledger/medledger/internal/genesis"
	"github.com/medledger/medledger/internal/home"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
	"github.com/medledger/medledger/internal/ledger/verify"
	"github.com/medledger/medledger/internal/node"
)

// fixture is a real ledger written by a real node, kept pristine; each
// tamper case works on a copy of it.
type fixture struct {
	home     home.Home
	doc      *genesis.Doc
	pristine string // flushed checkpoint of the ledger database: data in .sst files
	nodeKey  *identity.Key
	admin    *identity.Key
	adminID  string

	last    uint64
	headers []ledger.SignedHeader // by height; [0] unused
	txs     [][][]byte            // encoded txs by height; [0] unused
}

// newFixture initialises a home, runs a node that loads the demo data set
// (members enrolled, a policy set, 300 anchors, a re-key, a suspension) and
// a few transactions that are committed as failures, then checkpoints the
// ledger. Small blocks give more than ten of them.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	doc, err := home.Init(dir, home.InitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := home.Home{Dir: dir}
	n, err := node.Open(node.Config{Home: dir, Solo: node.SoloConfig{MaxTxs: 40}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n.Close()
		}
	}()
	n.Start()
	f := &fixture{home: h, doc: doc, adminID: doc.Members[0].ID}
	if f.admin, err = h.LoadSigner(h.MemberKey(f.adminID), ""); err != nil {
		t.Fatal(err)
	}
	if f.nodeKey, err = h.LoadSigner(h.NodeKey(), ""); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Load(ctx, demo.Options{Home: h, ChainID: doc.ChainID, AdminID: f.adminID, Documents: 300}, submitter(n)); err != nil {
		t.Fatalf("demo.Load: %v", err)
	}
	// Transactions the ledger commits as failures, so re-execution has
	// non-ok results to reproduce: an anchor the tightened policy denies
	// (auditors may not anchor) and an unknown method.
	auditorID := orgOf(f.adminID) + "/auditor-garcia"
	auditor, err := h.LoadSigner(h.MemberKey(auditorID), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		signer *identity.Key
		id     string
		method string
		want   ledger.Code
	}{
		{auditor, auditorID, "anchor", ledger.CodeDenied},
		{f.admin, f.adminID, "frobnicate", ledger.CodeUnknownMethod},
	} {
		raw := f.anchor(t, c.signer, c.id, c.method)
		rc, err := n.Submit(ctx, raw)
		if err != nil {
			t.Fatalf("submit %s: %v", c.method, err)
		}
		if rc.Result.Code != c.want {
			t.Fatalf("submit %s: result %q; want %q", c.method, rc.Result.Code, c.want)
		}
	}
	f.pristine = filepath.Join(t.TempDir(), "pristine")
	if err := n.Checkpoint(f.pristine); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	f.load(t)
	if f.last < 10 {
		t.Fatalf("fixture has %d blocks; want at least 10", f.last)
	}
	return f
}

func orgOf(id string) string {
	if i := bytes.IndexByte([]byte(id), '/'); i >= 0 {
		return id[:i]
	}
	return id
}

// submitter adapts node.SubmitBatch to demo.Submitter.
func submitter(n *node.Node) demo.Submitter {
	return func(ctx context.Context, raws [][]byte) ([]demo.Outcome, error) {
		res := n.SubmitBatch(ctx, raws)
		out := make([]demo.Outcome, len(res))
		for i, r := range res {
			if r.Err != nil {
				var le *ledger.Error
				if !errors.As(r.Err, &le) {
					return nil, r.Err
				}
				out[i] = demo.Outcome{Code: string(le.Code), Err: r.Err}
				continue
			}
			out[i] = demo.Outcome{Hash: r.Receipt.TxHash, Code: string(r.Receipt.Result.Code), Height: r.Receipt.Height}
		}
		return out, nil
	}
}

// anchor returns a signed notary transaction with a fresh document hash.
func (f *fixture) anchor(t *testing.T, k *identity.Key, signer, method string) []byte {
	t.Helper()
	doc := make([]byte, 32)
	rand.Read(doc)
	sum := sha256.Sum256(doc)
	p, err := json.Marshal(notary.Anchor{Hash: hex.EncodeToString(sum[:]), Kind: "lab-report"})
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := client.Sign(client.Tx{ChainID: f.doc.ChainID, Contract: "notary", Method: method, Payload: p, Signer: signer}, k)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// load reads the pristine ledger's headers and transactions.
func (f *fixture) load(t *testing.T) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: f.pristine, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f.last = st.Height()
	f.headers = make([]ledger.SignedHeader, f.last+1)
	f.txs = make([][][]byte, f.last+1)
	for h := uint64(1); h <= f.last; h++ {
		sh, err := st.Header(h)
		if err != nil {
			t.Fatal(err)
		}
		f.headers[h] = sh
		for i := uint32(0); uint64(i) < sh.Header.TxCount; i++ {
			raw, err := st.Tx(h, i)
			if err != nil {
				t.Fatal(err)
			}
			f.txs[h] = append(f.txs[h], raw)
		}
	}
}

// mid returns a block in the middle of the ledger with at least two
// transactions that changed state.
func (f *fixture) mid(t *testing.T) uint64 {
	t.Helper()
	for h := f.last / 2; h < f.last; h++ {
		if f.headers[h].Header.TxCount >= 2 && f.headers[h].Header.ChangesHash != ledger.ChangesHash(nil) {
			return h
		}
	}
	t.Fatal("fixture has no suitable middle block")
	return 0
}

// head returns the tree head as of block h.
func (f *fixture) head(h uint64) *verify.TreeHead {
	return &verify.TreeHead{Size: f.headers[h].Header.TxLogSize, Root: f.headers[h].Header.TxLogRoot}
}

// copy returns a byte-for-byte copy of the pristine ledger database.
func (f *fixture) copy(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "ledger")
	if err := copyDir(f.pristine, dst); err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyDir(src, dst string) error {
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return err
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// edit copies the pristine ledger and lets fn change it through Pebble
// directly, below the store: what someone with file access could do.
func (f *fixture) edit(t *testing.T, fn func(db *rawDB)) string {
	t.Helper()
	dir := f.copy(t)
	db, err := pebble.Open(dir, &pebble.Options{Logger: quietLogger{t}})
	if err != nil {
		t.Fatal(err)
	}
	fn(&rawDB{t: t, db: db})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// quietLogger keeps Pebble's informational messages out of the test
// output.
type quietLogger struct{ t *testing.T }

func (quietLogger) Infof(string, ...any)                {}
func (l quietLogger) Errorf(format string, args ...any) { l.t.Logf("pebble: "+format, args...) }
func (l quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// rawDB wraps a Pebble handle with failing-test helpers.
type rawDB struct {
	t  *testing.T
	db *pebble.DB
}

func (r *rawDB) get(k []byte) []byte {
	r.t.Helper()
	v, c, err := r.db.Get(k)
	if err != nil {
		r.t.Fatalf("get %q: %v", k, err)
	}
	out := bytes.Clone(v)
	c.Close()
	return out
}

func (r *rawDB) set(k, v []byte) {
	r.t.Helper()
	if err := r.db.Set(k, v, pebble.Sync); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawDB) del(k []byte) {
	r.t.Helper()
	if _, c, err := r.db.Get(k); err != nil {
		r.t.Fatalf("delete %q: %v", k, err)
	} else {
		c.Close()
	}
	if err := r.db.Delete(k, pebble.Sync); err != nil {
		r.t.Fatal(err)
	}
}

// flip xors one byte of the value at k.
func (r *rawDB) flip(k []byte, off int, mask byte) {
	r.t.Helper()
	v := r.get(k)
	if off < 0 || off >= len(v) {
		r.t.Fatalf("flip %q at %d: value has %d bytes", k, off, len(v))
	}
	v[off] ^= mask
	r.set(k, v)
}

// each calls fn for every key and value in a key space, in order; fn
// returning false stops.
func (r *rawDB) each(space byte, fn func(k, v []byte) bool) {
	r.t.Helper()
	it, err := r.db.NewIter(&pebble.IterOptions{LowerBound: []byte{space}, UpperBound: []byte{space + 1}})
	if err != nil {
		r.t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if !fn(bytes.Clone(it.Key()), bytes.Clone(it.Value())) {
			return
		}
	}
	if err := it.Error(); err != nil {
		r.t.Fatal(err)
	}
}

// field returns the byte range of field n's value in a canonical
// (protobuf wire format) encoding.
func field(t *testing.T, b []byte, n protowire.Number) (start, end int) {
	t.Helper()
	off := 0
	for off < len(b) {
		num, typ, l := protowire.ConsumeTag(b[off:])
		if l < 0 {
			t.Fatalf("bad tag at %d", off)
		}
		off += l
		switch typ {
		case protowire.BytesType:
			v, m := protowire.ConsumeBytes(b[off:])
			if m < 0 {
				t.Fatalf("bad bytes at %d", off)
			}
			if num == n {
				s := off + m - len(v)
				return s, s + len(v)
			}
			off += m
		case protowire.VarintType:
			_, m := protowire.ConsumeVarint(b[off:])
			if m < 0 {
				t.Fatalf("bad varint at %d", off)
			}
			if num == n {
				return off, off + m
			}
			off += m
		default:
			t.Fatalf("unexpected wire type %d", typ)
		}
	}
	t.Fatalf("no field %d", n)
	return 0, 0
}

// headerField returns the range of header field n inside an encoded
// SignedHeader.
func headerField(t *testing.T, signed []byte, n protowire.Number) (int, int) {
	t.Helper()
	hs, he := field(t, signed, 1)
	s, e := field(t, signed[hs:he], n)
	return hs + s, hs + e
}

// rebuild writes a new ledger by re-executing the pristine blocks
// 1..upto through chain.Execute and store.Commit, the node's own path.
// Blocks below from are reproduced exactly and keep their original
// signatures (the test fails if re-execution does not reproduce them bit
// for bit). From height from on, edit may change a block's transactions,
// and the block is built with proposer and signed by signer: a forgery
// that is consistent in every respect but the key.
func (f *fixture) rebuild(t *testing.T, upto, from uint64, edit func(h uint64, txs [][]byte) [][]byte, signer identity.Signer, proposer string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "ledger")
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	changes, parent, err := node.GenesisState(f.doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.InitGenesis(f.doc.Canonical(), changes); err != nil {
		t.Fatal(err)
	}
	m, err := node.NewMachine(f.doc.ChainID)
	if err != nil {
		t.Fatal(err)
	}
	log := txlog.New()
	for h := uint64(1); h <= upto; h++ {
		orig := f.headers[h]
		raws := f.txs[h]
		prop := orig.Header.Proposer
		forged := h >= from
		if forged {
			prop = proposer
			if edit != nil {
				raws = edit(h, raws)
			}
		}
		txs := make([]chain.Tx, len(raws))
		for i, raw := range raws {
			tx, err := ledger.DecodeTx(raw, 0)
			if err != nil {
				t.Fatalf("block %d tx %d: %v", h, i, err)
			}
			txs[i] = chain.Tx{Tx: tx, Raw: raw, ID: tx.ID()}
		}
		out, err := chain.Execute(m, chain.Input{
			ChainID: f.doc.ChainID, Parent: parent, Time: orig.Header.Time, Proposer: prop,
			Txs: txs, State: st, Log: log, Committed: st.Has,
		})
		if err != nil {
			t.Fatalf("re-execute block %d: %v", h, err)
		}
		if forged {
			if err := chain.Sign(out, signer.Sign); err != nil {
				t.Fatal(err)
			}
		} else {
			if got, want := out.Block.Header.Header.Hash(), orig.Header.Hash(); got != want {
				t.Fatalf("re-executing block %d gives header hash %s; the node wrote %s", h, got, want)
			}
			out.Block.Header.Signature = orig.Signature
		}
		if err := st.Commit(&out.Block); err != nil {
			t.Fatal(err)
		}
		hdr := out.Block.Header.Header
		parent = chain.Parent{Hash: hdr.Hash(), AppHash: hdr.AppHash, Height: h, Time: hdr.Time}
		log = out.Log
	}
	return dir
}
