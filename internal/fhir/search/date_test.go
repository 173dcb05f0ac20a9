package search

import (
	"strings"
	"testing"
	"time"
)

func us(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi string // RFC 3339; empty for a value that must not parse
	}{
		{"2020", "2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02", "2020-02-01T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-12", "2020-12-01T00:00:00Z", "2021-01-01T00:00:00Z"},
		{"2020-02-29", "2020-02-29T00:00:00Z", "2020-03-01T00:00:00Z"},
		{"2020-03-04T10:00", "2020-03-04T10:00:00Z", "2020-03-04T10:01:00Z"},
		{"2020-03-04T10:00Z", "2020-03-04T10:00:00Z", "2020-03-04T10:01:00Z"},
		{"2020-03-04T10:00:05", "2020-03-04T10:00:05Z", "2020-03-04T10:00:06Z"},
		{"2020-03-04T10:00:05Z", "2020-03-04T10:00:05Z", "2020-03-04T10:00:06Z"},
		{"2020-03-04T10:00:05+01:00", "2020-03-04T09:00:05Z", "2020-03-04T09:00:06Z"},
		{"2020-03-04T10:00:05 01:00", "2020-03-04T09:00:05Z", "2020-03-04T09:00:06Z"}, // '+' decoded as ' '
		{"2020-03-04T10:00:05-05:30", "2020-03-04T15:30:05Z", "2020-03-04T15:30:06Z"},
		{"2020-03-04T10:00-05:00", "2020-03-04T15:00:00Z", "2020-03-04T15:01:00Z"},
		{"2020-03-04T10:00:05.5Z", "2020-03-04T10:00:05.5Z", "2020-03-04T10:00:05.6Z"},
		{"2020-03-04T10:00:05.123Z", "2020-03-04T10:00:05.123Z", "2020-03-04T10:00:05.124Z"},
		{"2020-03-04T10:00:05.123456789Z", "2020-03-04T10:00:05.123456Z", "2020-03-04T10:00:05.123457Z"},
		{"0001-01-01", "0001-01-01T00:00:00Z", "0001-01-02T00:00:00Z"},
		{"9999-12", "9999-12-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"},       // hi checked below
		{"2016-12-31T23:59:60Z", "2017-01-01T00:00:00Z", "2017-01-01T00:00:01Z"}, // leap second
		{"", "", ""},
		{"20", "", ""},
		{"0000", "", ""},
		{"2020-1", "", ""},
		{"2020-13", "", ""},
		{"2020-00", "", ""},
		{"2020-02-30", "", ""},
		{"2021-02-29", "", ""},
		{"2020-04-31", "", ""},
		{"2020-01-01T", "", ""},
		{"2020-01-01T10", "", ""},
		{"2020-01-01T24:00", "", ""},
		{"2020-01-01T10:60", "", ""},
		{"2020-01-01T10:00:61Z", "", ""},
		{"2020-01-01T10:00:00.Z", "", ""},
		{"2020-01-01T10:00:00+1:00", "", ""},
		{"2020-01-01T10:00:00+15:00", "", ""},
		{"2020-01-01T10:00:00ZZ", "", ""},
		{"2020-01-01 10:00", "", ""},
		{"2020/01/01", "", ""},
		{"2020-01-01x", "", ""},
		{"abcd", "", ""},
		{"-2020", "", ""},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in)
		if tt.lo == "" {
			if ok {
				t.Errorf("parseDate(%q) = %v, true; want false", tt.in, got)
			}
			continue
		}
		want := span{us(tt.lo), us(tt.hi)}
		if tt.in == "9999-12" {
			want.hi++ // year 10000 does not fit RFC 3339
		}
		if !ok || got != want {
			t.Errorf("parseDate(%q) = %v, %v; want %v", tt.in, got, ok, want)
		}
	}
}

