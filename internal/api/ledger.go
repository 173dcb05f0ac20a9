package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/contracts/models"
	"github.com/medledger/medledger/internal/contracts/notary"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// The API's JSON bodies, defined in package apitype so that the public
// client can share them without depending on this package.
type (
	TxRequest        = apitype.TxRequest
	TxsRequest       = apitype.TxsRequest
	BatchItem        = apitype.BatchItem
	ErrorDetail      = apitype.ErrorDetail
	TxView           = apitype.TxView
	Proof            = apitype.Proof
	TxAnswer         = apitype.TxAnswer
	HeaderView       = apitype.HeaderView
	BlockTx          = apitype.BlockTx
	BlockAnswer      = apitype.BlockAnswer
	STH              = apitype.STH
	ConsistencyProof = apitype.ConsistencyProof
)

func (s *Server) decodeB64(v string, i int) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		where := "tx"
		if i >= 0 {
			where = "txs[" + strconv.Itoa(i) + "]"
		}
		return nil, &httpError{status: http.StatusBadRequest, code: string(ledger.CodeMalformed), msg: where + " is not standard base64"}
	}
	return raw, nil
}

// postTx accepts one transaction, as raw bytes (application/octet-stream)
// or JSON {"tx": base64}, and answers its receipt once committed.
func (s *Server) postTx(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, int64(s.cfg.MaxTxBytes)*4/3+1024)
	if err != nil {
		return err
	}
	raw := body
	if isJSON(r) {
		var req TxRequest
		if err := decodeJSON(body, &req, `{"tx": base64}`); err != nil {
			return err
		}
		if raw, err = s.decodeB64(req.Tx, -1); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CommitTimeout)
	defer cancel()
	rc, err := s.deps.Submitter.Submit(ctx, raw)
	if err != nil {
		return err
	}
	writeJSON(w, StatusOf(rc.Result.Code), apitype.Receipt(rc))
	return nil
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// postTxs accepts up to MaxBatch transactions and answers one outcome each.
// The answer is 200 whenever the batch itself was well formed.
func (s *Server) postTxs(w http.ResponseWriter, r *http.Request) error {
	body, err := s.readBody(w, r, s.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	var req TxsRequest
	if err := decodeJSON(body, &req, `{"txs": [base64, ...]}`); err != nil {
		return err
	}
	if len(req.Txs) == 0 {
		return badRequest("txs is empty")
	}
	if len(req.Txs) > s.cfg.MaxBatch {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: string(ledger.CodeTooLarge), msg: "at most " + strconv.Itoa(s.cfg.MaxBatch) + " transactions per batch"}
	}
	raws := make([][]byte, len(req.Txs))
	for i, t := range req.Txs {
		if raws[i], err = s.decodeB64(t, i); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CommitTimeout)
	defer cancel()
	res := s.deps.Submitter.SubmitBatch(ctx, raws)
	out := make([]BatchItem, len(res))
	for i, x := range res {
		if x.Err != nil {
			he := s.classify(x.Err, "POST /v1/txs")
			out[i] = BatchItem{Status: he.status, Error: &ErrorDetail{Code: he.code, Message: he.msg}}
			continue
		}
		rc := apitype.Receipt(x.Receipt)
		out[i] = BatchItem{Status: StatusOf(rc.Result.Code), Receipt: &rc}
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
	return nil
}

func viewTx(tx *ledger.Tx) TxView {
	return TxView{ChainID: tx.ChainID, Contract: tx.Contract, Method: tx.Method, Signer: tx.Signer, Nonce: tx.Nonce, Payload: b64(tx.Payload), Signature: b64(tx.Signature)}
}

func (s *Server) getTx(w http.ResponseWriter, r *http.Request) error {
	id, err := ledger.ParseHash(r.PathValue("hash"))
	if err != nil {
		return badRequest("tx hash: %v", err)
	}
	ans, err := s.TxProof(id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

// ErrNoTx is returned (wrapped) by TxProof for a transaction not committed.
var ErrNoTx = errors.New("api: no such committed transaction")

// TxProof returns a committed transaction with its receipt and an
// inclusion proof against the latest signed tree head. Other APIs (FHIR
// $verify, audit) use it to attach proofs.
func (s *Server) TxProof(id ledger.Hash) (TxAnswer, error) {
	// Take the tree head first: a block becomes visible to Locate a moment
	// before it becomes the latest header, and a transaction must not be
	// shown without a proof against a tree that contains it.
	sth, err := s.sth()
	var he *httpError
	if errors.As(err, &he) && he.status == http.StatusNotFound {
		return TxAnswer{}, &httpError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no committed transaction %s", id), err: ErrNoTx}
	}
	if err != nil {
		return TxAnswer{}, err
	}
	loc, err := s.deps.Store.Locate(id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && loc.Leaf >= sth.TreeSize) {
		return TxAnswer{}, &httpError{status: http.StatusNotFound, code: "not_found", msg: fmt.Sprintf("no committed transaction %s", id), err: ErrNoTx}
	}
	if err != nil {
		return TxAnswer{}, err
	}
	raw, err := s.deps.Store.Tx(loc.Height, loc.Index)
	if err != nil {
		return TxAnswer{}, err
	}
	tx, err := ledger.DecodeTx(raw, 0)
	if err != nil {
		return TxAnswer{}, err
	}
	resB, err := s.deps.Store.Result(loc.Height, loc.Index)
	if err != nil {
		return TxAnswer{}, err
	}
	res, err := ledger.DecodeResult(resB)
	if err != nil {
		return TxAnswer{}, err
	}
	hdr, err := s.deps.Store.Header(loc.Height)
	if err != nil {
		return TxAnswer{}, err
	}
	hashes, err := txlog.Inclusion(s.deps.Store, loc.Leaf, sth.TreeSize)
	if err != nil {
		return TxAnswer{}, err
	}
	return TxAnswer{
		Hash: id, Tx: viewTx(tx), Raw: b64(raw),
		Receipt:  apitype.Receipt{TxHash: id, Height: loc.Height, Index: loc.Index, Leaf: loc.Leaf, BlockHash: hdr.Header.Hash(), Result: res},
		Proof:    Proof{LeafIndex: loc.Leaf, TreeSize: sth.TreeSize, Hashes: nonNil(hashes)},
		TreeHead: sth,
	}, nil
}

func nonNil(h []ledger.Hash) []ledger.Hash {
	if h == nil {
		return []ledger.Hash{}
	}
	return h
}

func viewHeader(h *ledger.Header) HeaderView {
	return HeaderView{ChainID: h.ChainID, Height: h.Height, Time: h.Timestamp(), PrevHash: h.PrevHash, TxCount: h.TxCount,
		TxRoot: h.TxRoot, ResultsRoot: h.ResultsRoot, ChangesHash: h.ChangesHash, AppHash: h.AppHash,
		TxLogSize: h.TxLogSize, TxLogRoot: h.TxLogRoot, Proposer: h.Proposer}
}

func (s *Server) getBlock(w http.ResponseWriter, r *http.Request) error {
	hs := r.PathValue("height")
	var h uint64
	if hs == "latest" {
		h = s.deps.Store.Height()
	} else {
		var err error
		if h, err = parseHeight(hs); err != nil {
			return err
		}
	}
	if h == 0 || h > s.deps.Store.Height() {
		return notFound("no block at height %s (latest is %d)", hs, s.deps.Store.Height())
	}
	sh, err := s.deps.Store.Header(h)
	if err != nil {
		return err
	}
	ans := BlockAnswer{Hash: sh.Header.Hash(), Header: viewHeader(&sh.Header), HeaderRaw: b64(sh.Header.Encode()), Signature: b64(sh.Signature), SignedBy: sh.SignerID(), Txs: []BlockTx{}}
	for i := uint32(0); uint64(i) < sh.Header.TxCount; i++ {
		raw, err := s.deps.Store.Tx(h, i)
		if err != nil {
			return err
		}
		tx, err := ledger.DecodeTx(raw, 0)
		if err != nil {
			return err
		}
		rb, err := s.deps.Store.Result(h, i)
		if err != nil {
			return err
		}
		res, err := ledger.DecodeResult(rb)
		if err != nil {
			return err
		}
		ans.Txs = append(ans.Txs, BlockTx{Hash: tx.ID(), Contract: tx.Contract, Method: tx.Method, Signer: tx.Signer, Result: res})
	}
	writeJSON(w, http.StatusOK, ans)
	return nil
}

func (s *Server) sth() (STH, error) {
	last := s.deps.Store.Last()
	if last.Header.Height == 0 {
		return STH{}, notFound("no block committed yet")
	}
	h := &last.Header
	var pub string
	signer := last.SignerID()
	if signer == s.deps.NodeKeyID { // only this node's own key is at hand
		pub = b64(s.deps.NodeKey)
	}
	return STH{ChainID: h.ChainID, TreeSize: h.TxLogSize, RootHash: h.TxLogRoot, Height: h.Height, Time: h.Timestamp(),
		BlockHash: h.Hash(), Header: b64(h.Encode()), Signature: b64(last.Signature), KeyID: signer, PublicKey: pub}, nil
}

func (s *Server) getSTH(w http.ResponseWriter, r *http.Request) error {
	sth, err := s.sth()
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sth)
	return nil
}

func (s *Server) treeSize(q string) (uint64, error) {
	top := s.deps.Store.Last().Header.TxLogSize
	if q == "" {
		return top, nil
	}
	n, err := strconv.ParseUint(q, 10, 64)
	if err != nil {
		return 0, badRequest("tree size %q is not a non-negative integer", q)
	}
	if n > top {
		return 0, notFound("tree size %d exceeds the log (%d)", n, top)
	}
	return n, nil
}

// getInclusion answers ?hash=TX&tree_size=N (default: latest).
func (s *Server) getInclusion(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	id, err := ledger.ParseHash(q.Get("hash"))
	if err != nil {
		return badRequest("hash: %v", err)
	}
	size, err := s.treeSize(q.Get("tree_size"))
	if err != nil {
		return err
	}
	loc, err := s.deps.Store.Locate(id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound("no committed transaction %s", id)
	}
	if err != nil {
		return err
	}
	if loc.Leaf >= size {
		return notFound("transaction %s (leaf %d) is not in a tree of size %d", id, loc.Leaf, size)
	}
	hashes, err := txlog.Inclusion(s.deps.Store, loc.Leaf, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, Proof{LeafIndex: loc.Leaf, TreeSize: size, Hashes: nonNil(hashes)})
	return nil
}

func (s *Server) getConsistency(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Get("from") == "" {
		return badRequest("from (a tree size) is required")
	}
	from, err := s.treeSize(q.Get("from"))
	if err != nil {
		return err
	}
	to, err := s.treeSize(q.Get("to"))
	if err != nil {
		return err
	}
	if from > to {
		return badRequest("from (%d) exceeds to (%d)", from, to)
	}
	hashes, err := txlog.Consistency(s.deps.Store, from, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ConsistencyProof{From: from, To: to, Hashes: nonNil(hashes)})
	return nil
}

func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	last := s.deps.Store.Last()
	ready := "ready"
	if err := s.ready(); err != nil {
		ready = notReadyMsg
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"chain_id":    s.deps.ChainID,
		"height":      last.Header.Height,
		"txlog_size":  last.Header.TxLogSize,
		"app_hash":    last.Header.AppHash,
		"node_key_id": s.deps.NodeKeyID,
		"contracts":   s.deps.Machine.Contracts(),
		"ready":       ready,
	})
	return nil
}

