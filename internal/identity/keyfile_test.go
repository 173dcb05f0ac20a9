package identity

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fastPassphrase is Passphrase with a small scrypt N, so tests stay quick
// under -race. Files record N, so reading needs no special Protector.
func fastPassphrase(p string) Protector {
	return &passphraseProtector{pass: []byte(p), n: 1 << 10}
}

var testMaster = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}

const testPassphrase = "correct horse battery staple"

// assertNoSecrets fails if err's message contains the passphrase or
// any encoding of k's seed.
func assertNoSecrets(t *testing.T, err error, k *Key) {
	t.Helper()
	msg := err.Error()
	secrets := []string{testPassphrase, base64.StdEncoding.EncodeToString(testMaster[:]), hex.EncodeToString(testMaster[:])}
	if k != nil {
		seed := k.seed()
		secrets = append(secrets, hex.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed))
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("error %q contains secret material", msg)
		}
	}
}

func TestKeyFileRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Protector
		kdf  string
	}{
		{"passphrase", fastPassphrase(testPassphrase), kdfScrypt},
		{"master key", MasterKey(testMaster), kdfHKDF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKey(t)
			path := filepath.Join(t.TempDir(), "node.key")
			if err := WriteKeyFile(path, k, tt.p); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("key file mode = %04o; want 0600", perm)
			}
			b, _ := os.ReadFile(path)
			var j keyFileJSON
			if err := json.Unmarshal(b, &j); err != nil {
				t.Fatal(err)
			}
			if j.Version != 1 || j.Type != "ed25519" || j.KeyID != k.KeyID() || j.PublicKey != EncodePublicKey(k.Public()) || j.KDF.Name != tt.kdf {
				t.Errorf("key file fields = %+v; want version 1, type ed25519, key_id %s, kdf %s", j, k.KeyID(), tt.kdf)
			}
			if seed := k.seed(); bytes.Contains(b, seed) || bytes.Contains(b, []byte(base64.StdEncoding.EncodeToString(seed))) {
				t.Error("key file contains the seed in clear")
			}

			got, err := ReadKeyFile(path, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			if got.KeyID() != k.KeyID() || !bytes.Equal(got.Public(), k.Public()) {
				t.Errorf("ReadKeyFile = %v; want %v", got, k)
			}
			msg := []byte("m")
			if sig := mustSign(t, got, msg); !Verify(k.Public(), msg, sig) {
				t.Error("key read back does not sign for the original public key")
			}
		})
	}
}

func TestPassphraseDefaultCost(t *testing.T) {
	if testing.Short() {
		t.Skip("scrypt at full cost")
	}
	k := mustKey(t)
	path := filepath.Join(t.TempDir(), "k")
	if err := WriteKeyFile(path, k, Passphrase([]byte(testPassphrase))); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	kf, err := parseKeyFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if kf.kdf.N != 32768 || kf.kdf.R != 8 || kf.kdf.P != 1 || len(kf.kdf.salt) != 16 {
		t.Errorf("kdf = %+v; want scrypt N=32768 r=8 p=1 with a 16-byte salt", kf.kdf)
	}
	if _, err := ReadKeyFile(path, Passphrase([]byte(testPassphrase))); err != nil {
		t.Fatal(err)
	}
}

