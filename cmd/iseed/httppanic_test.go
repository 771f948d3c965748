package main

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

// TestHTTPPanicValueNotLogged: a handler of the daemon's listeners that
// panics with a value quoting what it read (here a callback body's tax
// code) is logged, by type, with the listener and path, and the value
// reaches no log: net/http wrote it whole to the standard logger. A panic
// the runtime raised is logged with its text.
func TestHTTPPanicValueNotLogged(t *testing.T) {
	const taxCode = "ZZPNCC70C10F839X"
	var std, logs pipetest.Buffer
	prev, flags := log.Writer(), log.Flags()
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(prev); log.SetFlags(flags) })
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/runtime" {
			var m map[string]int
			m[string(body)]++ // a nil map: the runtime panics
		}
		panic("cannot read " + string(body))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newCallbackServer(panicsLogged(zerolog.New(&logs), "callbacks", h))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			t.Error(err)
		}
	})
	t.Cleanup(func() { srv.Close(); wg.Wait() })
	client := &http.Client{Timeout: 10 * time.Second}
	for i, path := range []string{"/callbacks/acme/emp-1", "/runtime"} {
		resp, err := client.Post("http://"+ln.Addr().String()+path, "application/json", strings.NewReader(`{"cf":"`+taxCode+`"}`))
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got HTTP %d, want the connection aborted", path, resp.StatusCode)
		}
		pipetest.WaitExplained(t, 10*time.Second, "the panic logged", func() bool {
			return strings.Count(logs.String(), "HTTP handler panicked") > i || strings.Count(std.String(), "panic serving") > i
		}, func() string { return "zerolog: " + logs.String() + "; standard logger: " + std.String() })
	}
	for name, out := range map[string]string{"zerolog": logs.String(), "standard logger": std.String()} {
		if strings.Contains(out, taxCode) {
			t.Errorf("%s: got %q in %s; want the panic's value left out", name, taxCode, out)
		}
	}
	for _, want := range []string{`"panic_type":"string"`, `"path":"/callbacks/acme/emp-1"`, `"listener":"callbacks"`, `"panic":"assignment to entry in nil map"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("zerolog: got %s; want %s in it", logs.String(), want)
		}
	}
}
