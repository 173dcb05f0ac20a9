package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/medledger/medledger/internal/ledger"
)

// Key spaces. Every key starts with one of these bytes.
const (
	pfxMeta   = 'm' // m<name>                 → metadata (format version, genesis document)
	pfxHeader = 'h' // h<BE64 height>          → encoded SignedHeader
	pfxTx     = 't' // t<BE64 height><BE32 i>  → encoded Tx
	pfxResult = 'r' // r<BE64 height><BE32 i>  → encoded Result
	pfxIndex  = 'x' // x<tx id>                → <BE64 height><BE32 i><BE64 leaf>
	pfxNode   = 'n' // n<level><BE64 index>    → Merkle node hash
	pfxState  = 's' // s<esc key>00 01<BE64 ^height> → <tag><value>
	pfxLatest = 'l' // l<key>                  → latest live value (absent when deleted)
)

// State value tags.
const (
	tagPut    = 0
	tagDelete = 1
)

var (
	metaFormat  = []byte("mformat")
	metaGenesis = []byte("mgenesis")
)

// formatVersion is bumped on any incompatible change of the key layout.
const formatVersion = "medledger-store-2" // 2: latest-value key space

// HeaderKey returns the key of the signed header at height h.
func HeaderKey(h uint64) []byte { return binary.BigEndian.AppendUint64([]byte{pfxHeader}, h) }

// TxKey returns the key of transaction i of block h.
func TxKey(h uint64, i uint32) []byte { return posKey(pfxTx, h, i) }

// ResultKey returns the key of the result of transaction i of block h.
func ResultKey(h uint64, i uint32) []byte { return posKey(pfxResult, h, i) }

// IndexKey returns the key of the index entry for a transaction ID.
func IndexKey(id ledger.Hash) []byte { return append([]byte{pfxIndex}, id[:]...) }

// LatestKey returns the key of the latest value of state key k: a copy of
// the newest version kept for fast point reads.
func LatestKey(k []byte) []byte { return append([]byte{pfxLatest}, k...) }

// NodeKey returns the key of a tx-log Merkle node.
func NodeKey(level uint, index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{pfxNode, byte(level)}, index)
}

func posKey(p byte, h uint64, i uint32) []byte {
	k := make([]byte, 13)
	k[0] = p
	binary.BigEndian.PutUint64(k[1:], h)
	binary.BigEndian.PutUint32(k[9:], i)
	return k
}

// StateKey returns the stored key of version h of state key k. Keys are
// escaped (0x00 → 0x00 0xFF) and terminated (0x00 0x01) so that versions of
// one key are contiguous and keys keep their byte order; the inverted height
// makes the newest version sort first.
func StateKey(k []byte, h uint64) []byte {
	b := appendEscaped(make([]byte, 0, len(k)+12), k)
	b = append(b, 0x00, 0x01)
	return binary.BigEndian.AppendUint64(b, ^h)
}

func appendEscaped(b []byte, k []byte) []byte {
	b = append(b, pfxState)
	for _, c := range k {
		if c == 0x00 {
			b = append(b, 0x00, 0xFF)
		} else {
			b = append(b, c)
		}
	}
	return b
}

// stateKeyPrefix returns the stored prefix shared by all versions of k.
func stateKeyPrefix(k []byte) []byte {
	return append(appendEscaped(make([]byte, 0, len(k)+10), k), 0x00, 0x01)
}

var errBadStateKey = errors.New("malformed state key")

// ParseStateKey splits a stored state key into the user key and height.
func ParseStateKey(sk []byte) (key []byte, height uint64, err error) {
	if len(sk) < 1+2+8 || sk[0] != pfxState {
		return nil, 0, errBadStateKey
	}
	body := sk[1 : len(sk)-8]
	height = ^binary.BigEndian.Uint64(sk[len(sk)-8:])
	key = make([]byte, 0, len(body))
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c != 0x00 {
			key = append(key, c)
			continue
		}
		if i+1 >= len(body) {
			return nil, 0, errBadStateKey
		}
		switch body[i+1] {
		case 0xFF:
			key = append(key, 0x00)
			i++
		case 0x01:
			if i+2 != len(body) {
				return nil, 0, errBadStateKey
			}
			return key, height, nil
		default:
			return nil, 0, errBadStateKey
		}
	}
	return nil, 0, errBadStateKey
}

// prefixEnd returns the smallest key greater than every key with prefix p,
// or nil if there is none.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

func parsePos(k []byte) (h uint64, i uint32, err error) {
	if len(k) != 13 {
		return 0, 0, fmt.Errorf("position key is %d bytes, want 13", len(k))
	}
	return binary.BigEndian.Uint64(k[1:9]), binary.BigEndian.Uint32(k[9:]), nil
}
