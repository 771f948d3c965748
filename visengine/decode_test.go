package visengine_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// serveFile answers every call with testdata/name.
func serveFile(t *testing.T, name string) *visengine.Client {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
}

func TestDecodeVisure(t *testing.T) {
	got, err := serveFile(t, "visure.json").Visure(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []visengine.VisuraSummary{
		{NomeVisura: "Visura Camerale Ordinaria - società di Capitale", NomeCategoria: "Camerali", HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3"},
		{NomeVisura: "ISEE", NomeCategoria: "Patronato", HashVisura: "6aa0789f5ba34684b2bc5ccf364f8929"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestDecodeVisura(t *testing.T) {
	ctx := context.Background()
	v, err := serveFile(t, "visura.json").Visura(ctx, "eccbc87e4b5ce2fe28308fd9f2a7baf3")
	if err != nil {
		t.Fatal(err)
	}
	campi := v.JSONStruttura.Campi
	tests := []struct {
		name      string
		got, want any
	}{
		{"campi", len(campi), 3},
		{"null false", campi["$0"].Null, visengine.Bool(false)},
		{`null "1"`, campi["$1"].Null, visengine.Bool(true)},
		{`null "0"`, campi["$10"].Null, visengine.Bool(false)},
		{"ordine", campi["$10"].Ordine, visengine.String("10")},
		{"ordine absent", campi["$0"].Ordine, visengine.String("")},
		{"campo opzioni", campi["$10"].Opzioni, visengine.String("a|b")},
		{"validazione", v.JSONStruttura.Validazione, "$0 && $1  "},
		{"prezzo", v.PrezzoVisura, visengine.NullFloat{Float: 4.9, Valid: true}},
		{`prezzo_ricerca "0"`, v.PrezzoRicerca, visengine.Float(0)},
		{`sincrona "0"`, v.Sincrona, visengine.Bool(false)},
		{"opzioni null", v.Opzioni == nil, true},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	v, err = serveFile(t, "visura_opzioni.json").Visura(ctx, "6aa0789f5ba34684b2bc5ccf364f8929")
	if err != nil {
		t.Fatal(err)
	}
	want := visengine.Opzioni{{Tipo: "urgenza", Prezzo: visengine.NullFloat{Float: 4, Valid: true}, Nome: "opzione_0"}}
	if !reflect.DeepEqual(v.Opzioni, want) || v.PrezzoVisura != (visengine.NullFloat{Float: 12.5, Valid: true}) || v.PrezzoRicerca != 0 {
		t.Errorf("got opzioni %+v prezzo %v/%v, want %+v 12.5/0", v.Opzioni, v.PrezzoVisura, v.PrezzoRicerca, want)
	}
}

func TestDecodeRichieste(t *testing.T) {
	for _, file := range []string{"richieste.json", "richieste_object.json"} {
		got, err := serveFile(t, file).Richieste(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(got) != 2 || got[0].ID != "5f22f722065afc42223c7131" || got[1].StatoRichiesta != visengine.StateCancelled ||
			got[0].State == nil || *got[0].State != 1 || got[1].State == nil || *got[1].State != 0 {
			t.Errorf("%s: got %+v, want two requests in order", file, got)
		}
	}
	got, _ := serveFile(t, "richieste.json").Richieste(context.Background())
	if got[1].TimestampCreation != 1595326122 || got[0].IDRicerca != "" || got[0].IndiceRicerca != nil || got[0].EmailTarget != "" {
		t.Errorf("got %+v, want the string timestamp decoded and nulls empty", got[1])
	}
	got, _ = serveFile(t, "richieste_object.json").Richieste(context.Background())
	if got[0].StatoRichiesta != visengine.StateFulfilled || got[0].PrezzoVisura != 5 || got[1].PrezzoVisura != 1234.5 ||
		got[1].TimestampLastUpdate != 0 || got[1].IndiceRicerca != nil {
		t.Errorf("got %+v, want PHP's scalars decoded, the state normalised and undecodable fields zero", got)
	}
}

func TestDecodeRichiesta(t *testing.T) {
	ctx := context.Background()
	r, err := serveFile(t, "richiesta.json").CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: "x"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"id", r.ID, "5f2829ce065afc21cc60ad0e"},
		{"callback_data false", r.CallbackData.CallbackData == nil, true},
		{"opzioni null", r.Opzioni == nil, true},
		{"esito", *r.Esito, visengine.Esito{Codice: "0", Info: "OK"}},
		{"json_ricerca decoded", r.Ricerche[0].Input, map[string]string{"$1": "RM", "$0": "1378273"}},
		{"nothing cut", r.Ricerche[0].Cut == nil && r.Ricerche[0].MappedCut == nil, true},
		{"json_mappato", r.Ricerche[0].Mapped, map[string]string{"NRea": "1378273", "Cciaa": "RM"}},
		{"id_ricerca", r.Ricerche[0].IDRicerca, visengine.String("5f2829ce065afc21cc60ad0e_0")},
		{"stato_ricerca", r.Ricerche[0].StatoRicerca, "Ricerca evasa"},
		{"not partial", r.Partial, false},
		{"json_risultato null", r.Ricerche[0].JSONRisultato == nil, true},
		{"timestamp_stati", r.TimestampStati.InErogazione, visengine.Timestamp(1596467663)},
		{"allegati", r.Allegati, []string{}},
		{"prezzo", r.PrezzoVisura, visengine.Float(4.78)},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("richiesta.json %s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}

	r, err = serveFile(t, "richiesta_callback.json").Richiesta(ctx, "5f22f722065afc42223c7131")
	if err != nil {
		t.Fatal(err)
	}
	cb := r.CallbackData.CallbackData
	tests = []struct {
		name      string
		got, want any
	}{
		{"callback_data object", cb != nil && cb.URL == "https://example.com/cb" && cb.Method == "JSON" && cb.Field == "data", true},
		{"callback_data.data", cb != nil && string(cb.Data) == `{"ref":"abc"}`, true},
		{"opzioni as sent", r.Opzioni, visengine.Opzioni{{Nome: "opzione_0"}}},
		{"esito.codice number", r.Esito.Codice, visengine.String("101")},
		{"state string", r.State, visengine.Int(1)},
		{"indice_ricerca", r.IndiceRicerca != nil && *r.IndiceRicerca == 2, true},
		{"annullata string", r.TimestampStati.Annullata, visengine.Timestamp(1596127022)},
		{"motivo", r.MotivoAnnullamento, visengine.String("dati incompleti")},
		{"sincrona", r.Sincrona, visengine.Bool(true)},
		{"allegati", r.Allegati, []string{"5f22f722065afc42223c7131.pdf"}},
		{"ricerche []", r.Ricerche, []visengine.Ricerca{}},
		{"email_target", r.EmailTarget, visengine.String("x@example.com")},
		{"prezzo string", r.PrezzoVisura, visengine.Float(12)},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("richiesta_callback.json %s: got %#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

func TestDecodeDocumento(t *testing.T) {
	want := []byte("PK\x03\x04 documento ISEE \xff\xfe\xfd\xfc???>>>")
	tests := []struct {
		file, nome string
	}{
		{"documento.json", "5f22f5b5065afc21cc60a27a.zip"},
		{"documento_reordered.json", "docà.zip"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		d, err := serveFile(t, tt.file).Documento(context.Background(), "5f22f5b5065afc21cc60a27a", &buf)
		if err != nil {
			t.Fatalf("%s: %v", tt.file, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s: got file %q, want %q", tt.file, buf.Bytes(), want)
		}
		wantDoc := visengine.Document{Nome: tt.nome, Dimensione: int64(len(want)), Written: int64(len(want))}
		if *d != wantDoc {
			t.Errorf("%s: got %+v, want %+v", tt.file, *d, wantDoc)
		}
	}
}

// TestTimestampInMilliseconds: the published examples give unix seconds; an
// answer in milliseconds must still put the request at its time, or
// reconciliation would look for it tens of thousands of years too late and
// send the submission again.
func TestTimestampInMilliseconds(t *testing.T) {
	want := time.Date(2020, 8, 3, 16, 34, 22, 0, time.UTC)
	for _, raw := range []string{`1596472462`, `"1596472462"`, `1596472462000`, `"1596472462000"`} {
		var ts visengine.Timestamp
		if err := ts.UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if got := ts.Time(); !got.Equal(want) {
			t.Errorf("%s: got %v, want %v", raw, got, want)
		}
	}
	var ts visengine.Timestamp
	if err := ts.UnmarshalJSON([]byte(`1596472462123`)); err != nil {
		t.Fatal(err)
	}
	if got := ts.Time(); !got.Equal(want.Add(123 * time.Millisecond)) {
		t.Errorf("milliseconds: got %v", got)
	}
}
