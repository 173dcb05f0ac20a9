package records

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/medledger/medledger/internal/crypt"
)

var _ crypt.KeyStore = (*KeyStore)(nil)
var _ Sealer = (*crypt.Keyring)(nil)

// newStore returns a Store on disk with a real keyring.
func newStore(t testing.TB) *Store {
	t.Helper()
	st, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	kr, err := crypt.New(masterKey, st.Keys(), crypt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.SetSealer(kr)
	return st
}

// pt is a well-formed pseudonym subject.
const pt = "pt_0123456789abcdef0123"

func meta(typ, id string, v uint64, subject string, deleted bool) Meta {
	return Meta{Type: typ, ID: id, Version: v, Subject: subject, Deleted: deleted,
		LastUpdated: t0.Add(time.Duration(v) * time.Millisecond)}
}

func sameMeta(a, b Meta) bool {
	return a.Type == b.Type && a.ID == b.ID && a.Version == b.Version && a.Deleted == b.Deleted &&
		a.Subject == b.Subject && a.LastUpdated.Equal(b.LastUpdated)
}

func TestStorePutGet(t *testing.T) {
	st := newStore(t)
	tests := []struct {
		name string
		v    Version
	}{
		{"patient", Version{meta("Patient", "p1", 1, pt, false), []byte(`{"resourceType":"Patient","id":"p1"}`)}},
		{"second version", Version{meta("Patient", "p1", 2, pt, false), []byte(`{"resourceType":"Patient","id":"p1","active":true}`)}},
		{"deletion", Version{meta("Patient", "p1", 3, pt, true), nil}},
		{"org compartment", Version{meta("Practitioner", "dr.1", 1, "org:st-mary", false), []byte(`{"resourceType":"Practitioner"}`)}},
		{"empty JSON", Version{meta("Basic", "b", 1, pt, false), []byte{}}},
		{"version above 255", Version{meta("Basic", "b", 256, pt, false), []byte(`{}`)}},
		{"largest version", Version{meta("Basic", "b", 1<<64-1, pt, false), []byte(`{}`)}},
		{"unicode JSON", Version{meta("Basic", "u", 1, pt, false), []byte(`{"text":"Zoë ✓ \u0000"}`)}},
	}
	var vs []Version
	for _, tt := range tests {
		vs = append(vs, tt.v)
	}
	if err := st.Put(vs); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.v.Meta
			got, js, err := st.Get(m.Type, m.ID, m.Version)
			if err != nil {
				t.Fatalf("Get(%s, %s, %d): %v", m.Type, m.ID, m.Version, err)
			}
			if !sameMeta(got, m) {
				t.Errorf("Get(%s, %s, %d) meta = %+v; want %+v", m.Type, m.ID, m.Version, got, m)
			}
			want := tt.v.JSON
			if m.Deleted {
				want = nil
			}
			if !bytes.Equal(js, want) || (m.Deleted && js != nil) {
				t.Errorf("Get(%s, %s, %d) JSON = %q; want %q", m.Type, m.ID, m.Version, js, want)
			}
		})
	}
	for _, k := range []struct {
		typ, id string
		v       uint64
	}{{"Patient", "p1", 4}, {"Patient", "p1", 0}, {"Patient", "p", 1}, {"Patien", "p1", 1}, {"Observation", "p1", 1}} {
		if _, _, err := st.Get(k.typ, k.id, k.v); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%s, %s, %d): err = %v; want ErrNotFound", k.typ, k.id, k.v, err)
		}
	}
}