func TestReadKeyFileWrongKey(t *testing.T) {
	dir := t.TempDir()
	k := mustKey(t)
	pass := filepath.Join(dir, "pass.key")
	master := filepath.Join(dir, "master.key")
	if err := WriteKeyFile(pass, k, fastPassphrase(testPassphrase)); err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(master, k, MasterKey(testMaster)); err != nil {
		t.Fatal(err)
	}
	otherMaster := testMaster
	otherMaster[0] ^= 1
	tests := []struct {
		name string
		path string
		p    Protector
		want string
	}{
		{"wrong passphrase", pass, Passphrase([]byte("Correct horse battery staple")), "wrong passphrase"},
		{"wrong master key", master, MasterKey(otherMaster), "wrong passphrase"},
		{"master key for passphrase file", pass, MasterKey(testMaster), "protected by a passphrase"},
		{"passphrase for master key file", master, Passphrase([]byte(testPassphrase)), "protected by a master key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadKeyFile(tt.path, tt.p)
			if !errors.Is(err, ErrWrongKey) {
				t.Fatalf("ReadKeyFile = %v; want ErrWrongKey", err)
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q; want it to name %s and say %q", err, tt.path, tt.want)
			}
			assertNoSecrets(t, err, k)
		})
	}
	if _, err := ReadKeyFile(pass, Passphrase(nil)); err == nil || errors.Is(err, ErrWrongKey) {
		t.Errorf("ReadKeyFile with empty passphrase = %v; want a non-ErrWrongKey error", err)
	}
}

func TestWriteKeyFileRefusals(t *testing.T) {
	dir := t.TempDir()
	k := mustKey(t)
	path := filepath.Join(dir, "k")
	if err := WriteKeyFile(path, k, MasterKey(testMaster)); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	err := WriteKeyFile(path, mustKey(t), MasterKey(testMaster))
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), path) {
		t.Errorf("WriteKeyFile over an existing file = %v; want fs.ErrExist naming %s", err, path)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("WriteKeyFile modified an existing file")
	}

	p2 := filepath.Join(dir, "empty-pass")
	if err := WriteKeyFile(p2, k, Passphrase(nil)); err == nil {
		t.Error("WriteKeyFile with an empty passphrase succeeded")
	}
	if err := WriteKeyFile(p2, &Key{}, MasterKey(testMaster)); err == nil {
		t.Error("WriteKeyFile of the zero Key succeeded")
	}
	if _, err := os.Stat(p2); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("failed WriteKeyFile left a file behind (stat: %v)", err)
	}
	if err := WriteKeyFile(filepath.Join(dir, "no", "such", "dir"), k, MasterKey(testMaster)); err == nil {
		t.Error("WriteKeyFile into a missing directory succeeded")
	}
}

