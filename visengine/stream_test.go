package visengine_test

import (
	"context"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

const reqID = "5f2829ce065afc21cc60ad0e"

// answer wraps data (a JSON object's members) in a success envelope.
func answer(members string) string {
	return `{"success":true,"message":"","error":null,"data":{"_id":"` + reqID + `"` + members + `}}`
}

// ricercaOf is one search whose json_ricerca is the JSON text inner (sent,
// as the API does, inside a string).
func ricercaOf(inner string) string {
	return `,"ricerche":[{"id_ricerca":"` + reqID + `_0","stato_ricerca":"Ricerca evasa","json_ricerca":` + quoteJSON(inner) + `}]`
}

func quoteJSON(s string) string {
	return strconv.Quote(s) // the inner texts here hold no byte strconv and JSON escape differently
}

// TestRichiestaKeepsWithinLimits: with MaxValueBytes 64 and MaxResponseBytes
// 200, what is kept is bounded, and what is not is marked or left zero; the
// answer is a success whatever it carries besides its _id.
func TestRichiestaKeepsWithinLimits(t *testing.T) {
	long := strings.Repeat("x", 65)
	file := "documento.pdf|data:application/pdf;base64," + strings.Repeat("JVBERi0xLjQK", 1000)
	tests := []struct {
		name    string
		members string
		check   func(r *visengine.Richiesta) bool
	}{
		{"small values kept", ricercaOf(`{"$0":"Mario","$1":"RSSMRA80A01H501U"}`), func(r *visengine.Richiesta) bool {
			return reflect.DeepEqual(r.Ricerche[0].Input, map[string]string{"$0": "Mario", "$1": "RSSMRA80A01H501U"}) && r.Ricerche[0].Cut == nil
		}},
		{"value over MaxValueBytes cut", ricercaOf(`{"$0":"Mario","$1":"` + long + `"}`), func(r *visengine.Richiesta) bool {
			return reflect.DeepEqual(r.Ricerche[0].Input, map[string]string{"$0": "Mario"}) && reflect.DeepEqual(r.Ricerche[0].Cut, map[string]bool{"$1": true})
		}},
		{"inline file elided", ricercaOf(`{"$5":"` + file + `"}`), func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Input["$5"] == "documento.pdf|data:application/pdf;base64," && r.Ricerche[0].Cut == nil
		}},
		{"inline file with a name over the limit cut", ricercaOf(`{"$5":"` + long + `|data:application/pdf;base64,JVBE"}`), func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Cut["$5"] && len(r.Ricerche[0].Input) == 0
		}},
		{"';base64,' without '|data:' is no file", ricercaOf(`{"$0":"a;base64,` + long + `"}`), func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Cut["$0"]
		}},
		{"values past MaxResponseBytes cut", ricercaOf(`{"$0":"` + strings.Repeat("a", 60) + `","$1":"` + strings.Repeat("b", 60) + `","$2":"` + strings.Repeat("c", 60) + `","$3":"` + strings.Repeat("d", 60) + `"}`), func(r *visengine.Richiesta) bool {
			// id_ricerca and stato_ricerca take 41 of the 200 bytes: two values fit.
			in := r.Ricerche[0]
			return len(in.Input) == 2 && in.Cut["$2"] && in.Cut["$3"]
		}},
		{"numbers as written, other JSON types cut", ricercaOf(`{"$0":1378273,"$1":null,"$2":true,"$3":{"a":"b"},"$4":-1.5e3}`), func(r *visengine.Richiesta) bool {
			return reflect.DeepEqual(r.Ricerche[0].Input, map[string]string{"$0": "1378273", "$4": "-1.5e3"}) &&
				reflect.DeepEqual(r.Ricerche[0].Cut, map[string]bool{"$1": true, "$2": true, "$3": true})
		}},
		{"escapes decoded", ricercaOf(`{"$0":"citt\u00e0 \"vecchia\" a\/b"}`), func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Input["$0"] == `città "vecchia" a/b`
		}},
		{"json_ricerca as an object", `,"ricerche":[{"json_ricerca":{"$0":"Mario"},"json_mappato":{"Nome *":"Mario"}}]`, func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Input["$0"] == "Mario" && r.Ricerche[0].Mapped["Nome *"] == "Mario"
		}},
		{"json_ricerca not JSON", `,"ricerche":[{"json_ricerca":"{$0: Mario"}]`, func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Input == nil
		}},
		{"json_ricerca empty string or null", `,"ricerche":[{"json_ricerca":""},{"json_ricerca":null}]`, func(r *visengine.Richiesta) bool {
			return len(r.Ricerche) == 2 && r.Ricerche[0].Input == nil && r.Ricerche[1].Input == nil
		}},
		{"json_ricerca and json_mappato as PHP's empty array", `,"ricerche":[{"json_ricerca":"[]","json_mappato":[]}]`, func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Input != nil && len(r.Ricerche[0].Input) == 0 && len(r.Ricerche[0].Mapped) == 0
		}},
		{"json_mappato value cut", `,"ricerche":[{"json_mappato":{"Nome":"Mario","Nota":"` + long + `"}}]`, func(r *visengine.Richiesta) bool {
			return r.Ricerche[0].Mapped["Nome"] == "Mario" && r.Ricerche[0].MappedCut["Nota"]
		}},
		{"json_risultato kept or cut", `,"ricerche":[{"json_risultato":"{\"indice_0\":{}}"},{"json_risultato":"` + long + `"},{"json_risultato":null}]`, func(r *visengine.Richiesta) bool {
			rs := r.Ricerche
			return rs[0].JSONRisultato != nil && *rs[0].JSONRisultato == `{"indice_0":{}}` && rs[1].JSONRisultato == nil && rs[1].RisultatoCut &&
				rs[2].JSONRisultato == nil && !rs[2].RisultatoCut
		}},
		{"ricerche as an object", `,"ricerche":{"0":{"json_ricerca":"{\"$0\":\"a\"}"},"2":{"json_ricerca":"{\"$0\":\"b\"}"}}`, func(r *visengine.Richiesta) bool {
			return len(r.Ricerche) == 2 && r.Ricerche[0].Input["$0"] == "a" && r.Ricerche[1].Input["$0"] == "b"
		}},
		{"ricerche of the wrong shape", `,"ricerche":[1,"x",null,{"id_ricerca":"y"}]`, func(r *visengine.Richiesta) bool {
			return len(r.Ricerche) == 1 && r.Ricerche[0].IDRicerca == "y"
		}},
		{"allegati and opzioni as objects", `,"allegati":{"0":"a.pdf","1":"b.pdf"},"opzioni":{"0":{"tipo":"urgenza","prezzo":"4,00","nome":"opzione_0"}}`, func(r *visengine.Richiesta) bool {
			return reflect.DeepEqual(r.Allegati, []string{"a.pdf", "b.pdf"}) && len(r.Opzioni) == 1 && r.Opzioni[0].Prezzo == (visengine.NullFloat{Float: 4, Valid: true})
		}},
		{"PHP scalars", `,"prezzo_visura":"11,70","prezzo_ricerca":"1.234,50","state":"1","stato_richiesta":" visura  EVASA "`, func(r *visengine.Richiesta) bool {
			return r.PrezzoVisura == 11.7 && r.PrezzoRicerca == 1234.5 && r.State == 1 && r.StatoRichiesta == visengine.StateFulfilled
		}},
		{"malformed fields left zero", `,"prezzo_visura":"gratis","timestamp_stati":[],"esito":"OK","callback_data":12,"state":{},"nome":["x"],"stato_richiesta":"In erogazione"`, func(r *visengine.Richiesta) bool {
			return r.PrezzoVisura == 0 && r.TimestampStati == (visengine.TimestampStati{}) && r.Esito == nil &&
				r.CallbackData.CallbackData == nil && r.State == 0 && r.Nome == "" && r.StatoRichiesta == visengine.StateInProgress
		}},
		{"callback_data as a string holding its object", `,"callback_data":"{\"url\":\"https://a/cb\",\"data\":{\"s\":1}}"`, func(r *visengine.Richiesta) bool {
			cb := r.CallbackData.CallbackData
			return cb != nil && cb.URL == "https://a/cb" && string(cb.EchoedData()) == `{"s":1}`
		}},
		{"callback_data as a string of no object left zero", `,"callback_data":"https://a/cb","nome":"ISEE"`, func(r *visengine.Richiesta) bool {
			return r.CallbackData.CallbackData == nil && r.Nome == "ISEE"
		}},
		{"field over MaxValueBytes left zero", `,"nome":"` + long + `","owner":"o@example.com"`, func(r *visengine.Richiesta) bool {
			return r.Nome == "" && r.Owner == "o@example.com"
		}},
		{"unknown keys skipped whatever their size", `,"_padding":"` + strings.Repeat("A", 100000) + `","fornitori":[{"a":[1,2,{"b":"}"}]}],"nome":"ISEE"`, func(r *visengine.Richiesta) bool {
			return r.Nome == "ISEE"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, raw(200, answer(tt.members)), func(cfg *visengine.Config) { cfg.MaxValueBytes, cfg.MaxResponseBytes = 64, 200 })
			for _, op := range []string{"POST /richiesta", "GET /richiesta/{id}"} {
				r, err := richiestaOp(context.Background(), c, op)
				if err != nil {
					t.Fatalf("%s: got %v, want a success", op, err)
				}
				if r.ID != reqID || r.Partial || !tt.check(r) {
					t.Errorf("%s: got %+v", op, r)
				}
			}
		})
	}
}

