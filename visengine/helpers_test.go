package visengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

const testToken = "test-token"

// newClient serves h on a fresh httptest server and returns a client of it.
func newClient(t testing.TB, h http.Handler, mod ...func(*visengine.Config)) *visengine.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return clientFor(t, srv.URL, mod...)
}

func clientFor(t testing.TB, base string, mod ...func(*visengine.Config)) *visengine.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := visengine.Config{BaseURL: u, Token: testToken, Timeout: 5 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := visengine.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeEnvelope answers like the API: {"success", "message", "error", "data"}.
func writeEnvelope(w http.ResponseWriter, status int, success bool, code int, message string, data any) {
	body := map[string]any{"success": success, "message": message, "data": data, "error": nil}
	if code != 0 {
		body["error"] = code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// failWith answers every call with an error envelope.
func failWith(status, code int, message string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		writeEnvelope(w, status, false, code, message, nil)
	}
}

// allOps returns the client's calls by Op name, for tables.
func allOps() []string {
	return []string{
		"GET /visure", "GET /visure/{hash}", "GET /richiesta", "POST /richiesta",
		"GET /richiesta/{id}", "PUT /richiesta/{id}", "DELETE /richiesta/{id}", "GET /documento/{id}",
		"POST /richiesta/{id}", "PUT /richiesta/{id}/ricerche",
	}
}

// invoke makes the call named op with plausible arguments.
func invoke(ctx context.Context, c *visengine.Client, op string) error {
	const id = "5f22f722065afc42223c7131"
	var err error
	switch op {
	case "GET /visure":
		_, err = c.Visure(ctx)
	case "GET /visure/{hash}":
		_, err = c.Visura(ctx, "eccbc87e4b5ce2fe28308fd9f2a7baf3")
	case "GET /richiesta":
		_, err = c.Richieste(ctx)
	case "POST /richiesta":
		_, err = c.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3", JSONVisura: map[string]string{"$0": "x"}})
	case "GET /richiesta/{id}":
		_, err = c.Richiesta(ctx, id)
	case "PUT /richiesta/{id}":
		one := 1
		_, err = c.UpdateRichiesta(ctx, id, visengine.UpdateRequest{State: &one})
	case "DELETE /richiesta/{id}":
		_, err = c.DeleteRichiesta(ctx, id, "test")
	case "GET /documento/{id}":
		_, err = c.Documento(ctx, id, io.Discard)
	case "POST /richiesta/{id}":
		_, err = c.AddRicerca(ctx, id, map[string]string{"$1": "12345678910"})
	case "PUT /richiesta/{id}/ricerche":
		_, err = c.ChooseRicerca(ctx, id, id+"_0", 1)
	default:
		return fmt.Errorf("unknown op %q", op)
	}
	return err
}

// asError returns err as *visengine.Error or fails the test.
func asError(t testing.TB, err error) *visengine.Error {
	t.Helper()
	var e *visengine.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v (%T), want a *visengine.Error", err, err)
	}
	return e
}