func TestReadKeyFilePermissions(t *testing.T) {
	k := mustKey(t)
	for _, mode := range []fs.FileMode{0o640, 0o604, 0o644, 0o660, 0o700} {
		path := filepath.Join(t.TempDir(), "k")
		if err := WriteKeyFile(path, k, MasterKey(testMaster)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := ReadKeyFile(path, MasterKey(testMaster))
		if mode&0o077 == 0 {
			if err != nil {
				t.Errorf("mode %04o: ReadKeyFile = %v; want success", mode, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Errorf("mode %04o: ReadKeyFile = %v; want an error saying chmod 600 %s", mode, err, path)
		}
	}

	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := ReadKeyFile(missing, MasterKey(testMaster)); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("ReadKeyFile(missing) = %v; want fs.ErrNotExist naming the path", err)
	}
	if _, err := ReadKeyFile(t.TempDir(), MasterKey(testMaster)); err == nil {
		t.Error("ReadKeyFile(directory) succeeded")
	}
}

// keyFileMutation edits a decoded key file.
type keyFileMutation struct {
	name    string
	mutate  func(m map[string]any)
	raw     func(b []byte) []byte // applied instead of mutate when set
	wantErr error
	wantMsg string
}

func keyFileMutations(t testing.TB) []keyFileMutation {
	other := mustKey(t)
	kdf := func(m map[string]any) map[string]any { return m["kdf"].(map[string]any) }
	b64 := base64.StdEncoding.EncodeToString
	return []keyFileMutation{
		{name: "unchanged", mutate: func(map[string]any) {}},
		{name: "version 2", mutate: func(m map[string]any) { m["version"] = 2 }, wantErr: ErrCorrupt, wantMsg: "version 2"},
		{name: "version missing", mutate: func(m map[string]any) { delete(m, "version") }, wantErr: ErrCorrupt, wantMsg: "version 0"},
		{name: "type", mutate: func(m map[string]any) { m["type"] = "rsa" }, wantErr: ErrCorrupt, wantMsg: "type"},
		{name: "key_id mismatch", mutate: func(m map[string]any) { m["key_id"] = other.KeyID() }, wantErr: ErrCorrupt, wantMsg: "key_id"},
		{name: "public key swapped (with its key id)", mutate: func(m map[string]any) {
			m["public_key"] = EncodePublicKey(other.Public())
			m["key_id"] = other.KeyID()
		}, wantErr: ErrWrongKey},
		{name: "public key not base64", mutate: func(m map[string]any) { m["public_key"] = "!!" }, wantErr: ErrCorrupt, wantMsg: "public_key"},
		{name: "nonce short", mutate: func(m map[string]any) { m["nonce"] = b64(make([]byte, 8)) }, wantErr: ErrCorrupt, wantMsg: "nonce is 8 bytes"},
		{name: "nonce not base64", mutate: func(m map[string]any) { m["nonce"] = "%%%" }, wantErr: ErrCorrupt, wantMsg: "nonce is not valid base64"},
		{name: "nonce changed", mutate: func(m map[string]any) { m["nonce"] = b64(make([]byte, 12)) }, wantErr: ErrWrongKey},
		{name: "ciphertext truncated", mutate: func(m map[string]any) {
			m["ciphertext"] = m["ciphertext"].(string)[:20]
		}, wantErr: ErrCorrupt, wantMsg: "ciphertext"},
		{name: "ciphertext bit flipped", mutate: func(m map[string]any) {
			c, _ := base64.StdEncoding.DecodeString(m["ciphertext"].(string))
			c[0] ^= 1
			m["ciphertext"] = b64(c)
		}, wantErr: ErrWrongKey},
		{name: "salt changed", mutate: func(m map[string]any) { kdf(m)["salt"] = b64(make([]byte, 32)) }, wantErr: ErrWrongKey},
		{name: "salt short", mutate: func(m map[string]any) { kdf(m)["salt"] = b64(make([]byte, 4)) }, wantErr: ErrCorrupt, wantMsg: "kdf.salt is 4 bytes"},
		{name: "kdf unknown", mutate: func(m map[string]any) { kdf(m)["name"] = "argon2id" }, wantErr: ErrCorrupt, wantMsg: "kdf.name"},
		{name: "hkdf with n", mutate: func(m map[string]any) { kdf(m)["n"] = 1024 }, wantErr: ErrCorrupt, wantMsg: "takes no n"},
		{name: "scrypt n not power of two", mutate: func(m map[string]any) {
			k := kdf(m)
			k["name"], k["salt"], k["n"], k["r"], k["p"] = "scrypt", b64(make([]byte, 16)), 1000, 8, 1
		}, wantErr: ErrCorrupt, wantMsg: "kdf.n = 1000"},
		{name: "scrypt n too large", mutate: func(m map[string]any) {
			k := kdf(m)
			k["name"], k["salt"], k["n"], k["r"], k["p"] = "scrypt", b64(make([]byte, 16)), 1<<30, 8, 1
		}, wantErr: ErrCorrupt, wantMsg: "n·r"},
		{name: "scrypt p too large", mutate: func(m map[string]any) {
			k := kdf(m)
			k["name"], k["salt"], k["n"], k["r"], k["p"] = "scrypt", b64(make([]byte, 16)), 1024, 8, 1000
		}, wantErr: ErrCorrupt, wantMsg: "kdf.p = 1000"},
		{name: "unknown field", mutate: func(m map[string]any) { m["comment"] = "hi" }, wantErr: ErrCorrupt, wantMsg: "comment"},
		{name: "kdf missing", mutate: func(m map[string]any) { delete(m, "kdf") }, wantErr: ErrCorrupt, wantMsg: "kdf.name"},
		{name: "trailing data", raw: func(b []byte) []byte { return append(b, "{}"...) }, wantErr: ErrCorrupt, wantMsg: "after the JSON"},
		{name: "truncated", raw: func(b []byte) []byte { return b[:len(b)/2] }, wantErr: ErrCorrupt, wantMsg: "not a key file"},
		{name: "empty", raw: func([]byte) []byte { return nil }, wantErr: ErrCorrupt, wantMsg: "not a key file"},
		{name: "array", raw: func([]byte) []byte { return []byte("[]") }, wantErr: ErrCorrupt, wantMsg: "not a key file"},
		{name: "too large", raw: func(b []byte) []byte { return append(b, bytes.Repeat([]byte(" "), maxKeyFileSize)...) }, wantErr: ErrCorrupt, wantMsg: "larger than"},
	}
}

// mutatedKeyFile returns the bytes of k's key file (master key testMaster)
// after applying mu.
func mutatedKeyFile(t testing.TB, k *Key, mu keyFileMutation) []byte {
	t.Helper()
	b, err := marshalKeyFile(k, MasterKey(testMaster))
	if err != nil {
		t.Fatal(err)
	}
	if mu.raw != nil {
		return mu.raw(b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	mu.mutate(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReadKeyFileCorrupt(t *testing.T) {
	k := mustKey(t)
	for _, tt := range keyFileMutations(t) {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k")
			if err := os.WriteFile(path, mutatedKeyFile(t, k, tt), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadKeyFile(path, MasterKey(testMaster))
			if tt.wantErr == nil {
				if err != nil || got.KeyID() != k.KeyID() {
					t.Fatalf("ReadKeyFile = %v, %v; want %v", got, err, k)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadKeyFile = %v; want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q; want it to name %s and contain %q", err, path, tt.wantMsg)
			}
			assertNoSecrets(t, err, k)
		})
	}
}

func TestDecryptedKeyMustMatchPublicKey(t *testing.T) {
	// A file whose ciphertext is properly sealed but holds another key's
	// seed: only a writer with the protector's key could make one, yet
	// ReadKeyFile must still not return a key that disagrees with the
	// file's public key.
	k, other := mustKey(t), mustKey(t)
	p := MasterKey(testMaster)
	params, _ := p.newKDF()
	fk, _ := p.deriveKey(&params)
	aead, _ := newAEAD(fk)
	kf := keyFile{kdf: params, keyID: k.KeyID(), pub: k.Public(), nonce: make([]byte, 12)}
	ct := aead.Seal(nil, kf.nonce, other.seed(), kf.additionalData())
	params.Salt = base64.StdEncoding.EncodeToString(params.salt)
	b, _ := json.Marshal(keyFileJSON{
		Version: 1, Type: "ed25519", KeyID: k.KeyID(), PublicKey: EncodePublicKey(k.Public()), KDF: params,
		Nonce: base64.StdEncoding.EncodeToString(kf.nonce), Ciphertext: base64.StdEncoding.EncodeToString(ct),
	})
	_, err := unmarshalKeyFile(b, p)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "does not match public_key") {
		t.Errorf("unmarshalKeyFile = %v; want ErrCorrupt about public_key", err)
	}
}

// FuzzReadKeyFile feeds arbitrary bytes to the key file decoder and
// decrypter: they must never panic, every failure must be one of the
// documented classes, and a success must return the file's own key.
func FuzzReadKeyFile(f *testing.F) {
	k := mustKey(f)
	for _, mu := range keyFileMutations(f) {
		f.Add(mutatedKeyFile(f, k, mu))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		kf, perr := parseKeyFile(b)
		got, err := unmarshalKeyFile(b, MasterKey(testMaster))
		if perr != nil {
			if !errors.Is(perr, ErrCorrupt) {
				t.Fatalf("parseKeyFile error %v does not wrap ErrCorrupt", perr)
			}
			if err == nil {
				t.Fatal("unmarshalKeyFile succeeded where parseKeyFile failed")
			}
			return
		}
		if err != nil {
			if !errors.Is(err, ErrWrongKey) && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unmarshalKeyFile error %v is neither ErrWrongKey nor ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(got.Public(), kf.pub) || got.KeyID() != kf.keyID {
			t.Fatalf("decrypted key %v does not match the file's public key", got)
		}
	})
}
