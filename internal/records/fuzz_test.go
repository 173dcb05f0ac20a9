package records

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/medledger/medledger/internal/crypt"
)

// FuzzDecodeValue feeds decodeValue arbitrary stored values: it must never
// panic, and what it accepts splits the value into a header it can
// re-encode and a ciphertext that is the value's tail.
func FuzzDecodeValue(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add(tt.val)
	}
	f.Fuzz(func(t *testing.T, val []byte) {
		m, ct, err := decodeValue(val)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "records: corrupt version header") {
				t.Fatalf("decodeValue(%q) err = %v; want a corrupt-header error", val, err)
			}
			return
		}
		if !bytes.HasSuffix(val, ct) || len(ct) >= len(val) {
			t.Fatalf("decodeValue(%q) ciphertext %q is not a proper tail of the value", val, ct)
		}
		re := encodeForTest(m, ct)
		m2, ct2, err := decodeValue(re)
		if err != nil || !sameMeta(m, m2) || !bytes.Equal(ct, ct2) {
			t.Fatalf("decodeValue(encode(decodeValue(%q))) = %+v, %q, %v; want %+v, %q", val, m2, ct2, err, m, ct)
		}
	})
}

// FuzzVersionRoundTrip writes arbitrary versions through Put and reads
// them back through Get, Versions and TypeVersions.
func FuzzVersionRoundTrip(f *testing.F) {
	st := newStore(f)
	f.Add("Patient", "p1", uint64(1), pt, false, int64(0), []byte(`{"resourceType":"Patient"}`))
	f.Add("Observation", "a-b.c", uint64(1<<64-1), "org:st-mary", true, int64(-1), []byte(nil))
	f.Add("Patient", "p", uint64(256), pt, false, int64(1<<40), []byte("\x00\xff"))
	f.Add("P", "1", uint64(0), "pt_x", false, int64(7), []byte("{}"))
	f.Add("0", "\x88", uint64(1), "0", false, int64(0), []byte("0")) // found by fuzzing
	f.Add("Patient", "a\x00b", uint64(1), pt, false, int64(0), []byte("{}"))
	f.Add("Patient", "p1", uint64(1), "pt_\xff", false, int64(0), []byte("{}"))
	f.Add("Patient", "p1", uint64(1), "", true, int64(1<<62), []byte(nil))
	f.Fuzz(func(t *testing.T, typ, id string, v uint64, subject string, deleted bool, ms int64, js []byte) {
		m := Meta{Type: typ, ID: id, Version: v, Subject: subject, Deleted: deleted, LastUpdated: time.UnixMilli(ms).UTC()}
		err := st.Put([]Version{{Meta: m, JSON: js}})
		// Put must take every version it can store faithfully: a type and
		// id of UTF-8 without NUL bytes, a subject the keyring accepts
		// (printable ASCII) unless nothing is sealed, a time JSON can hold.
		named := utf8.ValidString(typ+id) && !strings.ContainsRune(typ+id, 0)
		sealable := deleted || len(subject) > 0 && len(subject) <= crypt.MaxSubjectLen && !strings.ContainsFunc(subject, func(r rune) bool { return r <= ' ' || r > '~' })
		if y := m.LastUpdated.Year(); err != nil {
			if named && sealable && 0 <= y && y <= 9999 {
				t.Fatalf("Put(%+v): %v", m, err)
			}
			return
		}
		if !named {
			t.Fatalf("Put(%q, %q) accepted a type or id it cannot store faithfully", typ, id)
		}
		got, gjs, err := st.Get(typ, id, v)
		if err != nil {
			t.Fatalf("Get(%q, %q, %d): %v", typ, id, v, err)
		}
		// JSON encodes invalid UTF-8 as U+FFFD: a deletion keeps no more
		// of its (unused) subject.
		want := m
		want.Subject = strings.ToValidUTF8(want.Subject, "\uFFFD")
		if !sameMeta(got, want) {
			t.Errorf("Get(%q, %q, %d) meta = %+v; want %+v", typ, id, v, got, want)
		}
		if deleted && gjs != nil || !deleted && !bytes.Equal(gjs, js) {
			t.Errorf("Get(%q, %q, %d) JSON = %q; want %q", typ, id, v, gjs, js)
		}
		found := func(ms []Meta) bool {
			for _, x := range ms {
				if x.Version == v && x.ID == want.ID && x.Type == want.Type {
					return true
				}
			}
			return false
		}
		if ms, err := st.Versions(typ, id); err != nil || !found(ms) {
			t.Errorf("Versions(%q, %q) = %+v, %v; want it to hold version %d", typ, id, ms, err, v)
		}
		if ms, err := st.TypeVersions(typ); err != nil || !found(ms) {
			t.Errorf("TypeVersions(%q) does not hold %q version %d (err %v)", typ, id, v, err)
		}
	})
}

