package sim_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// oasKeys returns the key set of an example in the API description
// (visengine.openapi.json), sorted.
func oasKeys(shape string) []string {
	switch shape {
	case "Visure":
		return sorted("nome_visura", "nome_categoria", "hash_visura")
	case "Visura":
		return sorted("nome_visura", "ricerca", "nome_categoria", "json_struttura", "hash_visura", "prezzo_visura", "prezzo_ricerca", "sincrona", "opzioni")
	case "JsonStruttura":
		return sorted("campi", "validazione", "istruzioni", "istruzioni_ricerca")
	case "Campo":
		return sorted("nome", "tipo", "null", "istruzioni", "ordine")
	case "Richiesta":
		return sorted("_id", "state", "hash_visura", "nome", "callback", "ricerca", "id_ricerca", "prezzo_visura",
			"prezzo_ricerca", "indice_ricerca", "stato_richiesta", "email_target", "allegati", "timestamp_creation",
			"timestamp_last_update", "timestamp_stati", "callback_data", "opzioni", "owner", "sincrona", "ricerche", "esito")
	case "Richieste":
		return sorted("_id", "state", "hash_visura", "nome", "ricerca", "id_ricerca", "prezzo_visura", "prezzo_ricerca",
			"indice_ricerca", "stato_richiesta", "email_target", "timestamp_creation", "timestamp_last_update", "owner", "sincrona")
	case "Ricerca":
		return sorted("id_ricerca", "stato_ricerca", "json_ricerca", "json_mappato", "json_risultato")
	case "Esito":
		return sorted("codice", "info")
	case "Allegato":
		return sorted("nome", "dimensione", "file")
	}
	panic("unknown shape " + shape)
}

func checkKeys(t *testing.T, what string, raw []byte, want []string) {
	t.Helper()
	if got := keysOf(t, raw); !slices.Equal(got, want) {
		t.Errorf("%s keys: got %v, want %v", what, got, want)
	}
}

func TestCatalogShapes(t *testing.T) {
	h := newHarness(t, sim.Config{})
	list := decode[[]json.RawMessage](t, h.ok(http.MethodGet, "/visure", nil))
	if len(list) != 9 {
		t.Fatalf("catalog: got %d services, want 9", len(list))
	}
	for _, item := range list {
		checkKeys(t, "visure item", item, oasKeys("Visure"))
		hash := decode[map[string]string](t, item)["hash_visura"]
		data := h.ok(http.MethodGet, "/visure/"+hash, nil)
		checkKeys(t, "visura "+hash, data, oasKeys("Visura"))
		v := decode[map[string]json.RawMessage](t, data)
		checkKeys(t, "json_struttura", v["json_struttura"], oasKeys("JsonStruttura"))
		st := decode[struct {
			Campi      map[string]json.RawMessage `json:"campi"`
			Istruzioni string                     `json:"istruzioni"`
		}](t, v["json_struttura"])
		html, err := base64.StdEncoding.DecodeString(st.Istruzioni)
		if err != nil || !bytes.HasPrefix(html, []byte("<p>")) {
			t.Errorf("%s istruzioni: got %q (%v), want base64 HTML", hash, st.Istruzioni, err)
		}
		for k, c := range st.Campi {
			got := keysOf(t, c)
			if hash == sim.HashVisuraCameraleCapitale && k == "$0" { // the example's $0 has no ordine
				continue
			}
			if !slices.Equal(got, oasKeys("Campo")) && !slices.Equal(got, sorted(append(oasKeys("Campo"), "opzioni")...)) {
				t.Errorf("%s %s keys: got %v, want %v (+opzioni)", hash, k, got, oasKeys("Campo"))
			}
		}
	}
}

