package visengine_test

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// Contract tests: the client against the simulator over real HTTP.

// emptyID stands for a missing id. The client refuses empty ids itself, so
// the test server turns ".../EMPTY" into ".../" before the simulator sees
// it, to check the client's class for the API's "id required" answers.
const emptyID = "EMPTY"

const unknownID = "0123456789abcdef01234567"

// simEnv is a simulator served on loopback and a client of it.
type simEnv struct {
	sim *sim.Server
	c   *visengine.Client
	url string
}

func startSim(t testing.TB, cfg sim.Config, mod ...func(*visengine.Config)) *simEnv {
	t.Helper()
	cfg.Token = testToken
	if cfg.Step == 0 {
		cfg.Step = 20 * time.Millisecond
	}
	s := sim.New(cfg)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := strings.CutSuffix(r.URL.Path, "/"+emptyID); ok {
			r.URL.Path, r.URL.RawPath = p+"/", ""
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	t.Cleanup(s.Close) // runs first: releases handlers held by a "hang" fault
	return &simEnv{sim: s, c: clientFor(t, ts.URL, mod...), url: ts.URL}
}

// iseeValues are complete json_visura values for the simulator's ISEE.
func iseeValues() map[string]string {
	return map[string]string{
		"$0": "Mario", "$1": "Rossi", "$2": "mario.rossi@example.com", "$3": "3331234567",
		"$4": "RSSMRA80A01H501U",
		"$5": "documento.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		"$6": "codice_fiscale.pdf|data:application/pdf;base64,JVBERi0xLjQK",
	}
}

func iseeRequest() visengine.CreateRequest {
	return visengine.CreateRequest{HashVisura: sim.HashISEE, JSONVisura: iseeValues()}
}

func (e *simEnv) create(t testing.TB, req visengine.CreateRequest) *visengine.Richiesta {
	t.Helper()
	r, err := e.c.CreateRichiesta(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateRichiesta: %v", err)
	}
	return r
}

// pollState polls the request until it reaches want, failing after 5s.
func (e *simEnv) pollState(t testing.TB, id, want string) *visengine.Richiesta {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := e.c.Richiesta(context.Background(), id)
		if err != nil {
			t.Fatalf("Richiesta: %v", err)
		}
		if r.StatoRichiesta == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("request still %q after 5s, want %q", r.StatoRichiesta, want)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not a wait for a condition
	}
}

