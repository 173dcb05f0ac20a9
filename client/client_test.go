package client_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/medledger/medledger/client"
	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// TestEndToEnd signs, submits, fetches and verifies transactions, tree
// heads and consistency proofs against a real node, trusting only the
// genesis document's validator keys.
func TestEndToEnd(t *testing.T) {
	tn := startNode(t)
	ctx := t.Context()
	chainID := tn.doc.ChainID
	vals := validators(t, tn.doc)

	// One block at a time: collect a verified tree head after each.
	var heads []client.Verified
	var ids []client.Hash
	var raws [][]byte
	for i := range 5 {
		raw, id := tn.anchorTx(t)
		if i == 0 {
			raw, id = tn.enrolTx(t, "dr-who")
		}
		rc := tn.submit(t, raw)
		if rc.TxHash != id || rc.Leaf != uint64(i) {
			t.Fatalf("receipt %+v; want tx %s at leaf %d", rc, id, i)
		}
		th, err := tn.c.TreeHead(ctx)
		if err != nil {
			t.Fatalf("TreeHead: %v", err)
		}
		v, err := client.VerifyTreeHead(th, chainID, vals)
		if err != nil {
			t.Fatalf("VerifyTreeHead: %v", err)
		}
		if v.Size != uint64(i+1) || v.Height != rc.Height || v.ChainID != chainID {
			t.Fatalf("verified head %+v after tx %d (receipt height %d)", v, i, rc.Height)
		}
		heads = append(heads, v)
		ids = append(ids, id)
		raws = append(raws, raw)
	}

	// A batch.
	var batch [][]byte
	var batchIDs []client.Hash
	for range 6 {
		raw, id := tn.anchorTx(t)
		batch = append(batch, raw)
		batchIDs = append(batchIDs, id)
	}
	res, err := tn.c.SubmitBatch(ctx, batch)
	if err != nil {
		t.Fatalf("SubmitBatch: %v", err)
	}
	if len(res) != len(batch) {
		t.Fatalf("SubmitBatch: %d results for %d txs", len(res), len(batch))
	}
	// A batch's transactions may commit in any order: place them by leaf.
	ids = append(ids, make([]client.Hash, len(batch))...)
	raws = append(raws, make([][]byte, len(batch))...)
	for i, r := range res {
		if r.Status != http.StatusOK || r.Error != nil || r.Receipt == nil || r.Receipt.TxHash != batchIDs[i] || r.Receipt.Result.Code != ledger.CodeOK {
			t.Fatalf("SubmitBatch result %d = %+v; want 200 ok for %s", i, r, batchIDs[i])
		}
		leaf := r.Receipt.Leaf
		if leaf >= uint64(len(ids)) || ids[leaf] != (client.Hash{}) {
			t.Fatalf("SubmitBatch result %d: leaf %d is outside the batch or taken", i, leaf)
		}
		ids[leaf], raws[leaf] = batchIDs[i], batch[i]
	}
	th, err := tn.c.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := client.VerifyTreeHead(th, chainID, vals)
	if err != nil {
		t.Fatalf("VerifyTreeHead: %v", err)
	}
	if latest.Size != uint64(len(ids)) {
		t.Fatalf("latest head has size %d; want %d", latest.Size, len(ids))
	}
	heads = append(heads, latest)

	// Every transaction verifies, through both endpoints.
	for i, id := range ids {
		a, err := tn.c.Tx(ctx, id)
		if err != nil {
			t.Fatalf("Tx(%s): %v", id, err)
		}
		v, err := client.VerifyTx(a, id, chainID, vals)
		if err != nil {
			t.Fatalf("VerifyTx(%s): %v", id, err)
		}
		if v.Size < uint64(i+1) {
			t.Errorf("VerifyTx(%s): tree of size %d cannot hold leaf %d", id, v.Size, i)
		}
		for _, h := range heads {
			if h.Size <= uint64(i) {
				continue
			}
			p, err := tn.c.Inclusion(ctx, id, h.Size)
			if err != nil {
				t.Fatalf("Inclusion(%s, %d): %v", id, h.Size, err)
			}
			if p.LeafIndex != uint64(i) || p.TreeSize != h.Size {
				t.Errorf("Inclusion(%s, %d) = leaf %d size %d", id, h.Size, p.LeafIndex, p.TreeSize)
			}
			if err := client.VerifyInclusion(raws[i], p.LeafIndex, p.TreeSize, p.Hashes, h.Root); err != nil {
				t.Errorf("VerifyInclusion(leaf %d, size %d): %v", i, h.Size, err)
			}
		}
	}

	// Every pair of heads is consistent, including from the empty tree.
	heads = append([]client.Verified{{Size: 0, Root: ledger.EmptyRoot}}, heads...)
	for i, h1 := range heads {
		for _, h2 := range heads[i:] {
			p, err := tn.c.Consistency(ctx, h1.Size, h2.Size)
			if err != nil {
				t.Fatalf("Consistency(%d, %d): %v", h1.Size, h2.Size, err)
			}
			if p.From != h1.Size || p.To != h2.Size {
				t.Errorf("Consistency(%d, %d) answered %d..%d", h1.Size, h2.Size, p.From, p.To)
			}
			if err := client.VerifyConsistency(h1.Size, h2.Size, h1.Root, h2.Root, p.Hashes); err != nil {
				t.Errorf("VerifyConsistency(%d, %d): %v", h1.Size, h2.Size, err)
			}
		}
	}
}