// TestISEEFixture pins the ISEE service others write tests against.
func TestISEEFixture(t *testing.T) {
	h := newHarness(t, sim.Config{})
	var got map[string]any
	if err := json.Unmarshal(h.ok(http.MethodGet, "/visure/"+sim.HashISEE, nil), &got); err != nil {
		t.Fatal(err)
	}
	st := got["json_struttura"].(map[string]any)
	for _, c := range st["campi"].(map[string]any) {
		delete(c.(map[string]any), "istruzioni")
	}
	delete(st, "istruzioni")
	field := func(nome, tipo string, null any, ordine string) map[string]any {
		return map[string]any{"nome": nome, "tipo": tipo, "null": null, "ordine": ordine}
	}
	want := map[string]any{
		"nome_visura": "ISEE", "nome_categoria": "Patronato", "hash_visura": sim.HashISEE,
		"prezzo_visura": 12.0, "prezzo_ricerca": 0.0, "ricerca": false, "sincrona": false,
		"opzioni": []any{map[string]any{"tipo": "urgenza", "prezzo": 4.0, "nome": "opzione_0"}},
		"json_struttura": map[string]any{
			"validazione":        "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)",
			"istruzioni_ricerca": "",
			"campi": map[string]any{
				"$0": field("Nome *", "testo", false, "0"),
				"$1": field("Cognome *", "testo", false, "1"),
				"$2": field("Email *", "email", false, "2"),
				"$3": field("Telefono *", "testo", false, "3"),
				"$4": field("Codice Fiscale *", "codice_fiscale_persona_fisica", false, "4"),
				"$5": field("Copia documento d'identità *", "file", false, "5"),
				"$6": field("Copia codice fiscale *", "file", false, "6"),
				"$7": field("Copia delega (mandato)", "file", "1", "7"),
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		t.Errorf("ISEE fixture:\ngot  %s\nwant %s", g, w)
	}
}

func TestCatalogDetails(t *testing.T) {
	h := newHarness(t, sim.Config{})
	raw := h.ok(http.MethodGet, "/visure/"+sim.HashCalcoloPensione, nil)
	// campi keep numeric order: "$2" before "$10".
	if i2, i10 := bytes.Index(raw, []byte(`"$2"`)), bytes.Index(raw, []byte(`"$10"`)); i2 < 0 || i10 < 0 || i2 > i10 {
		t.Errorf(`pensione campi order: "$2" at %d, "$10" at %d, want $2 first`, i2, i10)
	}
	for _, want := range []string{`"tipo":"data_iso8601"`, `"tipo":"cod_comune"`, `"tipo":"cod_provincia"`, `"null":"1"`, `"null":"0"`} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("pensione: missing %s", want)
		}
	}
	cam := decode[map[string]any](t, h.ok(http.MethodGet, "/visure/"+sim.HashVisuraCameraleCapitale, nil))
	st := cam["json_struttura"].(map[string]any)
	if cam["prezzo_visura"] != 4.9 || cam["opzioni"] != nil || st["validazione"] != "$0 && $1  " ||
		st["istruzioni"] != "PHA+UGVyIHJpY2hpZWRlcmUgbGEgVmlzdXJhIENhbWVyYWxlIE9yZGluYXJpYSAtIFNvY2lldCZhZ3JhdmU7IGRpIENhcGl0YWxlIGluc2VyaXNjaSBpIHNlZ3VlbnRpIGRhdGk6Jm5ic3A7Jm5ic3A7PHN0cm9uZz5OcmVhPC9zdHJvbmc+Jm5ic3A7ZSA8c3Ryb25nPkNjaWFhPC9zdHJvbmc+PC9wPg0K" {
		t.Errorf("camerale: got %v, want the example's price, opzioni, validazione and istruzioni", cam)
	}
	r := decode[map[string]any](t, h.ok(http.MethodGet, "/visure/"+sim.HashRettificaISEE, nil))
	if r["opzioni"] != nil || r["prezzo_visura"] != 10.0 {
		t.Errorf("Rettifica ISEE: got opzioni %v price %v, want null 10", r["opzioni"], r["prezzo_visura"])
	}
	seen := map[string]bool{}
	for _, s := range sim.DefaultCatalog() {
		if seen[s.Hash] || len(s.Hash) != 32 || s.Price < 4 || s.Price > 40 {
			t.Errorf("%s: hash %q price %v: want unique 32-char hashes and prices in 4..40", s.Name, s.Hash, s.Price)
		}
		seen[s.Hash] = true
	}
}

