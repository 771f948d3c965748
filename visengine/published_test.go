package visengine_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// TestPublishedExamples serves every response example of the Visengine
// OpenAPI description, and the ISEE product page's, from testdata/published
// through an httptest server with its status, and checks what the real
// client returns: a value, or an *Error's status, code, class and message.
// docs/visengine.md tables the same rows.
func TestPublishedExamples(t *testing.T) {
	const perm, notFound, credit = visengine.ClassPermanent, visengine.ClassNotFound, visengine.ClassInsufficientCredit
	tests := []struct {
		file   string
		status int
		op     string
		check  func(v any) bool // for a success
		class  visengine.Class  // for a failure
		code   int
		msg    string // iseed's Message
	}{
		{file: "get_visure_200.json", status: 200, op: "GET /visure", check: func(v any) bool {
			l := v.([]visengine.VisuraSummary)
			return len(l) == 92 && l[0].HashVisura == "eccbc87e4b5ce2fe28308fd9f2a7baf3" && hasService(l, "ISEE", "Patronato", "6aa0789f5ba34684b2bc5ccf364f8929")
		}},
		{file: "get_visure_hash_200.json", status: 200, op: "GET /visure/{hash}", check: func(v any) bool {
			s := v.(*visengine.Visura)
			c := s.JSONStruttura.Campi
			return s.HashVisura == "eccbc87e4b5ce2fe28308fd9f2a7baf3" && len(c) == 2 && c["$0"].Nome == "NRea" && c["$0"].Ordine == "" &&
				c["$1"].Ordine == "1" && !bool(c["$1"].Null) && s.JSONStruttura.Validazione == "$0 && $1  " &&
				s.PrezzoVisura == (visengine.NullFloat{Float: 4.9, Valid: true}) && s.Opzioni == nil && !bool(s.Ricerca)
		}},
		{file: "get_visure_hash_400.json", status: 400, op: "GET /visure/{hash}", class: perm, code: 200, msg: "wrong hash_visura"},
		{file: "get_richiesta_200.json", status: 200, op: "GET /richiesta", check: func(v any) bool {
			l := v.([]visengine.RichiestaSummary)
			return len(l) == 3 && l[0].ID == "5f22f722065afc42223c7131" && l[0].StatoRichiesta == visengine.StateFulfilled &&
				l[2].StatoRichiesta == visengine.StateCancelled && l[2].State != nil && *l[2].State == 0 && l[0].TimestampCreation == 1596127010 && l[0].PrezzoVisura == 5
		}},
		{file: "get_richiesta_404.json", status: 404, op: "GET /richiesta", check: func(v any) bool {
			l := v.([]visengine.RichiestaSummary)
			return l != nil && len(l) == 0
		}},
		{file: "post_richiesta_200.json", status: 200, op: "POST /richiesta", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			return r.ID == "5f2829ce065afc21cc60ad0e" && r.StatoRichiesta == visengine.StateInProgress && r.PrezzoVisura == 4.78 &&
				reflect.DeepEqual(r.Ricerche[0].Input, map[string]string{"$1": "RM", "$0": "1378273"}) &&
				reflect.DeepEqual(r.Ricerche[0].Mapped, map[string]string{"NRea": "1378273", "Cciaa": "RM"}) &&
				r.Esito.Codice == "0" && r.TimestampStati.InErogazione == 1596467663 && r.CallbackData.CallbackData == nil
		}},
		{file: "post_richiesta_400.json", status: 400, op: "POST /richiesta", class: perm, code: 209, msg: "email_target is invalid"},
		{file: "post_richiesta_402.json", status: 402, op: "POST /richiesta", class: credit, code: 211, msg: "insufficient credit in the wallet"},
		{file: "post_richiesta_412.json", status: 412, op: "POST /richiesta", class: perm, code: 250, msg: "insufficient data to validate the request"},
		{file: "post_richiesta_428.json", status: 428, op: "POST /richiesta", class: perm, code: 204, msg: "hash_visura required"},
		{file: "get_richiesta_id_200.json", status: 200, op: "GET /richiesta/{id}", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			return r.ID == "5f22f722065afc42223c7131" && r.StatoRichiesta == visengine.StateFulfilled &&
				reflect.DeepEqual(r.Allegati, []string{"5f22f722065afc42223c7131.pdf"}) && r.TimestampStati.VisuraEvasa == 1596127022 &&
				reflect.DeepEqual(r.Ricerche[0].Input, map[string]string{"$0": "SCRLCU73R02H501H"})
		}},
		{file: "get_richiesta_id_400.json", status: 400, op: "GET /richiesta/{id}", class: perm, code: 201, msg: "invalid id"},
		{file: "get_richiesta_id_404.json", status: 404, op: "GET /richiesta/{id}", class: notFound, code: 202, msg: "no request matches this id"},
		{file: "post_richiesta_id_200.json", status: 200, op: "POST /richiesta/{id}", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			rs := r.Ricerche
			return r.StatoRichiesta == visengine.StateSearching && len(rs) == 2 && r.Esito.Codice == "101" && r.PrezzoRicerca == 0.38 &&
				rs[0].JSONRisultato != nil && len(*rs[0].JSONRisultato) == 570 && rs[1].JSONRisultato == nil &&
				rs[1].StatoRicerca == "Errore su richiesta dati" && rs[1].Input["$1"] == "12345678910"
		}},
		{file: "post_richiesta_id_400.json", status: 400, op: "POST /richiesta/{id}", class: perm, code: 219, msg: "invalid id"},
		{file: "post_richiesta_id_402.json", status: 402, op: "POST /richiesta/{id}", class: credit, code: 225, msg: "insufficient credit in the wallet"},
		{file: "post_richiesta_id_404.json", status: 404, op: "POST /richiesta/{id}", class: notFound, code: 221, msg: "the request is in state 0, not yet finalized"},
		{file: "post_richiesta_id_409.json", status: 409, op: "POST /richiesta/{id}", class: perm, code: 222, msg: "the request does not allow a search"},
		{file: "post_richiesta_id_412.json", status: 412, op: "POST /richiesta/{id}", class: perm, code: 250, msg: "insufficient data to validate the request"},
		{file: "post_richiesta_id_428.json", status: 428, op: "POST /richiesta/{id}", class: perm, code: 224, msg: "json_visura required"},
		{file: "put_richiesta_id_200.json", status: 200, op: "PUT /richiesta/{id}", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			return r.ID == "5f283eae065afc21cf466ea4" && r.State == 1 && r.StatoRichiesta == visengine.StateInProgress &&
				r.Ricerche[0].Input["$0"] == "572372"
		}},
		{file: "put_richiesta_id_400.json", status: 400, op: "PUT /richiesta/{id}", class: perm, code: 239, msg: "the request has already been closed"},
		{file: "put_richiesta_id_404.json", status: 404, op: "PUT /richiesta/{id}", class: notFound, code: 228, msg: "no request matches this id"},
		{file: "put_richiesta_id_412.json", status: 412, op: "PUT /richiesta/{id}", class: perm, code: 229, msg: "error in the input data"},
		{file: "put_richiesta_id_428.json", status: 428, op: "PUT /richiesta/{id}", class: perm, code: 226, msg: "id required"},
		{file: "put_richiesta_id_ricerche_200.json", status: 200, op: "PUT /richiesta/{id}/ricerche", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			return r.IndiceRicerca != nil && *r.IndiceRicerca == 1 && r.IDRicerca == "5f283eae065afc21cf466ea4_0" &&
				r.Ricerche[0].JSONRisultato != nil && len(*r.Ricerche[0].JSONRisultato) == 2759 && r.Ricerche[0].Input["$0"] == "altravia"
		}},
		{file: "put_richiesta_id_ricerche_400.json", status: 400, op: "PUT /richiesta/{id}/ricerche", class: perm, code: 234, msg: "indice must be >= 0"},
		{file: "put_richiesta_id_ricerche_402.json", status: 402, op: "PUT /richiesta/{id}/ricerche", class: credit, code: 237, msg: "insufficient credit in the wallet"},
		{file: "put_richiesta_id_ricerche_404.json", status: 404, op: "PUT /richiesta/{id}/ricerche", class: notFound, code: 228, msg: "no request matches this id"},
		{file: "put_richiesta_id_ricerche_409.json", status: 409, op: "PUT /richiesta/{id}/ricerche", class: perm, code: 230, msg: "the request has no results to choose from"},
		{file: "put_richiesta_id_ricerche_428.json", status: 428, op: "PUT /richiesta/{id}/ricerche", class: perm, code: 233, msg: "indice not valid or required"},
		{file: "get_documento_id_200.json", status: 200, op: "GET /documento/{id}", check: func(v any) bool {
			d := v.(*visengine.Document)
			return d.Nome == "5f22f5b5065afc21cc60a27a.zip" && d.Dimensione == 10206 && d.Written == 103
		}},
		{file: "get_documento_id_400.json", status: 400, op: "GET /documento/{id}", class: perm, code: 243, msg: "invalid id"},
		{file: "get_documento_id_404.json", status: 404, op: "GET /documento/{id}", class: notFound, code: 244, msg: "no request matches this id"},
		{file: "get_documento_id_422.json", status: 422, op: "GET /documento/{id}", class: visengine.ClassNotReady, code: 247, msg: "document not yet available"},
		{file: "get_documento_id_428.json", status: 428, op: "GET /documento/{id}", class: perm, code: 242, msg: "id required"},
		{file: "product_post_richiesta_isee_200.json", status: 200, op: "POST /richiesta", check: func(v any) bool {
			r := v.(*visengine.Richiesta)
			return r.ID == "64f0c2a1e4b0a1b2c3d4e5f6" && r.Ricerche != nil && len(r.Ricerche) == 0 && r.StatoRichiesta == visengine.StateInProgress
		}},
		{file: "product_get_visure_730_200.json", status: 200, op: "GET /visure/{hash}", check: func(v any) bool {
			s := v.(*visengine.Visura)
			c := s.JSONStruttura.Campi
			return len(c) == 8 && !bool(c["$7"].Null) && c["$7"].Tipo == "file" && s.NomeCategoria == "Patronato" &&
				s.JSONStruttura.Validazione == "($0 && $1 && $2 && $3 && $4 && $5 && $6 && $7) || ($0 && $1 && $2 && $3 && $4 && $5 && $6)"
		}},
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "published", "*.json"))
	if len(files) != len(tests) {
		t.Errorf("got %d examples in testdata/published and %d rows, want a row for every example", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", "published", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			c := newClient(t, raw(tt.status, string(body), "Content-Type", "application/json"))
			v, err := call(context.Background(), c, tt.op, body)
			if tt.check != nil {
				if err != nil || !tt.check(v) {
					t.Errorf("got %+v, %v", v, err)
				}
				return
			}
			e := asError(t, err)
			if e.Status != tt.status || e.Code != tt.code || e.Class != tt.class || e.Message != tt.msg || e.Op != tt.op {
				t.Errorf("got %s: HTTP %d code %d class %v message %q, want %s: %d %d %v %q", e.Op, e.Status, e.Code, e.Class, e.Message, tt.op, tt.status, tt.code, tt.class, tt.msg)
			}
			if up := e.UpstreamMessage(); up == "" || !bytes.Contains(body, []byte(up)) {
				t.Errorf("got upstream message %q, want the example's", up)
			}
		})
	}
}