// TestClientErrors checks that the node's error answers arrive as *Error
// with status and code, and that a failed commit still yields its receipt.
func TestClientErrors(t *testing.T) {
	tn := startNode(t)
	ctx := t.Context()

	if _, err := tn.c.TreeHead(ctx); !isError(err, 404, "not_found") {
		t.Errorf("TreeHead on an empty ledger: %v; want 404 not_found", err)
	}
	raw, id := tn.anchorTx(t)
	tn.submit(t, raw)
	if _, err := tn.c.Submit(ctx, raw); !isError(err, 409, "replay") {
		t.Errorf("Submit(replay): %v; want 409 replay", err)
	}
	bad, badID := tn.sign(t, tn.admin, tn.adminID, "notary", "notarise", struct{}{})
	rc, err := tn.c.Submit(ctx, bad)
	if !isError(err, 422, "unknown_method") {
		t.Errorf("Submit(unknown method): %v; want 422 unknown_method", err)
	}
	if rc.TxHash != badID || rc.Result.Code != ledger.CodeUnknownMethod || rc.Height == 0 {
		t.Errorf("Submit(unknown method): receipt %+v; want the committed failure", rc)
	}
	var zero client.Hash
	if _, err := tn.c.Tx(ctx, zero); !isError(err, 404, "not_found") {
		t.Errorf("Tx(unknown): %v; want 404 not_found", err)
	}
	if _, err := tn.c.Inclusion(ctx, id, 99); !isError(err, 404, "not_found") {
		t.Errorf("Inclusion(size 99): %v; want 404 not_found", err)
	}
	if _, err := tn.c.Consistency(ctx, 2, 1); !isError(err, 400, "bad_request") {
		t.Errorf("Consistency(2, 1): %v; want 400 bad_request", err)
	}
	if _, err := tn.c.SubmitBatch(ctx, nil); !isError(err, 400, "bad_request") {
		t.Errorf("SubmitBatch(nil): %v; want 400 bad_request", err)
	}
}

func isError(err error, status int, code string) bool {
	var e *client.Error
	return errors.As(err, &e) && e.Status == status && e.Code == code
}

// fixture is a verified transaction answer and tree head, with everything
// needed to tamper with them.
type fixture struct {
	chainID string
	vals    map[string]ed25519.PublicKey
	id      client.Hash
	a       client.TxAnswer
	other   client.TxAnswer // another transaction's answer
	old     client.Verified
	cur     client.Verified
	cons    client.ConsistencyProof // old -> cur
}

