package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/rs/zerolog"
)

// TestBuiltInSimulatorCredentials: the built-in simulator holds and echoes
// whatever was submitted, so it answers only to credentials drawn at each
// start, never to a token every install shares (it was "sim-token").
func TestBuiltInSimulatorCredentials(t *testing.T) {
	var tokens []string
	for range 2 {
		s, err := startSim(sim.Config{}, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.close)
		if len(s.token) < 20 || len(s.accountKey) < 20 {
			t.Fatalf("token %q, account key %q: want random ones", s.token, s.accountKey)
		}
		for _, tc := range []struct {
			token string
			ok    bool
		}{{s.token, true}, {"sim-token", false}} {
			c, err := visengine.New(visengine.Config{BaseURL: s.base, Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Richieste(context.Background())
			var ve *visengine.Error
			refused := errors.As(err, &ve) && ve.Status == 401
			if refused == tc.ok {
				t.Errorf("token %q: got %v, want refused %v", tc.token, err, !tc.ok)
			}
		}
		tokens = append(tokens, s.token)
	}
	if tokens[0] == tokens[1] {
		t.Errorf("two starts drew the same token %q", tokens[0])
	}
}

// panickyWriter panics when a handler writes its answer, quoting what it
// was asked to write: a panic inside the simulator's handler, whose value
// may name whatever was submitted.
type panickyWriter struct{ *httptest.ResponseRecorder }

func (w panickyWriter) Write(b []byte) (int, error) { panic("cannot answer " + string(b)) }

// TestSimulatorPanicValueNotLogged: a panic in the simulator's handlers,
// built in (startSim) or on its own (iseed sim, newSimServer), is logged
// as the daemon's listeners' are, by type with the path, and its value,
// which may quote what was submitted (the simulator echoes it), reaches
// no log: left to net/http, it was written to standard error whole.
func TestSimulatorPanicValueNotLogged(t *testing.T) {
	var logs pipetest.Buffer
	s, err := startSim(sim.Config{}, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	for name, srv := range map[string]*http.Server{"built in": s.srv, "iseed sim": newSimServer(sim.New(sim.Config{Token: "t"}), zerolog.New(&logs))} {
		before := strings.Count(logs.String(), "HTTP handler panicked")
		req := httptest.NewRequest(http.MethodGet, "/visure", nil) // unauthorised: the 401's body is written
		var got any
		func() {
			defer func() { got = recover() }()
			srv.Handler.ServeHTTP(panickyWriter{httptest.NewRecorder()}, req)
		}()
		if got != http.ErrAbortHandler {
			t.Errorf("%s: the handler's panic reached net/http as %v; want http.ErrAbortHandler, its value logged by type", name, got)
		}
		if n := strings.Count(logs.String(), "HTTP handler panicked"); n != before+1 {
			t.Errorf("%s: %d panics logged; want %d", name, n, before+1)
		}
	}
	for _, want := range []string{`"listener":"simulator"`, `"path":"/visure"`, `"panic_type":"string"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs %s: want %s in them", logs.String(), want)
		}
	}
	if strings.Contains(logs.String(), "cannot answer") {
		t.Errorf("logs %s: want the panic's value left out", logs.String())
	}
}
