package verify

import (
	"bytes"

	"github.com/medledger/medledger/internal/ledger/store"
)

// checkLatest checks the latest-value key space (a read-optimised copy of
// the newest version of every live key) against the replayed state.
func (v *verifier) checkLatest(last uint64) *Problem {
	var p *Problem
	n := 0
	err := v.st.Raw(store.SpaceLatest, func(k, val []byte) error {
		key := k[1:]
		want, ok, _ := v.state.Get(key)
		if !ok {
			p = problem(last, KindState, "the latest-state copy holds key %q, which replay deleted or never wrote", printable(key))
			return errStop
		}
		if !bytes.Equal(want, val) {
			p = problem(last, KindState, "the latest-state copy of key %q differs from replay", printable(key))
			return errStop
		}
		n++
		return nil
	})
	if p != nil {
		return p
	}
	if err != nil {
		return problem(0, KindStore, "reading latest state: %v", err)
	}
	if n != v.state.Len() {
		return problem(last, KindState, "the latest-state copy has %d keys, replay has %d", n, v.state.Len())
	}
	return nil
}

// printable shows a state key for a message: keys are contract paths and
// ids (never personal data), but may hold binary bytes.
func printable(k []byte) string {
	const max = 120
	var b bytes.Buffer
	for _, c := range k {
		if b.Len() >= max {
			b.WriteString("…")
			break
		}
		if c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		} else {
			b.WriteString("\\x")
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		}
	}
	return b.String()
}
