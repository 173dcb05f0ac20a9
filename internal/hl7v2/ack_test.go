package hl7v2

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestACK(t *testing.T) {
	m, err := Parse(sampleA01)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2024, 3, 15, 8, 30, 1, 0, time.FixedZone("", 3600))
	text := "unit \"stone\" | not known ^ see \\docs\\ & retry\nplease"
	ack := ackAt(m, AE, text, now)
	if !strings.HasSuffix(string(ack), "\r") {
		t.Error("ACK does not end with a segment terminator")
	}
	a, err := Parse(ack)
	if err != nil {
		t.Fatalf("ACK does not parse: %v\n%q", err, ack)
	}
	for path, want := range map[string]string{
		"MSH-3":   "MEDLEDGER",
		"MSH-4":   "MEDLEDGER",
		"MSH-5":   "ADTSYS",
		"MSH-6":   "GOODHEALTH",
		"MSH-7":   "20240315083001+0100",
		"MSH-9":   "ACK",
		"MSH-9.2": "A01",
		"MSH-9.3": "ACK",
		"MSH-10":  "MSG00001",
		"MSH-11":  "P",
		"MSH-12":  "2.5.1",
		"MSA-1":   "AE",
		"MSA-2":   "MSG00001",
		"MSA-3":   text,
	} {
		if got, _ := a.Get(path); got != want {
			t.Errorf("ACK %s = %q; want %q", path, got, want)
		}
	}

	// Codes outside table 0008 are sent as AE; long text is cut.
	a, _ = Parse(ACK(m, "OK", strings.Repeat("x", 500)))
	if got, _ := a.Get("MSA-1"); got != AE {
		t.Errorf("MSA-1 for a bad code = %q; want AE", got)
	}
	if got, _ := a.Get("MSA-3"); len([]rune(got)) != maxAckText {
		t.Errorf("MSA-3 has %d characters; want %d", len([]rune(got)), maxAckText)
	}

	// No message at all: still a parseable ACK.
	a, err = Parse(ACK(nil, AR, "message does not start with an MSH segment"))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get("MSA-1"); got != AR {
		t.Errorf("MSA-1 = %q", got)
	}

	// The sender's delimiters and character set are kept.
	in := append([]byte("MSH*!@/%*APP*FAC*RAPP*RFAC*20240101**ADT!A08*C9*T*2.4******8859/1\r"), "PID*1**1!!!A**M"...)
	in = append(in, 0xfc, 'l', 'l', 'e', 'r', '\r')
	m2, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	ack = ACK(m2, AA, "größer ✓")
	if !strings.HasPrefix(string(ack), "MSH*!@/%*RAPP*RFAC*APP*FAC*") {
		t.Errorf("ACK header = %q", ack[:40])
	}
	a, err = Parse(ack)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Get("MSA-3"); got != "größer ?" {
		t.Errorf("MSA-3 = %q; want Latin-1 text", got)
	}
	if got, _ := a.Get("MSH-11"); got != "T" {
		t.Errorf("MSH-11 = %q; want the sender's processing ID", got)
	}
}

func TestAckCode(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want string
	}{
		{nil, AA},
		{errorf(ErrUnsupported, "MSH-9", "x"), AR},
		{errorf(ErrMalformed, "", "x"), AR},
		{errorf(ErrInvalid, "PID-7", "x"), AE},
		{errors.New("storage failed"), AE},
	} {
		if got := AckCode(tt.err); got != tt.want {
			t.Errorf("AckCode(%v) = %s; want %s", tt.err, got, tt.want)
		}
	}
}
