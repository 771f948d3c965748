package tracking

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// countingRefresher counts refreshes.
type countingRefresher struct{ n atomic.Int32 }

func (r *countingRefresher) Reread(context.Context, string, string) (bool, error) {
	r.n.Add(1)
	return true, nil
}

// callbackServer serves callbacks with cfg over real HTTP, counting
// refreshes.
func callbackServer(t *testing.T, cfg CallbackConfig) (*Callbacks, *countingRefresher, *httptest.Server) {
	t.Helper()
	ref := &countingRefresher{}
	c, srv := callbackServerWith(t, cfg, ref)
	return c, ref, srv
}

// callbackServerWith serves callbacks with cfg over real HTTP, refreshing
// through ref.
func callbackServerWith(t *testing.T, cfg CallbackConfig, ref Refresher) (*Callbacks, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg.PublicURL, _ = url.Parse(srv.URL)
	cfg.Key = bytes.Repeat([]byte("k"), 32)
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(prometheus.NewRegistry())
	}
	c, err := NewCallbacks(cfg, ref)
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	return c, srv
}

func callbackJSON(secret, stato string) string {
	return `{"data":` + richiestaJSON(secret, stato) + `}`
}

// callbackForm is a callback posted as a form (method "POST").
func callbackForm(secret, stato string) string {
	return "data=" + url.QueryEscape(richiestaJSON(secret, stato))
}

func richiestaJSON(secret, stato string) string {
	return fmt.Sprintf(`{"_id":"r1","stato_richiesta":%q,"callback_data":{"method":"JSON","data":{"secret":%q}}}`, stato, secret)
}

func postCallback(t *testing.T, srv *httptest.Server, path, body string) int {
	t.Helper()
	resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// slowCallbacks sends callbacks that announce a body of 100 KiB, send its
// first bytes and stall; each answer's status goes to the channel. Their
// bodies are JSON, or forms with form set.
type slowCallbacks struct {
	t       *testing.T
	addr    string
	form    bool
	answers chan int
	mu      sync.Mutex
	conns   []net.Conn
	wg      sync.WaitGroup
}

func newSlowCallbacks(t *testing.T, srv *httptest.Server) *slowCallbacks {
	s := &slowCallbacks{t: t, addr: srv.Listener.Addr().String(), answers: make(chan int, 64)}
	t.Cleanup(s.close)
	return s
}

func (s *slowCallbacks) send() {
	s.t.Helper()
	conn, err := net.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.conns = append(s.conns, conn)
	s.mu.Unlock()
	ctype, start := "application/json", `{"data":{"esito":"`
	if s.form {
		ctype, start = "application/x-www-form-urlencoded", "data=%7B%22esito%22"
	}
	fmt.Fprintf(conn, "POST /callbacks/acme/emp-1 HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"+
		"Content-Length: %d\r\n\r\n%s", ctype, 100<<10, start)
	s.wg.Go(func() {
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			resp.Body.Close()
			s.answers <- resp.StatusCode
		}
	})
}

