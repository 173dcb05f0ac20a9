package identity

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
)

// MasterKeyEnv is the environment variable that, when set, supplies the
// node master key instead of the master key file. The package never reads
// it; callers pass its value to LoadMasterKey.
const MasterKeyEnv = "MEDLEDGER_MASTER_KEY"

const maxMasterKeyFileSize = 1 << 10

// CreateMasterKey writes a new random 32-byte master key to path as
// standard base64 and a newline, with mode 0600. It refuses to replace an
// existing file (the error then wraps fs.ErrExist) and fsyncs the file and
// its directory.
func CreateMasterKey(path string) error {
	var key [32]byte
	rand.Read(key[:])
	text := base64.StdEncoding.EncodeToString(key[:]) + "\n"
	clear(key[:])
	if err := WriteNewFile(path, []byte(text), 0o600); err != nil {
		return fmt.Errorf("create master key: %w", err)
	}
	return nil
}

// LoadMasterKey returns the node master key. If env (the value of
// MasterKeyEnv, which the caller reads) is not empty, it is parsed as 32
// bytes in standard base64 or 64 hex digits and path is not read.
// Otherwise the key is read from the file at path, in the same syntax;
// the file must not be accessible by group or others.
//
// A missing file gives an error wrapping fs.ErrNotExist. A file or value
// that is not a key gives one wrapping ErrCorrupt. No error contains the
// key or the value of env.
func LoadMasterKey(path string, env string) ([32]byte, error) {
	if env != "" {
		key, err := parseMasterKey(env)
		if err != nil {
			return [32]byte{}, fmt.Errorf("%s is set but is not a master key (%v); fix it, or unset it to read the master key from %s", MasterKeyEnv, err, path)
		}
		return key, nil
	}
	b, err := ReadPrivateFile(path, maxMasterKeyFileSize)
	if errors.Is(err, fs.ErrNotExist) {
		return [32]byte{}, fmt.Errorf("no master key: %s does not exist and %s is not set; create the master key file (or restore it from backup), or set %s: %w", path, MasterKeyEnv, MasterKeyEnv, err)
	}
	if errors.Is(err, ErrTooLarge) {
		return [32]byte{}, fmt.Errorf("read master key %s: %w: larger than %d bytes", path, ErrCorrupt, maxMasterKeyFileSize)
	}
	if err != nil {
		return [32]byte{}, fmt.Errorf("read master key: %w", err)
	}
	defer clear(b)
	key, err := parseMasterKey(string(b))
	if err != nil {
		return [32]byte{}, fmt.Errorf("read master key %s: %w: %v", path, ErrCorrupt, err)
	}
	return key, nil
}

// parseMasterKey parses the text form of a master key: 32 bytes as
// standard base64 (padded) or as 64 hex digits, with surrounding white
// space ignored. Its errors never repeat s.
func parseMasterKey(s string) ([32]byte, error) {
	var key [32]byte
	s = strings.TrimSpace(s)
	if len(s) == 2*len(key) {
		if _, err := hex.Decode(key[:], []byte(s)); err == nil {
			return key, nil
		}
	}
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || len(b) != len(key) || strings.ContainsAny(s, "\r\n") {
		clear(b)
		return [32]byte{}, errors.New("want 32 bytes as 44 characters of standard base64 or as 64 hex digits")
	}
	copy(key[:], b)
	clear(b)
	return key, nil
}
