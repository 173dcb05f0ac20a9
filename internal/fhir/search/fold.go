package search

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// fold normalises a string for string search: lower case, accents removed
// (search.html#string: "case- and accent-insensitive"). Without a Unicode
// normalisation library (standard library only) it folds the precomposed
// Latin letters of U+00C0–U+017F through latinFold (é→e, ß→ss, Ł→l, Æ→ae)
// and drops combining marks, so decomposed input folds the same way; other
// scripts are only lower-cased. A string that is already folded is returned
// as is, without allocating.
func fold(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= utf8.RuneSelf || 'A' <= c && c <= 'Z' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r < utf8.RuneSelf:
			if 'A' <= r && r <= 'Z' {
				r += 'a' - 'A'
			}
			b.WriteByte(byte(r))
		case r >= 0xC0 && r <= 0x17F && latinFold[r-0xC0] != "":
			b.WriteString(latinFold[r-0xC0])
		case unicode.Is(unicode.Mn, r):
			// A combining mark: an accent of the letter before it.
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// latinFold maps U+00C0–U+017F (Latin-1 Supplement letters and Latin
// Extended-A) to their unaccented lower-case base; "" keeps the rune
// (× and ÷).
var latinFold = strings.Split(""+
	// U+00C0–U+00DF
	"a a a a a a ae c e e e e i i i i d n o o o o o  o u u u u y th ss "+
	// U+00E0–U+00FF
	"a a a a a a ae c e e e e i i i i d n o o o o o  o u u u u y th y "+
	// U+0100–U+017F
	"a a a a a a c c c c c c c c d d "+
	"d d e e e e e e e e e e g g g g "+
	"g g g g h h h h i i i i i i i i "+
	"i i ij ij j j k k k l l l l l l l "+
	"l l l n n n n n n n n n o o o o "+
	"o o oe oe r r r r r r s s s s s s "+
	"s s t t t t t t u u u u u u u u "+
	"u u u u w w y y y z z z z z z s", " ")
