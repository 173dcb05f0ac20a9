package ledger_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/medledger/medledger/internal/ledger"
)

// validTxs are transactions DecodeTx must accept, at the edges of every
// field's limits.
func validTxs() map[string]*ledger.Tx {
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	mk := func(f func(tx *ledger.Tx)) *ledger.Tx {
		tx := sampleTx()
		f(tx)
		return tx
	}
	return map[string]*ledger.Tx{
		"sample":           sampleTx(),
		"empty payload":    mk(func(tx *ledger.Tx) { tx.Payload = nil }),
		"binary payload":   mk(func(tx *ledger.Tx) { tx.Payload = []byte{0x00, 0xFF, 0x80, 0x0A, 0xC3} }),
		"nonce 0":          mk(func(tx *ledger.Tx) { tx.Nonce = 0 }),
		"nonce max":        mk(func(tx *ledger.Tx) { tx.Nonce = ^uint64(0) }),
		"chain id 1 byte":  mk(func(tx *ledger.Tx) { tx.ChainID = "x" }),
		"chain id max":     mk(func(tx *ledger.Tx) { tx.ChainID = long(ledger.MaxChainIDLen, "c") }),
		"chain id unicode": mk(func(tx *ledger.Tx) { tx.ChainID = "chäin-✓" }),
		"names max":        mk(func(tx *ledger.Tx) { tx.Contract = "a" + long(63, "z"); tx.Method = "m" + long(63, "_") }),
		"names punct":      mk(func(tx *ledger.Tx) { tx.Contract = "a.b_c9"; tx.Method = "set_roles" }),
		"signer max":       mk(func(tx *ledger.Tx) { tx.Signer = "S" + long(ledger.MaxSignerLen-1, "-") }),
		"signer punct":     mk(func(tx *ledger.Tx) { tx.Signer = "0rg.x:y@z/a_b-c" }),
		"zero signature":   mk(func(tx *ledger.Tx) { tx.Signature = make([]byte, ledger.SignatureSize) }),
	}
}

func txEqual(a, b *ledger.Tx) bool {
	return a.ChainID == b.ChainID && a.Contract == b.Contract && a.Method == b.Method &&
		bytes.Equal(a.Payload, b.Payload) && a.Signer == b.Signer && a.Nonce == b.Nonce &&
		bytes.Equal(a.Signature, b.Signature)
}

func TestTxRoundTrip(t *testing.T) {
	for name, tx := range validTxs() {
		t.Run(name, func(t *testing.T) {
			enc := tx.Encode()
			if want := join(txFields(tx)...); !bytes.Equal(enc, want) {
				t.Fatalf("Encode() = %x; want %x", enc, want)
			}
			if err := tx.Validate(); err != nil {
				t.Errorf("Validate() = %v; want nil", err)
			}
			got, err := ledger.DecodeTx(enc, 0)
			if err != nil {
				t.Fatalf("DecodeTx(%x) error: %v", enc, err)
			}
			if !txEqual(got, tx) {
				t.Errorf("DecodeTx(Encode(%+v)) = %+v", tx, got)
			}
			if again := got.Encode(); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding = %x; want %x", again, enc)
			}
			if got.ID() != tx.ID() {
				t.Errorf("decoded ID = %v; want %v", got.ID(), tx.ID())
			}
		})
	}
}

type txDecodeCase struct {
	name string
	in   []byte
	max  int // maxBytes argument
	want ledger.Code
}

