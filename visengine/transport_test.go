package visengine_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// hang reads the request and never answers, until the client goes away.
func hang(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// hangUp reads the whole request, then closes the connection unanswered.
func hangUp(t *testing.T) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.Close()
	}
}

// cutBody promises a long answer and stops after its beginning.
func cutBody(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Length", "1000")
	w.WriteHeader(200)
	_, _ = io.WriteString(w, `{"success":true,"data":{"_id":"5f2`)
}

// stall sends the beginning of a success, then hangs.
func stall(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	w.WriteHeader(200)
	_, _ = io.WriteString(w, `{"success":true,"data":{"_id":"5f2`)
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func TestLostAnswers(t *testing.T) {
	tests := []struct {
		name     string
		op       string
		h        http.HandlerFunc
		class    visengine.Class
		deadline bool // errors.Is(err, context.DeadlineExceeded)
	}{
		{"POST hangs past the timeout", "POST /richiesta", hang, visengine.ClassAmbiguous, true},
		{"PUT hangs past the timeout", "PUT /richiesta/{id}", hang, visengine.ClassAmbiguous, true},
		{"DELETE hangs past the timeout", "DELETE /richiesta/{id}", hang, visengine.ClassAmbiguous, true},
		{"GET hangs past the timeout", "GET /richiesta/{id}", hang, visengine.ClassRetryable, true},
		{"documento hangs past its timeout", "GET /documento/{id}", hang, visengine.ClassRetryable, true},
		{"POST: connection closed after the body", "POST /richiesta", nil, visengine.ClassAmbiguous, false},
		{"GET: connection closed", "GET /richiesta", nil, visengine.ClassRetryable, false},
		{"POST: body cut off", "POST /richiesta", cutBody, visengine.ClassAmbiguous, false},
		{"GET: body cut off", "GET /richiesta/{id}", cutBody, visengine.ClassRetryable, false},
		{"POST: body stalls past the timeout", "POST /richiesta", stall, visengine.ClassAmbiguous, true},
		{"GET: body stalls past the timeout", "GET /visure", stall, visengine.ClassRetryable, true},
		{"documento: body stalls past its timeout", "GET /documento/{id}", stall, visengine.ClassRetryable, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.h
			if h == nil {
				h = hangUp(t)
			}
			// The timeout only needs to end the cases that hang: it is long
			// enough for a loopback exchange on a loaded machine, and the
			// cases run in parallel.
			timeout := 5 * time.Second
			if tt.deadline {
				timeout = 500 * time.Millisecond
			}
			c := newClient(t, h, func(cfg *visengine.Config) { cfg.Timeout, cfg.DocumentTimeout = timeout, timeout })
			err := invoke(context.Background(), c, tt.op)
			e := asError(t, err)
			if e.Class != tt.class || e.Status != 0 && e.Status != 200 {
				t.Errorf("got class %v status %d, want %v (err: %v)", e.Class, e.Status, tt.class, err)
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.deadline {
				t.Errorf("got errors.Is(err, DeadlineExceeded) %v, want %v (err: %v)", got, tt.deadline, err)
			}
		})
	}
}

func TestStallAfterACompleteAnswerDoesNotDelayTheCall(t *testing.T) {
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"success":true,"data":{"_id":"5f22f722065afc42223c7131"},"error":null}`)
		w.(http.Flusher).Flush() // chunked: the answer never ends
		<-r.Context().Done()
	}))
	start := time.Now()
	r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h"})
	if err != nil || r.ID != "5f22f722065afc42223c7131" {
		t.Fatalf("got %+v, %v; want the request", r, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("got the answer after %v, want it well before the 5s timeout", d)
	}
}

func TestCallerCancelsWhilePOSTIsPending(t *testing.T) {
	var arrived atomic.Bool
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Store(true)
		hang(w, r)
	}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- invoke(ctx, c, "POST /richiesta") }()
	waitFor(t, arrived.Load)
	cancel()
	err := <-done
	if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
		t.Errorf("got class %v, want ambiguous (err: %v)", got, err)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want errors.Is(err, context.Canceled)", err)
	}
}

func TestNotSentIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // connection refused from now on
	c := clientFor(t, base)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		c        *visengine.Client
		ctx      context.Context
		canceled bool
	}{
		{"connection refused", c, context.Background(), false},
		{"context canceled before the call", newClient(t, http.HandlerFunc(hang)), canceled, true},
	}
	for _, tt := range tests {
		for _, op := range []string{"POST /richiesta", "PUT /richiesta/{id}", "DELETE /richiesta/{id}", "GET /visure"} {
			err := invoke(tt.ctx, tt.c, op)
			if got := visengine.ClassOf(err); got != visengine.ClassRetryable {
				t.Errorf("%s, %s: got class %v, want retryable (err: %v)", tt.name, op, got, err)
			}
			if got := errors.Is(err, context.Canceled); got != tt.canceled {
				t.Errorf("%s, %s: got errors.Is(err, Canceled) %v, want %v", tt.name, op, got, tt.canceled)
			}
		}
	}
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRequestShape(t *testing.T) {
	type seen struct {
		method, rawPath, auth, accept, ctype, ua string
		body                                     map[string]any
	}
	got := make(chan seen, 1)
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{r.Method, r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Accept"),
			r.Header.Get("Content-Type"), r.Header.Get("User-Agent"), nil}
		if r.ContentLength > 0 {
			_ = json.NewDecoder(r.Body).Decode(&s.body)
		}
		got <- s
		writeEnvelope(w, 200, true, 0, "", map[string]any{"_id": pathID(r.URL.EscapedPath())})
	}), func(cfg *visengine.Config) { cfg.UserAgent = "iseed/test" })
	ctx := context.Background()
	zero := 0
	tests := []struct {
		name                        string
		call                        func() error
		method, path, ctype, bodyKV string
	}{
		{"create", func() error {
			_, err := c.CreateRichiesta(ctx, visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "v"}, State: &zero})
			return err
		}, "POST", "/richiesta", "application/json", "hash_visura=h"},
		{"update", func() error {
			_, err := c.UpdateRichiesta(ctx, "a/b c", visengine.UpdateRequest{EmailTarget: "x@example.com"})
			return err
		}, "PUT", "/richiesta/a%2Fb%20c", "application/json", "email_target=x@example.com"},
		{"delete carries motivo", func() error {
			_, err := c.DeleteRichiesta(ctx, "5f22f722065afc42223c7131", "duplicata")
			return err
		}, "DELETE", "/richiesta/5f22f722065afc42223c7131", "application/json", "motivo=duplicata"},
		{"get", func() error { _, err := c.Richiesta(ctx, "id?x=1#y"); return err }, "GET", "/richiesta/id%3Fx=1%23y", "", ""},
		{"search", func() error {
			_, err := c.AddRicerca(ctx, "5f2829ce065afc21cc60ad0e", map[string]string{"$1": "12345678910"})
			return err
		}, "POST", "/richiesta/5f2829ce065afc21cc60ad0e", "application/json", "json_visura"},
		{"choose", func() error {
			_, err := c.ChooseRicerca(ctx, "a/b", "5f283eae065afc21cf466ea4_0", 1)
			return err
		}, "PUT", "/richiesta/a%2Fb/ricerche", "application/json", "id_ricerca=5f283eae065afc21cf466ea4_0"},
		{"visura", func() error { _, err := c.Visura(ctx, "ab+/=cd"); return err }, "GET", "/visure/ab+%2F=cd", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			s := <-got
			if s.method != tt.method || s.rawPath != tt.path || s.ctype != tt.ctype {
				t.Errorf("got %s %s (Content-Type %q), want %s %s (%q)", s.method, s.rawPath, s.ctype, tt.method, tt.path, tt.ctype)
			}
			if s.auth != "Bearer "+testToken || s.accept != "application/json" || s.ua != "iseed/test" {
				t.Errorf("got Authorization %q Accept %q User-Agent %q", s.auth, s.accept, s.ua)
			}
			if k, v, hasValue := strings.Cut(tt.bodyKV, "="); tt.bodyKV != "" && (s.body[k] == nil || hasValue && s.body[k] != v) {
				t.Errorf("got body %v, want %s", s.body, tt.bodyKV)
			}
		})
	}
}

// pathID is the request id a /richiesta/{id} path names, as an answer about
// that request names it; "x" for other paths.
func pathID(escaped string) string {
	rest, ok := strings.CutPrefix(escaped, "/richiesta/")
	if !ok {
		return "x"
	}
	id, err := url.PathUnescape(strings.TrimSuffix(rest, "/ricerche"))
	if err != nil {
		return "x"
	}
	return id
}

func TestInvalidIDMakesNoCall(t *testing.T) {
	var calls atomic.Int32
	c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls.Add(1) }))
	ctx := context.Background()
	for _, id := range []string{"", ".", ".."} {
		errs := []error{}
		_, err := c.Visura(ctx, id)
		errs = append(errs, err)
		_, err = c.Richiesta(ctx, id)
		errs = append(errs, err)
		_, err = c.UpdateRichiesta(ctx, id, visengine.UpdateRequest{})
		errs = append(errs, err)
		_, err = c.DeleteRichiesta(ctx, id, "")
		errs = append(errs, err)
		_, err = c.Documento(ctx, id, io.Discard)
		errs = append(errs, err)
		for i, err := range errs {
			if got := visengine.ClassOf(err); got != visengine.ClassPermanent {
				t.Errorf("id %q, call %d: got class %v, want permanent", id, i, got)
			}
		}
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("got %d calls to the server, want 0", n)
	}
}

func TestSizeLimit(t *testing.T) {
	big := `{"success":true,"data":[` + strings.Repeat(`{"nome_visura":"x"},`, 200) + `{}]}`
	bigErr := `{"success":false,"error":250,"message":"` + strings.Repeat("x", 5000) + `"}`
	tests := []struct {
		name  string
		op    string
		h     http.HandlerFunc
		class visengine.Class
	}{
		{"GET over the limit", "GET /visure", raw(200, big), visengine.ClassPermanent},
		{"error status over the limit keeps its class", "GET /visure/{hash}", raw(402, bigErr), visengine.ClassInsufficientCredit},
		{"document over the limit", "GET /documento/{id}", raw(200, `{"success":true,"data":{"file":"`+strings.Repeat("QUJD", 2000)+`"}}`), visengine.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.h, func(cfg *visengine.Config) { cfg.MaxResponseBytes, cfg.MaxDocumentBytes = 1024, 4096 })
			err := invoke(context.Background(), c, tt.op)
			if got := visengine.ClassOf(err); got != tt.class {
				t.Errorf("got class %v, want %v (err: %v)", got, tt.class, err)
			}
			if !errors.Is(err, visengine.ErrResponseTooLarge) {
				t.Errorf("got %v, want errors.Is(err, ErrResponseTooLarge)", err)
			}
		})
	}
	t.Run("the request list has its own, larger limit", func(t *testing.T) {
		entry := `{"_id":"5f22f722065afc42223c7131","hash_visura":"h","timestamp_creation":1596127010}`
		list := `{"success":true,"data":[` + strings.Repeat(entry+",", 100) + entry + `]}`
		c := newClient(t, raw(200, list), func(cfg *visengine.Config) { cfg.MaxResponseBytes, cfg.MaxListBytes = 1024, int64(len(list)) })
		if got, err := c.Richieste(context.Background()); err != nil || len(got) != 101 {
			t.Errorf("Richieste over MaxResponseBytes but within MaxListBytes: got %d, %v", len(got), err)
		}
		c = newClient(t, raw(200, list), func(cfg *visengine.Config) { cfg.MaxListBytes = 1024 })
		if _, err := c.Richieste(context.Background()); !errors.Is(err, visengine.ErrResponseTooLarge) {
			t.Errorf("Richieste over MaxListBytes: got %v, want ErrResponseTooLarge", err)
		}
	})
	t.Run("exactly at the limit", func(t *testing.T) {
		body := `{"success":true,"data":[]}`
		c := newClient(t, raw(200, body), func(cfg *visengine.Config) { cfg.MaxResponseBytes = int64(len(body)) })
		if _, err := c.Visure(context.Background()); err != nil {
			t.Errorf("got %v, want no error", err)
		}
	})
}
