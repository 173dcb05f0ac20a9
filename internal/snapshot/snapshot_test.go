package snapshot

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	src := t.TempDir()
	writeFiles(t, src, map[string]string{"genesis.json": `{"chain_id":"x"}`, "db/000001.sst": "data", "db/sub/MANIFEST": "m"})
	m := Manifest{Format: Format, ChainID: "x", Height: 7, AppHash: "ab", GenesisHash: "cd"}
	var buf bytes.Buffer
	if err := Write(&buf, m, filepath.Join(src, "genesis.json"), filepath.Join(src, "db")); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "out")
	got, err := Extract(&buf, dst)
	if err != nil {
		t.Fatal(err)
	}
	if got.Height != 7 || got.ChainID != "x" {
		t.Errorf("manifest = %+v", got)
	}
	for name, want := range map[string]string{"genesis.json": `{"chain_id":"x"}`, "ledger/000001.sst": "data", "ledger/sub/MANIFEST": "m"} {
		b, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
		}
	}
}

type entry struct {
	name string
	body string
	typ  byte
}

func archive(t *testing.T, es []entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Mode: 0o600, Size: int64(len(e.body)), Typeflag: typ}
		if typ != tar.TypeReg {
			h.Size = 0
			h.Linkname = "/etc/passwd"
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	gz.Close()
	return &buf
}

func TestExtractRefuses(t *testing.T) {
	mb, _ := json.Marshal(Manifest{Format: Format})
	ok := []entry{{name: ManifestName, body: string(mb)}, {name: GenesisName, body: "{}"}}
	tests := []struct {
		name    string
		entries []entry
		want    string
	}{
		{"traversal", append(ok, entry{name: "ledger/../../evil", body: "x"}), "unsafe"},
		{"absolute", append(ok, entry{name: "/tmp/evil", body: "x"}), "unsafe"},
		{"dotdot", append(ok, entry{name: "../evil", body: "x"}), "unsafe"},
		{"symlink", append(ok, entry{name: "ledger/link", typ: tar.TypeSymlink}), "not a regular file"},
		{"unexpected", append(ok, entry{name: "keys/node.key", body: "x"}), "unexpected entry"},
		{"duplicate", append(ok, entry{name: GenesisName, body: "{}"}), "duplicate"},
		{"no manifest", []entry{{name: GenesisName, body: "{}"}}, "missing"},
		{"bad format", []entry{{name: ManifestName, body: `{"format":"other"}`}, {name: GenesisName, body: "{}"}}, "format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x")
			_, err := Extract(archive(t, tt.entries), dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Extract = %v; want an error containing %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
				t.Fatal("a file escaped the target directory")
			}
		})
	}
	if _, err := Extract(strings.NewReader("not gzip"), t.TempDir()); err == nil {
		t.Error("Extract of garbage succeeded")
	}
}

func TestExtractSizeLimit(t *testing.T) {
	old := MaxExtract
	MaxExtract = 10
	defer func() { MaxExtract = old }()
	mb, _ := json.Marshal(Manifest{Format: Format})
	_, err := Extract(archive(t, []entry{{name: ManifestName, body: string(mb)}}), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Extract = %v; want size error", err)
	}
}

func FuzzExtract(f *testing.F) {
	mb, _ := json.Marshal(Manifest{Format: Format})
	var t testing.T
	f.Add(archive(&t, []entry{{name: ManifestName, body: string(mb)}, {name: GenesisName, body: "{}"}}).Bytes())
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := t.TempDir()
		Extract(bytes.NewReader(b), filepath.Join(dir, "x"))
		// Whatever happens, nothing may land outside dir/x.
		es, _ := os.ReadDir(dir)
		for _, e := range es {
			if e.Name() != "x" {
				t.Fatalf("Extract wrote %s outside its directory", e.Name())
			}
		}
	})
}
