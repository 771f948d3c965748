package money

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Cents is an amount in euro cents.
type Cents int64

// Max is the largest amount Parse reads, and anything stored should hold:
// 18 digits of cents, under int64's limit, so that every Cents from -Max
// to Max encodes and decodes unchanged.
const Max Cents = 999_999_999_999_999_999

// maxDigits is the number of digits of Max.
const maxDigits = 18

// ErrAmount reports a string or number that is not an amount of euros.
var ErrAmount = errors.New("not an amount of euros")

// String writes c in euros with two decimals and a decimal point: "11.70",
// "-0.05", "1234.00".
func (c Cents) String() string {
	sign, u := "", uint64(c)
	if c < 0 {
		sign, u = "-", -u // the magnitude, right even for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// Euros returns c as a float64 number of euros: for metrics and display
// only, never to add amounts.
func (c Cents) Euros() float64 { return float64(c) / 100 }

// MarshalJSON encodes c as a JSON number of euros with two decimals.
func (c Cents) MarshalJSON() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalJSON decodes a number or a string of euros; null is zero.
func (c *Cents) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		*c = 0
		return nil
	}
	s := string(data)
	if len(data) > 0 && data[0] == '"' {
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
	}
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// FromFloat converts a float64 number of euros, as decoded from the
// upstream's JSON, to cents. It rounds the shortest decimal form of f (the
// one JSON wrote) to the nearest cent, so 11.7 is 1170 and 1.005 is 101.
func FromFloat(f float64) (Cents, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("money: %v: %w", f, ErrAmount)
	}
	return Parse(strconv.FormatFloat(f, 'g', -1, 64))
}

// Parse reads an amount of euros: an optional sign, digits, an optional
// decimal point or comma and an optional exponent ("11.7", "11,70",
// "-15.5", "1e2"). When both a point and a comma appear, the last one is
// the decimal separator and the others group thousands ("1.234,56",
// "1,234.56"). Spaces around the number are ignored. More than two
// decimals round to the nearest cent, half away from zero.
func Parse(s string) (Cents, error) {
	n, err := parse(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("money: %q: %w", s, err)
	}
	return n, nil
}

func parse(s string) (Cents, error) {
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	mantissa, exp, err := splitExponent(s)
	if err != nil {
		return 0, err
	}
	whole, frac, err := splitDecimal(mantissa)
	if err != nil {
		return 0, err
	}
	c, err := round(whole+frac, len(whole)+exp)
	if neg {
		c = -c
	}
	return c, err
}

// splitExponent splits "1.5e2" into "1.5" and 2.
func splitExponent(s string) (string, int, error) {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return s, 0, nil
	}
	exp, err := strconv.Atoi(s[i+1:])
	if err != nil || exp < -30 || exp > 30 {
		return "", 0, ErrAmount
	}
	return s[:i], exp, nil
}

// splitDecimal splits the digits before and after the decimal separator,
// dropping thousands separators, and checks that only digits remain.
func splitDecimal(s string) (whole, frac string, err error) {
	sep := strings.LastIndexAny(s, ".,")
	whole, frac = s, ""
	if sep >= 0 {
		whole, frac = s[:sep], s[sep+1:]
		group := "."
		if s[sep] == '.' {
			group = ","
		}
		if strings.ContainsAny(whole, s[sep:sep+1]) { // "1.2.3": two decimal separators
			return "", "", ErrAmount
		}
		whole = strings.ReplaceAll(whole, group, "")
	}
	if whole == "" && frac == "" || !digits(whole) || !digits(frac) {
		return "", "", ErrAmount
	}
	return whole, frac, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// round returns the value 0.d × 10^point in cents, rounded half away from
// zero on the digit after the cents.
func round(d string, point int) (Cents, error) {
	n := point + 2 // digits of d that make whole cents
	var whole string
	switch {
	case n <= 0:
		whole = ""
	case n <= len(d):
		whole = d[:n]
	default:
		whole = d + strings.Repeat("0", n-len(d))
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > maxDigits {
		return 0, ErrAmount
	}
	var v int64
	if whole != "" {
		v, _ = strconv.ParseInt(whole, 10, 64) // at most 15 digits
	}
	if n >= 0 && n < len(d) && d[n] >= '5' {
		v++
	}
	return Cents(v), nil
}