// richiestaOp makes a call that answers one request.
func richiestaOp(ctx context.Context, c *visengine.Client, op string) (*visengine.Richiesta, error) {
	switch op {
	case "POST /richiesta":
		return c.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "x"}})
	case "GET /richiesta/{id}":
		return c.Richiesta(ctx, reqID)
	case "PUT /richiesta/{id}":
		one := 1
		return c.UpdateRichiesta(ctx, reqID, visengine.UpdateRequest{State: &one})
	case "DELETE /richiesta/{id}":
		return c.DeleteRichiesta(ctx, reqID, "test")
	case "POST /richiesta/{id}":
		return c.AddRicerca(ctx, reqID, map[string]string{"$1": "12345678910"})
	case "PUT /richiesta/{id}/ricerche":
		return c.ChooseRicerca(ctx, reqID, reqID+"_0", 1)
	}
	panic("no such op " + op)
}

func TestRichiestaID(t *testing.T) {
	tests := []struct {
		name, id string
		want     string // "" for an ambiguous POST
	}{
		{"string", `"5f2829ce065afc21cc60ad0e"`, reqID},
		{"extended JSON", `{"$oid":"5f2829ce065afc21cc60ad0e"}`, reqID},
		{"padded", `" 5f2829ce065afc21cc60ad0e "`, reqID},
		{"empty", `""`, ""},
		{"null", `null`, ""},
		{"list", `["5f2829ce065afc21cc60ad0e"]`, ""},
		{"longer than 1 KiB", `"` + strings.Repeat("a", 1025) + `"`, ""},
	}
	for _, tt := range tests {
		body := `{"success":true,"data":{"stato_richiesta":"In erogazione","_id":` + tt.id + `}}`
		r, err := newClient(t, raw(200, body)).CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h"})
		switch {
		case tt.want == "" && visengine.ClassOf(err) != visengine.ClassAmbiguous:
			t.Errorf("%s: got %+v, %v; want an ambiguous failure", tt.name, r, err)
		case tt.want != "" && (err != nil || r.ID != tt.want):
			t.Errorf("%s: got %+v, %v; want id %s", tt.name, r, err, tt.want)
		}
	}
}