func TestRequestShapes(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, Owner: "demo@example.com"})
	data := h.ok(http.MethodPost, "/richiesta", iseeBody(nil))
	checkKeys(t, "POST richiesta", data, oasKeys("Richiesta"))
	m := decode[map[string]json.RawMessage](t, data)
	id := decode[string](t, m["_id"])
	wantRaw := map[string]string{
		"callback_data": "false", "opzioni": "null", "id_ricerca": "null", "indice_ricerca": "null",
		"email_target": "null", "allegati": "[]", "state": "1", "stato_richiesta": `"In erogazione"`,
		"esito": `{"codice":"0","info":"OK"}`, "owner": `"demo@example.com"`, "callback": `"_rib_pat_Isee"`,
		"prezzo_visura": "12", "prezzo_ricerca": "0", "ricerca": "false", "sincrona": "false",
		"timestamp_stati":    `{"in_ricerca":1741942800,"in_erogazione":1741942800}`,
		"timestamp_creation": "1741942800", "timestamp_last_update": "1741942800",
	}
	for k, want := range wantRaw {
		if got := string(m[k]); got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(id) {
		t.Errorf("_id: got %q, want 24 hex digits", id)
	}
	ricerche := decode[[]json.RawMessage](t, m["ricerche"])
	if len(ricerche) != 1 {
		t.Fatalf("ricerche: got %d, want 1", len(ricerche))
	}
	checkKeys(t, "ricerca", ricerche[0], oasKeys("Ricerca"))
	checkKeys(t, "esito", m["esito"], oasKeys("Esito"))
	ric := decode[struct {
		ID      string            `json:"id_ricerca"`
		Stato   string            `json:"stato_ricerca"`
		JSON    string            `json:"json_ricerca"`
		Mappato map[string]string `json:"json_mappato"`
		Result  *string           `json:"json_risultato"`
	}](t, ricerche[0])
	vals := decode[map[string]string](t, []byte(ric.JSON))
	if ric.ID != id+"_0" || ric.Stato != "Ricerca evasa" || ric.Result != nil || vals["$1"] != "Rossi" ||
		vals["$5"] != "ci.pdf|data:application/pdf;base64," || ric.Mappato["Cognome *"] != "Rossi" {
		t.Errorf("ricerca: got %+v, want id %s_0, evasa, json_ricerca with values (file payload elided), json_mappato by name", ric, id)
	}

	list := decode[[]json.RawMessage](t, h.ok(http.MethodGet, "/richiesta", nil))
	checkKeys(t, "GET /richiesta item", list[0], oasKeys("Richieste"))

	c.Advance(time.Minute)
	doc := h.ok(http.MethodGet, "/documento/"+id, nil)
	checkKeys(t, "documento", doc, oasKeys("Allegato"))

	withAll := h.ok(http.MethodPost, "/richiesta", iseeBody(map[string]any{
		"email_target": "ops@example.com", "opzioni": map[string]bool{"opzione_0": true, "opzione_9": true},
		"callback_data": json.RawMessage(`{"url": "http://127.0.0.1:1/cb", "method": "JSON", "data": {"ref": "r-1"}}`),
	}))
	m = decode[map[string]json.RawMessage](t, withAll)
	for k, want := range map[string]string{
		"email_target":  `"ops@example.com"`,
		"opzioni":       `[{"tipo":"urgenza","prezzo":4,"nome":"opzione_0"}]`,
		"callback_data": `{"url":"http://127.0.0.1:1/cb","method":"JSON","data":{"ref":"r-1"}}`,
	} {
		if got := string(m[k]); got != want {
			t.Errorf("%s: got %s, want %s", k, got, want)
		}
	}
}

func TestTestModeCreatesNothing(t *testing.T) {
	h := newHarness(t, sim.Config{})
	data := h.ok(http.MethodPost, "/richiesta", iseeBody(map[string]any{"test": true, "opzioni": map[string]bool{"opzione_0": true}}))
	checkKeys(t, "test answer", data, oasKeys("Richiesta"))
	r := decode[richiesta](t, data)
	if r.ID != "" || r.PrezzoVisura != 12 || len(r.Opzioni) != 1 {
		t.Errorf("test answer: got %+v, want empty _id, price 12, one option", r)
	}
	if got := h.sim.Wallet(); got != 1000 {
		t.Errorf("wallet: got %v, want 1000", got)
	}
	if c := h.sim.Counters(); c["created"] != 0 || c["charged"] != 0 {
		t.Errorf("counters: got %v, want nothing created or charged", c)
	}
	if r := h.do(http.MethodGet, "/richiesta", nil); r.status != http.StatusNotFound {
		t.Errorf("GET /richiesta: got %d, want 404", r.status)
	}
}

func TestLenientInput(t *testing.T) {
	h := newHarness(t, sim.Config{})
	// json_visura as a JSON string, numbers as values, state "1" as a string.
	r := h.create(map[string]any{
		"hash_visura": sim.HashVisuraCameraleCapitale, "state": "1",
		"json_visura": `{"$0": 1378273, "$1": "RM", "extra": "ignored", "$99": "dropped"}`,
	})
	if r.State != 1 || r.Stato != "In erogazione" {
		t.Fatalf("got %+v, want a submitted request", r)
	}
	data := h.ok(http.MethodGet, "/richiesta/"+r.ID, nil)
	if !strings.Contains(string(data), `"json_ricerca":"{\"$0\":\"1378273\",\"$1\":\"RM\"}"`) {
		t.Errorf("json_ricerca: got %s", data)
	}
}