func newFixture(t *testing.T) *fixture {
	tn := startNode(t)
	ctx := t.Context()
	f := &fixture{chainID: tn.doc.ChainID, vals: validators(t, tn.doc)}
	var ids []client.Hash
	for range 3 {
		raw, id := tn.anchorTx(t)
		tn.submit(t, raw)
		ids = append(ids, id)
	}
	th, err := tn.c.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f.old, err = client.VerifyTreeHead(th, f.chainID, f.vals); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		raw, id := tn.anchorTx(t)
		tn.submit(t, raw)
		ids = append(ids, id)
	}
	f.id = ids[2] // leaf 2 of 7: a proof of three hashes
	if f.a, err = tn.c.Tx(ctx, f.id); err != nil {
		t.Fatal(err)
	}
	if f.other, err = tn.c.Tx(ctx, ids[5]); err != nil {
		t.Fatal(err)
	}
	if f.cur, err = client.VerifyTx(f.a, f.id, f.chainID, f.vals); err != nil {
		t.Fatalf("VerifyTx of the untouched answer: %v", err)
	}
	if f.cons, err = tn.c.Consistency(ctx, f.old.Size, f.cur.Size); err != nil {
		t.Fatal(err)
	}
	if err := client.VerifyConsistency(f.old.Size, f.cur.Size, f.old.Root, f.cur.Root, f.cons.Hashes); err != nil {
		t.Fatalf("VerifyConsistency of the untouched proof: %v", err)
	}
	if len(f.a.Proof.Hashes) < 2 || len(f.cons.Hashes) < 2 {
		t.Fatalf("fixture proofs too short to tamper with: %d, %d hashes", len(f.a.Proof.Hashes), len(f.cons.Hashes))
	}
	return f
}

// resign re-signs a tree head's header with k, after edit changes it.
func resign(t *testing.T, th client.TreeHead, k *identity.Key, edit func(*ledger.Header)) client.TreeHead {
	t.Helper()
	hb, err := base64.StdEncoding.DecodeString(th.Header)
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := ledger.DecodeHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	edit(&hdr)
	hh := hdr.Hash()
	sig, err := k.Sign(hh[:])
	if err != nil {
		t.Fatal(err)
	}
	th.Header = base64.StdEncoding.EncodeToString(hdr.Encode())
	th.Signature = base64.StdEncoding.EncodeToString(sig)
	th.BlockHash, th.KeyID, th.ChainID = hh, hdr.Proposer, hdr.ChainID
	th.TreeSize, th.RootHash, th.Height, th.Time = hdr.TxLogSize, hdr.TxLogRoot, hdr.Height, hdr.Timestamp()
	th.PublicKey = base64.StdEncoding.EncodeToString(k.Public())
	return th
}