// txDecodeCases lists canonical and non-canonical transaction encodings
// and the code DecodeTx must give each.
func txDecodeCases() []txDecodeCase {
	tx := sampleTx()
	f := txFields(tx)
	enc := join(f...)
	bad := []byte{0xff, 0xfe} // never valid UTF-8
	withTx := func(mod func(*ledger.Tx)) []byte {
		c := sampleTx()
		mod(c)
		return join(txFields(c)...)
	}
	cases := []txDecodeCase{
		{"canonical", enc, 0, ledger.CodeOK},
		{"canonical at exact limit", enc, len(enc), ledger.CodeOK},
		{"limit above MaxTxBytes is clamped", enc, ledger.MaxTxBytes * 4, ledger.CodeOK},
		{"negative limit means MaxTxBytes", enc, -1, ledger.CodeOK},
		{"empty payload", withTx(func(tx *ledger.Tx) { tx.Payload = nil }), 0, ledger.CodeOK},

		{"one byte over limit", enc, len(enc) - 1, ledger.CodeTooLarge},
		{"over MaxTxBytes", withTx(func(tx *ledger.Tx) { tx.Payload = make([]byte, ledger.MaxTxBytes) }), 0, ledger.CodeTooLarge},
		{"garbage over limit", bytes.Repeat([]byte{0xff}, 100), 10, ledger.CodeTooLarge},

		{"empty input", nil, 0, ledger.CodeMalformed},
		{"single zero byte", []byte{0}, 0, ledger.CodeMalformed},
		{"out of order chain_id contract", join(swapped(f, 0, 1)...), 0, ledger.CodeMalformed},
		{"out of order nonce signature", join(swapped(f, 5, 6)...), 0, ledger.CodeMalformed},
		{"out of order payload signer", join(swapped(f, 3, 4)...), 0, ledger.CodeMalformed},
		{"signature first", join(append([][]byte{f[6]}, f[:6]...)...), 0, ledger.CodeMalformed},
		{"duplicate chain_id", join(inserted(f, 1, f[0])...), 0, ledger.CodeMalformed},
		{"duplicate payload", join(inserted(f, 4, f[3])...), 0, ledger.CodeMalformed},
		{"duplicate signature", join(append(f, f[6])...), 0, ledger.CodeMalformed},
		{"unknown field 8 at end", join(append(f, uintField(8, 1))...), 0, ledger.CodeMalformed},
		{"unknown field 8 bytes at end", join(append(f, strField(8, "x"))...), 0, ledger.CodeMalformed},
		{"unknown field in middle", join(inserted(f, 3, strField(15, "x"))...), 0, ledger.CodeMalformed},
		{"unknown large field number", join(append(f, strField(protowire.MaxValidNumber, ""))...), 0, ledger.CodeMalformed},
		{"field number zero", join(append([][]byte{{0x02, 0x00}}, f...)...), 0, ledger.CodeMalformed},
		{"chain_id as varint", join(replaced(f, 0, uintField(1, 5))...), 0, ledger.CodeMalformed},
		{"payload as varint", join(replaced(f, 3, uintField(4, 0))...), 0, ledger.CodeMalformed},
		{"nonce as bytes", join(replaced(f, 5, bytesField(6, []byte{1}))...), 0, ledger.CodeMalformed},
		{"nonce as fixed64", join(replaced(f, 5, protowire.AppendFixed64(protowire.AppendTag(nil, 6, protowire.Fixed64Type), 1))...), 0, ledger.CodeMalformed},
		{"signature as start group", join(replaced(f, 6, protowire.AppendTag(nil, 7, protowire.StartGroupType))...), 0, ledger.CodeMalformed},
		{"non-minimal nonce", join(replaced(f, 5, nonMinimalUintField(6, tx.Nonce))...), 0, ledger.CodeMalformed},
		{"non-minimal zero nonce", withNonce0NonMinimal(), 0, ledger.CodeMalformed},
		{"non-minimal chain_id length", join(replaced(f, 0, nonMinimalLenField(1, []byte(tx.ChainID)))...), 0, ledger.CodeMalformed},
		{"non-minimal payload length", join(replaced(f, 3, nonMinimalLenField(4, tx.Payload))...), 0, ledger.CodeMalformed},
		{"non-minimal signature length", join(replaced(f, 6, nonMinimalLenField(7, tx.Signature))...), 0, ledger.CodeMalformed},
		{"non-minimal tag", join(replaced(f, 2, nonMinimalTagField(3, []byte(tx.Method)))...), 0, ledger.CodeMalformed},
		{"overlong varint nonce", join(replaced(f, 5, append(protowire.AppendTag(nil, 6, protowire.VarintType), bytes.Repeat([]byte{0x80}, 10)...))...), 0, ledger.CodeMalformed},
		{"varint nonce overflows uint64", join(replaced(f, 5, append(protowire.AppendTag(nil, 6, protowire.VarintType), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02))...), 0, ledger.CodeMalformed},
		{"length past end", enc[:len(enc)-1], 0, ledger.CodeMalformed},
		{"truncated inside tag", append(join(f[:6]...), 0x3a|0x80), 0, ledger.CodeMalformed},
		{"missing signature", join(f[:6]...), 0, ledger.CodeMalformed},
		{"invalid utf-8 chain_id", join(replaced(f, 0, bytesField(1, bad))...), 0, ledger.CodeMalformed},
		{"invalid utf-8 contract", join(replaced(f, 1, bytesField(2, bad))...), 0, ledger.CodeMalformed},
		{"invalid utf-8 method", join(replaced(f, 2, bytesField(3, append([]byte("anch"), 0xc3)))...), 0, ledger.CodeMalformed},
		{"invalid utf-8 signer", join(replaced(f, 4, bytesField(5, append([]byte("a"), bad...)))...), 0, ledger.CodeMalformed},
		{"empty chain id", withTx(func(tx *ledger.Tx) { tx.ChainID = "" }), 0, ledger.CodeMalformed},
		{"chain id too long", withTx(func(tx *ledger.Tx) { tx.ChainID = strings.Repeat("c", ledger.MaxChainIDLen+1) }), 0, ledger.CodeMalformed},
		{"empty contract", withTx(func(tx *ledger.Tx) { tx.Contract = "" }), 0, ledger.CodeMalformed},
		{"contract upper case", withTx(func(tx *ledger.Tx) { tx.Contract = "Notary" }), 0, ledger.CodeMalformed},
		{"contract leading digit", withTx(func(tx *ledger.Tx) { tx.Contract = "9notary" }), 0, ledger.CodeMalformed},
		{"contract leading dot", withTx(func(tx *ledger.Tx) { tx.Contract = ".notary" }), 0, ledger.CodeMalformed},
		{"contract with dash", withTx(func(tx *ledger.Tx) { tx.Contract = "no-tary" }), 0, ledger.CodeMalformed},
		{"contract with newline", withTx(func(tx *ledger.Tx) { tx.Contract = "notary\n" }), 0, ledger.CodeMalformed},
		{"contract too long", withTx(func(tx *ledger.Tx) { tx.Contract = strings.Repeat("a", ledger.MaxNameLen+1) }), 0, ledger.CodeMalformed},
		{"method empty", withTx(func(tx *ledger.Tx) { tx.Method = "" }), 0, ledger.CodeMalformed},
		{"method with space", withTx(func(tx *ledger.Tx) { tx.Method = "an chor" }), 0, ledger.CodeMalformed},
		{"method non-ascii", withTx(func(tx *ledger.Tx) { tx.Method = "ancho\u0301r" }), 0, ledger.CodeMalformed},
		{"signer empty", withTx(func(tx *ledger.Tx) { tx.Signer = "" }), 0, ledger.CodeMalformed},
		{"signer leading slash", withTx(func(tx *ledger.Tx) { tx.Signer = "/admin" }), 0, ledger.CodeMalformed},
		{"signer with space", withTx(func(tx *ledger.Tx) { tx.Signer = "st-mary/dr who" }), 0, ledger.CodeMalformed},
		{"signer with trailing newline", withTx(func(tx *ledger.Tx) { tx.Signer = "st-mary/admin\n" }), 0, ledger.CodeMalformed},
		{"signer too long", withTx(func(tx *ledger.Tx) { tx.Signer = strings.Repeat("s", ledger.MaxSignerLen+1) }), 0, ledger.CodeMalformed},
		{"signature empty", withTx(func(tx *ledger.Tx) { tx.Signature = nil }), 0, ledger.CodeMalformed},
		{"signature 63 bytes", withTx(func(tx *ledger.Tx) { tx.Signature = tx.Signature[:63] }), 0, ledger.CodeMalformed},
		{"signature 65 bytes", withTx(func(tx *ledger.Tx) { tx.Signature = append(tx.Signature, 0) }), 0, ledger.CodeMalformed},
		{"signature 1 KiB", withTx(func(tx *ledger.Tx) { tx.Signature = make([]byte, 1024) }), 0, ledger.CodeMalformed},
		{"trailing zero byte", append(bytes.Clone(enc), 0x00), 0, ledger.CodeMalformed},
		{"trailing garbage", append(bytes.Clone(enc), 0xff, 0xff), 0, ledger.CodeMalformed},
		{"trailing copy", append(bytes.Clone(enc), enc...), 0, ledger.CodeMalformed},
	}
	return cases
}

