package genesis

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/medledger/medledger/internal/ledger"
)

// wireDoc is Doc with its time pre-formatted, so that encoding cannot
// fail (time.Time refuses to marshal years outside 0-9999).
type wireDoc struct {
	ChainID     string      `json:"chain_id"`
	GenesisTime string      `json:"genesis_time"`
	Orgs        []Org       `json:"orgs"`
	Members     []Member    `json:"members"`
	Validators  []Validator `json:"validators"`
	Consensus   string      `json:"consensus,omitempty"`
}

// Canonical returns the canonical encoding of d: compact JSON with the
// fields in declaration order, genesis_time in UTC as RFC 3339 with
// nanoseconds (trailing zeros dropped), each member's roles sorted,
// absent lists as [], consensus omitted when empty, no HTML escaping and
// no trailing newline. Orgs, members and validators keep their order. Canonical does not modify d;
// the caller owns the result. It is meaningful only for a valid Doc.
func (d *Doc) Canonical() []byte {
	w := wireDoc{
		ChainID:     d.ChainID,
		GenesisTime: d.GenesisTime.UTC().Format(time.RFC3339Nano),
		Orgs:        nonNil(d.Orgs),
		Members:     make([]Member, len(d.Members)),
		Validators:  nonNil(d.Validators),
		Consensus:   d.Consensus,
	}
	for i, m := range d.Members {
		m.Roles = slices.Sorted(slices.Values(m.Roles))
		m.Roles = nonNil(m.Roles)
		w.Members[i] = m
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(w); err != nil {
		// Strings, integers and slices of them always encode.
		panic(fmt.Sprintf("genesis: encoding canonical document: %v", err))
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func nonNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

// Hash returns the genesis hash of d, ledger.GenesisHash(d.Canonical()),
// which identifies the network and is block 1's previous-block hash.
func (d *Doc) Hash() ledger.Hash { return ledger.GenesisHash(d.Canonical()) }

// Save validates d and writes its canonical content, indented, to path
// with mode 0644, replacing any existing file atomically: the data goes
// to a temporary file in the same directory, which is fsynced and then
// renamed over path, and the directory is fsynced. An invalid Doc is not
// written; the error is Validate's.
func (d *Doc) Save(path string) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("save genesis %s: invalid document:\n%w", path, err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, d.Canonical(), "", "  "); err != nil {
		return fmt.Errorf("save genesis %s: %w", path, err)
	}
	buf.WriteByte('\n')
	if err := writeFileAtomic(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("save genesis: %w", err)
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves either
// the old file or the new one, never a mix.
func writeFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(perm); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for sync there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
