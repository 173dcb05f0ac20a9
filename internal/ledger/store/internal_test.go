package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medledger/medledger/internal/ledger"
)

func TestPrefixEnd(t *testing.T) {
	tests := []struct{ in, want []byte }{
		{nil, nil},
		{[]byte{}, nil},
		{[]byte("a"), []byte("b")},
		{[]byte("ab"), []byte("ac")},
		{[]byte("a\xff"), []byte("b")},
		{[]byte("a\xff\xff"), []byte("b")},
		{[]byte("\xff"), nil},
		{[]byte("\xff\xff"), nil},
		{[]byte("s\x00\xff"), []byte("s\x01")},
	}
	for _, tc := range tests {
		in := bytes.Clone(tc.in)
		if got := prefixEnd(in); !bytes.Equal(got, tc.want) {
			t.Errorf("prefixEnd(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if !bytes.Equal(in, tc.in) {
			t.Errorf("prefixEnd(%q) modified its argument to %q", tc.in, in)
		}
	}
}

// corrupt opens a fresh store, lets mod write raw bytes into it, and
// returns the reopened store's error (nil if it opened; it is closed).
func corrupt(t *testing.T, mod func(db *pebble.DB)) (*Store, error) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.InitGenesis(nil, []ledger.Change{{Key: []byte("k"), Value: []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	mod(s.db)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(Options{Dir: dir})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestCorruption(t *testing.T) {
	set := func(k, v []byte) func(*pebble.DB) {
		return func(db *pebble.DB) {
			if err := db.Set(k, v, pebble.Sync); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("format", func(t *testing.T) {
		if _, err := corrupt(t, set(metaFormat, []byte("medledger-store-0"))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with another format version: error = %v; want ErrCorrupt", err)
		}
	})
	t.Run("latest header", func(t *testing.T) {
		if _, err := corrupt(t, set(HeaderKey(1), []byte("junk"))); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Open with a junk header: error = %v; want ErrCorrupt", err)
		}
	})
	t.Run("state value", func(t *testing.T) {
		s, err := corrupt(t, set(StateKey([]byte("k"), 0), []byte{7}))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.GetAt([]byte("k"), 0); !errors.Is(err, ErrCorrupt) {
			t.Errorf("GetAt of a bad tag: error = %v; want ErrCorrupt", err)
		}
		if err := s.Scan(nil, 0, func(k, v []byte) bool { return true }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Scan over a bad tag: error = %v; want ErrCorrupt", err)
		}
	})
	t.Run("state key", func(t *testing.T) {
		s, err := corrupt(t, set([]byte("sk\x00\x07junkjunk"), []byte{tagPut}))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Scan(nil, ^uint64(0), func(k, v []byte) bool { return true }); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Scan over a malformed state key: error = %v; want ErrCorrupt", err)
		}
	})
	t.Run("index entry", func(t *testing.T) {
		id := ledger.Hash{1}
		s, err := corrupt(t, set(IndexKey(id), []byte{1, 2, 3}))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Locate(id); !errors.Is(err, ErrCorrupt) {
			t.Errorf("Locate of a short entry: error = %v; want ErrCorrupt", err)
		}
		if ok, err := s.Has(id); ok || !errors.Is(err, ErrCorrupt) {
			t.Errorf("Has of a short entry = %v, %v; want false, ErrCorrupt", ok, err)
		}
	})
}