func withNonce0NonMinimal() []byte {
	tx := sampleTx()
	tx.Nonce = 0
	return join(replaced(txFields(tx), 5, nonMinimalUintField(6, 0))...)
}

func TestDecodeTxStrict(t *testing.T) {
	for _, tc := range txDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := ledger.DecodeTx(tc.in, tc.max)
			if got := ledger.CodeOf(err); got != tc.want {
				t.Fatalf("DecodeTx(%.40x…, %d) code = %q (err %v); want %q", tc.in, tc.max, got, err, tc.want)
			}
			if err != nil {
				if tx != nil {
					t.Errorf("DecodeTx(%.40x…) = %v, %v; want nil tx with error", tc.in, tx, err)
				}
				if got, want := errors.Is(err, ledger.ErrMalformed), tc.want == ledger.CodeMalformed; got != want {
					t.Errorf("errors.Is(%v, ErrMalformed) = %v; want %v", err, got, want)
				}
				if strings.Contains(err.Error(), `{"hash"`) {
					t.Errorf("DecodeTx error %q quotes the payload", err)
				}
				return
			}
			if enc := tx.Encode(); !bytes.Equal(enc, tc.in) {
				t.Errorf("DecodeTx(%x).Encode() = %x; not canonical", tc.in, enc)
			}
		})
	}
}

// TestDecodeTxErrorsDoNotEcho checks that rejections do not repeat what
// was sent: invalid fields may hold personal data.
func TestDecodeTxErrorsDoNotEcho(t *testing.T) {
	const marker = "Jane Q. Testpatient"
	for name, mod := range map[string]func(*ledger.Tx){
		"contract": func(tx *ledger.Tx) { tx.Contract = marker },
		"method":   func(tx *ledger.Tx) { tx.Method = marker },
		"signer":   func(tx *ledger.Tx) { tx.Signer = marker },
		"payload":  func(tx *ledger.Tx) { tx.Payload = []byte(marker); tx.Signature = nil },
	} {
		tx := sampleTx()
		mod(tx)
		_, err := ledger.DecodeTx(tx.Encode(), 0)
		if err == nil || strings.Contains(err.Error(), "Testpatient") {
			t.Errorf("DecodeTx with a bad %s: error %v; want one that does not quote it", name, err)
		}
		if err := tx.Validate(); err == nil || strings.Contains(err.Error(), "Testpatient") {
			t.Errorf("Validate with a bad %s: error %v; want one that does not quote it", name, err)
		}
	}
}