// TestPutAtomic checks that a batch with one version Put cannot store
// faithfully writes nothing.
func TestPutAtomic(t *testing.T) {
	st := newStore(t)
	tests := []struct {
		name string
		bad  Version
	}{
		{"no subject: the keyring refuses", Version{meta("Patient", "p2", 1, "", false), []byte(`{}`)}},
		{"NUL in id", Version{meta("Patient", "p2\x00x", 1, pt, false), []byte(`{}`)}},
		{"NUL in type", Version{meta("Pat\x00ient", "p2", 1, pt, true), nil}},
		{"id not UTF-8", Version{meta("Patient", "p\x88", 1, pt, false), []byte(`{}`)}},
		{"type not UTF-8", Version{meta("\xffPatient", "p2", 1, pt, true), nil}},
	}
	for _, tt := range tests {
		good := Version{meta("Patient", "p1", 1, pt, false), []byte(`{}`)}
		if err := st.Put([]Version{good, tt.bad}); err == nil {
			t.Errorf("Put(%s) succeeded", tt.name)
		}
		if _, _, err := st.Get("Patient", "p1", 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("after a failed Put(%s), Get(p1) err = %v; want ErrNotFound", tt.name, err)
		}
	}
}

func TestVersionsOrder(t *testing.T) {
	st := newStore(t)
	// Versions that cross byte boundaries of the big-endian key, written
	// in random order, among neighbours whose ids and types are prefixes
	// of one another.
	want := []uint64{1, 2, 9, 10, 255, 256, 257, 65535, 65536, 1 << 40}
	shuffled := slices.Clone(want)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var vs []Version
	for _, v := range shuffled {
		vs = append(vs, Version{meta("Patient", "p1", v, pt, v == 10), []byte(`{}`)})
	}
	for _, n := range []struct{ typ, id string }{{"Patient", "p"}, {"Patient", "p10"}, {"Patient", "p1.1"}, {"Patients", "p1"}, {"Patien", "tp1"}, {"Observation", "p1"}} {
		vs = append(vs, Version{meta(n.typ, n.id, 3, pt, false), []byte(`{}`)})
	}
	if err := st.Put(vs); err != nil {
		t.Fatal(err)
	}
	ms, err := st.Versions("Patient", "p1")
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, m := range ms {
		if m.Type != "Patient" || m.ID != "p1" {
			t.Errorf("Versions(Patient, p1) holds %s/%s", m.Type, m.ID)
		}
		got = append(got, m.Version)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Versions(Patient, p1) = %v; want %v (oldest first)", got, want)
	}
	if ms, err := st.Versions("Patient", "nobody"); err != nil || len(ms) != 0 {
		t.Errorf("Versions of a missing resource = %v, %v; want none", ms, err)
	}

	tv, err := st.TypeVersions("Patient")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range tv {
		if m.Type != "Patient" {
			t.Errorf("TypeVersions(Patient) holds a %s", m.Type)
		}
		ids = append(ids, fmt.Sprintf("%s/%d", m.ID, m.Version))
	}
	wantIDs := []string{"p/3"}
	for _, v := range want {
		wantIDs = append(wantIDs, fmt.Sprintf("p1/%d", v))
	}
	wantIDs = append(wantIDs, "p1.1/3", "p10/3")
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("TypeVersions(Patient) = %v; want %v (key order)", ids, wantIDs)
	}
}