// close closes every connection, and waits for their readers.
func (s *slowCallbacks) close() {
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
	s.mu.Unlock()
	s.wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCallbackBodiesReadAtOnceAreBounded: senders that stall in the middle
// of a form body hold at most Readers bodies; the rest are refused unread,
// whatever their number, and genuine callbacks go through once the readers
// are free.
func TestCallbackBodiesReadAtOnceAreBounded(t *testing.T) {
	c, ref, srv := callbackServer(t, CallbackConfig{Readers: 2, BodyTimeout: time.Hour})
	slow := newSlowCallbacks(t, srv)
	slow.form = true
	slow.send()
	slow.send()
	waitFor(t, "two bodies being read", func() bool { return c.reading.Load() == 2 })
	const more = 6
	for range more {
		slow.send()
	}
	waitFor(t, "the other slow bodies to be refused, or read", func() bool {
		return len(slow.answers) == more || c.reading.Load() > 2
	})
	if got := c.reading.Load(); got != 2 {
		t.Fatalf("bodies read at once: got %d, want 2", got)
	}
	for range more {
		if got := <-slow.answers; got != http.StatusServiceUnavailable {
			t.Errorf("slow body beyond the readers: got %d, want 503", got)
		}
	}
	if got := counted(t, c)["busy"]; got != more {
		t.Errorf("callbacks counted busy: got %v, want %d", got, more)
	}
	slow.close()
	waitFor(t, "the readers to be free", func() bool { return c.reading.Load() == 0 })
	resp, err := http.Post(srv.URL+"/callbacks/acme/emp-1", "application/x-www-form-urlencoded", strings.NewReader(callbackForm(c.Secret("acme", "emp-1"), "Visura evasa")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.StatusCode; got != http.StatusOK || ref.n.Load() != 1 {
		t.Errorf("genuine form callback after the flood: got %d with %d refreshes, want 200 with 1", got, ref.n.Load())
	}
}

// TestCallbackBodyTimeout: a sender that stalls is cut off after
// BodyTimeout, whatever the server's own timeouts, and frees its reader.
func TestCallbackBodyTimeout(t *testing.T) {
	c, _, srv := callbackServer(t, CallbackConfig{Readers: 1, BodyTimeout: 50 * time.Millisecond})
	slow := newSlowCallbacks(t, srv)
	slow.send()
	var got int
	waitFor(t, "the stalled body to be answered", func() bool {
		select {
		case got = <-slow.answers:
			return true
		default:
			return false
		}
	})
	if got != http.StatusRequestTimeout {
		t.Errorf("stalled body: got %d, want 408", got)
	}
	if got := counted(t, c)["too_slow"]; got != 1 {
		t.Errorf("callbacks counted too_slow: got %v, want 1", got)
	}
	waitFor(t, "the reader to be free", func() bool { return c.reading.Load() == 0 })
}

func TestCallbackAnswers(t *testing.T) {
	c, ref, srv := callbackServer(t, CallbackConfig{MaxBody: 4 << 10})
	secret := c.Secret("acme", "emp-1")
	const form = "application/x-www-form-urlencoded"
	echoing := strings.Replace(callbackJSON(c.Secret("acme", "emp-2"), "Visura evasa"), `"_id":"r1"`,
		`"_id":"r1","ricerche":[{"json_ricerca":"`+strings.Repeat("JVBE", 256<<10)+`"}]`, 1) // 1 MiB before the secret
	tests := []struct {
		name, path, ctype, body string
		want                    int
		refreshes               int32
	}{
		{"not a submission", "/callbacks/acme/emp%2F1", "", callbackJSON(secret, "Visura evasa"), http.StatusNotFound, 0},
		{"wrong secret", "/callbacks/acme/emp-1", "", callbackJSON(strings.Repeat("0", 64), "Visura evasa"), http.StatusForbidden, 0},
		{"garbage", "/callbacks/acme/emp-1", "", "{{{", http.StatusForbidden, 0},
		{"form too large", "/callbacks/acme/emp-1", form, callbackForm(secret, strings.Repeat("x", 4<<10)), http.StatusRequestEntityTooLarge, 0},
		{"genuine", "/callbacks/acme/emp-1", "", callbackJSON(secret, "Visura evasa"), http.StatusOK, 1},
		{"the same news again", "/callbacks/acme/emp-1", "", callbackJSON(secret, "visura_evasa"), http.StatusOK, 1},
		{"news", "/callbacks/acme/emp-1", "", callbackJSON(secret, "Annullata"), http.StatusOK, 2},
		{"as a form", "/callbacks/acme/emp-1", form, callbackForm(secret, "In erogazione"), http.StatusOK, 3},
		{"genuine, echoing files far beyond MaxBody", "/callbacks/acme/emp-2", "", echoing, http.StatusOK, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctype := cmp.Or(tt.ctype, "application/json")
			resp, err := http.Post(srv.URL+tt.path, ctype, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if got := resp.StatusCode; got != tt.want || ref.n.Load() != tt.refreshes {
				t.Errorf("got %d after %d refreshes, want %d after %d", got, ref.n.Load(), tt.want, tt.refreshes)
			}
		})
	}
}

func TestNewsOf(t *testing.T) {
	tests := []struct{ stato, want string }{
		{"Visura evasa", "Visura evasa"},
		{"VISURA_EVASA", "Visura evasa"},
		{" in  erogazione ", "In erogazione"},
		{"annullata", "Annullata"},
		{"Dati disponibili", "Dati disponibili"},
		{"In ricerca", "In ricerca"},
		{"", "other"},
		{"Visura evasa 2", "other"},
		{"other", "other"},
	}
	for _, tt := range tests {
		if got := newsOf(tt.stato); got != tt.want {
			t.Errorf("newsOf(%q): got %q, want %q", tt.stato, got, tt.want)
		}
	}
}

// gatedRefresher holds refreshes of one submission until released.
type gatedRefresher struct {
	countingRefresher
	id      string
	held    atomic.Int32
	release chan struct{}
}

func (g *gatedRefresher) Reread(ctx context.Context, tenant, id string) (bool, error) {
	if id == g.id {
		g.held.Add(1)
		<-g.release
	}
	return g.countingRefresher.Reread(ctx, tenant, id)
}

// TestCallbackRefusedWhenBusyIsLetThroughOnRetry: a genuine callback
// refused because every refresh slot was taken is not counted as news
// delivered, so the upstream's retry re-reads the request.
func TestCallbackRefusedWhenBusyIsLetThroughOnRetry(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	ref := &gatedRefresher{id: "emp-slow", release: make(chan struct{})}
	c, err := NewCallbacks(CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("k"), 32), Parallel: 1}, ref)
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	var wg sync.WaitGroup
	wg.Go(func() {
		postCallback(t, srv, "/callbacks/acme/emp-slow", callbackJSON(c.Secret("acme", "emp-slow"), "Visura evasa"))
	})
	release := sync.OnceFunc(func() { close(ref.release) })
	defer wg.Wait()
	defer release()
	waitFor(t, "the slow refresh to take the slot", func() bool { return ref.held.Load() == 1 })
	body := callbackJSON(c.Secret("acme", "emp-1"), "Visura evasa")
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", body); got != http.StatusServiceUnavailable {
		t.Errorf("while the slot is taken: got %d, want 503", got)
	}
	release()
	wg.Wait()
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", body); got != http.StatusOK || ref.n.Load() != 2 {
		t.Errorf("the retry: got %d after %d refreshes, want 200 after 2", got, ref.n.Load())
	}
}