// TestTxValidate checks that Validate agrees with DecodeTx on in-memory
// values.
func TestTxValidate(t *testing.T) {
	for _, tc := range txDecodeCases() {
		tx, err := ledger.DecodeTx(tc.in, 0)
		if err != nil {
			continue
		}
		if err := tx.Validate(); err != nil {
			t.Errorf("%s: Validate() = %v for a transaction DecodeTx accepted", tc.name, err)
		}
	}
	tests := []struct {
		name string
		mod  func(*ledger.Tx)
		want ledger.Code
	}{
		{"ok", func(*ledger.Tx) {}, ledger.CodeOK},
		{"empty chain", func(tx *ledger.Tx) { tx.ChainID = "" }, ledger.CodeMalformed},
		{"chain too long", func(tx *ledger.Tx) { tx.ChainID = strings.Repeat("c", ledger.MaxChainIDLen+1) }, ledger.CodeMalformed},
		{"chain invalid utf-8", func(tx *ledger.Tx) { tx.ChainID = "\xe2" }, ledger.CodeMalformed},
		{"bad contract", func(tx *ledger.Tx) { tx.Contract = "X" }, ledger.CodeMalformed},
		{"bad method", func(tx *ledger.Tx) { tx.Method = "" }, ledger.CodeMalformed},
		{"bad signer", func(tx *ledger.Tx) { tx.Signer = "a b" }, ledger.CodeMalformed},
		{"short signature", func(tx *ledger.Tx) { tx.Signature = []byte{1} }, ledger.CodeMalformed},
		{"too large", func(tx *ledger.Tx) { tx.Payload = make([]byte, ledger.MaxTxBytes) }, ledger.CodeTooLarge},
	}
	for _, tc := range tests {
		tx := sampleTx()
		tc.mod(tx)
		if got := ledger.CodeOf(tx.Validate()); got != tc.want {
			t.Errorf("%s: Validate() code = %q; want %q", tc.name, got, tc.want)
		}
	}
}

func TestTxIDExcludesSignature(t *testing.T) {
	tx := sampleTx()
	id := tx.ID()
	for _, sig := range [][]byte{nil, sig64(0), sig64(1), make([]byte, 1)} {
		c := *tx
		c.Signature = sig
		if got := c.ID(); got != id {
			t.Errorf("ID() with signature %x = %v; want %v (signature must not change the ID)", sig, got, id)
		}
		if !bytes.Equal(c.SigningBytes(), tx.SigningBytes()) {
			t.Errorf("SigningBytes() changed with the signature")
		}
	}
	if enc := tx.Encode(); bytes.Contains(tx.SigningBytes(), tx.Signature) {
		t.Errorf("SigningBytes() contains the signature; Encode() = %x", enc)
	}
}

func TestTxIDCoversEveryUnsignedField(t *testing.T) {
	muts := map[string]func(*ledger.Tx){
		"chain":          func(tx *ledger.Tx) { tx.ChainID += "x" },
		"contract":       func(tx *ledger.Tx) { tx.Contract = "members" },
		"method":         func(tx *ledger.Tx) { tx.Method = "anchors" },
		"payload":        func(tx *ledger.Tx) { tx.Payload = append(tx.Payload, ' ') },
		"payload to nil": func(tx *ledger.Tx) { tx.Payload = nil },
		"signer":         func(tx *ledger.Tx) { tx.Signer = "st-mary/admin" },
		"nonce":          func(tx *ledger.Tx) { tx.Nonce++ },
		// Moving a byte from one field to its neighbour must change the
		// ID (fields are length-prefixed).
		"boundary": func(tx *ledger.Tx) { tx.Contract, tx.Method = "notarya", "nchor" },
	}
	base := sampleTx().ID()
	seen := map[ledger.Hash]string{base: "base"}
	for name, mod := range muts {
		tx := sampleTx()
		mod(tx)
		id := tx.ID()
		if prev, dup := seen[id]; dup {
			t.Errorf("ID() after changing %s = %v, same as %s", name, id, prev)
		}
		seen[id] = name
	}
}

func TestTxIDDomainSeparation(t *testing.T) {
	tx := sampleTx()
	unsigned := join(txFields(tx)[:6]...)
	id := tx.ID()
	// The ID is SHA-256 over the domain prefix and fields 1-6, streamed.
	if want := sha(append([]byte("medledger/tx/v1\x00"), unsigned...)); id != want {
		t.Errorf("ID() = %v; want sha256(prefix ‖ fields 1-6) = %v", id, want)
	}
	for name, h := range map[string]ledger.Hash{
		"sha256(Encode())":        sha(tx.Encode()),
		"sha256(fields 1-6)":      sha(unsigned),
		"LeafHash(Encode())":      ledger.LeafHash(tx.Encode()),
		"GenesisHash(fields 1-6)": ledger.GenesisHash(unsigned),
	} {
		if id == h {
			t.Errorf("ID() = %s; equals %v (no domain separation)", name, h)
		}
	}
	// The signed message is a second domain prefix and the ID: never the
	// ID's own preimage, never another hash's.
	sb := tx.SigningBytes()
	const prefix = "medledger/tx-sig/v1\x00"
	if want := append([]byte(prefix), id[:]...); !bytes.Equal(sb, want) {
		t.Errorf("SigningBytes() = %x; want prefix ‖ ID = %x", sb, want)
	}
}

