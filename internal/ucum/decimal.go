package ucum

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// decimal is a parsed decimal text.
type decimal struct {
	text     string   // FHIR decimal syntax: the input, tidied if needed
	rat      *big.Rat // exact value
	digits   string   // mantissa digits, without sign or point
	fracLen  int      // digits after the point in the mantissa
	exponent int      // decimal exponent (0 when none was written)
}

// decimals is the number of decimal places the value was given with; it
// is negative for e.g. "12e3".
func (d decimal) decimals() int { return d.fracLen - d.exponent }

// sigDigits is the number of significant digits the value was given
// with: leading zeros are not significant, trailing zeros are (also in
// "1500"). Zero counts as one.
func (d decimal) sigDigits() int {
	n := len(strings.TrimLeft(d.digits, "0"))
	return max(n, 1)
}

// parseDecimal parses [+-]digits[.digits][e[+-]digits], accepting also
// ".5" and "5." as HL7 v2 NM allows. It never quotes s in its errors.
func parseDecimal(s string) (decimal, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return decimal{}, fmt.Errorf("%w: the value is empty", ErrBadValue)
	}
	if len(s) > maxValueLen {
		return decimal{}, fmt.Errorf("%w: the value is longer than %d characters", ErrBadValue, maxValueLen)
	}
	i := 0
	neg := false
	if s[i] == '+' || s[i] == '-' {
		neg = s[i] == '-'
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
	}
	if intPart == "" && frac == "" {
		return decimal{}, ErrBadValue
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		es := i
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		ds := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if ds == i {
			return decimal{}, ErrBadValue
		}
		e, err := strconv.Atoi(s[es:i])
		if err != nil || e > maxExponent || e < -maxExponent {
			return decimal{}, fmt.Errorf("%w: the exponent is out of range", ErrBadValue)
		}
		exp = e
	}
	if i != len(s) {
		return decimal{}, ErrBadValue
	}

	d := decimal{digits: intPart + frac, fracLen: len(frac), exponent: exp}
	num, _ := new(big.Int).SetString("0"+d.digits, 10)
	if neg {
		num.Neg(num)
	}
	d.rat = new(big.Rat).SetInt(num)
	if sh := exp - len(frac); sh > 0 {
		d.rat.Mul(d.rat, new(big.Rat).SetInt(pow10(sh)))
	} else if sh < 0 {
		d.rat.Quo(d.rat, new(big.Rat).SetInt(pow10(-sh)))
	}

	if n := len(strings.TrimLeft(d.digits, "0")); n > maxSigDigits {
		return decimal{}, fmt.Errorf("%w: the value has more than %d significant digits", ErrBadValue, maxSigDigits)
	}
	if d.rat.Sign() != 0 {
		a := new(big.Rat).Abs(d.rat)
		if a.Cmp(pow10Rat(maxMagnitude)) >= 0 || a.Cmp(pow10Rat(-maxMagnitude)) < 0 {
			return decimal{}, fmt.Errorf("%w: the magnitude of the value is out of range", ErrBadValue)
		}
	}

	if isFHIRDecimal(s) {
		d.text = s
	} else {
		var b strings.Builder
		if neg {
			b.WriteByte('-')
		}
		ip := strings.TrimLeft(intPart, "0")
		if ip == "" {
			ip = "0"
		}
		b.WriteString(ip)
		if frac != "" {
			b.WriteByte('.')
			b.WriteString(frac)
		}
		if exp != 0 {
			b.WriteString("e")
			b.WriteString(strconv.Itoa(exp))
		}
		d.text = b.String()
	}
	return d, nil
}

// isFHIRDecimal reports whether s matches the FHIR decimal (and JSON
// number) grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func isFHIRDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		n := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == n {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		n := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == n {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func pow10(n int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

// formatFixed formats v rounded (half away from zero) to places decimal
// places; places may be negative (round to tens, hundreds, ...).
func formatFixed(v *big.Rat, places int) string {
	scaled := new(big.Rat).Set(v)
	if places >= 0 {
		scaled.Mul(scaled, new(big.Rat).SetInt(pow10(places)))
	} else {
		scaled.Quo(scaled, new(big.Rat).SetInt(pow10(-places)))
	}
	n := roundHalfAway(scaled)
	if places < 0 {
		n.Mul(n, pow10(-places))
		places = 0
	}
	neg := n.Sign() < 0
	digits := new(big.Int).Abs(n).String()
	if places > 0 {
		if len(digits) <= places {
			digits = strings.Repeat("0", places-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-places] + "." + digits[len(digits)-places:]
	}
	if neg {
		return "-" + digits
	}
	return digits
}

// formatSignificant formats v rounded (half away from zero) to sig
// significant digits.
func formatSignificant(v *big.Rat, sig int) string {
	if v.Sign() == 0 {
		return "0"
	}
	e := floorLog10(new(big.Rat).Abs(v))
	places := sig - 1 - e
	s := formatFixed(v, places)
	// Rounding up may have added a digit (99.96 → 100.0): drop one place.
	r, _ := new(big.Rat).SetString(s)
	if floorLog10(r.Abs(r)) > e {
		s = formatFixed(v, places-1)
	}
	return s
}

// floorLog10 returns floor(log10(a)) for a > 0.
func floorLog10(a *big.Rat) int {
	e := len(a.Num().String()) - len(a.Denom().String())
	// Now 10^(e-1) < a < 10^(e+1); settle which.
	for {
		lo := pow10Rat(e)
		if a.Cmp(lo) < 0 {
			e--
			continue
		}
		if a.Cmp(pow10Rat(e+1)) >= 0 {
			e++
			continue
		}
		return e
	}
}

func pow10Rat(e int) *big.Rat {
	if e >= 0 {
		return new(big.Rat).SetInt(pow10(e))
	}
	return new(big.Rat).SetFrac(big.NewInt(1), pow10(-e))
}

func roundHalfAway(r *big.Rat) *big.Int {
	num := new(big.Int).Abs(r.Num())
	q, m := new(big.Int).QuoRem(num, r.Denom(), new(big.Int))
	if m.Lsh(m, 1).Cmp(r.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if r.Sign() < 0 {
		q.Neg(q)
	}
	return q
}
