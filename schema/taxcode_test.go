package schema

import (
	"strings"
	"testing"
)

// withCheck appends the check character to the first 15 characters of a
// codice fiscale. It is written independently of checkChar, from the
// published tables, so that the tests check the implementation.
func withCheck(first15 string) string {
	odd := map[byte]int{
		'0': 1, '1': 0, '2': 5, '3': 7, '4': 9, '5': 13, '6': 15, '7': 17, '8': 19, '9': 21,
		'A': 1, 'B': 0, 'C': 5, 'D': 7, 'E': 9, 'F': 13, 'G': 15, 'H': 17, 'I': 19, 'J': 21,
		'K': 2, 'L': 4, 'M': 18, 'N': 20, 'O': 11, 'P': 3, 'Q': 6, 'R': 8, 'S': 12, 'T': 14,
		'U': 16, 'V': 10, 'W': 22, 'X': 25, 'Y': 24, 'Z': 23,
	}
	sum := 0
	for i := range 15 {
		c := first15[i]
		switch {
		case i%2 == 0:
			sum += odd[c]
		case c >= '0' && c <= '9':
			sum += int(c - '0')
		default:
			sum += int(c - 'A')
		}
	}
	return first15 + string(rune('A'+sum%26))
}

// omocode replaces the digits at the given 1-based positions with their
// omocodia letters (0→L … 9→V).
func omocode(first15 string, positions ...int) string {
	b := []byte(first15)
	for _, p := range positions {
		b[p-1] = "LMNPQRSTUV"[b[p-1]-'0']
	}
	return string(b)
}

// withVATCheck appends the check digit to the first 10 digits of a partita IVA.
func withVATCheck(first10 string) string {
	sum := 0
	for i, c := range first10 {
		d := int(c - '0')
		if i%2 == 1 { // even position, 1-based: doubled, digits summed
			d = d*2/10 + d*2%10
		}
		sum += d
	}
	return first10 + string(rune('0'+(10-sum%10)%10))
}

func TestPersonalTaxCode(t *testing.T) {
	tests := []struct {
		name string
		cf   string
		ok   bool
	}{
		{"known example, man born 10-12-1985 in Rome", "RSSMRA85T10A562S", true},
		{"generated man", withCheck("BNCGPP70A01F205"), true},
		{"woman: day + 40", withCheck("VRDLCU92E45H501"), true},
		{"woman on the 31st", withCheck("VRDLCU92A71H501"), true},
		{"woman on 29 February", withCheck("VRDLCU00B69H501"), true},
		{"man on 29 February, any year", withCheck("BNCGPP01B29F205"), true},
		{"born abroad (Z)", withCheck("SMTJHN80M15Z114"), true},
		{"comune code starting with M", withCheck("BNCGPP70A01M126"), true},
		{"omocodia on position 15", withCheck(omocode("RSSMRA85T10A562", 15)), true},
		{"omocodia on every digit", withCheck(omocode("RSSMRA85T10A562", 7, 8, 10, 11, 13, 14, 15)), true},
		{"omocodia on the day of a woman", withCheck(omocode("VRDLCU92E45H501", 10, 11)), true},
		{"wrong check character", "RSSMRA85T10A562T", false},
		{"two characters swapped", "RSSMRA58T10A562S", false},
		{"15 characters", "RSSMRA85T10A562", false},
		{"17 characters", "RSSMRA85T10A562SX", false},
		{"digit among the name letters", withCheck("RSS1RA85T10A562"), false},
		{"letter not omocodic in the year", withCheck("RSSMRA8AT10A562"), false},
		{"month letter F does not exist", withCheck("RSSMRA85F10A562"), false},
		{"day 00", withCheck("RSSMRA85T00A562"), false},
		{"day 32", withCheck("RSSMRA85T32A562"), false},
		{"day 40", withCheck("RSSMRA85T40A562"), false},
		{"day 72", withCheck("RSSMRA85T72A562"), false},
		{"30 February", withCheck("RSSMRA85B30A562"), false},
		{"31 April (woman)", withCheck("VRDLCU92D71H501"), false},
		{"place letter N does not exist", withCheck("RSSMRA85T10N562"), false},
		{"place with a letter among the digits", withCheck("RSSMRA85T10A5A2"), false},
		{"place letter is a digit", withCheck("RSSMRA85T101562"), false},
		{"lower case is checked upper-cased by check()", "rssmra85t10a562s", false},
		{"empty", "", false},
		{"non-ASCII of 16 bytes", "RSSMRA85T10A56È", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason := checkPersonalTaxCode(tt.cf)
			if got := reason == ""; got != tt.ok {
				t.Errorf("checkPersonalTaxCode(%q) = %q, valid %v; want valid %v", tt.cf, reason, got, tt.ok)
			}
		})
	}
}