func TestContractEndpoints(t *testing.T) {
	e := startSim(t, sim.Config{Step: time.Hour}) // states stay put
	ctx := context.Background()

	list, err := e.c.Richieste(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("Richieste on a new account: got %v, %v; want an empty list (404/203)", list, err)
	}
	cat, err := e.c.Visure(ctx)
	if err != nil || !containsHash(cat, sim.HashISEE) {
		t.Fatalf("Visure: got %d services, %v; want ISEE among them", len(cat), err)
	}
	v, err := e.c.Visura(ctx, sim.HashISEE)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.JSONStruttura.Campi) != 8 || !bool(v.JSONStruttura.Campi["$7"].Null) || bool(v.JSONStruttura.Campi["$0"].Null) || len(v.Opzioni) != 1 {
		t.Errorf("Visura(ISEE): got %d campi, $7 null %v, $0 null %v, %d opzioni; want 8, true, false, 1",
			len(v.JSONStruttura.Campi), v.JSONStruttura.Campi["$7"].Null, v.JSONStruttura.Campi["$0"].Null, len(v.Opzioni))
	}

	req := iseeRequest()
	req.Opzioni = map[string]bool{"opzione_0": true}
	created := e.create(t, req)
	if !regexp.MustCompile(`^[0-9a-f]{24}$`).MatchString(created.ID) || created.StatoRichiesta != visengine.StateInProgress || len(created.Opzioni) != 1 {
		t.Errorf("CreateRichiesta: got id %q state %q opzioni %v; want 24 hex, %q, urgenza", created.ID, created.StatoRichiesta, created.Opzioni, visengine.StateInProgress)
	}
	got, err := e.c.Richiesta(ctx, created.ID)
	if err != nil || got.ID != created.ID || got.HashVisura != sim.HashISEE {
		t.Errorf("Richiesta: got %+v, %v; want the created request", got, err)
	}

	zero, one := 0, 1
	draftReq := iseeRequest()
	draftReq.State = &zero
	delete(draftReq.JSONVisura, "$6")
	draft := e.create(t, draftReq)
	upd, err := e.c.UpdateRichiesta(ctx, draft.ID, visengine.UpdateRequest{State: &one, JSONVisura: iseeValues()})
	if err != nil || upd.StatoRichiesta != visengine.StateInProgress || upd.State != 1 {
		t.Errorf("UpdateRichiesta(state 1): got %+v, %v; want it submitted", upd, err)
	}

	del, err := e.c.DeleteRichiesta(ctx, created.ID, "richiesta duplicata")
	if err != nil || del.StatoRichiesta != visengine.StateCancelled || del.MotivoAnnullamento != "richiesta duplicata" {
		t.Errorf("DeleteRichiesta: got %+v, %v; want Annullata with the motivo", del, err)
	}

	_, err = e.c.Documento(ctx, draft.ID, io.Discard)
	if got := visengine.ClassOf(err); got != visengine.ClassNotReady {
		t.Errorf("Documento while In erogazione: got %v, want not_ready", err)
	}

	if _, err := e.c.AddRicerca(ctx, draft.ID, map[string]string{"$0": "x"}); visengine.ClassOf(err) != visengine.ClassPermanent {
		t.Errorf("AddRicerca on a service without search: got %v, want permanent (409/222)", err)
	}
	if _, err := e.c.ChooseRicerca(ctx, draft.ID, draft.ID+"_0", 1); visengine.ClassOf(err) != visengine.ClassPermanent {
		t.Errorf("ChooseRicerca on a service without search: got %v, want permanent (409/230)", err)
	}

	list, err = e.c.Richieste(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("Richieste: got %d, %v; want 2", len(list), err)
	}
	counters := e.sim.Counters()
	for _, op := range allOps() {
		if counters[op] == 0 {
			t.Errorf("sim counter %q is 0, want the endpoint called", op)
		}
	}
}

func containsHash(cat []visengine.VisuraSummary, hash string) bool {
	for _, v := range cat {
		if v.HashVisura == hash {
			return true
		}
	}
	return false
}