// TestVerifyRejects tampers with one thing at a time; every verifier must
// fail with an error wrapping ErrVerify, and never panic.
func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	stranger, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	flip := func(h client.Hash) client.Hash { h[0] ^= 1; return h }
	txCase := func(edit func(a *client.TxAnswer)) func() error {
		return func() error {
			a := f.a
			a.Proof.Hashes = append([]client.Hash(nil), f.a.Proof.Hashes...)
			edit(&a)
			_, err := client.VerifyTx(a, f.id, f.chainID, f.vals)
			return err
		}
	}
	headCase := func(edit func(th *client.TreeHead)) func() error {
		return txCase(func(a *client.TxAnswer) { edit(&a.TreeHead) })
	}
	b64 := base64.StdEncoding.EncodeToString
	p := f.a.Proof
	tests := []struct {
		name   string
		verify func() error
	}{
		{"tampered proof hash", txCase(func(a *client.TxAnswer) { a.Proof.Hashes[1] = flip(a.Proof.Hashes[1]) })},
		{"proof hash dropped", txCase(func(a *client.TxAnswer) { a.Proof.Hashes = a.Proof.Hashes[1:] })},
		{"proof hash added", txCase(func(a *client.TxAnswer) { a.Proof.Hashes = append(a.Proof.Hashes, a.Proof.Hashes[0]) })},
		{"wrong leaf index", txCase(func(a *client.TxAnswer) { a.Proof.LeafIndex++; a.Receipt.Leaf++ })},
		{"receipt leaf differs from proof", txCase(func(a *client.TxAnswer) { a.Receipt.Leaf++ })},
		{"proof for a smaller tree", txCase(func(a *client.TxAnswer) { a.Proof.TreeSize-- })},
		// Leaf 2's path has the same shape in trees of 5 to 8 leaves: an
		// audit path alone cannot tell them apart, hence VerifyTx's check of
		// the size against the signed head ("proof for a smaller tree").
		{"wrong tree size", func() error {
			return client.VerifyInclusion(rawOf(t, f.a), p.LeafIndex, 4, p.Hashes, f.cur.Root)
		}},
		{"wrong leaf index, bare", func() error {
			return client.VerifyInclusion(rawOf(t, f.a), p.LeafIndex+1, p.TreeSize, p.Hashes, f.cur.Root)
		}},
		{"leaf beyond tree", func() error {
			return client.VerifyInclusion(rawOf(t, f.a), p.TreeSize, p.TreeSize, p.Hashes, f.cur.Root)
		}},
		{"empty tree", func() error { return client.VerifyInclusion(rawOf(t, f.a), 0, 0, nil, ledger.EmptyRoot) }},
		{"old root", func() error {
			return client.VerifyInclusion(rawOf(t, f.a), p.LeafIndex, p.TreeSize, p.Hashes, f.old.Root)
		}},
		{"raw tx of another hash", txCase(func(a *client.TxAnswer) { a.Raw = f.other.Raw })},
		{"answer for another tx", func() error { _, err := client.VerifyTx(f.other, f.id, f.chainID, f.vals); return err }},
		{"answer hash differs", txCase(func(a *client.TxAnswer) { a.Hash = f.other.Hash })},
		{"receipt hash differs", txCase(func(a *client.TxAnswer) { a.Receipt.TxHash = f.other.Hash })},
		{"decoded tx differs from raw", txCase(func(a *client.TxAnswer) { a.Tx.Payload = b64([]byte(`{"hash":"forged"}`)) })},
		{"decoded signer differs from raw", txCase(func(a *client.TxAnswer) { a.Tx.Signer = "general-hospital/someone-else" })},
		{"raw not base64", txCase(func(a *client.TxAnswer) { a.Raw = "%%%" })},
		{"raw not a tx", txCase(func(a *client.TxAnswer) { a.Raw = b64([]byte("garbage")) })},
		{"head signed by an unknown key", headCase(func(th *client.TreeHead) {
			*th = resign(t, *th, stranger, func(h *ledger.Header) { h.Proposer = stranger.KeyID() })
		})},
		{"head forged under the validator's key id", headCase(func(th *client.TreeHead) {
			*th = resign(t, *th, stranger, func(*ledger.Header) {})
		})},
		{"head signature flipped", headCase(func(th *client.TreeHead) {
			sig, _ := base64.StdEncoding.DecodeString(th.Signature)
			sig[0] ^= 1
			th.Signature = b64(sig)
		})},
		{"head signature truncated", headCase(func(th *client.TreeHead) { th.Signature = th.Signature[:40] })},
		{"head signature not base64", headCase(func(th *client.TreeHead) { th.Signature = "%%%" })},
		{"head header not base64", headCase(func(th *client.TreeHead) { th.Header = "%%%" })},
		{"head header not a header", headCase(func(th *client.TreeHead) { th.Header = b64([]byte("garbage")) })},
		{"head tree size differs from header", headCase(func(th *client.TreeHead) { th.TreeSize++ })},
		{"head root differs from header", headCase(func(th *client.TreeHead) { th.RootHash = flip(th.RootHash) })},
		{"head height differs from header", headCase(func(th *client.TreeHead) { th.Height-- })},
		{"head chain differs from header", headCase(func(th *client.TreeHead) { th.ChainID = "other-chain" })},
		{"head block hash differs from header", headCase(func(th *client.TreeHead) { th.BlockHash = flip(th.BlockHash) })},
		{"head time differs from header", headCase(func(th *client.TreeHead) { th.Time = th.Time.Add(time.Second) })},
		{"head key id differs from header", headCase(func(th *client.TreeHead) { th.KeyID = stranger.KeyID() })},
		{"head for another chain", func() error { _, err := client.VerifyTreeHead(f.a.TreeHead, "other-chain", f.vals); return err }},
		{"no trusted validators", func() error { _, err := client.VerifyTreeHead(f.a.TreeHead, f.chainID, nil); return err }},
		{"trusted key malformed", func() error {
			vals := map[string]ed25519.PublicKey{}
			for id, k := range f.vals {
				vals[id] = k[:31]
			}
			_, err := client.VerifyTreeHead(f.a.TreeHead, f.chainID, vals)
			return err
		}},
		{"consistency with swapped roots", func() error {
			return client.VerifyConsistency(f.old.Size, f.cur.Size, f.cur.Root, f.old.Root, f.cons.Hashes)
		}},
		{"consistency with swapped sizes", func() error {
			return client.VerifyConsistency(f.cur.Size, f.old.Size, f.cur.Root, f.old.Root, f.cons.Hashes)
		}},
		{"consistency hash tampered", func() error {
			hs := append([]client.Hash(nil), f.cons.Hashes...)
			hs[0] = flip(hs[0])
			return client.VerifyConsistency(f.old.Size, f.cur.Size, f.old.Root, f.cur.Root, hs)
		}},
		{"consistency hash dropped", func() error {
			return client.VerifyConsistency(f.old.Size, f.cur.Size, f.old.Root, f.cur.Root, f.cons.Hashes[1:])
		}},
		{"consistency from a wrong size", func() error {
			return client.VerifyConsistency(f.old.Size+1, f.cur.Size, f.old.Root, f.cur.Root, f.cons.Hashes)
		}},
		{"consistency of forked roots", func() error {
			return client.VerifyConsistency(f.old.Size, f.cur.Size, flip(f.old.Root), f.cur.Root, f.cons.Hashes)
		}},
		{"consistency same size, different roots", func() error {
			return client.VerifyConsistency(f.cur.Size, f.cur.Size, f.old.Root, f.cur.Root, nil)
		}},
		{"consistency from empty with a proof", func() error {
			return client.VerifyConsistency(0, f.cur.Size, ledger.EmptyRoot, f.cur.Root, f.cons.Hashes)
		}},
		{"consistency from empty with a non-empty root", func() error {
			return client.VerifyConsistency(0, f.cur.Size, f.old.Root, f.cur.Root, nil)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.verify()
			if !errors.Is(err, client.ErrVerify) {
				t.Errorf("got %v; want an error wrapping ErrVerify", err)
			}
		})
	}
}