func TestEachAndRemove(t *testing.T) {
	st := newStore(t)
	vs := []Version{
		{meta("Patient", "p1", 1, pt, false), []byte(`{"a":1}`)},
		{meta("Patient", "p1", 2, pt, true), nil},
		{meta("Observation", "o1", 1, "pt_shredded0000000000", false), []byte(`{"b":2}`)},
	}
	if err := st.Put(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.sealer.(*crypt.Keyring).Shred("pt_shredded0000000000"); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		m    Meta
		js   string
		oerr error
	}
	var got []seen
	if err := st.Each(func(m Meta, js []byte, oerr error) error {
		got = append(got, seen{m, string(js), oerr})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("Each visited %d versions; want 3", len(got))
	}
	// Key order: Observation before Patient, versions ascending.
	if got[0].m.Type != "Observation" || !errors.Is(got[0].oerr, crypt.ErrShredded) || got[0].js != "" {
		t.Errorf("Each[0] = %+v; want the shredded Observation with ErrShredded", got[0])
	}
	if got[1].m.Version != 1 || got[1].js != `{"a":1}` || got[1].oerr != nil {
		t.Errorf("Each[1] = %+v; want Patient/p1 v1 in clear", got[1])
	}
	if !got[2].m.Deleted || got[2].js != "" || got[2].oerr != nil {
		t.Errorf("Each[2] = %+v; want the deletion of Patient/p1 with no JSON and no error", got[2])
	}
	stop := errors.New("stop")
	n := 0
	if err := st.Each(func(Meta, []byte, error) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("Each with a failing fn = %v after %d calls; want stop after 1", err, n)
	}

	if err := st.Remove([]Meta{vs[1].Meta, meta("Patient", "nobody", 1, "", false)}); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	ms, _ := st.Versions("Patient", "p1")
	if len(ms) != 1 || ms[0].Version != 1 {
		t.Errorf("after Remove(v2), Versions = %+v; want v1 only", ms)
	}
}

// decodeTests are stored values and whether they decode; the fuzz test
// starts from them.
var decodeTests = []struct {
	name string
	val  []byte
	ok   bool
}{
	{"empty", nil, false},
	{"unterminated uvarint", []byte{0x80}, false},
	{"overlong uvarint", bytes.Repeat([]byte{0xff}, 11), false},
	{"length beyond value", append([]byte{10}, `{"t":""}`...), false},
	{"huge length", append(binary.AppendUvarint(nil, 1<<63), `{}`...), false},
	{"zero length header", []byte{0}, false},
	{"header not JSON", append([]byte{3}, "abc"...), false},
	{"header not an object", append([]byte{2}, "[]"...), false},
	{"header wrong field type", append([]byte{9}, `{"v":"1"}`...), false},
	{"empty header", append([]byte{2}, "{}"...), true},
	{"header only", encodeForTest(meta("Patient", "p1", 7, pt, true), nil), true},
	{"header and ciphertext", encodeForTest(meta("Patient", "p1", 7, pt, false), []byte{1, 2, 3, 0, 0xff}), true},
	{"ciphertext that looks like a header", encodeForTest(meta("Patient", "p1", 7, pt, false), []byte(`{"t":"X"}`)), true},
}

// encodeForTest builds a stored value as Put does.
func encodeForTest(m Meta, ct []byte) []byte {
	hdr, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	val := binary.AppendUvarint(nil, uint64(len(hdr)))
	return append(append(val, hdr...), ct...)
}

func TestDecodeValue(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			m, ct, err := decodeValue(tt.val)
			if (err == nil) != tt.ok {
				t.Fatalf("decodeValue(%q) err = %v; want ok %v", tt.val, err, tt.ok)
			}
			if err != nil {
				return
			}
			if !bytes.HasSuffix(tt.val, ct) {
				t.Errorf("decodeValue(%q) ciphertext %q is not the value's tail", tt.val, ct)
			}
			if m.Version != 0 && m.Version != 7 {
				t.Errorf("decodeValue(%q) version = %d", tt.val, m.Version)
			}
		})
	}
}

