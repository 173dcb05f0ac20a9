// Package client is medledger's public Go client. It builds and signs
// transactions, submits them to a node, and checks everything the node
// answers about the ledger without trusting the node: signed tree heads
// against the validator key from the genesis, inclusion proofs of
// transactions and consistency proofs between tree heads, as a
// Certificate Transparency client does (RFC 6962).
//
// Every method of Client is safe for concurrent use.
package client

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/medledger/medledger/internal/api/apitype"
	"github.com/medledger/medledger/internal/ledger"
)

// Hash is a SHA-256 digest (hex in text form).
type Hash = ledger.Hash

// Signer signs transactions. It never exposes key bytes.
type Signer interface {
	Public() ed25519.PublicKey
	Sign(msg []byte) ([]byte, error)
}

// Tx is an unsigned transaction.
type Tx struct {
	ChainID  string
	Contract string
	Method   string
	Payload  []byte
	Signer   string // member id
	Nonce    uint64 // 0: a random nonce is chosen
}

// Sign returns the canonical signed envelope and its transaction hash.
func Sign(t Tx, s Signer) (raw []byte, id Hash, err error) {
	if t.Nonce == 0 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, id, err
		}
		t.Nonce = binary.BigEndian.Uint64(b[:]) | 1
	}
	tx := &ledger.Tx{ChainID: t.ChainID, Contract: t.Contract, Method: t.Method, Payload: t.Payload, Signer: t.Signer, Nonce: t.Nonce}
	id = tx.ID()
	sig, err := s.Sign(ledger.SigningMessage(id))
	if err != nil {
		return nil, id, err
	}
	tx.Signature = sig
	if err := tx.Validate(); err != nil {
		return nil, id, err
	}
	return tx.Encode(), id, nil
}

// Client talks to one node's HTTP API.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client for the node at baseURL (e.g. "http://127.0.0.1:8740").
// hc may be nil for a default client with a 60s timeout.
func New(baseURL string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc}
}

// Error is an error answer from the node.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("node answered %d %s: %s", e.Status, e.Code, e.Message)
}

// Receipt is the answer to a committed transaction.
type Receipt = apitype.Receipt

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, ctype string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		var eb apitype.ErrorBody
		if json.Unmarshal(b, &eb) == nil && eb.Error.Code != "" {
			return &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message}
		}
		// A committed-but-failed transaction answers a receipt with a 4xx.
		if out != nil && json.Unmarshal(b, out) == nil {
			if r, ok := out.(*Receipt); ok && r.Result.Code != "" {
				return &Error{Status: resp.StatusCode, Code: string(r.Result.Code), Message: r.Result.Message}
			}
		}
		return &Error{Status: resp.StatusCode, Code: "http", Message: resp.Status}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(b, out)
}

// Submit sends one signed transaction and waits for its receipt. A
// transaction that committed but failed in its contract returns the
// receipt and an *Error with the result code.
func (c *Client) Submit(ctx context.Context, raw []byte) (Receipt, error) {
	var r Receipt
	err := c.do(ctx, http.MethodPost, "/v1/tx", bytes.NewReader(raw), "application/octet-stream", &r)
	return r, err
}

// BatchResult is one outcome of SubmitBatch.
type BatchResult = apitype.BatchItem