// TestContractErrorCodes covers every row of the API's error table (and the
// simulator's 401), checking the status, code and class the client reports.
func TestContractErrorCodes(t *testing.T) {
	ctx := context.Background()
	one := 1
	submitted := func(t testing.TB, e *simEnv) string { return e.create(t, iseeRequest()).ID }
	cancelled := func(t testing.TB, e *simEnv) string {
		id := submitted(t, e)
		if _, err := e.c.DeleteRichiesta(ctx, id, "x"); err != nil {
			t.Fatal(err)
		}
		return id
	}
	draft := func(t testing.TB, e *simEnv) string {
		zero := 0
		return e.create(t, visengine.CreateRequest{HashVisura: sim.HashISEE, State: &zero, JSONVisura: map[string]string{"$0": "Mario"}}).ID
	}
	fixed := func(id string) func(testing.TB, *simEnv) string {
		return func(testing.TB, *simEnv) string { return id }
	}
	tests := []struct {
		name   string
		id     func(testing.TB, *simEnv) string // sets up the case
		call   func(e *simEnv, id string) error
		status int
		code   int
		class  visengine.Class
	}{
		{"GET /visure/{hash} wrong hash", fixed("ffffffffffffffffffffffffffffffff"), func(e *simEnv, id string) error { _, err := e.c.Visura(ctx, id); return err },
			400, 200, visengine.ClassPermanent},
		{"POST hash_visura required", fixed(""), func(e *simEnv, _ string) error {
			_, err := e.c.CreateRichiesta(ctx, visengine.CreateRequest{})
			return err
		},
			428, 204, visengine.ClassPermanent},
		{"POST email invalid", fixed(""), func(e *simEnv, _ string) error {
			req := iseeRequest()
			req.EmailTarget = "not-an-email"
			_, err := e.c.CreateRichiesta(ctx, req)
			return err
		}, 400, 209, visengine.ClassPermanent},
		{"POST validazione fails", fixed(""), func(e *simEnv, _ string) error {
			_, err := e.c.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: sim.HashISEE, JSONVisura: map[string]string{"$0": "Mario"}})
			return err
		}, 412, 250, visengine.ClassPermanent},
		{"POST wallet short", fixed(""), func(e *simEnv, _ string) error {
			e.sim.SetWallet(0)
			_, err := e.c.CreateRichiesta(ctx, iseeRequest())
			return err
		}, 402, 211, visengine.ClassInsufficientCredit},
		{"GET /richiesta/{id} invalid id", fixed("not-an-id"), getRichiesta, 400, 201, visengine.ClassPermanent},
		{"GET /richiesta/{id} unknown", fixed(unknownID), getRichiesta, 404, 202, visengine.ClassNotFound},
		{"PUT id required", fixed(emptyID), putSubmit, 428, 226, visengine.ClassPermanent},
		{"PUT unknown", fixed(unknownID), putSubmit, 404, 228, visengine.ClassNotFound},
		{"PUT already closed", submitted, putSubmit, 400, 239, visengine.ClassPermanent},
		{"PUT input data invalid", draft, putSubmit, 412, 229, visengine.ClassPermanent},
		{"PUT wallet short", func(t testing.TB, e *simEnv) string {
			zero := 0
			id := e.create(t, visengine.CreateRequest{HashVisura: sim.HashISEE, State: &zero, JSONVisura: iseeValues()}).ID
			e.sim.SetWallet(0)
			return id
		}, func(e *simEnv, id string) error {
			_, err := e.c.UpdateRichiesta(ctx, id, visengine.UpdateRequest{State: &one})
			return err
		}, 402, 211, visengine.ClassInsufficientCredit},
		{"DELETE id required", fixed(emptyID), deleteRichiesta, 428, 226, visengine.ClassPermanent},
		{"DELETE unknown", fixed(unknownID), deleteRichiesta, 404, 228, visengine.ClassNotFound},
		{"DELETE already closed", cancelled, deleteRichiesta, 400, 239, visengine.ClassPermanent},
		{"GET /documento id required", fixed(emptyID), getDocumento, 428, 242, visengine.ClassPermanent},
		{"GET /documento invalid id", fixed("not-an-id"), getDocumento, 400, 243, visengine.ClassPermanent},
		{"GET /documento unknown", fixed(unknownID), getDocumento, 404, 244, visengine.ClassNotFound},
		{"GET /documento not yet available", submitted, getDocumento, 422, 247, visengine.ClassNotReady},
		{"GET /documento of a cancelled request", cancelled, getDocumento, 422, 247, visengine.ClassNotReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startSim(t, sim.Config{Step: time.Hour})
			err := tt.call(e, tt.id(t, e))
			got := asError(t, err)
			if got.Status != tt.status || got.Code != tt.code || got.Class != tt.class {
				t.Errorf("got HTTP %d code %d class %v, want %d %d %v (err: %v)", got.Status, got.Code, got.Class, tt.status, tt.code, tt.class, err)
			}
			if got.Message == "" || got.UpstreamMessage() == "" {
				t.Errorf("got message %q, upstream message %q; want both", got.Message, got.UpstreamMessage())
			}
		})
	}
	t.Run("wrong token", func(t *testing.T) {
		e := startSim(t, sim.Config{}, func(cfg *visengine.Config) { cfg.Token = "wrong" })
		for _, op := range allOps() {
			if e := asError(t, invoke(ctx, e.c, op)); e.Status != 401 || e.Class != visengine.ClassRetryable {
				t.Errorf("%s: got HTTP %d class %v, want 401 retryable", op, e.Status, e.Class)
			}
		}
	})
}

