package schema

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// kind is the check a field's tipo selects.
type kind uint8

const (
	kindText kind = iota // testo, denominazione, catastale_* and every unknown tipo
	kindPersonalTaxCode
	kindTaxCode
	kindVATNumber
	kindEmail
	kindComune
	kindProvincia
	kindDate
	kindFile
)

// kindOf maps a published tipo to its check.
func kindOf(tipo string) kind {
	switch strings.ToLower(strings.TrimSpace(tipo)) {
	case "codice_fiscale_persona_fisica":
		return kindPersonalTaxCode
	case "codice_fiscale":
		return kindTaxCode
	case "partita_iva":
		return kindVATNumber
	case "email":
		return kindEmail
	case "cod_comune":
		return kindComune
	case "cod_provincia":
		return kindProvincia
	case "data_iso8601":
		return kindDate
	case "file":
		return kindFile
	}
	return kindText
}

// checked is the outcome of one field check.
type checked struct {
	value string // the value to send upstream, normalised
	code  string // "" when valid
	msg   string
	ref   bool  // value is an Object Store reference still to resolve
	size  int64 // decoded size of an inline file
}

func invalid(code, msg string) checked { return checked{code: code, msg: msg} }

// check checks a trimmed, non-empty value against a kind.
func check(k kind, v string, lim Limits) checked {
	switch k {
	case kindPersonalTaxCode:
		return checkWith(strings.ToUpper(v), CodeInvalidTaxCode, checkPersonalTaxCode)
	case kindTaxCode:
		return checkWith(strings.ToUpper(v), CodeInvalidTaxOrVAT, checkTaxOrVAT)
	case kindVATNumber:
		return checkWith(v, CodeInvalidVATNumber, checkVATNumber)
	case kindEmail:
		return checkWith(v, CodeInvalidEmail, checkEmail)
	case kindComune:
		return checkWith(strings.ToUpper(v), CodeInvalidComune, checkComune)
	case kindProvincia:
		return checkWith(strings.ToUpper(v), CodeInvalidProvincia, checkProvincia)
	case kindDate:
		return checkDate(v)
	case kindFile:
		return checkFile(v, lim)
	}
	return checkText(v, lim)
}

func checkWith(v, code string, f func(string) string) checked {
	if reason := f(v); reason != "" {
		return invalid(code, reason)
	}
	return checked{value: v}
}

// checkTaxOrVAT accepts a personal codice fiscale or the 11-digit form
// companies use (the partita IVA).
func checkTaxOrVAT(v string) string {
	switch {
	case len(v) == 16:
		return checkPersonalTaxCode(v)
	case len(v) == 11 && isDigit(v[0]):
		return checkVATNumber(v)
	}
	return "must be a 16-character codice fiscale or an 11-digit one (partita IVA)"
}

// checkText accepts valid UTF-8 without control characters (C0, DEL or
// C1) other than tab and line breaks (LF, or CR LF as web forms send
// them), of at most lim.MaxTextLen characters.
func checkText(v string, lim Limits) checked {
	n := 0
	for i := 0; i < len(v); n++ {
		c := v[i]
		if c < utf8.RuneSelf {
			if isControl(rune(c)) && c != '\t' && c != '\n' && (c != '\r' || i+1 == len(v) || v[i+1] != '\n') {
				return invalid(CodeInvalidText, "contains control characters (only tab and line breaks are allowed)")
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			return invalid(CodeInvalidText, "is not valid UTF-8 text")
		}
		if isControl(r) {
			return invalid(CodeInvalidText, "contains control characters (only tab and line breaks are allowed)")
		}
		i += size
	}
	if n > lim.MaxTextLen {
		return invalid(CodeTooLong, fmt.Sprintf("is %d characters long; at most %d are allowed", n, lim.MaxTextLen))
	}
	return checked{value: v}
}

// isControl reports whether r is a Unicode control character (category
// Cc): C0, DEL or C1.
func isControl(r rune) bool {
	return r < ' ' || r >= 0x7f && r <= 0x9f
}

// checkComune accepts a Belfiore code: a letter and three digits.
func checkComune(v string) string {
	if len(v) != 4 || !isUpper(v[0]) || !isDigit(v[1]) || !isDigit(v[2]) || !isDigit(v[3]) {
		return "must be a codice catastale: a letter and three digits, e.g. H501"
	}
	return ""
}

// checkProvincia accepts a two-letter province abbreviation.
func checkProvincia(v string) string {
	if len(v) != 2 || !isUpper(v[0]) || !isUpper(v[1]) {
		return "must be the two letters of a province, e.g. RM"
	}
	return ""
}
