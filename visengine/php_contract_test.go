package visengine_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// Contract tests: the real client against the simulator at its least kind.

// TestContractPHPBackend: every shape fault on every answer (a BOM and a
// notice before the JSON, lists as objects, PHP's scalars, 2 MB of padding,
// files echoed whole): a request goes through its whole life.
func TestContractPHPBackend(t *testing.T) {
	e := startSim(t, sim.Config{Faults: sim.Faults{
		Preamble:    map[string]sim.PreambleFault{"*": {Kind: sim.PreambleBoth, Rate: 1}},
		ObjectLists: map[string]sim.Knob{"*": {Rate: 1}},
		PHPScalars:  map[string]sim.Knob{"*": {Rate: 1}},
		Oversize:    map[string]sim.OversizeFault{"*": {Pad: 2 << 20, Files: true, Rate: 1}},
	}})
	ctx := context.Background()
	v, err := e.c.Visura(ctx, sim.HashISEE)
	if err != nil || len(v.JSONStruttura.Campi) != 8 {
		t.Fatalf("Visura: got %v, %v", v, err)
	}
	req := iseeRequest()
	req.Opzioni = map[string]bool{"opzione_0": true}
	r := e.create(t, req)
	in := r.Ricerche[0].Input
	if r.PrezzoVisura != 12 || r.StatoRichiesta != visengine.StateInProgress || len(r.Opzioni) != 1 || r.Opzioni[0].Prezzo != (visengine.NullFloat{Float: 4, Valid: true}) ||
		in["$4"] != "RSSMRA80A01H501U" || in["$5"] != "documento.pdf|data:application/pdf;base64," {
		t.Errorf("CreateRichiesta: got %+v, want price 12, In erogazione, the option and the input", r)
	}
	final := e.pollState(t, r.ID, visengine.StateFulfilled)
	if len(final.Allegati) != 1 || final.TimestampStati.VisuraEvasa == 0 {
		t.Errorf("final: got allegati %v, timestamp_stati %+v", final.Allegati, final.TimestampStati)
	}
	var buf bytes.Buffer
	doc, err := e.c.Documento(ctx, r.ID, &buf)
	if _, want, _ := e.sim.Document(r.ID); err != nil || !bytes.Equal(buf.Bytes(), want) || doc.Dimensione != int64(len(want)) {
		t.Errorf("Documento: got %+v, %v; want the simulator's document and its size", doc, err)
	}
	list, err := e.c.Richieste(ctx)
	if err != nil || len(list) != 1 || list[0].StatoRichiesta != visengine.StateFulfilled || list[0].PrezzoVisura != 12 {
		t.Errorf("Richieste: got %+v, %v", list, err)
	}
	_, err = e.c.Richiesta(ctx, unknownID)
	if got := asError(t, err); got.Class != visengine.ClassNotFound || got.Code != 202 {
		t.Errorf("unknown id: got %v, want not found 202", err)
	}
}

// TestContractPublishedProfile: what the published examples imply for the
// client.
func TestContractPublishedProfile(t *testing.T) {
	e := startSim(t, sim.Config{Profile: sim.ProfilePublished, Step: time.Hour})
	ctx := context.Background()
	r := e.create(t, iseeRequest())
	if r.Ricerche == nil || len(r.Ricerche) != 0 {
		t.Errorf("ISEE POST: got ricerche %+v, want [] (the request echoes no input)", r.Ricerche)
	}
	v, err := e.c.Visura(ctx, sim.Hash730Singolo)
	if err != nil || bool(v.JSONStruttura.Campi["$7"].Null) {
		t.Errorf("730 schema: got %+v, %v; want $7 null false", v, err)
	}
	tests := []struct {
		name string
		call func() error
		code int
	}{
		{"GET /richiesta/{id} of a malformed id", func() error { _, err := e.c.Richiesta(ctx, "t56yh843827583475g875hgj"); return err }, 202},
		{"GET /documento/{id} of a malformed id", func() error { _, err := e.c.Documento(ctx, "4345uygyug578754g", io.Discard); return err }, 244},
	}
	for _, tt := range tests {
		got := asError(t, tt.call())
		if got.Status != 404 || got.Code != tt.code || got.Class != visengine.ClassNotFound {
			t.Errorf("%s: got %d/%d %v, want 404/%d not found", tt.name, got.Status, got.Code, got.Class, tt.code)
		}
	}
}

// fakeClock is a settable sim.Config.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestContractLateCommit: a POST whose answer is lost and whose request
// appears ten minutes later is ambiguous, and looking for it too soon finds
// nothing: the caller must wait long enough before it sends again.
func TestContractLateCommit(t *testing.T) {
	c := &fakeClock{t: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)}
	e := startSim(t, sim.Config{Now: c.Now, Step: time.Hour, Faults: sim.Faults{LateCommit: sim.LateCommit{Delay: 10 * time.Minute, Next: 1}}})
	ctx := context.Background()
	_, err := e.c.CreateRichiesta(ctx, iseeRequest())
	if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
		t.Fatalf("POST: got %v, want ambiguous", err)
	}
	if list, err := e.c.Richieste(ctx); err != nil || len(list) != 0 {
		t.Errorf("Richieste at once: got %v, %v; want none yet", list, err)
	}
	c.Advance(10 * time.Minute)
	list, err := e.c.Richieste(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("Richieste after the delay: got %v, %v; want the request", list, err)
	}
	if r, err := e.c.Richiesta(ctx, list[0].ID); err != nil || r.StatoRichiesta != visengine.StateInProgress {
		t.Errorf("Richiesta: got %+v, %v", r, err)
	}
}

// TestContractEchoFiles: a POST carrying 6 MB of scans, echoed whole in
// json_ricerca and json_mappato (an answer of about 16 MB, over the 8 MB of
// MaxResponseBytes), returns its request.
func TestContractEchoFiles(t *testing.T) {
	e := startSim(t, sim.Config{Echo: sim.EchoFiles, Step: time.Hour}, func(cfg *visengine.Config) { cfg.Timeout = time.Minute })
	scan := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("%PDF-1.4 scan "), 6<<20/14))
	req := iseeRequest()
	req.JSONVisura["$5"] = "carta_identita.pdf|data:application/pdf;base64," + scan
	r, err := e.c.CreateRichiesta(context.Background(), req)
	if err != nil {
		t.Fatalf("got %v, want the request", err)
	}
	if in := r.Ricerche[0].Input; r.ID == "" || in["$5"] != "carta_identita.pdf|data:application/pdf;base64," || in["$0"] != "Mario" {
		t.Errorf("got id %q input %v, want the input with the payload elided", r.ID, in)
	}
	if got := r.Ricerche[0].Mapped["Copia documento d'identità *"]; got != "carta_identita.pdf|data:application/pdf;base64," {
		t.Errorf("got json_mappato's file %q…, want the payload elided", got[:min(len(got), 80)])
	}
}