// FuzzVersionKey checks the key layout for ids and types without 0x00:
// keys sort as (type, id, version) tuples, and a resource's prefix holds
// exactly its own versions.
func FuzzVersionKey(f *testing.F) {
	f.Add("Patient", "p1", uint64(1), "Patient", "p1", uint64(2))
	f.Add("Patient", "p1", uint64(1), "Patient", "p10", uint64(1))
	f.Add("Patient", "p1", uint64(256), "Patients", "p1", uint64(1))
	f.Add("Patien", "tp1", uint64(1), "Patient", "p1", uint64(1))
	f.Add("A", "", uint64(0), "A", "\x01", uint64(0))
	f.Fuzz(func(t *testing.T, t1, i1 string, v1 uint64, t2, i2 string, v2 uint64) {
		for _, s := range []string{t1, i1, t2, i2} {
			if strings.ContainsRune(s, 0) {
				t.Skip()
			}
		}
		k1, k2 := versionKey(t1, i1, v1), versionKey(t2, i2, v2)
		want := cmp.Or(strings.Compare(t1, t2), strings.Compare(i1, i2), cmp.Compare(v1, v2))
		if got := bytes.Compare(k1, k2); got != want {
			t.Errorf("Compare(versionKey(%q, %q, %d), versionKey(%q, %q, %d)) = %d; want %d", t1, i1, v1, t2, i2, v2, got, want)
		}
		same := t1 == t2 && i1 == i2
		if got := bytes.HasPrefix(k2, resourcePrefix(t1, i1)); got != same {
			t.Errorf("versionKey(%q, %q, %d) under resourcePrefix(%q, %q) = %v; want %v", t2, i2, v2, t1, i1, got, same)
		}
		if got := binary.BigEndian.Uint64(k1[len(k1)-8:]); got != v1 {
			t.Errorf("versionKey(%q, %q, %d) ends in version %d", t1, i1, v1, got)
		}
	})
}

// FuzzHead gives the service arbitrary bytes as a resource's head on the
// ledger: reads must never panic, and must not serve a version the
// decoded head does not cover.
func FuzzHead(f *testing.F) {
	e := newEnv(f)
	e.apply(create(patient("p1", "Alpha")))
	e.apply(update(patient("p1", "Beta")))
	good, _, err := e.ledger.Get([]byte("records/h/Patient/p1"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":2,"deleted":true}`))
	f.Add([]byte(`{"version":9}`))
	f.Add([]byte(`{"version":-1}`))
	f.Add([]byte(`{"version":"2"}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		e.ledger.setHead("Patient", "p1", raw)
		var h struct {
			Version uint64 `json:"version"`
		}
		decodes := json.Unmarshal(raw, &h) == nil
		m, _, _, err := e.svc.Read("Patient", "p1")
		if err == nil && (!decodes || m.Version != h.Version) {
			t.Errorf("Read with head %q served version %d", raw, m.Version)
		}
		for v := uint64(1); v <= 3; v++ {
			if _, _, _, err := e.svc.VRead("Patient", "p1", v); err == nil && (!decodes || v > h.Version) {
				t.Errorf("VRead(v%d) with head %q succeeded", v, raw)
			}
		}
		if ms, err := e.svc.History("Patient", "p1"); err == nil {
			for _, m := range ms {
				if m.Version > h.Version {
					t.Errorf("History with head %q lists v%d", raw, m.Version)
				}
			}
		}
		if ms, _, err := e.svc.TypeHistory("Patient", time.Time{}, 0); err == nil {
			for _, m := range ms {
				if m.Version > h.Version {
					t.Errorf("TypeHistory with head %q lists v%d", raw, m.Version)
				}
			}
		}
	})
}