// SubmitBatch sends up to the node's batch limit of transactions at once
// and returns one result per transaction, in the order given. Each
// transaction succeeds or fails on its own, and they may commit in any
// order, in one block or several: submit a transaction that depends on
// another (an enrolment, then the new member's first write) only after the
// other's receipt. The error is non-nil only if the batch as a whole was
// refused (empty, too many, too large, or not base64-encodable).
func (c *Client) SubmitBatch(ctx context.Context, raws [][]byte) ([]BatchResult, error) {
	req := apitype.TxsRequest{Txs: make([]string, len(raws))}
	for i, r := range raws {
		req.Txs[i] = base64.StdEncoding.EncodeToString(r)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	var out struct {
		Results []BatchResult `json:"results"`
	}
	if err := c.do(ctx, http.MethodPost, "/v1/txs", bytes.NewReader(body), "application/json", &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// TreeHead is a signed tree head as the node serves it.
type TreeHead = apitype.STH

// TxAnswer is a committed transaction with its receipt and inclusion proof.
type TxAnswer = apitype.TxAnswer

// Proof is an RFC 6962 inclusion proof as the node serves it.
type Proof = apitype.Proof

// ConsistencyProof is an RFC 6962 consistency proof as the node serves it.
type ConsistencyProof = apitype.ConsistencyProof

// TreeHead fetches the latest signed tree head. Check it with VerifyTreeHead.
func (c *Client) TreeHead(ctx context.Context) (TreeHead, error) {
	var s TreeHead
	err := c.do(ctx, http.MethodGet, "/v1/sth", nil, "", &s)
	return s, err
}

// Tx fetches a committed transaction, its receipt and its inclusion proof.
func (c *Client) Tx(ctx context.Context, id Hash) (TxAnswer, error) {
	var a TxAnswer
	err := c.do(ctx, http.MethodGet, "/v1/tx/"+id.String(), nil, "", &a)
	return a, err
}

// Inclusion fetches the inclusion proof of tx id in the tree of size size.
func (c *Client) Inclusion(ctx context.Context, id Hash, size uint64) (Proof, error) {
	var p Proof
	q := url.Values{"hash": {id.String()}, "tree_size": {strconv.FormatUint(size, 10)}}
	err := c.do(ctx, http.MethodGet, "/v1/proof/inclusion?"+q.Encode(), nil, "", &p)
	return p, err
}

// Consistency fetches the consistency proof between two tree sizes.
func (c *Client) Consistency(ctx context.Context, from, to uint64) (ConsistencyProof, error) {
	var p ConsistencyProof
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	err := c.do(ctx, http.MethodGet, "/v1/proof/consistency?"+q.Encode(), nil, "", &p)
	return p, err
}

// Verified is a tree head whose signature checked out.
type Verified struct {
	ChainID string
	Height  uint64
	Size    uint64
	Root    Hash
	Time    time.Time
}

// ErrVerify is wrapped by every verification failure.
var ErrVerify = errors.New("verification failed")

func verr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrVerify, fmt.Sprintf(format, args...))
}

// VerifyTreeHead checks a tree head's signature against the trusted
// validator keys (by key id, from the genesis document, never from the
// node's answer) and that the signed header says what every field of the
// tree head says (PublicKey excepted: it is informational and ignored).
// Use the returned Verified rather than s's fields.
func VerifyTreeHead(s TreeHead, chainID string, validators map[string]ed25519.PublicKey) (Verified, error) {
	hb, err := base64.StdEncoding.DecodeString(s.Header)
	if err != nil {
		return Verified{}, verr("tree head: header is not base64")
	}
	hdr, err := ledger.DecodeHeader(hb)
	if err != nil {
		return Verified{}, verr("tree head: %v", err)
	}
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil {
		return Verified{}, verr("tree head: signature is not base64")
	}
	// A solo node's head is signed by its proposer; under CometBFT each
	// node signs the finalised header with its own validator key and
	// names it in KeyID.
	signer := s.KeyID
	if signer == "" {
		signer = hdr.Proposer
	}
	pub, ok := validators[signer]
	if !ok {
		return Verified{}, verr("tree head signed by %q, which is not a trusted validator", signer)
	}
	if _, ok := validators[hdr.Proposer]; !ok {
		return Verified{}, verr("tree head proposed by %q, which is not a trusted validator", hdr.Proposer)
	}
	if len(pub) != ed25519.PublicKeySize { // ed25519.Verify would panic
		return Verified{}, verr("trusted key of validator %q is %d bytes, want %d", signer, len(pub), ed25519.PublicKeySize)
	}
	hh := hdr.Hash()
	if !ed25519.Verify(pub, hh[:], sig) && !verifyZIP215(pub, hh[:], sig) {
		return Verified{}, verr("tree head signature does not verify")
	}
	switch {
	case hdr.ChainID != chainID:
		return Verified{}, verr("tree head is for chain %q, want %q", hdr.ChainID, chainID)
	case hdr.TxLogSize != s.TreeSize || hdr.TxLogRoot != s.RootHash || hdr.Height != s.Height ||
		hdr.ChainID != s.ChainID || hh != s.BlockHash || !hdr.Timestamp().Equal(s.Time):
		return Verified{}, verr("tree head fields differ from its signed header")
	}
	return Verified{ChainID: hdr.ChainID, Height: hdr.Height, Size: hdr.TxLogSize, Root: hdr.TxLogRoot, Time: hdr.Timestamp()}, nil
}

func raw(hs []Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// VerifyInclusion checks that the encoded transaction rawTx is leaf index
// of the tree of the given size and root. Take size and root from the same
// verified tree head: an audit path has the same shape in trees of several
// sizes (leaf 2's in trees of 5 to 8 leaves), so it cannot itself vouch for
// the size.
func VerifyInclusion(rawTx []byte, index, size uint64, hashes []Hash, root Hash) error {
	lh := ledger.LeafHash(rawTx)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, lh[:], raw(hashes), root[:]); err != nil {
		return verr("inclusion of leaf %d in tree of size %d: %v", index, size, err)
	}
	return nil
}

// VerifyConsistency checks that the tree (size2, root2) extends the tree
// (size1, root1): history was only appended to. Every tree extends the
// empty tree (size 0, whose root is the RFC 6962 empty root), with an empty
// proof.
func VerifyConsistency(size1, size2 uint64, root1, root2 Hash, hashes []Hash) error {
	if size1 == 0 {
		switch {
		case root1 != ledger.EmptyRoot:
			return verr("consistency from 0: root %s is not the empty tree's", root1)
		case len(hashes) != 0:
			return verr("consistency from 0: proof has %d hashes, want none", len(hashes))
		case size2 == 0 && root2 != ledger.EmptyRoot:
			return verr("consistency from 0 to 0: root %s is not the empty tree's", root2)
		}
		return nil
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, raw(hashes), root1[:], root2[:]); err != nil {
		return verr("consistency from %d to %d: %v", size1, size2, err)
	}
	return nil
}

// VerifyTx checks a transaction answer: the tree head's signature, that
// the raw transaction has the requested hash and that the answer's other
// views of it (Hash, Tx, Receipt.TxHash, Receipt.Leaf) agree with it, and
// its inclusion proof against the signed root. It returns the verified tree
// head.
//
// The receipt's result (its code, message and events) and block position
// are not covered by the tx log, so they are checked only for consistency
// with the rest of the answer, not proven.
func VerifyTx(a TxAnswer, want Hash, chainID string, validators map[string]ed25519.PublicKey) (Verified, error) {
	th, err := VerifyTreeHead(a.TreeHead, chainID, validators)
	if err != nil {
		return th, err
	}
	rb, err := base64.StdEncoding.DecodeString(a.Raw)
	if err != nil {
		return th, verr("raw transaction is not base64")
	}
	tx, err := ledger.DecodeTx(rb, 0)
	if err != nil {
		return th, verr("raw transaction: %v", err)
	}
	if tx.ID() != want {
		return th, verr("the node returned transaction %s for %s", tx.ID(), want)
	}
	if a.Hash != want || a.Receipt.TxHash != want {
		return th, verr("the answer names transaction %s (receipt: %s) for %s", a.Hash, a.Receipt.TxHash, want)
	}
	if v := a.Tx; v.ChainID != tx.ChainID || v.Contract != tx.Contract || v.Method != tx.Method || v.Signer != tx.Signer ||
		v.Nonce != tx.Nonce || v.Payload != base64.StdEncoding.EncodeToString(tx.Payload) ||
		v.Signature != base64.StdEncoding.EncodeToString(tx.Signature) {
		return th, verr("the answer's decoded transaction differs from its raw transaction")
	}
	if a.Receipt.Leaf != a.Proof.LeafIndex {
		return th, verr("receipt has leaf %d, proof has leaf %d", a.Receipt.Leaf, a.Proof.LeafIndex)
	}
	if a.Proof.TreeSize != th.Size {
		return th, verr("proof is for tree size %d, tree head has %d", a.Proof.TreeSize, th.Size)
	}
	return th, VerifyInclusion(rb, a.Proof.LeafIndex, a.Proof.TreeSize, a.Proof.Hashes, th.Root)
}

// ParseHash parses 64 hex digits (a transaction or document hash).
func ParseHash(s string) (Hash, error) { return ledger.ParseHash(s) }