// failingRefresher fails every refresh, as when the upstream is down.
type failingRefresher struct{}

func (failingRefresher) Reread(context.Context, string, string) (bool, error) {
	return false, errors.New("upstream unavailable")
}

// TestForgedCallbacksDoNotSilenceFailedRefreshes: anyone can post forged
// callbacks, whose log lines are sampled; they must not use up the lines
// that say a genuine callback's refresh failed.
func TestForgedCallbacksDoNotSilenceFailedRefreshes(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	var logs pipetest.Buffer
	c, err := NewCallbacks(CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("k"), 32), Logger: zerolog.New(&logs)}, failingRefresher{})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	for range 20 {
		if got := postCallback(t, srv, "/callbacks/acme/emp-2", callbackJSON(strings.Repeat("0", 64), "Visura evasa")); got != http.StatusForbidden {
			t.Fatalf("forged callback: got %d, want 403", got)
		}
	}
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", callbackJSON(c.Secret("acme", "emp-1"), "Visura evasa")); got != http.StatusServiceUnavailable {
		t.Fatalf("genuine callback whose refresh fails: got %d, want 503", got)
	}
	if got, want := strings.Count(logs.String(), "refresh after callback failed"), 1; got != want {
		t.Errorf("lines about the failed refresh after 20 forged callbacks: got %d, want %d\n%s", got, want, logs.String())
	}
}

