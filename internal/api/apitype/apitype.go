// Package apitype defines the JSON bodies of the ledger HTTP API. The
// server (package api) writes them and the public client reads them. It
// imports only package ledger, so the client carries no node code: no
// store, sequencer or contract runtime. (The dependency rule is enforced
// in internal/lint.)
package apitype

import (
	"time"

	"github.com/medledger/medledger/internal/ledger"
)

// Receipt is the answer for a committed transaction. It is the body of
// POST /v1/tx when the transaction committed, whether it succeeded or failed.
type Receipt = ledger.Receipt

// ErrorDetail is the error object of the API.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// TxRequest is the JSON form of POST /v1/tx.
type TxRequest struct {
	Tx string `json:"tx"` // base64 canonical envelope
}

// TxsRequest is the body of POST /v1/txs.
type TxsRequest struct {
	Txs []string `json:"txs"`
}

// BatchItem is one outcome in a POST /v1/txs answer: a receipt if the
// transaction committed (successfully or not), else an error.
type BatchItem struct {
	Receipt *Receipt     `json:"receipt,omitempty"`
	Error   *ErrorDetail `json:"error,omitempty"`
	Status  int          `json:"status"`
}

// TxView is a transaction as the API shows it.
type TxView struct {
	ChainID   string `json:"chain_id"`
	Contract  string `json:"contract"`
	Method    string `json:"method"`
	Signer    string `json:"signer"`
	Nonce     uint64 `json:"nonce"`
	Payload   string `json:"payload"`   // base64
	Signature string `json:"signature"` // base64
}

// Proof is an RFC 6962 inclusion proof; the body of GET /v1/proof/inclusion.
type Proof struct {
	LeafIndex uint64        `json:"leaf_index"`
	TreeSize  uint64        `json:"tree_size"`
	Hashes    []ledger.Hash `json:"hashes"`
}

// TxAnswer is the body of GET /v1/tx/{hash}.
type TxAnswer struct {
	Hash     ledger.Hash `json:"hash"`
	Tx       TxView      `json:"tx"`
	Raw      string      `json:"raw"` // base64 canonical envelope: the tx-log leaf
	Receipt  Receipt     `json:"receipt"`
	Proof    Proof       `json:"proof"`
	TreeHead STH         `json:"tree_head"`
}

// HeaderView is a block header as the API shows it.
type HeaderView struct {
	ChainID     string      `json:"chain_id"`
	Height      uint64      `json:"height"`
	Time        time.Time   `json:"time"`
	PrevHash    ledger.Hash `json:"prev_hash"`
	TxCount     uint64      `json:"tx_count"`
	TxRoot      ledger.Hash `json:"tx_root"`
	ResultsRoot ledger.Hash `json:"results_root"`
	ChangesHash ledger.Hash `json:"changes_hash"`
	AppHash     ledger.Hash `json:"app_hash"`
	TxLogSize   uint64      `json:"txlog_size"`
	TxLogRoot   ledger.Hash `json:"txlog_root"`
	Proposer    string      `json:"proposer"`
}

// BlockTx is one transaction in a block answer.
type BlockTx struct {
	Hash     ledger.Hash   `json:"hash"`
	Contract string        `json:"contract"`
	Method   string        `json:"method"`
	Signer   string        `json:"signer"`
	Result   ledger.Result `json:"result"`
}

// BlockAnswer is the body of GET /v1/blocks/{height}.
type BlockAnswer struct {
	Hash      ledger.Hash `json:"hash"`
	Header    HeaderView  `json:"header"`
	HeaderRaw string      `json:"header_raw"` // base64 canonical header
	Signature string      `json:"signature"`
	SignedBy  string      `json:"signed_by"` // key id of the signature's key: the proposer (solo) or the serving node (cometbft)
	Txs       []BlockTx   `json:"txs"`
}

// STH is a signed tree head (the body of GET /v1/sth): the latest block
// header, whose signature covers the tx-log size and root.
type STH struct {
	ChainID   string      `json:"chain_id"`
	TreeSize  uint64      `json:"tree_size"`
	RootHash  ledger.Hash `json:"root_hash"`
	Height    uint64      `json:"height"`
	Time      time.Time   `json:"time"`
	BlockHash ledger.Hash `json:"block_hash"`
	Header    string      `json:"header"`     // base64 canonical header; the signature is over its hash
	Signature string      `json:"signature"`  // base64 Ed25519
	KeyID     string      `json:"key_id"`     // the validator whose key made Signature: the proposer (solo) or the serving node (cometbft)
	PublicKey string      `json:"public_key"` // base64 key of KeyID if it is the serving node's, else empty; check it against the genesis, not this answer
}

// ConsistencyProof is the body of GET /v1/proof/consistency.
type ConsistencyProof struct {
	From   uint64        `json:"from"`
	To     uint64        `json:"to"`
	Hashes []ledger.Hash `json:"hashes"`
}