// TestTxIDLargePayload checks the streamed ID against the plain hash of
// the encoding for payloads whose length varint takes 1 to 3 bytes.
func TestTxIDLargePayload(t *testing.T) {
	for _, n := range []int{0, 127, 128, 16383, 16384, 1 << 20} {
		tx := sampleTx()
		tx.Payload = bytes.Repeat([]byte{'x'}, n)
		unsigned := join(txFields(tx)[:6]...)
		if got, want := tx.ID(), sha(append([]byte("medledger/tx/v1\x00"), unsigned...)); got != want {
			t.Errorf("payload %d bytes: ID() = %v; want %v", n, got, want)
		}
	}
}

func TestTxEncodedSize(t *testing.T) {
	for _, n := range []int{0, 127, 128, 16383, 16384, 1 << 20} {
		for _, nonce := range []uint64{0, 1, 127, 128, 1 << 63} {
			tx := sampleTx()
			tx.Payload, tx.Nonce = bytes.Repeat([]byte{'x'}, n), nonce
			if got, want := tx.EncodedSize(), len(tx.Encode()); got != want {
				t.Errorf("payload %d, nonce %d: EncodedSize() = %d; want len(Encode()) = %d", n, nonce, got, want)
			}
		}
	}
}

func TestTxStringOmitsPayload(t *testing.T) {
	tx := sampleTx()
	tx.Payload = []byte(`{"name":"Jane Q. Testpatient"}`)
	if s := tx.String(); strings.Contains(s, "Testpatient") {
		t.Errorf("String() = %q; contains the payload", s)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	edge := sampleHeader()
	edge.Time = -1 // before 1970: zig-zag encoded
	maxes := sampleHeader()
	maxes.Height, maxes.TxCount, maxes.TxLogSize = ^uint64(0), ^uint64(0), ^uint64(0)
	maxes.Time = -1 << 63
	maxes.ChainID = strings.Repeat("c", ledger.MaxChainIDLen)
	maxes.Proposer = strings.Repeat("p", ledger.MaxSignerLen)
	for name, h := range map[string]ledger.Header{
		"sample":   sampleHeader(),
		"zero":     {},
		"negative": edge,
		"maximal":  maxes,
	} {
		t.Run(name, func(t *testing.T) {
			enc := h.Encode()
			if want := join(headerFields(h)...); !bytes.Equal(enc, want) {
				t.Fatalf("Encode() = %x; want %x", enc, want)
			}
			got, err := ledger.DecodeHeader(enc)
			if err != nil {
				t.Fatalf("DecodeHeader(%x): %v", enc, err)
			}
			if got != h {
				t.Errorf("DecodeHeader(Encode(%+v)) = %+v", h, got)
			}
			if got.Hash() != h.Hash() {
				t.Errorf("Hash() changed across a round trip")
			}
			sh := ledger.SignedHeader{Header: h, Signature: sig64(0x5A)}
			senc := sh.Encode()
			if want := join(bytesField(1, enc), bytesField(2, sh.Signature)); !bytes.Equal(senc, want) {
				t.Fatalf("SignedHeader.Encode() = %x; want %x", senc, want)
			}
			sgot, err := ledger.DecodeSignedHeader(senc)
			if err != nil {
				t.Fatalf("DecodeSignedHeader(%x): %v", senc, err)
			}
			if sgot.Header != h || !bytes.Equal(sgot.Signature, sh.Signature) {
				t.Errorf("DecodeSignedHeader(Encode(%+v)) = %+v", sh, sgot)
			}
			senc[len(senc)-1] ^= 1
			if bytes.Equal(sgot.Signature, senc[len(senc)-ledger.SignatureSize:]) {
				t.Errorf("DecodeSignedHeader's signature aliases its input")
			}
		})
	}
}

func TestHeaderTimestamp(t *testing.T) {
	h := sampleHeader()
	ts := h.Timestamp()
	if ts.Location().String() != "UTC" || ts.UnixNano() != h.Time {
		t.Errorf("Timestamp() = %v; want %d ns in UTC", ts, h.Time)
	}
}

func TestHeaderHash(t *testing.T) {
	h := sampleHeader()
	base := h.Hash()
	if base == sha(h.Encode()) {
		t.Errorf("Hash() = sha256(Encode()); want a domain-separated hash")
	}
	if base == ledger.GenesisHash(h.Encode()) || base == ledger.LeafHash(h.Encode()) {
		t.Errorf("Hash() collides with another hash kind over the same bytes")
	}
	one := ledger.Hash{1}
	muts := map[string]func(*ledger.Header){
		"chain":     func(h *ledger.Header) { h.ChainID = "other" },
		"height":    func(h *ledger.Header) { h.Height++ },
		"time":      func(h *ledger.Header) { h.Time++ },
		"prev":      func(h *ledger.Header) { h.PrevHash = one },
		"txcount":   func(h *ledger.Header) { h.TxCount++ },
		"txroot":    func(h *ledger.Header) { h.TxRoot = one },
		"results":   func(h *ledger.Header) { h.ResultsRoot = one },
		"changes":   func(h *ledger.Header) { h.ChangesHash = one },
		"app":       func(h *ledger.Header) { h.AppHash = one },
		"txlogsize": func(h *ledger.Header) { h.TxLogSize++ },
		"txlogroot": func(h *ledger.Header) { h.TxLogRoot = one },
		"proposer":  func(h *ledger.Header) { h.Proposer = "x" },
	}
	for name, mod := range muts {
		c := sampleHeader()
		mod(&c)
		if c.Hash() == base {
			t.Errorf("Hash() unchanged after changing %s", name)
		}
	}
}

type decodeCase struct {
	name string
	in   []byte
	ok   bool
}

// headerDecodeCases lists header encodings DecodeHeader must accept (ok)
// or refuse.
func headerDecodeCases() []decodeCase {
	h := sampleHeader()
	f := headerFields(h)
	enc := join(f...)
	return []decodeCase{
		{"canonical", enc, true},
		{"zero header", (&ledger.Header{}).Encode(), true},
		{"empty input", nil, false},
		{"missing chain_id", join(without(f, 0)...), false},
		{"missing proposer", join(f[:11]...), false},
		{"missing app_hash", join(without(f, 8)...), false},
		{"height and time swapped", join(swapped(f, 1, 2)...), false},
		{"duplicate height", join(inserted(f, 2, f[1])...), false},
		{"unknown field 13", join(append(f, strField(13, ""))...), false},
		{"unknown field 0", join(inserted(f, 0, []byte{0x00, 0x00})...), false},
		{"height as bytes", join(replaced(f, 1, bytesField(2, []byte{42}))...), false},
		{"prev_hash as varint", join(replaced(f, 3, uintField(4, 0))...), false},
		{"prev_hash 31 bytes", join(replaced(f, 3, bytesField(4, h.PrevHash[:31]))...), false},
		{"prev_hash 33 bytes", join(replaced(f, 3, bytesField(4, append(h.PrevHash[:], 0)))...), false},
		{"txlog_root empty", join(replaced(f, 10, bytesField(11, nil))...), false},
		{"non-minimal height", join(replaced(f, 1, nonMinimalUintField(2, h.Height))...), false},
		{"non-minimal hash length", join(replaced(f, 5, nonMinimalLenField(6, h.TxRoot[:]))...), false},
		{"non-minimal tag", join(replaced(f, 11, nonMinimalTagField(12, []byte(h.Proposer)))...), false},
		{"invalid utf-8 chain_id", join(replaced(f, 0, bytesField(1, []byte{0xc0, 0x80}))...), false},
		{"invalid utf-8 proposer", join(replaced(f, 11, bytesField(12, []byte{0xed, 0xa0, 0x80}))...), false},
		{"chain_id too long", join(replaced(f, 0, strField(1, strings.Repeat("c", ledger.MaxChainIDLen+1)))...), false},
		{"proposer too long", join(replaced(f, 11, strField(12, strings.Repeat("p", ledger.MaxSignerLen+1)))...), false},
		{"truncated", enc[:len(enc)-1], false},
		{"trailing byte", append(bytes.Clone(enc), 0), false},
		{"trailing field", append(bytes.Clone(enc), f[11]...), false},
	}
}

func TestDecodeHeaderStrict(t *testing.T) {
	for _, tc := range headerDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ledger.DecodeHeader(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeHeader(%x) = %+v, %v; want ok=%v", tc.in, h, err, tc.ok)
			}
			if err == nil && !bytes.Equal(h.Encode(), tc.in) {
				t.Errorf("DecodeHeader(%x).Encode() = %x; not canonical", tc.in, h.Encode())
			}
		})
	}
}

