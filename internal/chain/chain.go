// Package chain builds blocks: it executes an ordered list of transactions
// through the contract machine and derives everything a header commits to
// (tx root, results root, state changes, app hash, tx-log size and root).
//
// Solo ordering, CometBFT ordering and offline verification all call
// Execute, so a block is computed in exactly one way. The package neither
// orders, signs, stores nor reads the clock: its caller supplies the block
// height, time and parent, and persists the outcome.
package chain

import (
	"crypto/ed25519"
	"fmt"

	"github.com/medledger/medledger/internal/contract"
	"github.com/medledger/medledger/internal/ledger"
	"github.com/medledger/medledger/internal/ledger/store"
	"github.com/medledger/medledger/internal/ledger/txlog"
)

// Tx is one transaction to execute.
type Tx struct {
	Tx  *ledger.Tx
	Raw []byte      // canonical encoding (Tx.Encode())
	ID  ledger.Hash // Tx.ID()
	// Verified, if not nil, is the key the signature was already verified
	// against (see contract.Block.Apply).
	Verified ed25519.PublicKey
}

// Parent is what a block builds on.
type Parent struct {
	Hash    ledger.Hash // previous header hash (the genesis hash for height 1)
	AppHash ledger.Hash // previous app hash (the genesis app hash for height 1)
	Height  uint64
	Time    int64
}

// Input describes the block to build.
type Input struct {
	ChainID  string
	Parent   Parent
	Time     int64 // Unix nanoseconds; must exceed Parent.Time
	Proposer string
	Txs      []Tx
	State    contract.StateReader // committed state as of the parent
	Log      *txlog.Log           // tx log as of the parent; not modified
	// Committed, if set, is used to reject replays of committed txs.
	Committed func(ledger.Hash) (bool, error)
}

// Output is a built, unsigned block.
type Output struct {
	Block   store.Block // Header.Signature unset
	Results []ledger.Result
	Log     *txlog.Log // the tx log including this block
}

// Execute runs in.Txs in order and returns the block. An error means
// execution could not proceed (storage failure); no partial block results.
func Execute(m *contract.Machine, in Input) (*Output, error) {
	if in.Time <= in.Parent.Time {
		return nil, fmt.Errorf("chain: block time %d not after parent time %d", in.Time, in.Parent.Time)
	}
	h := in.Parent.Height + 1
	b := m.Begin(in.State, h, timeOf(in.Time))
	b.Committed = in.Committed
	n := len(in.Txs)
	out := &Output{
		Block: store.Block{
			Txs:     make([][]byte, n),
			IDs:     make([]ledger.Hash, n),
			Results: make([][]byte, n),
		},
		Results: make([]ledger.Result, n),
		Log:     in.Log.Clone(),
	}
	for i, t := range in.Txs {
		r, err := b.Apply(t.Tx, t.ID, t.Verified)
		if err != nil {
			return nil, err
		}
		out.Results[i] = r
		if r.Code == ledger.CodeReplay {
			if out.Block.Unindexed == nil {
				out.Block.Unindexed = make([]bool, n)
			}
			out.Block.Unindexed[i] = true
		}
		out.Block.Txs[i] = t.Raw
		out.Block.IDs[i] = t.ID
		out.Block.Results[i] = r.Encode()
		out.Log.Append(ledger.LeafHash(t.Raw), func(id txlog.NodeID, nh ledger.Hash) {
			out.Block.Nodes = append(out.Block.Nodes, store.Node{ID: id, Hash: nh})
		})
	}
	out.Block.Changes = b.Changes()
	hdr := ledger.Header{
		ChainID:     in.ChainID,
		Height:      h,
		Time:        in.Time,
		PrevHash:    in.Parent.Hash,
		TxCount:     uint64(n),
		TxRoot:      ledger.MerkleRoot(out.Block.Txs),
		ResultsRoot: ledger.MerkleRoot(out.Block.Results),
		ChangesHash: ledger.ChangesHash(out.Block.Changes),
		TxLogSize:   out.Log.Size(),
		TxLogRoot:   out.Log.Root(),
		Proposer:    in.Proposer,
	}
	if n == 0 {
		// An empty block (CometBFT makes them; solo never does) changes
		// neither state nor log, so the app hash stays: CometBFT then
		// sees nothing to prove and does not chase it with another block.
		hdr.AppHash = in.Parent.AppHash
	} else {
		hdr.AppHash = ledger.AppHash(in.Parent.AppHash, hdr.ChangesHash, hdr.ResultsRoot, hdr.TxLogSize, hdr.TxLogRoot)
	}
	out.Block.Header.Header = hdr
	return out, nil
}

// GenesisAppHash is the app hash "before block 1": it commits to the
// genesis document and the genesis state.
func GenesisAppHash(genesisHash ledger.Hash, changes []ledger.Change) ledger.Hash {
	return ledger.AppHash(genesisHash, ledger.ChangesHash(changes), ledger.EmptyRoot, 0, ledger.EmptyRoot)
}

// Sign signs the header of o with the node's signer.
func Sign(o *Output, sign func([]byte) ([]byte, error)) error {
	hh := o.Block.Header.Header.Hash()
	sig, err := sign(hh[:])
	if err != nil {
		return fmt.Errorf("chain: sign block %d: %w", o.Block.Header.Header.Height, err)
	}
	o.Block.Header.Signature = sig
	return nil
}
