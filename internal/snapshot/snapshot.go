// Package snapshot writes and reads ledger backups: a gzip-compressed tar
// holding a manifest, the genesis document and a consistent copy of the
// ledger database. It only packs and unpacks; deciding whether a snapshot
// may be restored (it must pass verification) is the caller's job.
package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Manifest describes a snapshot.
type Manifest struct {
	Format      string    `json:"format"` // "medledger-snapshot-1"
	ChainID     string    `json:"chain_id"`
	Height      uint64    `json:"height"`
	AppHash     string    `json:"app_hash"`
	GenesisHash string    `json:"genesis_hash"`
	Created     time.Time `json:"created"`
}

// Format is the current snapshot format.
const Format = "medledger-snapshot-1"

// Names inside the archive.
const (
	ManifestName = "manifest.json"
	GenesisName  = "genesis.json"
	LedgerDir    = "ledger"
)

// Write packs m, the genesis file and the database directory dbDir into w.
func Write(w io.Writer, m Manifest, genesisPath, dbDir string) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := addBytes(tw, ManifestName, mb); err != nil {
		return err
	}
	gb, err := os.ReadFile(genesisPath)
	if err != nil {
		return err
	}
	if err := addBytes(tw, GenesisName, gb); err != nil {
		return err
	}
	err = filepath.WalkDir(dbDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dbDir, p)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: path.Join(LedgerDir, filepath.ToSlash(rel)), Mode: 0o600, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return fmt.Errorf("snapshot: pack %s: %w", dbDir, err)
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(b)), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err := tw.Write(b)
	return err
}

// MaxExtract bounds the total bytes Extract writes (a guard against
// decompression bombs). Default 64 GiB.
var MaxExtract int64 = 64 << 30

// Extract unpacks a snapshot into dir (which must be empty or absent) and
// returns its manifest. The database lands in dir/ledger and the genesis in
// dir/genesis.json. Entries with unsafe names or types are refused.
func Extract(r io.Reader, dir string) (Manifest, error) {
	var m Manifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("snapshot: not a gzip file: %w", err)
	}
	tr := tar.NewReader(gz)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return m, err
	}
	var total int64
	seen := map[string]bool{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, fmt.Errorf("snapshot: corrupt archive: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return m, fmt.Errorf("snapshot: entry %q is not a regular file", h.Name)
		}
		name := path.Clean(h.Name)
		if name != h.Name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "..") || strings.Contains(name, "/../") {
			return m, fmt.Errorf("snapshot: unsafe entry name %q", h.Name)
		}
		if name != ManifestName && name != GenesisName && !strings.HasPrefix(name, LedgerDir+"/") {
			return m, fmt.Errorf("snapshot: unexpected entry %q", h.Name)
		}
		if seen[name] {
			return m, fmt.Errorf("snapshot: duplicate entry %q", h.Name)
		}
		seen[name] = true
		total += h.Size
		if total > MaxExtract {
			return m, fmt.Errorf("snapshot: larger than %d bytes", MaxExtract)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, err
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return m, err
		}
		_, err = io.CopyN(f, tr, h.Size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return m, fmt.Errorf("snapshot: extract %q: %w", h.Name, err)
		}
	}
	if !seen[ManifestName] || !seen[GenesisName] {
		return m, errors.New("snapshot: missing manifest.json or genesis.json")
	}
	mb, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(mb, &m); err != nil {
		return m, fmt.Errorf("snapshot: manifest: %w", err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("snapshot: format %q, this build reads %q", m.Format, Format)
	}
	return m, nil
}
