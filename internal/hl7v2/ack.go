package hl7v2

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Acknowledgement codes (HL7 table 0008), for ACK.
const (
	AA = "AA" // accepted
	AE = "AE" // error: the message was understood but could not be processed
	AR = "AR" // rejected: unsupported message type, version or structure
)

// AckCode returns the acknowledgement code for the outcome of Parse or
// Convert: AA for nil, AR for ErrUnsupported and for a message that is not
// well formed (ErrMalformed), AE otherwise.
func AckCode(err error) string {
	switch {
	case err == nil:
		return AA
	case errors.Is(err, ErrUnsupported), errors.Is(err, ErrMalformed):
		return AR
	}
	return AE
}

// maxAckText bounds MSA-3.
const maxAckText = 200

// ACK returns an original-mode acknowledgement of msg: an MSH addressed
// back to the sender (MSH-3/4 and MSH-5/6 swapped), MSH-9 "ACK^<trigger>^ACK",
// the version, processing ID and delimiters of msg, MSH-10 and MSA-2 set
// to msg's control ID, MSA-1 code and MSA-3 text (escaped, truncated to
// 200 characters). code should be AA, AE or AR (or CA, CE, CR); any other
// is sent as AE. text must not contain PHI: it goes back over the wire;
// the messages of this package's errors are safe.
//
// msg may be nil, or come from ParseHeader, when the message could not be
// parsed: without msg the ACK has default delimiters, a time-based MSH-10
// and an empty MSA-2. MSH-7 is the current time. The result ends with a segment terminator (CR).
func ACK(msg *Message, code, text string) []byte {
	return ackAt(msg, code, text, time.Now())
}

func ackAt(msg *Message, code, text string, now time.Time) []byte {
	switch code {
	case AA, AE, AR, "CA", "CE", "CR":
	default:
		code = AE
	}
	d := defaultDelimiters()
	var h *Segment
	latin1 := false
	if msg != nil && len(msg.Segments) > 0 && msg.Segments[0].Name == "MSH" && msg.Delims.Field != 0 {
		h = &msg.Segments[0]
		d = msg.Delims
		latin1 = msg.enc.latin1
	}
	raw := func(f int) string {
		if h == nil {
			return ""
		}
		return h.Field(f).Raw()
	}
	comp := func(f, c int) string {
		if h == nil {
			return ""
		}
		return escape(h.Field(f).Rep(1).Comp(c), d)
	}

	enc := []byte{d.Component, d.Repetition, d.Escape, d.Subcomponent}
	if d.Truncation != 0 {
		enc = append(enc, d.Truncation)
	}
	msgType := "ACK"
	if trig := comp(9, 2); trig != "" {
		msgType += string(d.Component) + trig + string(d.Component) + "ACK"
	}
	control := raw(10)
	if control == "" {
		// MSH-10 is required; an ACK of nothing gets a time-based ID.
		control = fmt.Sprintf("ACK%d", now.UnixNano())
	}
	processing, version := raw(11), raw(12)
	if processing == "" {
		processing = "P"
	}
	if version == "" {
		version = "2.5.1"
	}
	fields := []string{
		"MSH" + string(d.Field) + string(enc),
		raw(5), raw(6), raw(3), raw(4),
		now.Format("20060102150405-0700"),
		"",
		msgType,
		control,
		processing,
		version,
	}
	if cs := raw(18); cs != "" {
		fields = append(fields, "", "", "", "", "", cs)
	}
	var b strings.Builder
	b.WriteString(strings.Join(fields, string(d.Field)))
	b.WriteByte('\r')

	text = truncateRunes(text, maxAckText)
	msa := []string{"MSA", code, raw(10)}
	if text != "" {
		msa = append(msa, escape(text, d))
	}
	b.WriteString(strings.Join(msa, string(d.Field)))
	b.WriteByte('\r')
	if latin1 {
		return utf8ToLatin1(b.String())
	}
	return []byte(b.String())
}

func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// utf8ToLatin1 encodes s in ISO 8859-1; other characters become '?'.
func utf8ToLatin1(s string) []byte {
	out := make([]byte, 0, len(s))
	for _, r := range s {
		if r > 0xff {
			r = '?'
		}
		out = append(out, byte(r))
	}
	return out
}