func TestTaxCodeKinds(t *testing.T) {
	cf := "RSSMRA85T10A562S"
	vat := withVATCheck("0123456789")
	tests := []struct {
		kind      kind
		in, value string
		code      string
	}{
		{kindPersonalTaxCode, "rssmra85t10a562s", cf, ""},
		{kindPersonalTaxCode, "RssMra85T10a562S", cf, ""},
		{kindPersonalTaxCode, vat, "", CodeInvalidTaxCode},
		{kindPersonalTaxCode, "RSS MRA 85T10 A562S", "", CodeInvalidTaxCode},
		{kindTaxCode, "rssmra85t10a562s", cf, ""},
		{kindTaxCode, vat, vat, ""},
		{kindTaxCode, "12345678901", "", CodeInvalidTaxOrVAT},
		{kindTaxCode, "RSSMRA85T10A562T", "", CodeInvalidTaxOrVAT},
		{kindTaxCode, "1234567890", "", CodeInvalidTaxOrVAT},
		{kindVATNumber, "12345678903", "12345678903", ""},
		{kindVATNumber, vat, vat, ""},
		{kindVATNumber, withVATCheck("0000000999"), withVATCheck("0000000999"), ""},
		{kindVATNumber, "12345678901", "", CodeInvalidVATNumber},
		{kindVATNumber, "00000000000", "", CodeInvalidVATNumber},
		{kindVATNumber, "1234567890", "", CodeInvalidVATNumber},
		{kindVATNumber, "1234567890A", "", CodeInvalidVATNumber},
		{kindVATNumber, "IT12345678903", "", CodeInvalidVATNumber},
	}
	for _, tt := range tests {
		c := check(tt.kind, tt.in, Limits{}.withDefaults())
		if c.code != tt.code || c.value != tt.value {
			t.Errorf("check(%d, %q) = (%q, %q), want (%q, %q)", tt.kind, tt.in, c.value, c.code, tt.value, tt.code)
		}
	}
}

// TestVATCheckDigit checks every possible check digit of a few numbers:
// exactly one is accepted.
func TestVATCheckDigit(t *testing.T) {
	for _, first10 := range []string{"0123456789", "9999999999", "1234567890", "0080302015"} {
		want := withVATCheck(first10)
		for d := '0'; d <= '9'; d++ {
			v := first10 + string(d)
			if got := checkVATNumber(v) == ""; got != (v == want) {
				t.Errorf("checkVATNumber(%q) valid %v, want %v", v, got, v == want)
			}
		}
	}
}

// TestCheckCharacter checks every possible check character of generated
// codes: exactly one is accepted.
func TestCheckCharacter(t *testing.T) {
	for _, first15 := range []string{"RSSMRA85T10A562", "VRDLCU92E45H501", omocode("BNCGPP70A01F205", 13, 14, 15)} {
		want := withCheck(first15)
		for c := 'A'; c <= 'Z'; c++ {
			cf := first15 + string(c)
			if got := checkPersonalTaxCode(cf) == ""; got != (cf == want) {
				t.Errorf("checkPersonalTaxCode(%q) valid %v, want %v", cf, got, cf == want)
			}
		}
	}
}

func TestRedactTaxCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"RSSMRA85T10A562S", "RSSMRA**********"},
		{"12345678903", "12345******"},
		{"ABCD", "AB**"},
		{"", ""},
		{"ÀÈÌÒÙàèìòù", "ÀÈÌÒÙ*****"},
	}
	for _, tt := range tests {
		if got := RedactTaxCode(tt.in); got != tt.want {
			t.Errorf("RedactTaxCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(RedactTaxCode(tt.in), tt.in) && tt.in != "" {
			t.Errorf("RedactTaxCode(%q) contains the whole code", tt.in)
		}
	}
}