// stateAnswer writes a JSON state record as of a height.
func (s *Server) stateAnswer(w http.ResponseWriter, r *http.Request, key []byte, what string) error {
	h, err := s.asOf(r)
	if err != nil {
		return err
	}
	v, ok, err := s.deps.Store.GetAt(key, h)
	if err != nil {
		return err
	}
	if !ok {
		return notFound("no %s as of height %d", what, h)
	}
	w.Header().Set("X-Ledger-Height", strconv.FormatUint(h, 10))
	writeJSON(w, http.StatusOK, json.RawMessage(v))
	return nil
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !ledger.ValidMemberID(id) {
		return badRequest("member id is not valid")
	}
	return s.stateAnswer(w, r, contract.MemberKey(id), "such member")
}

// getModel answers a registered model version (models contract) by the
// SHA-256 of its file, as of ?height.
func (s *Server) getModel(w http.ResponseWriter, r *http.Request) error {
	sha := r.PathValue("sha256")
	if h, err := ledger.ParseHash(sha); err != nil || h.String() != sha {
		return badRequest("a model is named by the SHA-256 of its file: 64 lower-case hex digits")
	}
	return s.stateAnswer(w, r, []byte("models/"+models.Key(sha)), "model registered with this SHA-256")
}

// listModels answers every registered model version as of ?height.
func (s *Server) listModels(w http.ResponseWriter, r *http.Request) error {
	h, err := s.asOf(r)
	if err != nil {
		return err
	}
	out := []json.RawMessage{}
	err = s.deps.Store.Scan([]byte("models/v/"), h, func(_, v []byte) bool {
		out = append(out, json.RawMessage(bytes.Clone(v)))
		return true
	})
	if err != nil {
		return err
	}
	w.Header().Set("X-Ledger-Height", strconv.FormatUint(h, 10))
	writeJSON(w, http.StatusOK, map[string]any{"height": h, "models": out})
	return nil
}

func (s *Server) getOrg(w http.ResponseWriter, r *http.Request) error {
	return s.stateAnswer(w, r, contract.OrgKey(r.PathValue("id")), "such organisation")
}

func (s *Server) getNotary(w http.ResponseWriter, r *http.Request) error {
	h, err := ledger.ParseHash(r.PathValue("hash"))
	if err != nil {
		return badRequest("document hash: %v", err)
	}
	return s.stateAnswer(w, r, []byte("notary/"+notary.Key(h.String())), "anchor of this hash")
}

func (s *Server) getPolicies(w http.ResponseWriter, r *http.Request) error {
	type pv struct {
		Name    string `json:"name"`
		Doc     string `json:"doc"`
		Rule    string `json:"rule"`
		Default string `json:"default"`
	}
	var out []pv
	for _, p := range s.deps.Machine.Policies() {
		rule, err := s.deps.Machine.Rule(s.deps.Store, p.Name)
		if err != nil {
			return err
		}
		out = append(out, pv{Name: p.Name, Doc: p.Doc, Rule: rule, Default: p.Default})
	}
	writeJSON(w, http.StatusOK, map[string]any{"policies": out})
	return nil
}