// signedHeaderDecodeCases lists signed-header encodings.
func signedHeaderDecodeCases() []decodeCase {
	h := sampleHeader()
	hf := headerFields(h)
	henc := join(hf...)
	sig := sig64(7)
	f := [][]byte{bytesField(1, henc), bytesField(2, sig)}
	return []decodeCase{
		{"canonical", join(f...), true},
		{"zero header", join(bytesField(1, (&ledger.Header{}).Encode()), bytesField(2, sig)), true},
		{"empty input", nil, false},
		{"missing signature", f[0], false},
		{"missing header", f[1], false},
		{"swapped", join(f[1], f[0]), false},
		{"duplicate signature", join(f[0], f[1], f[1]), false},
		{"unknown field", join(f[0], f[1], uintField(3, 0)), false},
		{"signature 63 bytes", join(f[0], bytesField(2, sig[:63])), false},
		{"signature 65 bytes", join(f[0], bytesField(2, append(bytes.Clone(sig), 0))), false},
		{"signature empty", join(f[0], bytesField(2, nil)), false},
		{"header as varint", join(uintField(1, 1), f[1]), false},
		{"header empty", join(bytesField(1, nil), f[1]), false},
		{"header not canonical", join(bytesField(1, join(swapped(hf, 0, 1)...)), f[1]), false},
		{"header with trailing byte", join(bytesField(1, append(bytes.Clone(henc), 0)), f[1]), false},
		{"header over 1 KiB", join(bytesField(1, append(bytes.Clone(henc), make([]byte, 1024)...)), f[1]), false},
		{"non-minimal header length", join(nonMinimalLenField(1, henc), f[1]), false},
		{"non-minimal signature length", join(f[0], nonMinimalLenField(2, sig)), false},
		{"trailing byte", append(join(f...), 0), false},
	}
}