// TestStalledBodiesDoNotDelayGenuineCallbacks: senders that stall in the
// middle of a JSON body, however many, hold their own connections only: a
// genuine callback meanwhile is read and let through at once.
func TestStalledBodiesDoNotDelayGenuineCallbacks(t *testing.T) {
	c, ref, srv := callbackServer(t, CallbackConfig{Readers: 2, BodyTimeout: time.Hour})
	slow := newSlowCallbacks(t, srv)
	for range 6 {
		slow.send()
	}
	// At least as many stalled bodies as there are readers: every reader
	// would be held, were JSON bodies read in readers.
	waitFor(t, "stalled bodies being read", func() bool { return c.reading.Load() >= 2 })
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", callbackJSON(c.Secret("acme", "emp-1"), "Visura evasa")); got != http.StatusOK || ref.n.Load() != 1 {
		t.Errorf("genuine callback beside 6 stalled bodies and 2 readers: got %d with %d refreshes, want 200 with 1", got, ref.n.Load())
	}
}

// TestLeakedBodyStaysLimitedWhenManyNewsArrive: a body that leaked is let
// through once per MinInterval, however many other submissions' news
// arrive meanwhile (the set that remembers what was let through is
// bounded; when it is full of news within the interval, a callback with
// more is answered 503 and retried, never let through again).
func TestLeakedBodyStaysLimitedWhenManyNewsArrive(t *testing.T) {
	c, ref, srv := callbackServer(t, CallbackConfig{})
	leaked := callbackJSON(c.Secret("acme", "emp-leak"), "Visura evasa")
	if got := postCallback(t, srv, "/callbacks/acme/emp-leak", leaked); got != http.StatusOK {
		t.Fatalf("the leaked body, first: got %d, want 200", got)
	}
	var last int
	for i := range recentMax {
		id := fmt.Sprintf("emp-%d", i)
		last = postCallback(t, srv, "/callbacks/acme/"+id, callbackJSON(c.Secret("acme", id), "Visura evasa"))
	}
	if last != http.StatusServiceUnavailable {
		t.Errorf("news beyond what is remembered: got %d, want 503", last)
	}
	if got := counted(t, c)["too_many_news"]; got != 1 {
		t.Errorf("callbacks counted too_many_news: got %v, want 1", got)
	}
	before := ref.n.Load()
	if got := postCallback(t, srv, "/callbacks/acme/emp-leak", leaked); got != http.StatusOK || ref.n.Load() != before {
		t.Errorf("the leaked body again within the interval, after %d other news: got %d with %d more refreshes, want 200 with none",
			recentMax, got, ref.n.Load()-before)
	}
}

// counted is what c's iseed_callbacks_total holds, by outcome, as a scrape
// of it reads it: outcomes at 0 left out.
func counted(t *testing.T, c *Callbacks) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.cfg.Metrics.callbacks)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "iseed_callbacks_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if v := m.GetCounter().GetValue(); v != 0 {
				out[m.GetLabel()[0].GetValue()] = v
			}
		}
	}
	return out
}

// outcomeRefresher refreshes every submission, but fails those of
// emp-fail, has no record of emp-gone and no longer tracks emp-done.
type outcomeRefresher struct{}

func (outcomeRefresher) Reread(_ context.Context, _, id string) (bool, error) {
	switch id {
	case "emp-fail":
		return false, errors.New("upstream unavailable")
	case "emp-gone":
		return false, record.ErrNotFound
	case "emp-done":
		return false, nil
	case "emp-soon":
		return false, ErrNotYetTracked
	}
	return true, nil
}

