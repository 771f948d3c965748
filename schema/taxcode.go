package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Tables of the codice fiscale (DM 23/12/1976).
const (
	monthLetters = "ABCDEHLMPRST" // January … December
	omocodia     = "LMNPQRSTUV"   // letters that replace the digits 0 … 9
	// oddValues[c] is the value of the letter 'A'+c (or the digit '0'+c) in
	// an odd (1-based) position for the check character.
	oddValues = "\x01\x00\x05\x07\x09\x0d\x0f\x11\x13\x15\x02\x04\x12\x14\x0b\x03\x06\x08\x0c\x0e\x10\x0a\x16\x19\x18\x17"
	// daysIn is the longest month length, February counting 29: the code
	// holds two digits of the year, so leap years cannot be told apart.
	daysIn = "\x1f\x1d\x1f\x1e\x1f\x1e\x1f\x1f\x1e\x1f\x1e\x1f"
)

// CheckPersonalTaxCode checks cf as a submission's personal tax-code field
// is checked (in any case): "" when it is a valid codice fiscale of a
// natural person, otherwise what is wrong, never quoting it. It is for a
// tax code an operator gives by hand (iseed erase), whose typo would
// otherwise find no one.
func CheckPersonalTaxCode(cf string) string { return checkPersonalTaxCode(strings.ToUpper(cf)) }

// checkPersonalTaxCode checks a 16-character codice fiscale of a natural
// person, in upper case: the structure with omocodia substitutions, a real
// day of the month (1–31, or 41–71 for women), a Belfiore place code, and
// the check character. It returns "" when the code is valid, otherwise what
// is wrong. It allocates nothing on success.
func checkPersonalTaxCode(cf string) string {
	if len(cf) != 16 {
		return fmt.Sprintf("has %d characters; a codice fiscale has 16", utf8.RuneCountInString(cf))
	}
	for i := range 6 {
		if !isUpper(cf[i]) {
			return "characters 1–6 (surname and name) must be letters"
		}
	}
	if reason := checkBirth(cf); reason != "" {
		return reason
	}
	if !isUpper(cf[11]) || cf[11] > 'M' && cf[11] != 'Z' {
		return "character 12 must be the letter of a place code (A–M for an Italian comune, Z abroad)"
	}
	for _, i := range [...]int{12, 13, 14} {
		if _, ok := omocodicDigit(cf[i]); !ok {
			return "characters 13–15 must be the digits of a place code"
		}
	}
	if checkChar(cf[:15]) != cf[15] {
		return "the check character (the 16th) does not match: a character was probably mistyped"
	}
	return ""
}

// checkBirth checks characters 7–11: year, month letter and day.
func checkBirth(cf string) string {
	if _, ok := omocodicDigit(cf[6]); !ok {
		return "characters 7–8 must be the digits of the year of birth"
	}
	if _, ok := omocodicDigit(cf[7]); !ok {
		return "characters 7–8 must be the digits of the year of birth"
	}
	month := strings.IndexByte(monthLetters, cf[8])
	if month < 0 {
		return "character 9 must be a month letter (A B C D E H L M P R S T)"
	}
	d1, ok1 := omocodicDigit(cf[9])
	d2, ok2 := omocodicDigit(cf[10])
	if !ok1 || !ok2 {
		return "characters 10–11 must be the digits of the day of birth"
	}
	day := int(d1)*10 + int(d2)
	if day > 40 {
		day -= 40
	}
	if day < 1 || day > int(daysIn[month]) {
		return "characters 10–11 are not a day of the month of birth (1–31, or 41–71 for women)"
	}
	return ""
}

// omocodicDigit returns the digit c stands for: itself, or the digit an
// omocodia letter replaced.
func omocodicDigit(c byte) (byte, bool) {
	if c >= '0' && c <= '9' {
		return c - '0', true
	}
	if i := strings.IndexByte(omocodia, c); i >= 0 {
		return byte(i), true
	}
	return 0, false
}

// checkChar computes the check character of the first 15 characters of a
// codice fiscale, upper-case letters and digits.
func checkChar(s string) byte {
	sum := 0
	for i := range 15 {
		v := s[i] - 'A'
		if s[i] <= '9' {
			v = s[i] - '0'
		}
		if i%2 == 0 { // odd position, 1-based
			sum += int(oddValues[v])
		} else {
			sum += int(v)
		}
	}
	return byte('A' + sum%26)
}

// checkVATNumber checks an 11-digit partita IVA (also the form of a
// company's codice fiscale) and its check digit.
func checkVATNumber(v string) string {
	if len(v) != 11 {
		return fmt.Sprintf("has %d characters; a partita IVA has 11 digits", utf8.RuneCountInString(v))
	}
	sum, zeros := 0, true
	for i := range 11 {
		if !isDigit(v[i]) {
			return "must be 11 digits"
		}
		zeros = zeros && v[i] == '0'
		d := int(v[i] - '0')
		if i == 10 {
			break
		}
		if i%2 == 1 {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if zeros {
		return "is all zeros"
	}
	if (10-sum%10)%10 != int(v[10]-'0') {
		return "the check digit (the 11th) does not match: a digit was probably mistyped"
	}
	return ""
}

// RedactTaxCode returns a tax code fit for a log line: at most its first 6
// characters (never more than half of it), the rest replaced by '*', e.g.
// "RSSMRA**********".
func RedactTaxCode(cf string) string {
	n := utf8.RuneCountInString(cf)
	keep := min(6, n/2)
	var b strings.Builder
	b.Grow(n)
	for i, r := range []rune(cf) {
		if i < keep {
			b.WriteRune(r)
		} else {
			b.WriteByte('*')
		}
	}
	return b.String()
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
