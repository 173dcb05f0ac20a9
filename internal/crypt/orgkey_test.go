package crypt

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOrgKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "org.key")
	k, err := GenerateOrgKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteOrgKeyFile(path, k, masterKey(1)); err != nil {
		t.Fatalf("WriteOrgKeyFile: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o; want 0600", perm)
	}
	got, err := ReadOrgKeyFile(path, masterKey(1))
	if err != nil {
		t.Fatalf("ReadOrgKeyFile: %v", err)
	}
	if !bytes.Equal(got.PublicKey(), k.PublicKey()) || got.KeyID() != k.KeyID() {
		t.Errorf("read key %v; want %v", got, k)
	}
	priv, _ := k.priv().Bytes()
	b, _ := os.ReadFile(path)
	if bytes.Contains(b, priv) || strings.Contains(string(b), base64.StdEncoding.EncodeToString(priv)) ||
		strings.Contains(string(b), hex.EncodeToString(priv)) {
		t.Error("the key file holds the private key in clear")
	}

	if err := WriteOrgKeyFile(path, k, masterKey(1)); !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwriting: err = %v; want fs.ErrExist", err)
	}
	if _, err := ReadOrgKeyFile(path, masterKey(2)); !errors.Is(err, ErrWrongMasterKey) {
		t.Errorf("wrong master key: err = %v; want ErrWrongMasterKey", err)
	}
	if _, err := ReadOrgKeyFile(filepath.Join(dir, "missing"), masterKey(1)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v; want fs.ErrNotExist", err)
	}
	os.Chmod(path, 0o644)
	if _, err := ReadOrgKeyFile(path, masterKey(1)); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable file: err = %v; want advice to chmod 600", err)
	}
	if err := WriteOrgKeyFile(filepath.Join(dir, "zero.key"), &OrgKey{}, masterKey(1)); err == nil {
		t.Error("WriteOrgKeyFile wrote the zero OrgKey")
	}
}

func TestOrgKeyFileCorrupt(t *testing.T) {
	k, _ := GenerateOrgKey()
	good, err := marshalOrgKey(k, new(masterKey(1)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := GenerateOrgKey()
	edit := func(f func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	flipB64 := func(s any) string {
		b, _ := base64.StdEncoding.DecodeString(s.(string))
		b[0] ^= 1
		return base64.StdEncoding.EncodeToString(b)
	}
	for _, tt := range []struct {
		name string
		b    []byte
		want error
	}{
		{"not json", []byte("nope"), ErrCorrupt},
		{"trailing data", append(bytes.Clone(good), "{}"...), ErrCorrupt},
		{"unknown field", edit(func(m map[string]any) { m["extra"] = 1 }), ErrCorrupt},
		{"version", edit(func(m map[string]any) { m["version"] = 2 }), ErrCorrupt},
		{"type", edit(func(m map[string]any) { m["type"] = "ed25519" }), ErrCorrupt},
		{"kdf", edit(func(m map[string]any) { m["kdf"].(map[string]any)["name"] = "scrypt" }), ErrCorrupt},
		{"key id", edit(func(m map[string]any) { m["key_id"] = "0000000000000000" }), ErrCorrupt},
		{"short salt", edit(func(m map[string]any) { m["kdf"].(map[string]any)["salt"] = "AAAA" }), ErrCorrupt},
		{"bad nonce", edit(func(m map[string]any) { m["nonce"] = "!!" }), ErrCorrupt},
		{"other public key", edit(func(m map[string]any) {
			m["public_key"] = base64.StdEncoding.EncodeToString(other.PublicKey())
			m["key_id"] = other.KeyID()
		}), ErrWrongMasterKey}, // bound by the AAD
		{"altered ciphertext", edit(func(m map[string]any) { m["ciphertext"] = flipB64(m["ciphertext"]) }), ErrWrongMasterKey},
		{"altered salt", edit(func(m map[string]any) { m["kdf"].(map[string]any)["salt"] = flipB64(m["kdf"].(map[string]any)["salt"]) }), ErrWrongMasterKey},
	} {
		if _, err := unmarshalOrgKey(tt.b, new(masterKey(1))); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v; want %v", tt.name, err, tt.want)
		}
	}
}

func TestOrgKeyFormatHidesPrivateKey(t *testing.T) {
	k, _ := GenerateOrgKey()
	priv, _ := k.priv().Bytes()
	want := "crypt.OrgKey(" + k.KeyID() + ")"
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
		for _, v := range []any{k, *k, struct{ K OrgKey }{*k}, struct{ k *OrgKey }{k}} {
			s := fmt.Sprintf(f, v)
			if strings.Contains(s, hex.EncodeToString(priv)) || strings.Contains(strings.ToLower(s), hex.EncodeToString(priv[:6])) ||
				strings.Contains(s, string(priv)) || strings.Contains(s, strings.Trim(fmt.Sprint(priv[:4]), "[]")) {
				t.Errorf("Sprintf(%q, %T) = %q shows the private key", f, v, s)
			}
		}
		if s := fmt.Sprintf(f, k); s != want {
			t.Errorf("Sprintf(%q, k) = %q; want %q", f, s, want)
		}
	}
	if len(k.PublicKey()) != 32 || len(k.KeyID()) != 16 {
		t.Errorf("PublicKey is %d bytes, KeyID %d characters; want 32 and 16", len(k.PublicKey()), len(k.KeyID()))
	}
	p := k.PublicKey()
	p[0] ^= 1
	if bytes.Equal(p, k.PublicKey()) {
		t.Error("PublicKey returned the key's own slice")
	}
}