func hasService(l []visengine.VisuraSummary, name, category, hash string) bool {
	for _, s := range l {
		if s == (visengine.VisuraSummary{NomeVisura: name, NomeCategoria: category, HashVisura: hash}) {
			return true
		}
	}
	return false
}

// call makes the call named op and returns what the client returns. A
// call on one request asks for the request its example answers with (the
// examples are of different requests): the client takes an answer about
// another request for no answer.
func call(ctx context.Context, c *visengine.Client, op string, body []byte) (any, error) {
	id := "5f22f722065afc42223c7131"
	if m := exampleID.FindSubmatch(body); m != nil {
		id = string(m[1])
	}
	switch op {
	case "GET /visure":
		return c.Visure(ctx)
	case "GET /visure/{hash}":
		return c.Visura(ctx, "eccbc87e4b5ce2fe28308fd9f2a7baf3")
	case "GET /richiesta":
		return c.Richieste(ctx)
	case "GET /documento/{id}":
		var buf bytes.Buffer
		return c.Documento(ctx, id, &buf)
	case "POST /richiesta/{id}":
		return c.AddRicerca(ctx, id, map[string]string{"$1": "12345678910", "$0": ""})
	case "PUT /richiesta/{id}/ricerche":
		return c.ChooseRicerca(ctx, id, id+"_0", 1)
	case "GET /richiesta/{id}":
		return c.Richiesta(ctx, id)
	case "PUT /richiesta/{id}":
		one := 1
		return c.UpdateRichiesta(ctx, id, visengine.UpdateRequest{State: &one})
	}
	return richiestaOp(ctx, c, op)
}

// exampleID finds the request id an example answers with: the first _id.
var exampleID = regexp.MustCompile(`"_id"\s*:\s*"([0-9a-f]{24})"`)
