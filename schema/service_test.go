package schema

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadService(t testing.TB, name string) *Service {
	t.Helper()
	s, err := Parse(readTestdata(t, name))
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return s
}

func TestParseISEE(t *testing.T) {
	s := loadService(t, "isee.json")
	if s.Hash != "6aa0789f5ba34684b2bc5ccf364f8929" || s.Name != "ISEE" || s.Price != 12 {
		t.Errorf("got %q %q %v, want the ISEE hash, name and price 12", s.Hash, s.Name, s.Price)
	}
	if len(s.Fields) != 8 {
		t.Fatalf("got %d fields, want 8", len(s.Fields))
	}
	f := s.Fields[4]
	if f.Key != "$4" || f.Name != "Codice Fiscale *" || f.Label != "Codice Fiscale" || f.Optional || f.kind != kindPersonalTaxCode {
		t.Errorf("$4 = %+v, want the required tax code field", f)
	}
	if !s.Fields[7].Optional || s.Fields[6].Optional {
		t.Errorf(`"null":"1" gave Optional %v, "null":false gave %v; want true, false`, s.Fields[7].Optional, s.Fields[6].Optional)
	}
	if f.Instructions != "<p>Codice fiscale del richiedente</p>" {
		t.Errorf("instructions = %q, want the decoded HTML", f.Instructions)
	}
	if len(s.Options) != 1 || s.Options[0] != (Option{Name: "opzione_0", Type: "urgenza", Price: 4}) {
		t.Errorf("options = %+v, want urgenza opzione_0 at 4", s.Options)
	}
	if len(s.rule.terms) != 1 { // the 8-field alternative is absorbed by the 7-field one
		t.Errorf("rule has %d alternatives, want 1", len(s.rule.terms))
	}
}

func TestParseForms(t *testing.T) {
	isee := readTestdata(t, "isee.json")
	var env struct{ Data json.RawMessage }
	if err := json.Unmarshal(isee, &env); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file   string
		raw    []byte
		fields int
		opts   int
		hash   string
	}{
		{"isee.json envelope", isee, 8, 1, "6aa0789f5ba34684b2bc5ccf364f8929"},
		{"isee.json bare", env.Data, 8, 1, "6aa0789f5ba34684b2bc5ccf364f8929"},
		{"camerale.json", readTestdata(t, "camerale.json"), 2, 0, "eccbc87e4b5ce2fe28308fd9f2a7baf3"},
		{"catastale.json", readTestdata(t, "catastale.json"), 12, 2, "Zq3xK8_catastale-storica-0000001"},
	}
	for _, tt := range tests {
		s, err := Parse(tt.raw)
		if err != nil {
			t.Errorf("%s: %v", tt.file, err)
			continue
		}
		if len(s.Fields) != tt.fields || len(s.Options) != tt.opts || s.Hash != tt.hash {
			t.Errorf("%s: %d fields, %d options, hash %q; want %d, %d, %q", tt.file, len(s.Fields), len(s.Options), s.Hash, tt.fields, tt.opts, tt.hash)
		}
	}
}

func TestParseCatastale(t *testing.T) {
	s := loadService(t, "catastale.json")
	var keys []string
	for _, f := range s.Fields {
		keys = append(keys, f.Key)
	}
	if got := strings.Join(keys, " "); got != "$0 $1 $2 $3 $4 $5 $6 $7 $8 $9 $10 $11" {
		t.Errorf("fields in order %s, want $0 … $11 by index", got)
	}
	if s.Price != 6.5 || !s.Search || s.Sync {
		t.Errorf("price %v search %v sync %v, want 6.5 true false (from strings)", s.Price, s.Search, s.Sync)
	}
	if s.Fields[0].Optional || !s.Fields[1].Optional {
		t.Errorf(`"null":"0" → Optional %v, "null":"1" → %v; want false, true`, s.Fields[0].Optional, s.Fields[1].Optional)
	}
	c := loadService(t, "camerale.json")
	if c.Fields[0].Instructions != "Inserire il Numero di Rea dell'azienda" {
		t.Errorf("plain-text instructions = %q, want them kept", c.Fields[0].Instructions)
	}
}