// TestCallbackOutcomesCounted: every answer of the endpoint to a callback
// counts once in iseed_callbacks_total, under its outcome, so that an
// operator sees forged callbacks, and genuine ones refused.
func TestCallbackOutcomesCounted(t *testing.T) {
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c, err := NewCallbacks(CallbackConfig{PublicURL: u, Key: bytes.Repeat([]byte("k"), 32), MaxBody: 4 << 10,
		NotYetWait: 100 * time.Millisecond, Metrics: NewMetrics(prometheus.NewRegistry())}, outcomeRefresher{})
	if err != nil {
		t.Fatal(err)
	}
	c.Register(mux)
	genuine := func(id, stato string) string { return callbackJSON(c.Secret("acme", id), stato) }
	tests := []struct {
		name, path, ctype, body string
		want                    int
		outcome                 string
	}{
		{"genuine", "/callbacks/acme/emp-1", "", genuine("emp-1", "Visura evasa"), http.StatusOK, "refreshed"},
		{"repeat", "/callbacks/acme/emp-1", "", genuine("emp-1", "Visura evasa"), http.StatusOK, "repeat"},
		{"refresh fails", "/callbacks/acme/emp-fail", "", genuine("emp-fail", "Visura evasa"), http.StatusServiceUnavailable, "refresh_failed"},
		{"repeat of a failed refresh", "/callbacks/acme/emp-fail", "", genuine("emp-fail", "Visura evasa"), http.StatusServiceUnavailable, "repeat_failed"},
		{"no such record", "/callbacks/acme/emp-gone", "", genuine("emp-gone", "Visura evasa"), http.StatusNotFound, "unknown"},
		{"not tracked", "/callbacks/acme/emp-done", "", genuine("emp-done", "Visura evasa"), http.StatusOK, "not_tracked"},
		{"not tracked yet", "/callbacks/acme/emp-soon", "", genuine("emp-soon", "Visura evasa"), http.StatusServiceUnavailable, "not_yet"},
		{"not tracked yet, retried", "/callbacks/acme/emp-soon", "", genuine("emp-soon", "Visura evasa"), http.StatusServiceUnavailable, "not_yet"},
		{"forged", "/callbacks/acme/emp-1", "", callbackJSON(strings.Repeat("0", 64), "Annullata"), http.StatusForbidden, "forged"},
		{"unreadable", "/callbacks/acme/emp-1", "", "{{{", http.StatusForbidden, "no_secret"},
		{"bad path", "/callbacks/acme/emp%2F1", "", genuine("emp-1", "Annullata"), http.StatusNotFound, "bad_path"},
		{"form too large", "/callbacks/acme/emp-1", "application/x-www-form-urlencoded",
			callbackForm(c.Secret("acme", "emp-1"), strings.Repeat("x", 4<<10)), http.StatusRequestEntityTooLarge, "too_large"},
	}
	want := map[string]float64{}
	for _, tt := range tests {
		resp, err := http.Post(srv.URL+tt.path, cmp.Or(tt.ctype, "application/json"), strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
		want[tt.outcome]++
		if got := counted(t, c); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: counted %v, want %v", tt.name, got, want)
		}
	}
}

// TestCallbackCutFormCounted: a form body cut short (the sender closed its
// side) gets 400, counted bad_request.
func TestCallbackCutFormCounted(t *testing.T) {
	c, _, srv := callbackServer(t, CallbackConfig{})
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /callbacks/acme/emp-1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"+
		"Content-Length: 100\r\n\r\ndata=%%7B")
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.StatusCode; got != http.StatusBadRequest {
		t.Errorf("cut form: got %d, want 400", got)
	}
	if got := counted(t, c); fmt.Sprint(got) != "map[bad_request:1]" {
		t.Errorf("counted %v, want map[bad_request:1]", got)
	}
}

// soonRefresher answers ErrNotYetTracked until tracked is set, then reads.
type soonRefresher struct {
	tracked atomic.Bool
	checks  atomic.Int32
	reads   atomic.Int32
	release chan struct{} // when set, a read waits for it
}

func (s *soonRefresher) Reread(context.Context, string, string) (bool, error) {
	s.checks.Add(1)
	if !s.tracked.Load() {
		return false, ErrNotYetTracked
	}
	if s.release != nil {
		<-s.release
	}
	s.reads.Add(1)
	return true, nil
}