func TestDecodeSignedHeaderStrict(t *testing.T) {
	for _, tc := range signedHeaderDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			sh, err := ledger.DecodeSignedHeader(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeSignedHeader(%x) = %+v, %v; want ok=%v", tc.in, sh, err, tc.ok)
			}
			if err == nil && !bytes.Equal(sh.Encode(), tc.in) {
				t.Errorf("DecodeSignedHeader(%x).Encode() = %x; not canonical", tc.in, sh.Encode())
			}
		})
	}
}

// validResults are results DecodeResult must accept; decoding gives nil
// (not empty) slices, so they are written that way.
func validResults() map[string]ledger.Result {
	manyEvents := make([]ledger.Event, ledger.MaxEvents)
	for i := range manyEvents {
		manyEvents[i] = ledger.Event{Type: "e"}
	}
	manyAttrs := make([]ledger.Attr, ledger.MaxAttrs)
	for i := range manyAttrs {
		manyAttrs[i] = ledger.Attr{Key: "k", Value: strings.Repeat("v", i)}
	}
	return map[string]ledger.Result{
		"ok":           {Code: ledger.CodeOK},
		"error":        {Code: ledger.CodeContract, Message: "hash is already anchored at height 3"},
		"unicode":      {Code: ledger.CodeDenied, Message: "politique refusée ✓"},
		"max message":  {Code: ledger.CodeDenied, Message: strings.Repeat("m", ledger.MaxMessageLen)},
		"one event":    {Code: ledger.CodeOK, Events: []ledger.Event{{Type: "notary.anchored", Attrs: []ledger.Attr{{Key: "hash", Value: "ab"}, {Key: "kind", Value: "x"}}}}},
		"empty event":  {Code: ledger.CodeOK, Events: []ledger.Event{{}}},
		"empty attr":   {Code: ledger.CodeOK, Events: []ledger.Event{{Type: "t", Attrs: []ledger.Attr{{}}}}},
		"max events":   {Code: ledger.CodeOK, Events: manyEvents},
		"max attrs":    {Code: ledger.CodeOK, Events: []ledger.Event{{Type: "t", Attrs: manyAttrs}}},
		"max attr len": {Code: ledger.CodeOK, Events: []ledger.Event{{Type: strings.Repeat("t", ledger.MaxNameLen), Attrs: []ledger.Attr{{Key: strings.Repeat("k", ledger.MaxNameLen), Value: strings.Repeat("v", ledger.MaxAttrLen)}}}}},
		"every code":   {Code: ledger.CodeUnavailable, Message: "x"},
	}
}

func TestResultRoundTrip(t *testing.T) {
	for name, r := range validResults() {
		t.Run(name, func(t *testing.T) {
			enc := r.Encode()
			got, err := ledger.DecodeResult(enc)
			if err != nil {
				t.Fatalf("DecodeResult(Encode(%+v)): %v", r, err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("DecodeResult(Encode(%+v)) = %+v", r, got)
			}
			if again := got.Encode(); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding = %x; want %x", again, enc)
			}
		})
	}
	for _, c := range []ledger.Code{ledger.CodeOK, ledger.CodeMalformed, ledger.CodeTooLarge, ledger.CodeWrongChain,
		ledger.CodeBadSignature, ledger.CodeUnknownSigner, ledger.CodeSuspendedSigner, ledger.CodeReplay,
		ledger.CodeUnknownContract, ledger.CodeUnknownMethod, ledger.CodeDenied, ledger.CodeContract,
		ledger.CodeOverloaded, ledger.CodeUnavailable} {
		r := ledger.Result{Code: c}
		if got, err := ledger.DecodeResult(r.Encode()); err != nil || got.Code != c {
			t.Errorf("DecodeResult(Encode(%q)) = %+v, %v", c, got, err)
		}
	}
}