func getRichiesta(e *simEnv, id string) error {
	_, err := e.c.Richiesta(context.Background(), id)
	return err
}

func putSubmit(e *simEnv, id string) error {
	one := 1
	_, err := e.c.UpdateRichiesta(context.Background(), id, visengine.UpdateRequest{State: &one})
	return err
}

func deleteRichiesta(e *simEnv, id string) error {
	_, err := e.c.DeleteRichiesta(context.Background(), id, "test")
	return err
}

func getDocumento(e *simEnv, id string) error {
	_, err := e.c.Documento(context.Background(), id, io.Discard)
	return err
}

func TestContractFaults(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		faults     sim.Faults
		op         string
		status     int
		class      visengine.Class
		retryAfter time.Duration
		deadline   bool
	}{
		{"503 on GET", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /richiesta/{id}": {Next: 1, Status: 503}}},
			"GET /richiesta/{id}", 503, visengine.ClassRetryable, 0, false},
		{"500 on POST", sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 500}}},
			"POST /richiesta", 500, visengine.ClassAmbiguous, 0, false},
		{"502 on documento", sim.Faults{Errors: map[string]sim.ErrorFault{"GET /documento/{id}": {Next: 1, Status: 502}}},
			"GET /documento/{id}", 502, visengine.ClassRetryable, 0, false},
		{"429 with Retry-After", sim.Faults{Throttle: map[string]sim.ThrottleFault{"*": {Next: 1, RetryAfter: 2}}},
			"POST /richiesta", 429, visengine.ClassThrottled, 2 * time.Second, false},
		{"latency past the timeout on GET", sim.Faults{Latency: time.Second},
			"GET /visure", 0, visengine.ClassRetryable, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startSim(t, sim.Config{Faults: tt.faults}, func(cfg *visengine.Config) { cfg.Timeout = 200 * time.Millisecond })
			err := invoke(ctx, e.c, tt.op)
			got := asError(t, err)
			if got.Status != tt.status || got.Class != tt.class || got.RetryAfter != tt.retryAfter {
				t.Errorf("got HTTP %d class %v retryAfter %v, want %d %v %v (err: %v)", got.Status, got.Class, got.RetryAfter, tt.status, tt.class, tt.retryAfter, err)
			}
			if errors.Is(err, context.DeadlineExceeded) != tt.deadline {
				t.Errorf("got errors.Is(err, DeadlineExceeded) %v, want %v", !tt.deadline, tt.deadline)
			}
		})
	}
}