// An answer that breaks off after a readable _id is a success for the
// calls that change something (the change has a name), and retryable for a GET.
func TestAnswerBreaksOffAfterID(t *testing.T) {
	head := `{"success":true,"message":"","error":null,"data":{"_id":"` + reqID + `","stato_richiesta":"In erogazione","ricerche":[{"json_ricerca":"{\"$0\":\"Ma`
	tests := []struct {
		name  string
		h     http.HandlerFunc
		stall bool
	}{
		{"cut", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Length", "100000")
			_, _ = io.WriteString(w, head)
		}, false},
		{"malformed", raw(200, head+`"}] "x" }}`), false},
		{"stalls past the timeout", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			_, _ = io.WriteString(w, head)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			timeout := 5 * time.Second
			if tt.stall {
				timeout = 300 * time.Millisecond
			}
			c := newClient(t, tt.h, func(cfg *visengine.Config) { cfg.Timeout = timeout })
			for _, op := range []string{"POST /richiesta", "PUT /richiesta/{id}", "DELETE /richiesta/{id}"} {
				r, err := richiestaOp(context.Background(), c, op)
				if err != nil || r.ID != reqID || !r.Partial || r.StatoRichiesta != visengine.StateInProgress {
					t.Errorf("%s: got %+v, %v; want a partial success naming the request", op, r, err)
				}
			}
			if _, err := richiestaOp(context.Background(), c, "GET /richiesta/{id}"); visengine.ClassOf(err) != visengine.ClassRetryable {
				t.Errorf("GET: got %v, want retryable", err)
			}
		})
	}
}