func rawOf(t *testing.T, a client.TxAnswer) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(a.Raw)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSign checks that Sign produces what the ledger decodes, with the
// signer's signature, and refuses what the ledger would refuse.
func TestSign(t *testing.T) {
	k, err := identity.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	in := client.Tx{ChainID: "medledger-dev", Contract: "notary", Method: "anchor", Payload: []byte(`{}`), Signer: "general-hospital/admin"}
	raw, id, err := client.Sign(in, k)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ledger.DecodeTx(raw, 0)
	if err != nil {
		t.Fatalf("DecodeTx(Sign(...)): %v", err)
	}
	if tx.ID() != id || tx.Nonce == 0 || tx.Contract != in.Contract || tx.Signer != in.Signer {
		t.Errorf("Sign = %v id %s; want %+v with a random nonce", tx, id, in)
	}
	if !ed25519.Verify(k.Public(), tx.SigningBytes(), tx.Signature) {
		t.Error("Sign: signature does not verify")
	}
	if _, id2, _ := client.Sign(in, k); id2 == id {
		t.Error("Sign twice with nonce 0 gave the same id; want a fresh random nonce")
	}
	bad := in
	bad.Contract = "Not A Name"
	if _, _, err := client.Sign(bad, k); err == nil {
		t.Error("Sign accepted an invalid contract name")
	}
}