// TestCallbackWaitsForTheRequestsTrackingToStart: a genuine callback for a
// request whose tracking has not started (the upstream called back before
// its POST's answer was recorded) is held while the tracking starts, then
// re-reads the request: its news is not lost.
func TestCallbackWaitsForTheRequestsTrackingToStart(t *testing.T) {
	ref := &soonRefresher{}
	c, srv := callbackServerWith(t, CallbackConfig{NotYetWait: time.Minute}, ref)
	answered := make(chan int, 1)
	go func() {
		answered <- postCallback(t, srv, "/callbacks/acme/emp-1", callbackJSON(c.Secret("acme", "emp-1"), "In lavorazione"))
	}()
	waitFor(t, "the callback to check again", func() bool { return ref.checks.Load() >= 3 })
	select {
	case got := <-answered:
		t.Fatalf("answered %d before the request was tracked", got)
	default:
	}
	ref.tracked.Store(true)
	if got := <-answered; got != http.StatusOK || ref.reads.Load() != 1 {
		t.Errorf("once tracked: got %d after %d reads, want 200 after 1", got, ref.reads.Load())
	}
	if got := counted(t, c); fmt.Sprint(got) != fmt.Sprint(map[string]float64{"refreshed": 1}) {
		t.Errorf("counted %v, want one refreshed", got)
	}
}

// TestCallbackNotTrackedYetIsLetThroughOnRetry: a callback whose request
// is still not tracked after NotYetWait gets 503 with Retry-After, and its
// news is not taken for delivered: the upstream's retry re-reads the
// request (before, it got 204 at once, and its retry "repeat").
func TestCallbackNotTrackedYetIsLetThroughOnRetry(t *testing.T) {
	ref := &soonRefresher{}
	c, srv := callbackServerWith(t, CallbackConfig{NotYetWait: 200 * time.Millisecond}, ref)
	body := callbackJSON(c.Secret("acme", "emp-1"), "Visura evasa")
	resp, err := http.Post(srv.URL+"/callbacks/acme/emp-1", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || ref.checks.Load() < 2 {
		t.Fatalf("not tracked after the wait: got %d, Retry-After %q, %d checks; want 503 with Retry-After, checked again",
			resp.StatusCode, resp.Header.Get("Retry-After"), ref.checks.Load())
	}
	ref.tracked.Store(true)
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", body); got != http.StatusOK || ref.reads.Load() != 1 {
		t.Errorf("the retry, tracked: got %d after %d reads, want 200 after 1", got, ref.reads.Load())
	}
	if got := counted(t, c); fmt.Sprint(got) != fmt.Sprint(map[string]float64{"not_yet": 1, "refreshed": 1}) {
		t.Errorf("counted %v, want one not_yet and one refreshed", got)
	}
}

// TestCallbackRepeatedWhileItsRefreshRunsIsNotDone: the same news again
// while its first callback's re-read is under way gets 503, not 200: that
// re-read may yet fail, and the upstream would take the 200 for done.
func TestCallbackRepeatedWhileItsRefreshRunsIsNotDone(t *testing.T) {
	ref := &soonRefresher{release: make(chan struct{})}
	ref.tracked.Store(true)
	c, srv := callbackServerWith(t, CallbackConfig{}, ref)
	body := callbackJSON(c.Secret("acme", "emp-1"), "Visura evasa")
	first := make(chan int, 1)
	go func() { first <- postCallback(t, srv, "/callbacks/acme/emp-1", body) }()
	waitFor(t, "the first re-read to start", func() bool { return ref.checks.Load() == 1 })
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", body); got != http.StatusServiceUnavailable {
		t.Errorf("the same news while its re-read runs: got %d, want 503", got)
	}
	close(ref.release)
	if got := <-first; got != http.StatusOK {
		t.Errorf("the first: got %d, want 200", got)
	}
	if got := postCallback(t, srv, "/callbacks/acme/emp-1", body); got != http.StatusOK || ref.reads.Load() != 1 {
		t.Errorf("the same news after its re-read: got %d after %d reads, want 200 (repeat) after 1", got, ref.reads.Load())
	}
}
