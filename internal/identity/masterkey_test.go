package identity

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreateAndLoadMasterKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	if err := CreateMasterKey(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("master key file mode = %04o; want 0600", perm)
	}
	b, _ := os.ReadFile(path)
	if len(b) != 45 || b[44] != '\n' {
		t.Errorf("master key file = %q; want 44 base64 characters and a newline", b)
	}
	key, err := LoadMasterKey(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if key == [32]byte{} {
		t.Error("LoadMasterKey returned the zero key")
	}
	if got := base64.StdEncoding.EncodeToString(key[:]) + "\n"; got != string(b) {
		t.Errorf("LoadMasterKey = %s; want the file's key", got)
	}

	if err := CreateMasterKey(path); !errors.Is(err, fs.ErrExist) {
		t.Errorf("CreateMasterKey over an existing file = %v; want fs.ErrExist", err)
	}
	if again, _ := LoadMasterKey(path, ""); again != key {
		t.Error("second CreateMasterKey changed the key")
	}

	other := filepath.Join(t.TempDir(), "master.key")
	if err := CreateMasterKey(other); err != nil {
		t.Fatal(err)
	}
	if k2, _ := LoadMasterKey(other, ""); k2 == key {
		t.Error("two CreateMasterKey calls produced the same key")
	}
}

func TestLoadMasterKey(t *testing.T) {
	dir := t.TempDir()
	b64 := base64.StdEncoding.EncodeToString(testMaster[:])
	hx := hex.EncodeToString(testMaster[:])
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", b64+"\n", 0o600)
	hexFile := write("hex", hx+"\n", 0o600)
	loose := write("loose", b64+"\n", 0o644)
	garbage := write("garbage", "not a key\n", 0o600)
	short := write("short", base64.StdEncoding.EncodeToString(testMaster[:31])+"\n", 0o600)
	big := write("big", strings.Repeat("A", 4096), 0o600)
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		path    string
		env     string
		wantErr error  // nil: success
		wantMsg string // for errors
	}{
		{name: "file base64", path: good},
		{name: "file hex", path: hexFile},
		{name: "env base64", path: missing, env: b64},
		{name: "env hex", path: missing, env: hx},
		{name: "env upper-case hex", path: missing, env: strings.ToUpper(hx)},
		{name: "env with newline", path: missing, env: b64 + "\n"},
		{name: "env wins over a bad file", path: garbage, env: b64},
		{name: "env garbage", path: good, env: "hunter2hunter2", wantMsg: "MEDLEDGER_MASTER_KEY is set but is not a master key"},
		{name: "env 31 bytes", path: good, env: base64.StdEncoding.EncodeToString(testMaster[:31]), wantMsg: "unset it"},
		{name: "env 63 hex digits", path: good, env: hx[:63], wantMsg: "64 hex digits"},
		{name: "env url-safe", path: good, env: base64.URLEncoding.EncodeToString(make([]byte, 32)) + "_", wantMsg: "standard base64"},
		{name: "missing file", path: missing, wantErr: fs.ErrNotExist, wantMsg: "set MEDLEDGER_MASTER_KEY"},
		{name: "permissive file", path: loose, wantMsg: "chmod 600 " + loose},
		{name: "garbage file", path: garbage, wantErr: ErrCorrupt, wantMsg: garbage},
		{name: "short file", path: short, wantErr: ErrCorrupt, wantMsg: short},
		{name: "huge file", path: big, wantErr: ErrCorrupt, wantMsg: "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadMasterKey(tt.path, tt.env)
			if tt.wantErr == nil && tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("LoadMasterKey error: %v", err)
				}
				if got != testMaster {
					t.Errorf("LoadMasterKey = %x; want %x", got, testMaster)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadMasterKey succeeded; want error containing %q", tt.wantMsg)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("LoadMasterKey error = %v; want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("LoadMasterKey error = %q; want it to contain %q", err, tt.wantMsg)
			}
			if tt.env != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.env)) {
				t.Errorf("LoadMasterKey error %q repeats the environment value", err)
			}
			assertNoSecrets(t, err, nil)
		})
	}
}

func FuzzParseMasterKey(f *testing.F) {
	for _, s := range []string{
		base64.StdEncoding.EncodeToString(testMaster[:]),
		base64.StdEncoding.EncodeToString(testMaster[:]) + "\n",
		hex.EncodeToString(testMaster[:]),
		"  " + hex.EncodeToString(testMaster[:]) + "\r\n",
		hex.EncodeToString(testMaster[:])[:63] + "g",
		base64.StdEncoding.EncodeToString(testMaster[:31]),
		"", "not a key",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := parseMasterKey(s)
		if err != nil {
			if key != [32]byte{} {
				t.Fatal("parseMasterKey returned a key with an error")
			}
			return
		}
		// Both text forms of the result parse back to it.
		for _, enc := range []string{base64.StdEncoding.EncodeToString(key[:]), hex.EncodeToString(key[:])} {
			if again, err := parseMasterKey(enc); err != nil || again != key {
				t.Fatalf("parseMasterKey(%q) = %x, %v; want %x", enc, again, err, key)
			}
		}
	})
}