// An answer that breaks off before its _id, or that says it failed, is no success.
func TestAnswerBreaksOffBeforeID(t *testing.T) {
	tests := []struct {
		name, body string
		class      visengine.Class
	}{
		{"before _id", `{"success":true,"data":{"stato_richiesta":"In erogazione","nome":"IS`, visengine.ClassAmbiguous},
		{"inside _id", `{"success":true,"data":{"_id":"5f2829ce065a`, visengine.ClassAmbiguous},
		{"success false before data", `{"success":false,"error":211,"data":{"_id":"` + reqID + `","nome":"IS`, visengine.ClassAmbiguous},
		{"data not an object", `{"success":true,"data":"` + reqID + `"}`, visengine.ClassAmbiguous},
	}
	for _, tt := range tests {
		err := invoke(context.Background(), newClient(t, raw(200, tt.body)), "POST /richiesta")
		if got := visengine.ClassOf(err); got != tt.class {
			t.Errorf("%s: got %v, want %v", tt.name, err, tt.class)
		}
	}
}

// repeat reads block over and over, n bytes in all: a generator of large
// answers that holds only block.
type repeat struct {
	block string
	off   int
	n     int64
}

func (r *repeat) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.n {
		p = p[:r.n]
	}
	k := 0
	for k < len(p) {
		c := copy(p[k:], r.block[r.off:])
		k += c
		r.off = (r.off + c) % len(r.block)
	}
	r.n -= int64(k)
	return k, nil
}

// repeated reads whole copies of block, about size bytes in all.
func repeated(block string, size int64) io.Reader {
	n := size - size%int64(len(block))
	return &repeat{block: strings.Repeat(block, 256), n: n}
}

// echoFile answers a POST as the API does when it echoes an inline file of
// size bytes in json_ricerca (inside a string, '/' escaped as PHP does) and
// in json_mappato, streamed from a generator.
func echoFile(size int64) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"data":{"_id":"`+reqID+`","state":1,"stato_richiesta":"In erogazione","prezzo_visura":"11,70",`+
			`"ricerche":[{"id_ricerca":"`+reqID+`_0","stato_ricerca":"Ricerca evasa",`+
			`"json_ricerca":"{\"$0\":\"Mario\",\"$5\":\"ci.pdf|data:application\\\/pdf;base64,`)
		_, _ = io.Copy(w, repeated(`JVBERi0xLjQK\\\/QUJDRA==`, size))
		_, _ = io.WriteString(w, `\",\"$6\":\"Rossi\"}","json_mappato":{"Nome *":"Mario","Copia documento *":"ci.pdf|data:application\/pdf;base64,`)
		_, _ = io.Copy(w, repeated(`JVBERi0xLjQK\/QUJDRA==`, size))
		_, _ = io.WriteString(w, `"},"json_risultato":null}],"esito":{"codice":"0","info":"OK"}},"success":true,"message":"","error":null}`)
	}
}

// A POST whose answer echoes megabytes of files returns its request, and
// the echo is never held in memory: the bytes allocated during the call
// (client, server and net/http together) stay far below its size.
func TestPostAnswerEchoingLargeFiles(t *testing.T) {
	sizes := []int64{9 << 20, 100 << 20}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, size := range sizes {
		t.Run(strconv.FormatInt(size>>20, 10)+"MiB", func(t *testing.T) {
			c := newClient(t, echoFile(size), func(cfg *visengine.Config) { cfg.Timeout = 2 * time.Minute })
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h"})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			in := r.Ricerche[0]
			wantIn := map[string]string{"$0": "Mario", "$5": "ci.pdf|data:application/pdf;base64,", "$6": "Rossi"}
			wantMapped := map[string]string{"Nome *": "Mario", "Copia documento *": "ci.pdf|data:application/pdf;base64,"}
			if r.ID != reqID || r.Partial || r.PrezzoVisura != 11.7 || !reflect.DeepEqual(in.Input, wantIn) || in.Cut != nil ||
				!reflect.DeepEqual(in.Mapped, wantMapped) || r.Esito == nil || r.Esito.Codice != "0" {
				t.Errorf("got %+v, want the request with its input, payloads elided", r)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocated %d bytes for an answer of %d bytes", alloc, 2*size)
			if alloc > 4<<20 {
				t.Errorf("got %d bytes allocated for an echo of 2×%d bytes, want under 4 MiB", alloc, size)
			}
		})
	}
}
