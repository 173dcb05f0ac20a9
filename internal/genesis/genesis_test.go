package genesis

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medledger/medledger/internal/identity"
	"github.com/medledger/medledger/internal/ledger"
)

// testKey returns a deterministic public key in text form.
func testKey(i byte) string {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{i}, ed25519.SeedSize))
	return identity.EncodePublicKey(priv.Public().(ed25519.PublicKey))
}

// validDoc returns a fresh valid document with two organisations.
func validDoc() *Doc {
	return &Doc{
		ChainID:     "medledger-test-1",
		GenesisTime: time.Date(2026, 1, 2, 3, 4, 5, 600_000_000, time.UTC),
		Orgs: []Org{
			{ID: "st-mary", Name: "St Mary's <General> & Teaching", Kind: "hospital"},
			{ID: "acme-health", Name: "Acme Health", Kind: "payer"},
		},
		Members: []Member{
			{ID: "st-mary/admin", Org: "st-mary", Roles: []string{"admin"}, PublicKey: testKey(1)},
			{ID: "st-mary/dr-who", Org: "st-mary", Roles: []string{"practitioner", "auditor"}, PublicKey: testKey(2)},
			{ID: "acme-health/admin", Org: "acme-health", Roles: []string{"payer", "admin"}, PublicKey: testKey(3)},
		},
		Validators: []Validator{
			{Name: "node0", Org: "st-mary", PublicKey: testKey(10), Power: 10},
		},
	}
}

// wantCanonical pins the canonical encoding of validDoc: nodes that
// disagree on it disagree on the network's identity.
const wantCanonical = `{"chain_id":"medledger-test-1","genesis_time":"2026-01-02T03:04:05.6Z",` +
	`"orgs":[{"id":"st-mary","name":"St Mary's <General> & Teaching","kind":"hospital"},{"id":"acme-health","name":"Acme Health","kind":"payer"}],` +
	`"members":[{"id":"st-mary/admin","org":"st-mary","roles":["admin"],"public_key":"iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w="},` +
	`{"id":"st-mary/dr-who","org":"st-mary","roles":["auditor","practitioner"],"public_key":"gTl3Dqh9F19Wo1Rmw0x+zMuNipG07jeiXfYPW4/Js5Q="},` +
	`{"id":"acme-health/admin","org":"acme-health","roles":["admin","payer"],"public_key":"7UkoxijRwsbq6QM4kFmVYSlZJzpcY/k2NsFGFKyHN9E="}],` +
	`"validators":[{"name":"node0","org":"st-mary","public_key":"Q6cucUQBdi32a2jCbfvfJoKq7J8kdOykYT5CSg+6/Tw=","power":10}]}`

// wantHash pins validDoc's genesis hash.
const wantHash = "723fd4bdfd576de3061bb6226013d307d8e7850dd152b9da762acee9bd5e8ab0"