// TestStoredValueFormat pins the stored format: the header is clear JSON
// with the documented short names, the body is the sealer's ciphertext.
func TestStoredValueFormat(t *testing.T) {
	st := newStore(t)
	m := meta("Patient", "p1", 1, pt, false)
	js := []byte(`{"resourceType":"Patient","name":[{"family":"` + phiName + `"}]}`)
	if err := st.Put([]Version{{m, js}}); err != nil {
		t.Fatal(err)
	}
	val, c, err := st.DB().Get(versionKey("Patient", "p1", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, l := binary.Uvarint(val)
	hdr := string(val[l : l+int(n)])
	want := `{"t":"Patient","i":"p1","v":1,"u":"2026-03-04T05:06:07.001Z","s":"` + pt + `"}`
	if hdr != want {
		t.Errorf("stored header = %s; want %s", hdr, want)
	}
	ct := val[l+int(n):]
	if bytes.Contains(ct, []byte(phiName)) || len(ct) != len(js)+33 {
		t.Errorf("stored body (%d bytes for %d of JSON) is not a tink AEAD ciphertext", len(ct), len(js))
	}
	wantKey := append([]byte("vPatient\x00p1\x00"), 0, 0, 0, 0, 0, 0, 0, 1)
	if k := versionKey("Patient", "p1", 1); !bytes.Equal(k, wantKey) {
		t.Errorf("versionKey = %q; want %q", k, wantKey)
	}
}

// TestCiphertextBoundToPlace checks that a ciphertext moved to another
// version's key does not open: the AAD names the version.
func TestCiphertextBoundToPlace(t *testing.T) {
	st := newStore(t)
	v1 := Version{meta("Patient", "p1", 1, pt, false), []byte(`{"v":1}`)}
	v2 := Version{meta("Patient", "p1", 2, pt, false), []byte(`{"v":2}`)}
	if err := st.Put([]Version{v1, v2}); err != nil {
		t.Fatal(err)
	}
	raw1, c, err := st.DB().Get(versionKey("Patient", "p1", 1))
	if err != nil {
		t.Fatal(err)
	}
	_, ct1, _ := decodeValue(raw1)
	forged := encodeForTest(v2.Meta, bytes.Clone(ct1))
	c.Close()
	if err := st.DB().Set(versionKey("Patient", "p1", 2), forged, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	_, js, err := st.Get("Patient", "p1", 2)
	if !errors.Is(err, crypt.ErrDecrypt) || js != nil {
		t.Errorf("Get of version 2 holding version 1's ciphertext = %q, %v; want ErrDecrypt", js, err)
	}
	// The same ciphertext claimed for another subject does not open either.
	m := v1.Meta
	m.Subject = "pt_someoneelse0000000000"
	if err := st.DB().Set(versionKey("Patient", "p1", 1), encodeForTest(m, ct1), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Get("Patient", "p1", 1); err == nil {
		t.Error("Get of a ciphertext relabelled with another subject succeeded")
	}
}

func TestKeyStore(t *testing.T) {
	st, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ks := st.Keys()
	if v, ok, err := ks.GetKey("dek/pt_x"); v != nil || ok || err != nil {
		t.Errorf("GetKey of a missing key = %v, %v, %v; want nil, false, nil", v, ok, err)
	}
	in := []byte{1, 2, 3}
	if err := ks.PutKey("dek/pt_x", in); err != nil {
		t.Fatal(err)
	}
	in[0] = 9 // PutKey must not retain its argument
	v, ok, err := ks.GetKey("dek/pt_x")
	if err != nil || !ok || !bytes.Equal(v, []byte{1, 2, 3}) {
		t.Fatalf("GetKey = %v, %v, %v; want [1 2 3]", v, ok, err)
	}
	v[1] = 9 // the caller may keep and change the returned slice
	if v2, _, _ := ks.GetKey("dek/pt_x"); !bytes.Equal(v2, []byte{1, 2, 3}) {
		t.Errorf("changing GetKey's result changed the store: %v", v2)
	}
	if err := ks.PutKey("dek/pt_x", []byte{2}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := ks.GetKey("dek/pt_x"); !bytes.Equal(v, []byte{2}) {
		t.Errorf("GetKey after a second PutKey = %v; want [2]", v)
	}
	// Keys live apart from versions: Each and TypeVersions never see them.
	if err := ks.PutKey("vPatient", []byte("x")); err != nil {
		t.Fatal(err)
	}
	n := 0
	st.SetSealer(nil)
	if err := st.Each(func(Meta, []byte, error) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("Each over a store holding only keys visited %d, %v; want 0", n, err)
	}
}
