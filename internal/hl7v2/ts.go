package hl7v2

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// ts is a parsed HL7 TS/DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ].
type ts struct {
	year, month, day, hour, min, sec int
	digits                           int    // 4, 6, 8, 10, 12 or 14: the precision given
	frac                             string // fraction of a second, without the point
	hasZone                          bool
	offset                           int // seconds east of UTC, if hasZone
}

var errTS = errors.New("not a valid HL7 date/time (TS/DTM)")

// parseTS parses the first component of a TS (older versions append
// "^precision", which callers drop by reading component 1).
func parseTS(s string) (ts, error) {
	var t ts
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	switch i {
	case 4, 6, 8, 10, 12, 14:
	default:
		return t, errTS
	}
	t.digits = i
	num := func(a, b int) int { n, _ := strconv.Atoi(s[a:b]); return n }
	t.year, t.month, t.day = num(0, 4), 1, 1
	if i >= 6 {
		t.month = num(4, 6)
	}
	if i >= 8 {
		t.day = num(6, 8)
	}
	if i >= 10 {
		t.hour = num(8, 10)
	}
	if i >= 12 {
		t.min = num(10, 12)
	}
	if i >= 14 {
		t.sec = num(12, 14)
	}
	rest := s[i:]
	if len(rest) > 0 && rest[0] == '.' {
		if i != 14 {
			return t, errTS
		}
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 || k > 5 {
			return t, errTS
		}
		t.frac = rest[1:k]
		rest = rest[k:]
	}
	if len(rest) > 0 {
		if len(rest) != 5 || rest[0] != '+' && rest[0] != '-' || !isNumber(rest[1:]) {
			return t, errTS
		}
		h, m := num(len(s)-4, len(s)-2), num(len(s)-2, len(s))
		if h > 14 || m > 59 {
			return t, errTS
		}
		t.hasZone = true
		t.offset = (h*60 + m) * 60
		if rest[0] == '-' {
			t.offset = -t.offset
		}
	}
	if t.year < 1 || t.month < 1 || t.month > 12 || t.day < 1 || t.hour > 23 || t.min > 59 || t.sec > 59 {
		return t, errTS
	}
	if d := time.Date(t.year, time.Month(t.month), t.day, 0, 0, 0, 0, time.UTC); d.Day() != t.day {
		return t, errTS // 31 April, 29 February of a common year
	}
	return t, nil
}

// date returns the FHIR date: YYYY, YYYY-MM or YYYY-MM-DD, as precise as
// given (time of day dropped).
func (t ts) date() string {
	switch {
	case t.digits == 4:
		return fmt.Sprintf("%04d", t.year)
	case t.digits == 6:
		return fmt.Sprintf("%04d-%02d", t.year, t.month)
	}
	return fmt.Sprintf("%04d-%02d-%02d", t.year, t.month, t.day)
}

// dateTime returns the FHIR dateTime: a date when no time of day was
// given, else a time to the second (FHIR requires seconds and a zone),
// with the fraction given, in the message's zone or loc.
func (t ts) dateTime(loc *time.Location) string {
	if t.digits <= 8 {
		return t.date()
	}
	off := t.offset
	if !t.hasZone {
		_, off = time.Date(t.year, time.Month(t.month), t.day, t.hour, t.min, t.sec, 0, loc).Zone()
	}
	s := fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d", t.year, t.month, t.day, t.hour, t.min, t.sec)
	if t.frac != "" {
		s += "." + t.frac
	}
	if off == 0 {
		return s + "Z"
	}
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return s + fmt.Sprintf("%c%02d:%02d", sign, off/3600, off/60%60)
}

// parseTM parses an HL7 TM (HH[MM[SS[.S...]]]) to a FHIR time hh:mm:ss.
func parseTM(s string) (string, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i != 2 && i != 4 && i != 6 {
		return "", errors.New("not a valid HL7 time (TM)")
	}
	h, _ := strconv.Atoi(s[0:2])
	m, sec := 0, 0
	if i >= 4 {
		m, _ = strconv.Atoi(s[2:4])
	}
	if i == 6 {
		sec, _ = strconv.Atoi(s[4:6])
	}
	rest := s[i:]
	frac := ""
	if len(rest) > 1 && rest[0] == '.' && i == 6 && isNumber(rest[1:]) && len(rest) <= 5 {
		frac, rest = rest, ""
	}
	if rest != "" || h > 23 || m > 59 || sec > 59 {
		return "", errors.New("not a valid HL7 time (TM)")
	}
	return fmt.Sprintf("%02d:%02d:%02d%s", h, m, sec, frac), nil
}