func TestCanonical(t *testing.T) {
	d := validDoc()
	if err := d.Validate(); err != nil {
		t.Fatalf("validDoc().Validate() = %v", err)
	}
	if got := string(d.Canonical()); got != wantCanonical {
		t.Errorf("Canonical() =\n%s\nwant\n%s", got, wantCanonical)
	}
	if got, want := d.Hash(), ledger.GenesisHash([]byte(wantCanonical)); got != want || got.String() != wantHash {
		t.Errorf("Hash() = %s; want %s = %s", got, want, wantHash)
	}

	// Equivalent documents share a canonical form...
	e := validDoc()
	e.GenesisTime = d.GenesisTime.In(time.FixedZone("CEST", 2*60*60))
	e.Members[1].Roles = []string{"auditor", "practitioner"}
	if got := string(e.Canonical()); got != wantCanonical {
		t.Errorf("Canonical() of an equivalent document =\n%s\nwant\n%s", got, wantCanonical)
	}
	if e.Hash() != d.Hash() {
		t.Error("equivalent documents hash differently")
	}
	// ...without Canonical modifying them.
	if e.Members[1].Roles[0] != "auditor" || e.GenesisTime.Location().String() != "CEST" {
		t.Error("Canonical modified its receiver")
	}
	if d.Members[1].Roles[0] != "practitioner" {
		t.Error("Canonical sorted the receiver's roles in place")
	}

	// Any change of content changes the hash.
	for _, mutate := range []func(*Doc){
		func(d *Doc) { d.ChainID = "medledger-test-2" },
		func(d *Doc) { d.GenesisTime = d.GenesisTime.Add(time.Nanosecond) },
		func(d *Doc) { d.Orgs[0].Name += "." },
		func(d *Doc) { d.Members[0], d.Members[1] = d.Members[1], d.Members[0] },
		func(d *Doc) { d.Validators[0].Power++ },
	} {
		e := validDoc()
		mutate(e)
		if e.Hash() == d.Hash() {
			t.Errorf("changed document %s has the same hash", e.Canonical())
		}
	}

	var empty Doc
	if got := string(empty.Canonical()); !strings.Contains(got, `"orgs":[],"members":[],"validators":[]`) {
		t.Errorf("Canonical() of the zero Doc = %s; want empty lists as []", got)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	d := validDoc()
	path := filepath.Join(t.TempDir(), "genesis.json")
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o644 {
		t.Errorf("genesis file mode = %04o; want 0644", perm)
	}
	b, _ := os.ReadFile(path)
	if !bytes.HasSuffix(b, []byte("}\n")) || !bytes.Contains(b, []byte("\n  \"chain_id\": ")) {
		t.Errorf("saved file is not indented JSON ending in a newline:\n%s", b)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Canonical()) != wantCanonical || got.Hash() != d.Hash() {
		t.Errorf("Load(Save(d)).Canonical() =\n%s\nwant\n%s", got.Canonical(), wantCanonical)
	}
	if !got.GenesisTime.Equal(d.GenesisTime) {
		t.Errorf("GenesisTime = %v; want %v", got.GenesisTime, d.GenesisTime)
	}

	// Save replaces an existing file and leaves no temporary behind.
	d.Orgs[1].Name = "Acme Health Ltd"
	if err := d.Save(path); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(path); err != nil || got.Orgs[1].Name != "Acme Health Ltd" {
		t.Errorf("Load after second Save = %v, %v", got, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after Save; want 1", len(entries))
	}

	// Save refuses an invalid document and keeps the old file.
	d.ChainID = "Not Valid"
	if err := d.Save(path); err == nil || !strings.Contains(err.Error(), "chain_id") {
		t.Errorf("Save of an invalid document = %v; want a chain_id error", err)
	}
	if after, _ := os.ReadFile(path); bytes.Contains(after, []byte("Not Valid")) {
		t.Error("Save wrote an invalid document")
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.json")
	if _, err := Load(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v; want fs.ErrNotExist", err)
	}
	big := filepath.Join(dir, "big.json")
	os.WriteFile(big, append(validDoc().Canonical(), bytes.Repeat([]byte(" "), MaxSize)...), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") || !strings.Contains(err.Error(), big) {
		t.Errorf("Load(big) = %v; want a size error naming the file", err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"chain_id": "x"}`), 0o644)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "validators") {
		t.Errorf("Load(bad) = %v; want validation errors naming the file", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(d *Doc)
		want   []string // substrings of the error, usually locations
	}{
		{"valid", func(*Doc) {}, nil},
		{"chain id missing", func(d *Doc) { d.ChainID = "" }, []string{"chain_id: missing"}},
		{"chain id upper case", func(d *Doc) { d.ChainID = "Medledger" }, []string{"chain_id: \"Medledger\""}},
		{"chain id leading dash", func(d *Doc) { d.ChainID = "-x" }, []string{"chain_id:"}},
		{"chain id too long", func(d *Doc) { d.ChainID = strings.Repeat("a", 64) }, []string{"chain_id:"}},
		{"genesis time missing", func(d *Doc) { d.GenesisTime = time.Time{} }, []string{"genesis_time: missing"}},
		{"genesis time before 1970", func(d *Doc) { d.GenesisTime = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, []string{"genesis_time: 1969"}},
		{"genesis time after 2262", func(d *Doc) { d.GenesisTime = time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC) }, []string{"genesis_time: 2263"}},
		{"no orgs", func(d *Doc) { d.Orgs = nil }, []string{"orgs: at least one", "members[0].org: unknown organisation \"st-mary\"", "validators[0].org"}},
		{"org id missing", func(d *Doc) { d.Orgs[1].ID = "" }, []string{"orgs[1].id: missing"}},
		{"org id invalid", func(d *Doc) { d.Orgs[1].ID = "Acme_Health" }, []string{"orgs[1].id: \"Acme_Health\""}},
		{"org id duplicate", func(d *Doc) { d.Orgs[1].ID = "st-mary" }, []string{"orgs[1].id: \"st-mary\" is a duplicate of orgs[0].id", "members[2].org"}},
		{"org name missing", func(d *Doc) { d.Orgs[0].Name = " " }, []string{"orgs[0].name: missing"}},
		{"org name too long", func(d *Doc) { d.Orgs[0].Name = strings.Repeat("x", MaxNameLen+1) }, []string{"orgs[0].name: longer"}},
		{"org kind invalid", func(d *Doc) { d.Orgs[1].Kind = "insurer" }, []string{"orgs[1].kind: \"insurer\"", "payer"}},
		{"org without admin", func(d *Doc) { d.Members[2].Roles = []string{"payer"} }, []string{"orgs[1]: organisation \"acme-health\" has no member with role \"admin\""}},
		{"member id missing", func(d *Doc) { d.Members[1].ID = "" }, []string{"members[1].id: missing"}},
		{"member id invalid", func(d *Doc) { d.Members[1].ID = "dr who" }, []string{"members[1].id: \"dr who\""}},
		{"member id duplicate", func(d *Doc) { d.Members[1].ID = "st-mary/admin" }, []string{"members[1].id: \"st-mary/admin\" is a duplicate of members[0].id"}},
		{"member org missing", func(d *Doc) { d.Members[1].Org = "" }, []string{"members[1].org: missing"}},
		{"member org unknown", func(d *Doc) { d.Members[1].Org = "st-marys" }, []string{"members[1].org: unknown organisation \"st-marys\""}},
		{"member roles missing", func(d *Doc) { d.Members[1].Roles = nil }, []string{"members[1].roles: at least one role"}},
		{"member role invalid", func(d *Doc) { d.Members[1].Roles[1] = "Auditor" }, []string{"members[1].roles[1]: \"Auditor\" is not a role"}},
		{"member role duplicate", func(d *Doc) { d.Members[1].Roles = []string{"auditor", "practitioner", "auditor"} }, []string{"members[1].roles[2]: \"auditor\" is a duplicate of members[1].roles[0]"}},
		{"member key missing", func(d *Doc) { d.Members[2].PublicKey = "" }, []string{"members[2].public_key: missing"}},
		{"member key invalid", func(d *Doc) { d.Members[2].PublicKey = "abc" }, []string{"members[2].public_key: public key"}},
		{"member key wrong length", func(d *Doc) { d.Members[2].PublicKey = base64.StdEncoding.EncodeToString(make([]byte, 31)) }, []string{"members[2].public_key: public key is 31 bytes"}},
		{"member key duplicate", func(d *Doc) { d.Members[2].PublicKey = d.Members[0].PublicKey }, []string{"members[2].public_key: same key as members[0].public_key"}},
		{"no validators", func(d *Doc) { d.Validators = nil }, []string{"validators: at least one validator"}},
		{"validator name missing", func(d *Doc) { d.Validators[0].Name = "" }, []string{"validators[0].name: missing"}},
		{"validator name invalid", func(d *Doc) { d.Validators[0].Name = "Node 0" }, []string{"validators[0].name: \"Node 0\""}},
		{"validator name duplicate", func(d *Doc) {
			d.Validators = append(d.Validators, Validator{Name: "node0", Org: "acme-health", PublicKey: testKey(11), Power: 1})
		}, []string{"validators[1].name: \"node0\" is a duplicate of validators[0].name"}},
		{"validator org unknown", func(d *Doc) { d.Validators[0].Org = "nobody" }, []string{"validators[0].org: unknown organisation \"nobody\""}},
		{"validator key invalid", func(d *Doc) { d.Validators[0].PublicKey = testKey(10) + "\n" }, []string{"validators[0].public_key: public key"}},
		{"validator key duplicate", func(d *Doc) {
			d.Validators = append(d.Validators, Validator{Name: "node1", Org: "acme-health", PublicKey: testKey(10), Power: 1})
		}, []string{"validators[1].public_key: same key as validators[0].public_key"}},
		{"validator key may equal a member key", func(d *Doc) { d.Validators[0].PublicKey = d.Members[0].PublicKey }, nil},
		{"validator power zero", func(d *Doc) { d.Validators[0].Power = 0 }, []string{"validators[0].power: 0 is not positive"}},
		{"validator power negative", func(d *Doc) { d.Validators[0].Power = -5 }, []string{"validators[0].power: -5 is not positive"}},
		{"total power too large", func(d *Doc) {
			d.Validators[0].Power = MaxTotalPower
			d.Validators = append(d.Validators, Validator{Name: "node1", Org: "acme-health", PublicKey: testKey(11), Power: MaxTotalPower})
		}, []string{"validators: total power exceeds"}},
		{"every problem reported at once", func(d *Doc) {
			d.ChainID = ""
			d.GenesisTime = time.Time{}
			d.Orgs[1].Kind = ""
			d.Members[0].Roles = []string{"root"}
			d.Members[2].PublicKey = "x"
			d.Validators[0].Power = 0
		}, []string{"chain_id", "genesis_time", "orgs[1].kind", "members[0].roles[0]", "members[2].public_key", "validators[0].power", "orgs[0]: organisation \"st-mary\" has no member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDoc()
			tt.mutate(d)
			err := d.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil; want errors containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() =\n%v\nwant it to contain %q", err, w)
				}
			}
			// Parse reports the same problems for the same document
			// (encoded as is: Canonical would sort roles).
			b, jerr := json.Marshal(d)
			if jerr != nil {
				t.Fatal(jerr)
			}
			_, perr := Parse(b)
			if perr == nil || !strings.Contains(perr.Error(), err.Error()) {
				t.Errorf("Parse(Canonical()) = %v; want it to contain %v", perr, err)
			}
		})
	}
}

func TestValidatorByKeyID(t *testing.T) {
	d := validDoc()
	d.Validators = append(d.Validators,
		Validator{Name: "broken", Org: "st-mary", PublicKey: "not a key", Power: 1},
		Validator{Name: "node1", Org: "acme-health", PublicKey: testKey(11), Power: 3},
	)
	for _, want := range []Validator{d.Validators[0], d.Validators[2]} {
		pub, err := identity.ParsePublicKey(want.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := d.ValidatorByKeyID(identity.KeyIDOf(pub))
		if !ok || got != want {
			t.Errorf("ValidatorByKeyID(%s) = %+v, %v; want %+v, true", identity.KeyIDOf(pub), got, ok, want)
		}
	}
	for _, id := range []string{"", "0000000000000000", identity.KeyIDOf([]byte("not a key"))} {
		if got, ok := d.ValidatorByKeyID(id); ok {
			t.Errorf("ValidatorByKeyID(%q) = %+v, true; want false", id, got)
		}
	}
}

func TestOrgKinds(t *testing.T) {
	want := []string{"hospital", "clinic", "payer", "research", "sponsor", "manufacturer", "distributor", "pharmacy", "regulator", "other"}
	got := OrgKinds()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("OrgKinds() = %q; want %q", got, want)
	}
	for _, k := range want {
		if !ValidOrgKind(k) {
			t.Errorf("ValidOrgKind(%q) = false", k)
		}
	}
	for _, k := range []string{"", "Hospital", "insurer"} {
		if ValidOrgKind(k) {
			t.Errorf("ValidOrgKind(%q) = true", k)
		}
	}
}