func TestParseErrors(t *testing.T) {
	good := `"hash_visura":"h","nome_visura":"X","prezzo_visura":1`
	campi := `"campi":{"$0":{"nome":"A","tipo":"testo","null":false},"$1":{"nome":"B","tipo":"testo","null":"1"}}`
	tests := []struct {
		name, raw, field string
		pos              int
	}{
		{"not JSON", `{`, "json", -1},
		{"not an object", `[]`, "json", -1},
		{"envelope without data", `{"data":null,"success":false,"message":"wrong hash_visura","error":200}`, "data", -1},
		{"no hash", `{"json_struttura":{` + campi + `,"validazione":"$0"}}`, "hash_visura", -1},
		{"validazione does not parse", `{` + good + `,"json_struttura":{` + campi + `,"validazione":"$0 && && $1"}}`, "validazione", 6},
		{"validazione names a missing field", `{` + good + `,"json_struttura":{` + campi + `,"validazione":"$0 && $2"}}`, "validazione", 6},
		{"campi key not $N", `{` + good + `,"json_struttura":{"campi":{"nome":{"nome":"A","tipo":"testo"}},"validazione":""}}`, "campi", -1},
		{"campi key with a leading zero", `{` + good + `,"json_struttura":{"campi":{"$01":{"nome":"A"}},"validazione":""}}`, "campi", -1},
		{"null that is not a boolean", `{` + good + `,"json_struttura":{"campi":{"$0":{"nome":"A","null":"yes"}},"validazione":""}}`, "json", -1},
		{"option without nome", `{` + good + `,"json_struttura":{` + campi + `,"validazione":"$0"},"opzioni":[{"tipo":"urgenza","prezzo":4}]}`, "opzioni", -1},
		{"two options with one nome", `{` + good + `,"json_struttura":{` + campi + `,"validazione":"$0"},"opzioni":[{"nome":"opzione_0"},{"nome":"OPZIONE_0"}]}`, "opzioni", -1},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.raw))
		var se *SchemaError
		if !errors.As(err, &se) {
			t.Errorf("%s: Parse = %v, want a *SchemaError", tt.name, err)
			continue
		}
		if se.Field != tt.field || se.Pos != tt.pos {
			t.Errorf("%s: Parse = %q (field %q, pos %d), want field %q pos %d", tt.name, err, se.Field, se.Pos, tt.field, tt.pos)
		}
	}
}

func TestParseTolerates(t *testing.T) {
	tests := []struct{ name, raw string }{
		{"opzioni null", `{"hash_visura":"h","json_struttura":{"campi":{"$0":{"nome":"A"}},"validazione":"$0"},"opzioni":null}`},
		{"opzioni empty", `{"hash_visura":"h","json_struttura":{"campi":{"$0":{"nome":"A"}},"validazione":"$0"},"opzioni":[]}`},
		{"no validazione", `{"hash_visura":"h","json_struttura":{"campi":{"$0":{"nome":"A"}}}}`},
		{"null absent, ordine a number", `{"hash_visura":"h","json_struttura":{"campi":{"$0":{"nome":"A","ordine":3}},"validazione":"$0"}}`},
		{"unknown top-level keys", `{"hash_visura":"h","nuovo":1,"json_struttura":{"campi":{"$0":{"nome":"A","x":[]}},"validazione":"$0"}}`},
		{"sparse indexes", `{"hash_visura":"h","json_struttura":{"campi":{"$3":{"nome":"A"},"$12":{"nome":"B"}},"validazione":"$3 || $12"}}`},
	}
	for _, tt := range tests {
		if _, err := Parse([]byte(tt.raw)); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestFieldLookup(t *testing.T) {
	s := loadService(t, "isee.json")
	tests := []struct {
		key  string
		want string // "" for not found
	}{
		{"$4", "$4"},
		{" $4 ", "$4"},
		{"Codice Fiscale", "$4"},
		{"codice fiscale", "$4"},
		{"CODICE FISCALE *", "$4"},
		{"Codice Fiscale*", "$4"},
		{"copia documento d'identità", "$5"},
		{"COPIA DOCUMENTO D'IDENTITÀ", "$5"},
		{"Copia delega (mandato)", "$7"},
		{"$8", ""},
		{"$04", ""},
		{"Codice", ""},
		{"", ""},
		{"*", ""},
	}
	for _, tt := range tests {
		f, ok := s.Field(tt.key)
		got := ""
		if ok {
			got = f.Key
		}
		if got != tt.want {
			t.Errorf("Field(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
