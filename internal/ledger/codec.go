package ledger

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// encoder appends fields in the canonical shape: callers emit every field,
// in field-number order.
type encoder struct{ b []byte }

func (e *encoder) bytes(n protowire.Number, v []byte) {
	e.b = protowire.AppendTag(e.b, n, protowire.BytesType)
	e.b = protowire.AppendBytes(e.b, v)
}

func (e *encoder) string(n protowire.Number, v string) {
	e.b = protowire.AppendTag(e.b, n, protowire.BytesType)
	e.b = protowire.AppendString(e.b, v)
}

func (e *encoder) uint(n protowire.Number, v uint64) {
	e.b = protowire.AppendTag(e.b, n, protowire.VarintType)
	e.b = protowire.AppendVarint(e.b, v)
}

func (e *encoder) int(n protowire.Number, v int64) {
	e.uint(n, protowire.EncodeZigZag(v))
}

// errDecode is wrapped by every decoding failure.
var errDecode = errors.New("not canonical")

// decoder reads fields in the canonical shape and fails on anything else:
// a missing, repeated, out-of-order or unknown field, a wrong wire type,
// a non-minimal varint, invalid UTF-8, or an over-long value.
type decoder struct {
	b    []byte
	what string // the message being decoded, for error text
	err  error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s: %w", d.what, fmt.Sprintf(format, args...), errDecode)
	}
}

// tag consumes the next tag, which must be field n with wire type t.
func (d *decoder) tag(n protowire.Number, t protowire.Type, name string) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) == 0 {
		d.fail("missing field %s (%d)", name, n)
		return false
	}
	num, typ, l := protowire.ConsumeTag(d.b)
	if l < 0 {
		d.fail("bad tag before field %s: %v", name, protowire.ParseError(l))
		return false
	}
	if l != protowire.SizeTag(num) {
		d.fail("non-minimal tag before field %s", name)
		return false
	}
	if num != n || typ != t {
		d.fail("expected field %s (%d), found field %d with wire type %d", name, n, num, typ)
		return false
	}
	d.b = d.b[l:]
	return true
}

// peek reports whether the next field is number n (used for repeated fields).
func (d *decoder) peek(n protowire.Number) bool {
	if d.err != nil || len(d.b) == 0 {
		return false
	}
	num, _, l := protowire.ConsumeTag(d.b)
	return l > 0 && num == n
}

func (d *decoder) bytes(n protowire.Number, name string, max int) []byte {
	if !d.tag(n, protowire.BytesType, name) {
		return nil
	}
	v, l := protowire.ConsumeBytes(d.b)
	if l < 0 {
		d.fail("field %s: %v", name, protowire.ParseError(l))
		return nil
	}
	if l-len(v) != protowire.SizeVarint(uint64(len(v))) {
		d.fail("field %s: non-minimal length", name)
		return nil
	}
	if len(v) > max {
		d.fail("field %s is %d bytes, limit %d", name, len(v), max)
		return nil
	}
	d.b = d.b[l:]
	return v
}

func (d *decoder) string(n protowire.Number, name string, max int) string {
	v := d.bytes(n, name, max)
	if d.err != nil {
		return ""
	}
	if !utf8.Valid(v) {
		d.fail("field %s is not valid UTF-8", name)
		return ""
	}
	return string(v)
}

func (d *decoder) hash(n protowire.Number, name string) Hash {
	var h Hash
	v := d.bytes(n, name, HashSize)
	if d.err != nil {
		return h
	}
	if len(v) != HashSize {
		d.fail("field %s is %d bytes, want %d", name, len(v), HashSize)
		return h
	}
	copy(h[:], v)
	return h
}

func (d *decoder) uint(n protowire.Number, name string) uint64 {
	if !d.tag(n, protowire.VarintType, name) {
		return 0
	}
	v, l := protowire.ConsumeVarint(d.b)
	if l < 0 {
		d.fail("field %s: %v", name, protowire.ParseError(l))
		return 0
	}
	if l != protowire.SizeVarint(v) {
		d.fail("field %s: non-minimal varint", name)
		return 0
	}
	d.b = d.b[l:]
	return v
}

func (d *decoder) int(n protowire.Number, name string) int64 {
	return protowire.DecodeZigZag(d.uint(n, name))
}

// end fails if any bytes remain.
func (d *decoder) end() error {
	if d.err == nil && len(d.b) != 0 {
		num, _, l := protowire.ConsumeTag(d.b)
		if l < 0 {
			d.fail("trailing bytes")
		} else {
			d.fail("unexpected field %d", num)
		}
	}
	return d.err
}
