package visengine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// TestVisuraPHPEmptyForms: PHP's json_encode writes an empty array as [],
// and PHP code writes "nothing" as false or null as often as "". A service
// schema holding such a form for istruzioni, validazione, opzioni or the
// structure itself was unreadable, and every submission naming the service
// was retried until it expired. Each form decodes as nothing; what is not
// "nothing" (true, a non-empty list) stays an error.
func TestVisuraPHPEmptyForms(t *testing.T) {
	published, err := os.ReadFile(filepath.Join("testdata", "published", "get_visure_hash_200.json"))
	if err != nil {
		t.Fatal(err)
	}
	const (
		istruzioni    = `"istruzioni":"PHA+UGVyIHJpY2hpZWRlcmUgbGEgVmlzdXJhIENhbWVyYWxlIE9yZGluYXJpYSAtIFNvY2lldCZhZ3JhdmU7IGRpIENhcGl0YWxlIGluc2VyaXNjaSBpIHNlZ3VlbnRpIGRhdGk6Jm5ic3A7Jm5ic3A7PHN0cm9uZz5OcmVhPC9zdHJvbmc+Jm5ic3A7ZSA8c3Ryb25nPkNjaWFhPC9zdHJvbmc+PC9wPg0K"`
		validazione   = `"validazione":"$0 && $1  "`
		ricerca       = `"istruzioni_ricerca":""`
		opzioni       = `"opzioni":null`
		campoIstr     = `"istruzioni":"Inserire il Numero di Rea dell'azienda"`
		campoIstrWant = "Inserire il Numero di Rea dell'azienda"
	)
	for _, part := range []string{istruzioni, validazione, ricerca, opzioni, campoIstr} {
		if !strings.Contains(string(published), part) {
			t.Fatalf("the published example no longer holds %s", part)
		}
	}
	nothing := []string{`false`, `null`, `""`, `[]`, `{}`}
	type form struct {
		name, old, new string
		check          func(*visengine.Visura) bool
	}
	var forms []form
	for _, n := range nothing {
		forms = append(forms,
			form{"istruzioni " + n, istruzioni, `"istruzioni":` + n, func(v *visengine.Visura) bool { return v.JSONStruttura.Istruzioni == "" }},
			form{"validazione " + n, validazione, `"validazione":` + n, func(v *visengine.Visura) bool { return v.JSONStruttura.Validazione == "" }},
			form{"istruzioni_ricerca " + n, ricerca, `"istruzioni_ricerca":` + n, func(v *visengine.Visura) bool { return v.JSONStruttura.IstruzioniRicerca == "" }},
			form{"opzioni " + n, opzioni, `"opzioni":` + n, func(v *visengine.Visura) bool { return len(v.Opzioni) == 0 }},
			form{"a campo's istruzioni " + n, campoIstr, `"istruzioni":` + n, func(v *visengine.Visura) bool {
				return v.JSONStruttura.Campi["$0"].Istruzioni == "" && v.JSONStruttura.Campi["$1"].Istruzioni != ""
			}},
		)
	}
	for _, n := range []string{`[]`, `false`, `null`, `""`, `{}`} {
		forms = append(forms, form{"json_struttura " + n, `"json_struttura":{`, `"json_struttura":` + n + `,"was":{`, func(v *visengine.Visura) bool {
			s := v.JSONStruttura
			return len(s.Campi) == 0 && s.Validazione == "" && s.Istruzioni == "" && s.IstruzioniRicerca == ""
		}})
	}
	for _, f := range forms {
		body := strings.Replace(string(published), f.old, f.new, 1)
		v, err := newClient(t, raw(200, body)).Visura(context.Background(), "eccbc87e4b5ce2fe28308fd9f2a7baf3")
		if err != nil {
			t.Errorf("%s: %v; want the service", f.name, err)
			continue
		}
		if v.HashVisura != "eccbc87e4b5ce2fe28308fd9f2a7baf3" || !f.check(v) {
			t.Errorf("%s: got %+v; want the service with nothing there", f.name, v)
		}
	}

	// What is not a form of nothing has no reading: the answer stays unreadable.
	for _, f := range []struct{ name, old, new string }{
		{"istruzioni true", istruzioni, `"istruzioni":true`},
		{"validazione a non-empty list", validazione, `"validazione":["$0"]`},
		{"validazione an object", validazione, `"validazione":{"0":"$0"}`},
		{"opzioni true", opzioni, `"opzioni":true`},
		{"json_struttura a non-empty list", `"json_struttura":{`, `"json_struttura":[1],"was":{`},
	} {
		body := strings.Replace(string(published), f.old, f.new, 1)
		_, err := newClient(t, raw(200, body)).Visura(context.Background(), "eccbc87e4b5ce2fe28308fd9f2a7baf3")
		if visengine.ClassOf(err) != visengine.ClassRetryable {
			t.Errorf("%s: got %v; want an unreadable answer", f.name, err)
		}
	}
}