// targetSpan is a resource value's range: a date/dateTime, or a period
// "start/end" where either side may be empty (open).
func targetSpan(t *testing.T, v string) span {
	t.Helper()
	if start, end, ok := strings.Cut(v, "/"); ok {
		s, ok := period(map[string]any{"start": start, "end": end})
		if !ok {
			t.Fatalf("bad period %q", v)
		}
		return s
	}
	s, ok := parseDate(v)
	if !ok {
		t.Fatalf("bad date %q", v)
	}
	return s
}

// TestDatePrefixes walks the date table of search.html (the first rows are
// its examples, verbatim) and then every prefix against targets before,
// inside, straddling, containing and after the search range, including
// open-ended periods.
func TestDatePrefixes(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		search string
		target string
		want   bool
	}{
		// search.html#date, the table of examples.
		{"eq2013-01-14", "2013-01-14T00:00", true},
		{"eq2013-01-14", "2013-01-14T10:00", true},
		{"eq2013-01-14", "2013-01-15T00:00", false},
		{"ne2013-01-14", "2013-01-15T00:00", true},
		{"ne2013-01-14", "2013-01-14T00:00", false},
		{"ne2013-01-14", "2013-01-14T10:00", false},
		{"lt2013-01-14T10:00", "2013-01-14", true},
		{"gt2013-01-14T10:00", "2013-01-14", true},
		{"ge2013-03-14", "2013-01-21/", true},
		// Implicit ranges of the search value's precision.
		{"2013", "2013-07-01T12:00:00Z", true},
		{"2013", "2013", true},
		{"2013", "2014-01-01", false},
		{"2013-01", "2013", false}, // the year is wider than the month
		{"2013-01-14T10:00:00Z", "2013-01-14T10:00:00Z", true},
		{"2013-01-14T10:00:00Z", "2013-01-14T10:00:00.500Z", true},
		{"2013-01-14T10:00:00Z", "2013-01-14T10:00:01Z", false},
		{"2013-01-14T11:00:00+01:00", "2013-01-14T10:00:00Z", true}, // zones compared as instants
		// eq: the search range fully contains the target.
		{"eq2013-01", "2013-01-01/2013-01-31", true},
		{"eq2013-01", "2012-12-31/2013-01-31", false},
		{"eq2013-01", "2013-01-01/", false},
		{"eq2013-01", "/2013-01-31", false},
		// ne: it does not.
		{"ne2013-01", "2013-01-01/2013-02-01", true},
		{"ne2013-01", "2013-01-05", false},
		{"ne2013-01", "/2013-01-05", true},
		// gt: the range above the search value (from its end on) overlaps.
		{"gt2013-01-14", "2013-01-15", true},
		{"gt2013-01-14", "2013-01-14T23:59:59Z", false},
		{"gt2013-01-14", "2013-01-14", false},
		{"gt2013-01-14", "2013-01-10/2013-01-15", true},
		{"gt2013-01-14", "2013-01-10/2013-01-14", false},
		{"gt2013-01-14", "2013-01-10/", true},
		{"gt2013-01-14", "/2013-01-20", true},
		{"gt2013-01-14", "/2013-01-13", false},
		{"gt2013-01-14", "2013", true},
		// lt: the range below the search value (before its start) overlaps.
		{"lt2013-01-14", "2013-01-13", true},
		{"lt2013-01-14", "2013-01-14T00:00:00Z", false},
		{"lt2013-01-14", "2013-01-14", false},
		{"lt2013-01-14", "2013-01-13T23:59:59Z", true},
		{"lt2013-01-14", "/2013-01-20", true},
		{"lt2013-01-14", "2013-01-14/", false},
		{"lt2013-01-14", "2013-01-10/", true},
		{"lt2013-01-14", "2013", true},
		// ge: gt, or fully contained.
		{"ge2013-01-14", "2013-01-14", true},
		{"ge2013-01-14", "2013-01-14T10:00:00Z", true},
		{"ge2013-01-14", "2013-01-13", false},
		{"ge2013-01-14", "2013-01-13T23:59:59Z", false},
		{"ge2013-01-14", "2013-01-15", true},
		{"ge2013-01-14", "2013-01-10/2013-01-14", false}, // ends inside, starts before
		{"ge2013-01-14", "/2013-01-20", true},
		{"ge2020-01-01", "2019-12-31T23:59:59Z", false},
		{"ge2020-01-01", "2020-01-01T00:00:00Z", true},
		// le: lt, or fully contained.
		{"le2013-01-14", "2013-01-14", true},
		{"le2013-01-14", "2013-01-14T23:59:59Z", true},
		{"le2013-01-14", "2013-01-15", false},
		{"le2013-01-14", "2013-01-13", true},
		{"le2013-01-14", "2013-01-14/2013-01-20", false}, // starts inside, ends after
		{"le2013-01-14", "2013-01-10/", true},
		// sa: no overlap, entirely after.
		{"sa2013-01-14", "2013-01-15", true},
		{"sa2013-01-14", "2013-01-15/", true},
		{"sa2013-01-14", "2013-01-14T23:59:59Z", false},
		{"sa2013-01-14", "2013-01-14/2013-01-20", false},
		{"sa2013-01-14", "/2013-01-20", false},
		{"sa2013-01-14", "2013", false},
		// eb: no overlap, entirely before.
		{"eb2013-01-14", "2013-01-13", true},
		{"eb2013-01-14", "/2013-01-13", true},
		{"eb2013-01-14", "2013-01-14T00:00:00Z", false},
		{"eb2013-01-14", "2013-01-10/2013-01-14", false},
		{"eb2013-01-14", "2013-01-10/", false},
		// ap: overlap with the range widened by 10% of its distance from
		// now (2024-01-01): 2014-01-01 is ~10 years away, so ±1 year.
		{"ap2014-01-01", "2014-01-01", true},
		{"ap2014-01-01", "2013-03-01", true},
		{"ap2014-01-01", "2014-11-01", true},
		{"ap2014-01-01", "2012-06-01", false},
		{"ap2014-01-01", "2015-06-01", false},
		{"ap2014-01-01", "2010-01-01/2013-06-01", true},
		{"ap2014-01-01", "2016-01-01/", false},
		{"ap2024-01-01", "2024-01-01", true},
		{"ap2024-01-01", "2024-01-02", false}, // no distance, no widening
	}
	for _, tt := range tests {
		c, ok := parseDateCond(tt.search, now)
		if !ok {
			t.Fatalf("parseDateCond(%q) failed", tt.search)
		}
		if got := c.match(targetSpan(t, tt.target)); got != tt.want {
			t.Errorf("date=%s against %s = %v; want %v", tt.search, tt.target, got, tt.want)
		}
	}
}

