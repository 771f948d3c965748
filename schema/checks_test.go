package schema

import (
	"strings"
	"testing"
)

type checkCase struct {
	in, value, code string // value "" with code "" means the input unchanged
}

func runChecks(t *testing.T, k kind, lim Limits, tests []checkCase) {
	t.Helper()
	for _, tt := range tests {
		want := tt.value
		if want == "" && tt.code == "" {
			want = tt.in
		}
		c := check(k, tt.in, lim.withDefaults())
		if c.code != tt.code || c.value != want {
			t.Errorf("check(%q) = (%q, %q %q), want (%q, %q)", shorten(tt.in), c.value, c.code, c.msg, want, tt.code)
		}
		if c.code != "" && c.msg == "" {
			t.Errorf("check(%q) = %q without a message", shorten(tt.in), c.code)
		}
	}
}

func TestEmail(t *testing.T) {
	bad := CodeInvalidEmail
	runChecks(t, kindEmail, Limits{}, []checkCase{
		{in: "mario.rossi@example.it"},
		{in: "Mario.Rossi+isee@mail.example.com"},
		{in: "a@b.co"},
		{in: "o'brien@example.ie"},
		{in: "user@xn--caf-dma.it"},
		{in: "utente@perché.it"},
		{in: "mario.rossi", code: bad},
		{in: "mario@rossi@example.it", code: bad},
		{in: "@example.it", code: bad},
		{in: "mario@", code: bad},
		{in: "mario@localhost", code: bad},
		{in: "mario@example.", code: bad},
		{in: "mario@.example.it", code: bad},
		{in: "mario@example..it", code: bad},
		{in: "mario@-example.it", code: bad},
		{in: "mario@example.1", code: bad},
		{in: "mario@192.168.0.1", code: bad},
		{in: "mario@[192.168.0.1]", code: bad},
		{in: "Mario Rossi <mario@example.it>", code: bad},
		{in: "<mario@example.it>", code: bad},
		{in: "mario rossi@example.it", code: bad},
		{in: `"mario"@example.it`, code: bad},
		{in: ".mario@example.it", code: bad},
		{in: "mario.@example.it", code: bad},
		{in: "ma..rio@example.it", code: bad},
		{in: "mario@exa_mple.it", code: bad},
		{in: "mario@example.it, luigi@example.it", code: bad},
		{in: strings.Repeat("a", 65) + "@example.it", code: bad},
		{in: "a@" + strings.Repeat("b", 64) + ".it", code: bad},
	})
}

func TestValidEmail(t *testing.T) {
	tests := []struct {
		addr string
		want bool
	}{
		{"hr@example.com", true},
		{" hr@example.com", false},
		{"HR <hr@example.com>", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidEmail(tt.addr); got != tt.want {
			t.Errorf("ValidEmail(%q) = %v, want %v", tt.addr, got, tt.want)
		}
	}
}

func TestComuneProvincia(t *testing.T) {
	runChecks(t, kindComune, Limits{}, []checkCase{
		{in: "H501"},
		{in: "h501", value: "H501"},
		{in: "Z404"},
		{in: "H50", code: CodeInvalidComune},
		{in: "H5011", code: CodeInvalidComune},
		{in: "1501", code: CodeInvalidComune},
		{in: "HH01", code: CodeInvalidComune},
		{in: "Roma", code: CodeInvalidComune},
	})
	runChecks(t, kindProvincia, Limits{}, []checkCase{
		{in: "RM"},
		{in: "mi", value: "MI"},
		{in: "R", code: CodeInvalidProvincia},
		{in: "RMA", code: CodeInvalidProvincia},
		{in: "R1", code: CodeInvalidProvincia},
		{in: "Roma", code: CodeInvalidProvincia},
	})
}

func TestDate(t *testing.T) {
	bad := CodeInvalidDate
	runChecks(t, kindDate, Limits{}, []checkCase{
		{in: "31-12-1980"},
		{in: "01-01-2000"},
		{in: "29-02-2024"},
		{in: "29-02-2000"},
		{in: "1980-12-31", value: "31-12-1980"},
		{in: "2024-02-29", value: "29-02-2024"},
		{in: "29-02-2023", code: bad},
		{in: "29-02-1900", code: bad},
		{in: "2023-02-29", code: bad},
		{in: "30-02-2024", code: bad},
		{in: "31-04-2024", code: bad},
		{in: "31-06-2024", code: bad},
		{in: "31-09-2024", code: bad},
		{in: "31-11-2024", code: bad},
		{in: "00-01-2024", code: bad},
		{in: "32-01-2024", code: bad},
		{in: "15-00-2024", code: bad},
		{in: "15-13-2024", code: bad},
		{in: "01-01-0201", code: bad},
		{in: "01-01-9999", code: bad},
		{in: "1-1-2024", code: bad},
		{in: "01/01/2024", code: bad},
		{in: "2024/01/01", code: bad},
		{in: "20240101", code: bad},
		{in: "01-01-24", code: bad},
		{in: "0a-01-2024", code: bad},
		{in: "+1-01-2024", code: bad},
		{in: "2024-01-01T00:00:00Z", code: bad},
		{in: "31-12-1980 ", code: bad}, // Validate trims; check does not
	})
}

func TestText(t *testing.T) {
	lim := Limits{MaxTextLen: 10}
	runChecks(t, kindText, lim, []checkCase{
		{in: "Mario"},
		{in: "D'Annunzio"},
		{in: "Via Roma\n1"},
		{in: "0123456789"},
		{in: "01234567890", code: CodeTooLong},
		{in: "àààààààààà"},
		{in: "ààààààààààà", code: CodeTooLong},
		{in: "a\x00b", code: CodeInvalidText},
		{in: "a\x1bb", code: CodeInvalidText},
		{in: "a\x7fb", code: CodeInvalidText},
		{in: "a\xffb", code: CodeInvalidText},
	})
}

// TestKindOf shows that unknown and catasto types are checked as text.
func TestKindOf(t *testing.T) {
	tests := []struct {
		tipo string
		want kind
	}{
		{"testo", kindText},
		{"denominazione", kindText},
		{"catastale_foglio", kindText},
		{"catastale_particella", kindText},
		{"catastale_sub", kindText},
		{"firma_digitale", kindText},
		{"", kindText},
		{"codice_fiscale_persona_fisica", kindPersonalTaxCode},
		{"Codice_Fiscale", kindTaxCode},
		{"partita_iva", kindVATNumber},
		{"email", kindEmail},
		{"cod_comune", kindComune},
		{"cod_provincia", kindProvincia},
		{"data_iso8601", kindDate},
		{" file ", kindFile},
	}
	for _, tt := range tests {
		if got := kindOf(tt.tipo); got != tt.want {
			t.Errorf("kindOf(%q) = %d, want %d", tt.tipo, got, tt.want)
		}
	}
}
