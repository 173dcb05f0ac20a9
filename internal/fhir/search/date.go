package search

import (
	"math"
	"time"
)

// span is the half-open range [lo, hi) of instants a date value stands for,
// in microseconds since the Unix epoch. An open start is math.MinInt64 and
// an open end math.MaxInt64 ("a missing lower boundary is less than any
// actual date").
type span struct{ lo, hi int64 }

const (
	negInf = math.MinInt64
	posInf = math.MaxInt64
)

// parseDate parses a FHIR date, dateTime or instant (resource values) or a
// date search value (without its prefix) into the range its precision
// implies: 2020 is the whole year, 2020-03 the month, 2020-03-04 the day,
// 2020-03-04T10:00 the minute, and so on down to the fraction of a second
// given. Values without a time zone are taken as UTC, the zone this server
// calls local. A '+' of a zone offset may arrive as ' ' (an unescaped '+' in
// a URL). It reports false for anything else, including impossible calendar
// dates, hours beyond 23 and years before 0001.
func parseDate(s string) (span, bool) {
	n := len(s)
	if n < 4 {
		return span{}, false
	}
	year, ok := digits(s, 0, 4)
	if !ok || year == 0 {
		return span{}, false
	}
	month, day := 1, 1
	prec := precYear
	i := 4
	if i < n {
		if s[i] != '-' || n < i+3 {
			return span{}, false
		}
		if month, ok = digits(s, i+1, 2); !ok || month < 1 || month > 12 {
			return span{}, false
		}
		prec, i = precMonth, i+3
	}
	if i < n {
		if s[i] != '-' || n < i+3 {
			return span{}, false
		}
		if day, ok = digits(s, i+1, 2); !ok || day < 1 || day > daysIn(year, month) {
			return span{}, false
		}
		prec, i = precDay, i+3
	}
	var hour, minute, sec, nsec, fracDigits int
	loc := time.UTC
	if i < n {
		// Thh:mm[:ss[.f+]][zone]
		if s[i] != 'T' || n < i+6 || s[i+3] != ':' {
			return span{}, false
		}
		if hour, ok = digits(s, i+1, 2); !ok || hour > 23 {
			return span{}, false
		}
		if minute, ok = digits(s, i+4, 2); !ok || minute > 59 {
			return span{}, false
		}
		prec, i = precMinute, i+6
		if i < n && s[i] == ':' {
			if n < i+3 {
				return span{}, false
			}
			// 60 is a leap second, which time.Date normalises.
			if sec, ok = digits(s, i+1, 2); !ok || sec > 60 {
				return span{}, false
			}
			prec, i = precSecond, i+3
			if i < n && s[i] == '.' {
				j := i + 1
				for j < n && s[j] >= '0' && s[j] <= '9' {
					if fracDigits < 9 {
						nsec = nsec*10 + int(s[j]-'0')
					}
					fracDigits++
					j++
				}
				if fracDigits == 0 {
					return span{}, false
				}
				for k := min9(fracDigits); k < 9; k++ {
					nsec *= 10
				}
				prec, i = precFraction, j
			}
		}
		if i < n {
			switch s[i] {
			case 'Z':
				i++
			case '+', '-', ' ':
				if n < i+6 || s[i+3] != ':' {
					return span{}, false
				}
				zh, ok1 := digits(s, i+1, 2)
				zm, ok2 := digits(s, i+4, 2)
				if !ok1 || !ok2 || zh > 14 || zm > 59 {
					return span{}, false
				}
				off := zh*3600 + zm*60
				if s[i] == '-' {
					off = -off
				}
				loc = time.FixedZone("", off)
				i += 6
			default:
				return span{}, false
			}
		}
		if i != n {
			return span{}, false
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, loc)
	var end time.Time
	switch prec {
	case precYear:
		end = t.AddDate(1, 0, 0)
	case precMonth:
		end = t.AddDate(0, 1, 0)
	case precDay:
		end = t.AddDate(0, 0, 1)
	case precMinute:
		end = t.Add(time.Minute)
	case precSecond:
		end = t.Add(time.Second)
	default:
		step := time.Duration(1)
		for k := min9(fracDigits); k < 9; k++ {
			step *= 10
		}
		end = t.Add(step)
	}
	lo, hi := t.UnixMicro(), ceilMicro(end)
	if hi <= lo {
		hi = lo + 1 // finer than the index keeps: one microsecond
	}
	return span{lo, hi}, true
}

const (
	precYear = iota
	precMonth
	precDay
	precMinute
	precSecond
	precFraction
)

func min9(n int) int {
	if n > 9 {
		return 9
	}
	return n
}

// ceilMicro is t in microseconds, rounded up.
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// digits parses s[i:i+n] as a decimal number of exactly n digits.
func digits(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range []byte(s[i : i+n]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// prefix is a date search comparator (search.html#prefix).
type prefix uint8

const (
	eq prefix = iota
	ne
	gt
	lt
	ge
	le
	sa
	eb
	ap
)

var prefixes = map[string]prefix{
	"eq": eq, "ne": ne, "gt": gt, "lt": lt, "ge": ge, "le": le, "sa": sa, "eb": eb, "ap": ap,
}

// dateCond is one parsed date search value.
type dateCond struct {
	p prefix
	s span // the range of the search value
	// near is, for ap, the search range widened by 10% of the gap between
	// now and the value, as the spec recommends.
	near span
}

// parseDateCond parses "[prefix]date". ok is false for a malformed value,
// which includes an unknown two-letter prefix.
func parseDateCond(v string, now time.Time) (dateCond, bool) {
	var c dateCond
	if len(v) >= 2 && isLetter(v[0]) && isLetter(v[1]) {
		p, known := prefixes[v[:2]]
		if !known {
			return c, false
		}
		c.p, v = p, v[2:]
	}
	s, ok := parseDate(v)
	if !ok {
		return c, false
	}
	c.s = s
	if c.p == ap {
		gap := now.UnixMicro() - s.lo
		if gap < 0 {
			gap = -gap
		}
		w := gap / 10
		c.near = span{satSub(s.lo, w), satAdd(s.hi, w)}
	}
	return c, true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func satAdd(a, b int64) int64 {
	if a > posInf-b {
		return posInf
	}
	return a + b
}

func satSub(a, b int64) int64 {
	if a < negInf+b {
		return negInf
	}
	return a - b
}

// match reports whether a target range satisfies the condition, following
// the table of search.html#prefix, where "the range above the search value"
// is everything from the end of its range on and "the range below" is
// everything before its start:
//
//	eq  the search range fully contains the target range
//	ne  it does not
//	gt  the range above the search value overlaps the target
//	lt  the range below the search value overlaps the target
//	ge  gt, or the search range fully contains the target
//	le  lt, or the search range fully contains the target
//	sa  the target starts after the search range (no overlap, all above)
//	eb  the target ends before the search range (no overlap, all below)
//	ap  the target overlaps the search range widened by 10% of its
//	    distance from now
func (c dateCond) match(t span) bool {
	s := c.s
	contains := t.lo >= s.lo && t.hi <= s.hi
	switch c.p {
	case eq:
		return contains
	case ne:
		return !contains
	case gt:
		return t.hi > s.hi
	case lt:
		return t.lo < s.lo
	case ge:
		return t.hi > s.hi || contains
	case le:
		return t.lo < s.lo || contains
	case sa:
		return t.lo >= s.hi
	case eb:
		return t.hi <= s.lo
	case ap:
		return t.lo < c.near.hi && t.hi > c.near.lo
	}
	return false
}