func TestParseDateCondMalformed(t *testing.T) {
	for _, v := range []string{"xx2020", "Eq2020", "e2020", "ge", "ge20", "gt2020-02-30", "2020-01-01T10:00:00Q", "lt 2020", "2020-01-01T10:00:00.Z"} {
		if _, ok := parseDateCond(v, time.Now()); ok {
			t.Errorf("parseDateCond(%q) = ok; want malformed", v)
		}
	}
	c, ok := parseDateCond("2020", time.Now())
	if !ok || c.p != eq {
		t.Errorf("parseDateCond(2020) prefix = %v, %v; want eq", c.p, ok)
	}
}

func TestFold(t *testing.T) {
	if len(latinFold) != 0x180-0xC0 {
		t.Fatalf("latinFold has %d entries; want %d", len(latinFold), 0x180-0xC0)
	}
	tests := []struct{ in, want string }{
		{"smith", "smith"},
		{"Smith", "smith"},
		{"SMÍTH", "smith"},
		{"Müller", "muller"},
		{"Mu\u0308ller", "muller"}, // decomposed ü
		{"Łukasz Żółć", "lukasz zolc"},
		{"Straße", "strasse"},
		{"Æsir Œuvre", "aesir oeuvre"},
		{"Ægir×2", "aegir×2"},
		{"Ñandú", "nandu"},
		{"ΑΒΓ", "αβγ"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := fold(tt.in); got != tt.want {
			t.Errorf("fold(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