func resultDecodeCases() []decodeCase {
	code := strField(1, string(ledger.CodeOK))
	msg := strField(2, "")
	ev := eventField("t", attrField("k", "v"))
	events := func(n int) []byte { return bytes.Repeat(eventField("e"), n) }
	attrs := func(n int) [][]byte {
		out := make([][]byte, n)
		for i := range out {
			out[i] = attrField("k", "v")
		}
		return out
	}
	return []decodeCase{
		{"minimal", join(code, msg), true},
		{"with event", join(code, msg, ev), true},
		{"64 events", join(code, msg, events(ledger.MaxEvents)), true},
		{"64 attrs", join(code, msg, eventField("t", attrs(ledger.MaxAttrs)...)), true},
		{"empty input", nil, false},
		{"missing message", code, false},
		{"missing code", msg, false},
		{"swapped", join(msg, code), false},
		{"unknown code", join(strField(1, "nope"), msg), false},
		{"empty code", join(strField(1, ""), msg), false},
		{"upper-case code", join(strField(1, "OK"), msg), false},
		{"code too long", join(strField(1, strings.Repeat("a", ledger.MaxNameLen+1)), msg), false},
		{"message too long", join(code, strField(2, strings.Repeat("m", ledger.MaxMessageLen+1))), false},
		{"message invalid utf-8", join(code, bytesField(2, []byte("caf\xc3"))), false},
		{"65 events", join(code, msg, events(ledger.MaxEvents+1)), false},
		{"65 attrs", join(code, msg, eventField("t", attrs(ledger.MaxAttrs+1)...)), false},
		{"event as varint", join(code, msg, uintField(3, 0)), false},
		{"event missing type", join(code, msg, bytesField(3, attrField("k", "v"))), false},
		{"event type after attr", join(code, msg, bytesField(3, join(attrField("k", "v"), strField(1, "t")))), false},
		{"event with unknown field", join(code, msg, bytesField(3, join(strField(1, "t"), uintField(3, 1)))), false},
		{"event type too long", join(code, msg, eventField(strings.Repeat("t", ledger.MaxNameLen+1))), false},
		{"event type invalid utf-8", join(code, msg, bytesField(3, bytesField(1, []byte{0xff}))), false},
		{"attr missing value", join(code, msg, eventField("t", bytesField(2, strField(1, "k")))), false},
		{"attr value before key", join(code, msg, eventField("t", bytesField(2, join(strField(2, "v"), strField(1, "k"))))), false},
		{"attr with extra field", join(code, msg, eventField("t", bytesField(2, join(strField(1, "k"), strField(2, "v"), strField(3, ""))))), false},
		{"attr key too long", join(code, msg, eventField("t", attrField(strings.Repeat("k", ledger.MaxNameLen+1), "v"))), false},
		{"attr value too long", join(code, msg, eventField("t", attrField("k", strings.Repeat("v", ledger.MaxAttrLen+1)))), false},
		{"attr value invalid utf-8", join(code, msg, eventField("t", bytesField(2, join(strField(1, "k"), bytesField(2, []byte{0x80}))))), false},
		{"attr as varint", join(code, msg, eventField("t", uintField(2, 1))), false},
		{"non-minimal event length", join(code, msg, nonMinimalLenField(3, join(strField(1, "t")))), false},
		{"non-minimal attr length", join(code, msg, eventField("t", nonMinimalLenField(2, join(strField(1, "k"), strField(2, "v"))))), false},
		{"non-minimal event tag", join(code, msg, nonMinimalTagField(3, strField(1, "t"))), false},
		{"unknown field 4", join(code, msg, strField(4, "")), false},
		{"unknown field between events", join(code, msg, ev, strField(4, ""), ev), false},
		{"truncated event", join(code, msg, ev)[:len(join(code, msg, ev))-1], false},
		{"trailing byte", join(code, msg, []byte{0}), false},
	}
}

func TestDecodeResultStrict(t *testing.T) {
	for _, tc := range resultDecodeCases() {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ledger.DecodeResult(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeResult(%.60x) = %+v, %v; want ok=%v", tc.in, r, err, tc.ok)
			}
			if err == nil && !bytes.Equal(r.Encode(), tc.in) {
				t.Errorf("DecodeResult(%x).Encode() = %x; not canonical", tc.in, r.Encode())
			}
		})
	}
}

func TestEventGet(t *testing.T) {
	ev := ledger.Event{Type: "t", Attrs: []ledger.Attr{{"a", "1"}, {"b", "2"}, {"a", "3"}}}
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"a", "1", true},
		{"b", "2", true},
		{"c", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		if got, ok := ev.Get(tc.key); got != tc.want || ok != tc.ok {
			t.Errorf("Get(%q) = %q, %v; want %q, %v", tc.key, got, ok, tc.want, tc.ok)
		}
	}
}

func TestCodes(t *testing.T) {
	tests := []struct {
		err  error
		want ledger.Code
	}{
		{nil, ledger.CodeOK},
		{errors.New("x"), ""},
		{ledger.Errorf(ledger.CodeDenied, "no"), ledger.CodeDenied},
		{wrap{ledger.Errorf(ledger.CodeReplay, "again")}, ledger.CodeReplay},
	}
	for _, tc := range tests {
		if got := ledger.CodeOf(tc.err); got != tc.want {
			t.Errorf("CodeOf(%v) = %q; want %q", tc.err, got, tc.want)
		}
	}
	for _, c := range []ledger.Code{"", "OK", "nope", "ok "} {
		if c.Valid() {
			t.Errorf("Code(%q).Valid() = true; want false", c)
		}
	}
	if got, want := ledger.Errorf(ledger.CodeContract, "x %d", 1).Error(), "contract_error: x 1"; got != want {
		t.Errorf("Error() = %q; want %q", got, want)
	}
}

type wrap struct{ err error }

func (w wrap) Error() string { return "wrapped: " + w.err.Error() }
func (w wrap) Unwrap() error { return w.err }