func TestContractEvasaAndDocument(t *testing.T) {
	e := startSim(t, sim.Config{})
	ctx := context.Background()
	r := e.create(t, iseeRequest())
	final := e.pollState(t, r.ID, visengine.StateFulfilled)
	if final.TimestampStati.VisuraEvasa == 0 || final.TimestampStati.DatiDisponibili == 0 {
		t.Errorf("got timestamp_stati %+v, want dati_disponibili and visura_evasa set", final.TimestampStati)
	}

	var buf bytes.Buffer
	doc, err := e.c.Documento(ctx, r.ID, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if doc.Nome != r.ID+".zip" || doc.Written != int64(buf.Len()) || doc.Dimensione != doc.Written {
		t.Errorf("got %+v for %d bytes, want %s.zip with matching sizes", *doc, buf.Len(), r.ID)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatalf("document is not a ZIP: %v", err)
	}
	if len(zr.File) != 1 || !strings.HasSuffix(zr.File[0].Name, ".pdf") {
		t.Fatalf("got ZIP entries %v, want one PDF", zr.File)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pdf, err := io.ReadAll(f)
	if err != nil || !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		t.Errorf("got %q…, %v; want a PDF", pdf[:min(len(pdf), 8)], err)
	}
	if _, want, ok := e.sim.Document(r.ID); !ok || !bytes.Equal(want, buf.Bytes()) {
		t.Error("got a document that differs from the simulator's")
	}
}

func TestContractAnnullata(t *testing.T) {
	e := startSim(t, sim.Config{CancelRate: 1})
	r := e.create(t, iseeRequest())
	final := e.pollState(t, r.ID, visengine.StateCancelled)
	if final.Esito == nil || final.Esito.Codice == "0" || final.Esito.Codice == "" || final.MotivoAnnullamento == "" || final.TimestampStati.Annullata == 0 {
		t.Errorf("got esito %+v motivo %q annullata %v, want a failure code, a motivo and a timestamp", final.Esito, final.MotivoAnnullamento, final.TimestampStati.Annullata)
	}
	_, err := e.c.Documento(context.Background(), r.ID, io.Discard)
	if got := visengine.ClassOf(err); got != visengine.ClassNotReady {
		t.Errorf("Documento of an Annullata request: got %v, want not_ready", err)
	}
}

func TestContractCommitThenFail(t *testing.T) {
	for _, mode := range []string{sim.ModeBadGateway, sim.ModeHang} {
		t.Run(mode, func(t *testing.T) {
			e := startSim(t, sim.Config{Faults: sim.Faults{CommitThenFail: sim.CommitThenFail{Mode: mode, Next: 1}}},
				func(cfg *visengine.Config) { cfg.Timeout = time.Second })
			ctx := context.Background()
			_, err := e.c.CreateRichiesta(ctx, iseeRequest())
			if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
				t.Fatalf("got %v, want ambiguous", err)
			}
			if hang := mode == sim.ModeHang; errors.Is(err, context.DeadlineExceeded) != hang {
				t.Errorf("got %v, want errors.Is(err, DeadlineExceeded) %v", err, hang)
			}
			var list []visengine.RichiestaSummary
			waitFor(t, func() bool { // the hung handler may still be creating
				list, err = e.c.Richieste(ctx)
				return err == nil && len(list) > 0
			})
			if len(list) != 1 || list[0].HashVisura != sim.HashISEE {
				t.Errorf("Richieste: got %+v; want the one request that was created", list)
			}
			c := e.sim.Counters()
			if c["POST /richiesta"] != 1 || c["created"] != 1 || c["charged"] != 1 {
				t.Errorf("got counters POST %d created %d charged %d, want 1 1 1", c["POST /richiesta"], c["created"], c["charged"])
			}
		})
	}
}

func TestContractWalletRunsDry(t *testing.T) {
	e := startSim(t, sim.Config{Wallet: 30, Step: time.Hour}) // ISEE costs 12
	ctx := context.Background()
	for range 2 {
		e.create(t, iseeRequest())
	}
	_, err := e.c.CreateRichiesta(ctx, iseeRequest())
	got := asError(t, err)
	if got.Status != 402 || got.Code != 211 || got.Class != visengine.ClassInsufficientCredit || !strings.Contains(got.UpstreamMessage(), "Insufficient Credit in Wallet: 6") {
		t.Errorf("got %v, want 402/211 insufficient credit showing the 6 euro left", err)
	}
	if got.Retryable() {
		t.Error("got Retryable() true for insufficient credit, want false")
	}
	if c := e.sim.Counters(); c["charged"] != 2 {
		t.Errorf("got %d charges, want 2", c["charged"])
	}
}

func BenchmarkCreateRichiesta(b *testing.B) {
	e := startSim(b, sim.Config{Wallet: 1e9, Step: time.Hour})
	ctx := context.Background()
	req := iseeRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.c.CreateRichiesta(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
