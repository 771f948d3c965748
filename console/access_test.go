package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		listen, token string
		ok            bool
		noToken       bool // the error is ErrNoToken
	}{
		{"127.0.0.1:8080", "", true, false},
		{"127.9.9.9:8080", "", true, false},
		{"[::1]:8080", "", true, false},
		{"localhost:8080", "", true, false},
		{"0.0.0.0:8080", "", false, true},
		{":8080", "", false, true},
		{"[::]:8080", "", false, true},
		{"10.1.2.3:8080", "", false, true},
		{"iseed.example.com:8080", "", false, true},
		{"0.0.0.0:8080", testToken, true, false},
		{"127.0.0.1:8080", "short", false, false},
		{"no-port", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.listen+" "+tt.token, func(t *testing.T) {
			err := console.Check(tt.listen, tt.token)
			if (err == nil) != tt.ok || errors.Is(err, console.ErrNoToken) != tt.noToken {
				t.Errorf("got %v, want ok %v, ErrNoToken %v", err, tt.ok, tt.noToken)
			}
			if err != nil && !strings.Contains(err.Error(), "ISEED_") {
				t.Errorf("the error does not say what to change: %v", err)
			}
		})
	}
}

func TestNewRefusesNonLoopbackWithoutToken(t *testing.T) {
	h := pipetest.New(t)
	_, err := console.New(console.Config{Listen: "0.0.0.0:8080"}, console.Deps{Resources: h.Res})
	if !errors.Is(err, console.ErrNoToken) {
		t.Errorf("got %v, want ErrNoToken", err)
	}
}

// client is an HTTP client that does not follow redirects.
func client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// call is one request of an access test.
type call struct {
	name     string
	method   string
	path     string
	auth     string      // "", "bearer", "wrong", "cookie"
	header   http.Header // more request headers
	csrf     string      // "", "valid", "wrong"
	cross    bool        // a cross-site browser request
	form     url.Values
	status   int
	location string // prefix of Location
	body     string // the body contains it
	notBody  string // the body does not contain it
}

// do makes c against s, logged in with cookie and csrf when asked.
func (s *site) do(t *testing.T, c call, cookie *http.Cookie, csrf string) (*http.Response, string) {
	t.Helper()
	form := url.Values{}
	for k, v := range c.form {
		form[k] = v
	}
	switch c.csrf {
	case "valid":
		form.Set("csrf", csrf)
	case "wrong":
		form.Set("csrf", "forged")
	}
	var body io.Reader
	if c.method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(c.method, s.url+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if c.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch c.auth {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+testToken)
	case "wrong":
		req.Header.Set("Authorization", "Bearer "+strings.Repeat("x", len(testToken)))
	case "cookie":
		req.AddCookie(cookie)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.cross {
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
	}
	resp, err := client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// login posts the token to the login form and returns the session cookie.
func (s *site) login(t *testing.T) *http.Cookie {
	t.Helper()
	resp, err := client().PostForm(s.url+"/login", url.Values{"token": {testToken}, "next": {"/open"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/open" {
		t.Fatalf("login: got %d to %q, want 303 to /open", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == "iseed_console" {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || strings.Contains(c.Value, testToken) {
				t.Errorf("session cookie: got %+v, want HttpOnly, SameSite=Strict, Path=/, without the token", c)
			}
			return c
		}
	}
	t.Fatal("login set no session cookie")
	return nil
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfOf reads the CSRF token from a page rendered for cookie.
func (s *site) csrfOf(t *testing.T, cookie *http.Cookie, path string) string {
	t.Helper()
	_, body := s.do(t, call{method: http.MethodGet, path: path, auth: "cookie"}, cookie, "")
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field on %s", path)
	}
	return m[1]
}

func runCalls(t *testing.T, s *site, calls []call, cookie *http.Cookie, csrf string) {
	t.Helper()
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			resp, body := s.do(t, c, cookie, csrf)
			if resp.StatusCode != c.status {
				t.Errorf("%s %s: got %d, want %d\n%s", c.method, c.path, resp.StatusCode, c.status, body)
			}
			if c.location != "" && !strings.HasPrefix(resp.Header.Get("Location"), c.location) {
				t.Errorf("location: got %q, want %q…", resp.Header.Get("Location"), c.location)
			}
			if c.body != "" && !strings.Contains(body, c.body) {
				t.Errorf("body lacks %q:\n%s", c.body, body)
			}
			if c.notBody != "" && strings.Contains(body, c.notBody) {
				t.Errorf("body has %q", c.notBody)
			}
			if strings.HasPrefix(c.path, "/metrics") || strings.HasPrefix(c.path, "/healthz") {
				return
			}
			for k, want := range map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: got %q, want %q", k, got, want)
				}
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("CSP: got %q", csp)
			}
		})
	}
}

func TestAccessWithToken(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	payload := pipetest.Submission("emp-1", pipetest.ValidFields("Mario"))
	seq1 := deadLetter(t, h, "emp-1", "insufficient_credit", payload)
	seq2 := deadLetter(t, h, "emp-2", "insufficient_credit", pipetest.Submission("emp-2", pipetest.ValidFields("Luigi")))
	cookie := s.login(t)
	csrf := s.csrfOf(t, cookie, "/dead-letters/"+strconv.FormatUint(seq1, 10))
	dl1, dl2 := "/dead-letters/"+strconv.FormatUint(seq1, 10), "/dead-letters/"+strconv.FormatUint(seq2, 10)
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "page without token", method: get, path: "/", status: 303, location: "/login?next=%2F"},
		{name: "page with bearer", method: get, path: "/", auth: "bearer", status: 200, body: "Open requests"},
		{name: "page with a wrong bearer", method: get, path: "/", auth: "wrong", status: 401, body: "not this console's token"},
		{name: "page with session", method: get, path: "/", auth: "cookie", status: 200, body: `id="mode">operator`},
		{name: "login form", method: get, path: "/login", status: 200, body: `name="token"`},
		{name: "stylesheet for the login form", method: get, path: "/static/style.css", status: 200, body: "iseed console"},
		{name: "confirmation without token", method: get, path: dl1 + "/replay", status: 303, location: "/login"},
		{name: "dead letter masked", method: get, path: dl1, auth: "cookie", status: 200, body: `id="replay"`, notBody: "Mario"},
		{name: "replay without token", method: post, path: dl1 + "/replay", status: 403},
		{name: "replay with a wrong bearer", method: post, path: dl1 + "/replay", auth: "wrong", status: 401},
		{name: "replay with session, no CSRF", method: post, path: dl1 + "/replay", auth: "cookie", status: 403, body: "CSRF"},
		{name: "replay with session, forged CSRF", method: post, path: dl1 + "/replay", auth: "cookie", csrf: "wrong", status: 403, body: "CSRF"},
		{name: "replay cross-site with session", method: post, path: dl1 + "/replay", auth: "cookie", csrf: "valid", cross: true, status: 403},
		{name: "replay cross-site with bearer", method: post, path: dl1 + "/replay", auth: "bearer", cross: true, status: 403},
		{name: "reveal with session", method: post, path: dl1 + "/reveal", auth: "cookie", csrf: "valid", status: 200, body: "Mario"},
		{name: "replay with session", method: post, path: dl1 + "/replay", auth: "cookie", csrf: "valid", status: 303, location: "/dead-letters?replayed=" + strconv.FormatUint(seq1, 10)},
		{name: "replay again", method: post, path: dl1 + "/replay", auth: "bearer", status: 404},
		{name: "replay with bearer", method: post, path: dl2 + "/replay", auth: "bearer", status: 303, location: "/dead-letters?replayed="},
		{name: "wrong login", method: post, path: "/login", form: url.Values{"token": {"nope"}}, status: 401, body: "not the console token"},
		{name: "oversized form", method: post, path: "/login", form: url.Values{"token": {strings.Repeat("x", 20<<10)}}, status: 413},
		{name: "open redirect refused", method: post, path: "/login", form: url.Values{"token": {testToken}, "next": {"//evil.example/"}}, status: 303, location: "/"},
		{name: "the daemon's /metrics", method: get, path: "/metrics", status: 200, body: "metrics"},
		{name: "the daemon's other paths", method: get, path: "/healthz", status: 404},
	}, cookie, csrf)
	for _, seq := range []uint64{seq1, seq2} {
		if _, err := h.Res.DLQ.GetMsg(context.Background(), seq); !errors.Is(err, jetstream.ErrMsgNotFound) {
			t.Errorf("dead letter %d after its replay: got %v, want it gone", seq, err)
		}
	}
}

func TestAccessReadOnly(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	seq := deadLetter(t, h, "emp-1", "insufficient_credit", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	dl := "/dead-letters/" + strconv.FormatUint(seq, 10)
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "overview", method: get, path: "/", status: 200, body: `id="mode">read-only`},
		{name: "dead letter, no replay button", method: get, path: dl, status: 200, body: "read-only-note", notBody: `id="replay"`},
		{name: "dead letter masked", method: get, path: dl, status: 200, body: "•••", notBody: "Mario"},
		{name: "confirmation refused", method: get, path: dl + "/replay", status: 403, body: "read-only"},
		{name: "replay refused", method: post, path: dl + "/replay", status: 403},
		{name: "replay refused with a bearer", method: post, path: dl + "/replay", auth: "bearer", status: 403},
		{name: "reveal refused", method: post, path: dl + "/reveal", status: 403},
		{name: "login form says read-only", method: get, path: "/login", status: 200, body: "read-only"},
		{name: "login goes home", method: post, path: "/login", form: url.Values{"token": {testToken}}, status: 303, location: "/"},
		{name: "spend not configured", method: get, path: "/spend", status: 200, body: "not configured"},
	}, nil, "")
	if _, err := h.Res.DLQ.GetMsg(context.Background(), seq); err != nil {
		t.Errorf("dead letter after refused replays: %v, want it kept", err)
	}
}

// TestReadOnlyDeadLetterSaysWhyNotReplayed: a read-only console's page of
// a dead letter that iseed dlq replay would refuse (invalid) says why and
// what to do instead, as a logged-in one does; it used to tell the operator
// to run iseed dlq replay SEQ, which refuses it (the console walk).
func TestReadOnlyDeadLetterSaysWhyNotReplayed(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	seq := deadLetter(t, h, "emp-1", "invalid", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	dl := "/dead-letters/" + strconv.FormatUint(seq, 10)
	runCalls(t, s, []call{
		{name: "says why", method: http.MethodGet, path: dl, status: 200, body: `id="replay-refused"`, notBody: "read-only-note"},
		{name: "names the correction", method: http.MethodGet, path: dl, status: 200, body: "iseed dlq replay --edit " + strconv.FormatUint(seq, 10)},
	}, nil, "")
}

// TestReplayRefusedLikeTheCLI: a dead letter that would be rejected again
// unchanged (invalid, malformed, conflict) is not replayed from the console
// either, which says why and what to do instead, as iseed dlq replay does;
// a prior-ISEE refusal is replayable.
func TestReplayRefusedLikeTheCLI(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	invalid := deadLetter(t, h, "emp-1", "invalid", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	prior := deadLetter(t, h, "emp-2", "prior_isee_required", pipetest.Submission("emp-2", pipetest.ValidFields("Luigi")))
	dl, dlPrior := "/dead-letters/"+strconv.FormatUint(invalid, 10), "/dead-letters/"+strconv.FormatUint(prior, 10)
	cookie := s.login(t)
	csrf := s.csrfOf(t, cookie, dl)
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "invalid: no replay button", method: get, path: dl, auth: "cookie", status: 200, body: `id="replay-refused"`, notBody: `id="replay"`},
		{name: "invalid: no confirmation", method: get, path: dl + "/replay", auth: "cookie", status: 200, body: "iseed dlq replay --edit", notBody: "confirm-replay"},
		{name: "invalid: no promise of a replay", method: get, path: dl + "/replay", auth: "cookie", status: 200, body: "is not replayed", notBody: "the dead letter is removed"},
		{name: "invalid: replay refused", method: post, path: dl + "/replay", auth: "cookie", csrf: "valid", status: 409, body: "would be rejected again"},
		{name: "invalid: replay refused with a bearer", method: post, path: dl + "/replay", auth: "bearer", status: 409},
		{name: "prior ISEE: replay offered", method: get, path: dlPrior, auth: "cookie", status: 200, body: `id="replay"`, notBody: "replay-refused"},
		{name: "prior ISEE: replayed", method: post, path: dlPrior + "/replay", auth: "bearer", status: 303, location: "/dead-letters?replayed="},
	}, cookie, csrf)
	if _, err := h.Res.DLQ.GetMsg(context.Background(), invalid); err != nil {
		t.Errorf("invalid dead letter after refused replays: %v, want it kept", err)
	}
}

// TestReplayOfAMessageWithAWrongID: a good submission dead-lettered as
// malformed only for its Nats-Msg-Id is replayed from the console as by
// iseed dlq replay (the replay carries the id the pipeline requires): it
// is sent once and its dead letter removed. A malformed letter that is not
// a submission is still refused. The console used to refuse both.
func TestReplayOfAMessageWithAWrongID(t *testing.T) {
	h := pipetest.New(t)
	h.Start()
	s := newSite(t, h, testToken, nil)
	h.Publish(pipetest.Submission("wrong-id-1", pipetest.ValidFields("Mario")), nats.Header{jetstream.MsgIDHeader: {"my-own-id-1"}})
	h.Publish([]byte(`{"id":"no-service-1","fields":{}}`), nil)
	seqs := map[string]uint64{}
	pipetest.WaitFor(t, 20*time.Second, "two malformed dead letters", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.Reason == "malformed" {
				seqs[dl.SubmissionID] = dl.Seq
			}
		}
		return seqs["wrong-id-1"] != 0 && seqs["no-service-1"] != 0
	})
	good, bad := "/dead-letters/"+strconv.FormatUint(seqs["wrong-id-1"], 10), "/dead-letters/"+strconv.FormatUint(seqs["no-service-1"], 10)
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "not a submission: no replay button", method: get, path: bad, auth: "bearer", status: 200, body: `id="replay-refused"`, notBody: `id="replay"`},
		{name: "not a submission: replay refused", method: post, path: bad + "/replay", auth: "bearer", status: 409, body: "would be rejected again"},
		{name: "wrong id: replay offered", method: get, path: good, auth: "bearer", status: 200, body: `id="replay"`, notBody: "replay-refused"},
		{name: "wrong id: replayed", method: post, path: good + "/replay", auth: "bearer", status: 303, location: "/dead-letters?replayed="},
	}, nil, "")
	if rec := h.WaitState("wrong-id-1", record.StateSubmitted); rec.RequestID == "" {
		t.Errorf("replayed submission: got %+v, want its upstream request", rec)
	}
	if got := h.Counter("created"); got != 1 {
		t.Errorf("upstream requests: got %d, want 1", got)
	}
	if _, err := h.Res.DLQ.GetMsg(context.Background(), seqs["wrong-id-1"]); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("replayed dead letter: got %v, want it gone", err)
	}
	if _, err := h.Res.DLQ.GetMsg(context.Background(), seqs["no-service-1"]); err != nil {
		t.Errorf("refused dead letter: %v, want it kept", err)
	}
}

// giveUpLetter stores submission id's record in state (with a request,
// as tracking leaves it; completed with its final document) and its
// gave_up dead letter, as the tracker stores it, and returns the letter's
// sequence.
func giveUpLetter(t *testing.T, h *pipetest.Harness, id, state string) uint64 {
	t.Helper()
	ctx, now := context.Background(), time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: id, Fingerprint: "fp-" + id, Generation: 1, RequestID: "req-" + id, Attempts: 1, Created: now}
	rec.To(record.StateSubmitted, now, "")
	rec.To(record.StateFailed, now, dlq.ReasonGaveUp)
	rec.Reason = dlq.ReasonGaveUp
	if state == record.StateCompleted { // the upstream's completion overrode the give-up
		rec.To(record.StateCompleted, now, "overrides "+dlq.ReasonGaveUp)
		rec.Reason = ""
		rec.Document = &record.DocumentRef{Bucket: "docs", Object: id, Size: 1, Stato: visengine.StateFulfilled}
	}
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	l := h.Res.Layout
	dl := dlq.DeadLetter{OriginalSubject: l.TrackSubject(pipetest.Tenant, id), StreamSeq: 1, Tenant: pipetest.Tenant,
		SubmissionID: id, Reason: dlq.ReasonGaveUp, Error: "test", Attempts: 1, Generation: 1, FirstFailure: now, LastFailure: now}
	task := []byte(`{"tenant":"` + pipetest.Tenant + `","id":"` + id + `"}`)
	if err := dlq.Publish(ctx, h.NATS.JS, l, dl, task, dlq.MsgID(pipetest.Tenant, id, 1, dlq.ReasonGaveUp)); err != nil {
		t.Fatal(err)
	}
	msg, err := h.Res.DLQ.GetLastMsgForSubject(ctx, l.DLQSubject(pipetest.Tenant, id))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Sequence
}

// TestReplayRefusesACompletedGiveUp: a gave_up dead letter whose
// submission the upstream's completion has since made completed reopens
// nothing (the tracker acknowledges its replay without effect): the
// console refuses it, saying so and to purge it, as iseed dlq replay does,
// and keeps it. A gave_up letter whose submission still failed is
// replayed. The first used to be replayed and removed.
func TestReplayRefusesACompletedGiveUp(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	done := giveUpLetter(t, h, "emp-done", record.StateCompleted)
	failed := giveUpLetter(t, h, "emp-failed", record.StateFailed)
	dlDone, dlFailed := "/dead-letters/"+strconv.FormatUint(done, 10), "/dead-letters/"+strconv.FormatUint(failed, 10)
	get, post := http.MethodGet, http.MethodPost
	runCalls(t, s, []call{
		{name: "completed: no replay button", method: get, path: dlDone, auth: "bearer", status: 200, body: "the submission is completed: nothing to reopen", notBody: `id="replay"`},
		{name: "completed: no confirmation", method: get, path: dlDone + "/replay", auth: "bearer", status: 200, body: `id="replay-refused"`, notBody: "confirm-replay"},
		{name: "completed: replay refused", method: post, path: dlDone + "/replay", auth: "bearer", status: 409, body: "nothing to reopen; purge the letter"},
		{name: "failed: replay offered", method: get, path: dlFailed, auth: "bearer", status: 200, body: `id="replay"`, notBody: "replay-refused"},
		{name: "failed: replayed", method: post, path: dlFailed + "/replay", auth: "bearer", status: 303, location: "/dead-letters?replayed="},
	}, nil, "")
	if _, err := h.Res.DLQ.GetMsg(context.Background(), done); err != nil {
		t.Errorf("the completed submission's dead letter after refused replays: %v, want it kept", err)
	}
	if _, err := h.Res.DLQ.GetMsg(context.Background(), failed); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Errorf("the failed submission's dead letter after its replay: got %v, want it gone", err)
	}
}

// TestReplayRefusesAWithdrawnSubmission: the dead letter of a submission
// its producer withdrew after it failed with nothing sent (its record
// marked withdrawn, record.Record.WithdrawnClosed) is not replayed by the
// console: it would send it against the producer's wish. The console
// refuses it, saying so and what an operator does when the tenant asks
// (iseed dlq replay --tenant-asked), and keeps it.
func TestReplayRefusesAWithdrawnSubmission(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	h.PutRecord("emp-w", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.State, r.Reason = record.StateFailed, dlq.ReasonUpstreamRejected
		r.CancelRequested, r.CancelledBy = time.Now(), record.CancelledByTenant
	})
	seq := deadLetter(t, h, "emp-w", dlq.ReasonUpstreamRejected, pipetest.Submission("emp-w", pipetest.ValidFields("Mario")))
	dl := "/dead-letters/" + strconv.FormatUint(seq, 10)
	runCalls(t, s, []call{
		{name: "no replay button", method: http.MethodGet, path: dl, auth: "bearer", status: 200, body: "its producer withdrew the submission", notBody: `id="replay"`},
		{name: "replay refused", method: http.MethodPost, path: dl + "/replay", auth: "bearer", status: 409, body: "iseed dlq replay --tenant-asked " + strconv.FormatUint(seq, 10)},
	}, nil, "")
	if _, err := h.Res.DLQ.GetMsg(context.Background(), seq); err != nil {
		t.Errorf("the withdrawn submission's dead letter after a refused replay: %v, want it kept", err)
	}
}

// TestReplayRefusesAGiveUpItReopenedAlready: a gave_up dead letter whose
// replay reopened the submission's tracking once already (the replay could
// not remove it), the submission having given up again since, reopens
// nothing: the tracker takes a letter's replay once (record.Record.Replays).
// The console refuses it, saying so and to purge it, and keeps it; it used
// to replay it, tell the operator so and remove it, tracking never
// reopened.
func TestReplayRefusesAGiveUpItReopenedAlready(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := giveUpLetter(t, h, "emp-again", record.StateFailed)
	ctx, store := context.Background(), record.NewStore(h.Res.Records)
	rec, rev, err := store.Get(ctx, pipetest.Tenant, "emp-again")
	if err != nil {
		t.Fatal(err)
	}
	rec.AddReplay(seq, time.Now()) // it reopened tracking, which gave up again
	if _, err := store.Update(ctx, rec, rev); err != nil {
		t.Fatal(err)
	}
	refusedAndKept(t, s, h, seq, "reopened the submission once already", "purge the letter")
}

// TestSubmissionNamesTheLettersThatReopenedIt: the submission page names
// the dead letters whose replay reopened it, "dead letter 7" for one; it
// said "dead letters 7" (the console walk).
func TestSubmissionNamesTheLettersThatReopenedIt(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	ctx, now := context.Background(), time.Now()
	for id, seqs := range map[string][]uint64{"emp-once": {7}, "emp-twice": {7, 9}} {
		rec := &record.Record{Tenant: pipetest.Tenant, ID: id, Fingerprint: "fp-" + id, Generation: 2, Created: now}
		for _, seq := range seqs {
			rec.AddReplay(seq, now)
		}
		rec.To(record.StateFailed, now, "upstream_rejected")
		if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	page := "/submission?tenant=" + pipetest.Tenant + "&id="
	runCalls(t, s, []call{
		{name: "one letter", method: http.MethodGet, path: page + "emp-once", status: 200, body: "Reopened by dead letter 7 (", notBody: "dead letters"},
		{name: "two letters", method: http.MethodGet, path: page + "emp-twice", status: 200, body: "Reopened by dead letters 7 ("},
	}, nil, "")
}

// TestReplayRefusesALetterOfAReopenedSubmission: a submission's dead
// letter whose submission another letter's replay reopened (claimed, a
// delivery working on it) reopens nothing: its replay would be a
// duplicate of the submission on its way. The console refuses it as iseed
// dlq replay does, naming the state and saying to wait until it ends, and
// keeps it; it used to replay it and remove it.
func TestReplayRefusesALetterOfAReopenedSubmission(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := deadLetter(t, h, "emp-busy", dlq.ReasonUpstreamRejected, pipetest.Submission("emp-busy", pipetest.ValidFields("Mario")))
	ctx, now := context.Background(), time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "emp-busy", Fingerprint: "fp-emp-busy", Generation: 2, Attempts: 2, Created: now,
		Pending: &record.Attempt{Started: now, Owner: "another-delivery/1", Until: now.Add(time.Hour), Unsent: true}}
	rec.AddReplay(seq+1000, now) // another letter of it was replayed
	rec.To(record.StateClaimed, now, "replay of another dead letter")
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	refusedAndKept(t, s, h, seq, "the submission is claimed", "wait until it ends")
}

// TestReplayRefusesAWrongIDLetterOfASubmissionOnItsWay: a letter
// malformed only by its Nats-Msg-Id whose payload is its submission's
// recorded one is that submission's letter: with the submission on its way
// (claimed under another delivery's live lease) the console refuses its
// replay as iseed dlq replay does, and keeps it. It used to replay it
// whatever the record said: the replay waited behind that lease and, were
// the submission failed again, reopened it for an attempt nobody asked for.
func TestReplayRefusesAWrongIDLetterOfASubmissionOnItsWay(t *testing.T) {
	h := pipetest.New(t)
	h.Start()
	s := newSite(t, h, testToken, nil)
	payload := pipetest.Submission("wrong-id-2", pipetest.ValidFields("Mario"))
	h.Publish(payload, nats.Header{jetstream.MsgIDHeader: {"my-own-id-2"}})
	var seq uint64
	pipetest.WaitFor(t, 20*time.Second, "the malformed dead letter", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.Reason == dlq.ReasonMalformed && dl.SubmissionID == "wrong-id-2" {
				seq = dl.Seq
			}
		}
		return seq != 0
	})
	// Its producer sent it again with the right id meanwhile.
	sub, err := consumer.DecodeSubmission(payload)
	if err != nil {
		t.Fatal(err)
	}
	ctx, now := context.Background(), time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "wrong-id-2", Fingerprint: sub.Fingerprint(), Generation: 1, Attempts: 1, Created: now,
		Pending: &record.Attempt{Started: now, Owner: "another-delivery/1", Until: now.Add(time.Hour), Unsent: true}}
	rec.To(record.StateClaimed, now, "")
	if _, err := record.NewStore(h.Res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	refusedAndKept(t, s, h, seq, "the submission is claimed", "wait until it ends")
}

// TestReplayRefusesAMalformedLetterThatWouldCorrect: a letter malformed
// only by its Nats-Msg-Id whose payload is another submission than its
// submission's recorded one (rejected, no request) would be taken by the
// pipeline for a correction and sent in place of the recorded one. The
// console refuses its replay as iseed dlq replay does, naming the
// explicit way (--edit, --payload), and keeps it; it used to replay it.
func TestReplayRefusesAMalformedLetterThatWouldCorrect(t *testing.T) {
	h := pipetest.New(t)
	h.Start()
	s := newSite(t, h, testToken, nil)
	invalid := pipetest.ValidFields("Mario")
	invalid["$2"] = "mario at example"
	h.Publish(pipetest.Submission("other-payload", invalid), nil)
	h.WaitState("other-payload", record.StateRejected)
	h.Publish(pipetest.Submission("other-payload", pipetest.ValidFields("Mario")), nats.Header{jetstream.MsgIDHeader: {"my-own-id"}})
	var seq uint64
	pipetest.WaitFor(t, 20*time.Second, "the malformed dead letter", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.Reason == dlq.ReasonMalformed && dl.SubmissionID == "other-payload" {
				seq = dl.Seq
			}
		}
		return seq != 0
	})
	refusedAndKept(t, s, h, seq, "in place of the recorded one", "iseed dlq replay --edit "+strconv.FormatUint(seq, 10))
	if rec := h.Record("other-payload"); rec.State != record.StateRejected || rec.Generation != 1 {
		t.Errorf("record after the refusal: %+v; want it rejected, generation 1, as it was", rec)
	}
	if got := h.Counter("created"); got != 0 {
		t.Errorf("upstream requests: got %d, want 0", got)
	}
}

// TestSubmissionShowsAPendingAttempt: a submission whose POST went
// unanswered is claimed with an attempt pending; the page must say so and
// until when it reconciles, as iseed status does, or an operator seeing
// "claimed" may resubmit it.
func TestSubmissionShowsAPendingAttempt(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	now := time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "amb-1", State: record.StateClaimed, Generation: 1, Attempts: 1, Created: now,
		Pending: &record.Attempt{Started: now, Owner: "w/1", Until: now.Add(time.Minute), Settle: now.Add(15 * time.Minute)}}
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	runCalls(t, s, []call{
		{name: "attempt pending", method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=amb-1", status: 200,
			body: `id="rec-pending"`},
		{name: "reconciling, do not resubmit", method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=amb-1", status: 200,
			body: "do not resubmit or replay"},
	}, nil, "")
	// Failed ambiguous, the attempt is kept but nothing reconciles it any
	// more, and the runbook says to audit, adopt, disown or replay it.
	failed := &record.Record{Tenant: pipetest.Tenant, ID: "amb-2", State: record.StateFailed, Reason: "ambiguous", Generation: 1, Attempts: 1, Created: now,
		Pending: &record.Attempt{Started: now, Owner: "w/1", Until: now.Add(time.Minute), Settle: now.Add(15 * time.Minute)}}
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), failed); err != nil {
		t.Fatal(err)
	}
	runCalls(t, s, []call{
		{name: "failed ambiguous: not reconciling", method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=amb-2", status: 200,
			body: "not reconciled, failed ambiguous", notBody: "reconciling"},
	}, nil, "")
}

// TestSubmissionShowsAScrubbedRecord: a record the retention scrubbed (no
// metadata, problems reduced to their codes) shows, and says when and why
// its data are missing.
func TestSubmissionShowsAScrubbedRecord(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	now := time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "old-1", State: record.StateRejected, Generation: 1, Reason: "invalid",
		Created: now, Updated: now, Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`),
		Errors: []publisher.Problem{{Field: "Codice Fiscale", Code: "invalid_tax_code", Message: "not a tax code"}}}
	rec.To(record.StateRejected, now, "invalid")
	if !rec.Scrub(now) {
		t.Fatal("nothing to scrub")
	}
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	path := "/submission?tenant=" + pipetest.Tenant + "&id=old-1"
	runCalls(t, s, []call{
		{name: "scrubbed", method: http.MethodGet, path: path, status: 200, body: `id="rec-scrubbed"`},
		{name: "the problem's code", method: http.MethodGet, path: path, status: 200, body: "<code>invalid_tax_code</code>"},
	}, nil, "")
}

// TestReplayPublishedButNotRemoved: a replay that was published but whose
// dead letter could not be removed (dlq.ErrNotRemoved) is said to be
// replayed, with what is left to do (purge the letter), as iseed dlq
// replay says it. The console used to answer 502 "The replay failed",
// and an operator who replayed it again reopened nothing.
func TestReplayPublishedButNotRemoved(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := deadLetter(t, h, "emp-kept", "prior_isee_required", pipetest.Submission("emp-kept", pipetest.ValidFields("Mario")))
	ctx := context.Background()
	cfg := h.Res.DLQ.CachedInfo().Config
	cfg.DenyDelete = true // the stream refuses every removal from now on
	if _, err := h.NATS.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	n := strconv.FormatUint(seq, 10)
	resp, body := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + n + "/replay", auth: "bearer"}, nil, "")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/dead-letters?") {
		t.Fatalf("replay not removed: got %d to %q, want 303 to the dead letters with a notice\n%s", resp.StatusCode, loc, body)
	}
	resp, body = s.do(t, call{method: http.MethodGet, path: loc, auth: "bearer"}, nil, "")
	for _, want := range []string{"Dead letter " + n + " was replayed", "could not be removed", "iseed dlq purge " + n} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("the notice after a replay not removed: got %d, want 200 saying %q\n%s", resp.StatusCode, want, body)
		}
	}
	if _, err := h.Res.DLQ.GetMsg(ctx, seq); err != nil {
		t.Errorf("dead letter %s: %v; want it still there (the stream denies deletes)", n, err)
	}
}

// TestReplayNoticeCannotBeForged: the notice after a replay came from the
// list's query alone, so a link anyone could write (?replayed=SEQ&kept=1)
// made the page say a dead letter was replayed and tell the operator to
// purge it, a letter never replayed. The notice is now shown only as the
// replay's redirect signed it, for a few minutes: a written or altered
// one shows nothing, nor does the real one once it is old.
func TestReplayNoticeCannotBeForged(t *testing.T) {
	h := pipetest.New(t)
	var later atomic.Int64 // how far ahead the console's clock is
	s := newSiteWith(t, h, console.Config{Token: testToken, Now: func() time.Time { return time.Now().Add(time.Duration(later.Load())) }}, nil)
	cookie := s.login(t)
	seq := deadLetter(t, h, "emp-forged", "prior_isee_required", pipetest.Submission("emp-forged", pipetest.ValidFields("Mario")))
	other := deadLetter(t, h, "emp-real", "prior_isee_required", pipetest.Submission("emp-real", pipetest.ValidFields("Mario")))
	n := strconv.FormatUint(seq, 10)
	resp, _ := s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(other, 10) + "/replay", auth: "bearer"}, nil, "")
	real, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("replay: got %d to %q (%v), want 303 to the dead letters with a notice", resp.StatusCode, resp.Header.Get("Location"), err)
	}
	altered := real.Query()
	altered.Set("replayed", n)
	altered.Set("rid", "emp-forged")
	kept := real.Query()
	kept.Set("kept", "1")
	for _, path := range []string{
		"/dead-letters?replayed=" + n + "&rt=" + pipetest.Tenant + "&rid=emp-forged&kept=1",
		"/dead-letters?" + altered.Encode(),
		"/dead-letters?" + kept.Encode(),
	} {
		for _, auth := range []string{"bearer", "cookie"} {
			resp, body := s.do(t, call{method: http.MethodGet, path: path, auth: auth}, cookie, "")
			if resp.StatusCode != http.StatusOK || strings.Contains(body, "was replayed") || strings.Contains(body, "iseed dlq purge") {
				t.Errorf("GET %s (%s): got %d, want 200 with no replay notice\n%s", path, auth, resp.StatusCode, body)
			}
		}
	}
	resp, body := s.do(t, call{method: http.MethodGet, path: real.String(), auth: "cookie"}, cookie, "")
	if want := "Dead letter " + strconv.FormatUint(other, 10) + " was replayed"; resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
		t.Errorf("GET %s: got %d, want the notice %q\n%s", real, resp.StatusCode, want, body)
	}
	later.Store(int64(10 * time.Minute))
	if resp, body := s.do(t, call{method: http.MethodGet, path: real.String(), auth: "bearer"}, nil, ""); resp.StatusCode != http.StatusOK || strings.Contains(body, "was replayed") {
		t.Errorf("GET %s ten minutes later: got %d, want 200 with no replay notice\n%s", real, resp.StatusCode, body)
	}
}

// refusedAndKept checks that dead letter seq's page offers no replay and
// says why (why), that its replay is refused with what to do (advice),
// and that the letter is kept.
func refusedAndKept(t *testing.T, s *site, h *pipetest.Harness, seq uint64, why, advice string) {
	t.Helper()
	dl := "/dead-letters/" + strconv.FormatUint(seq, 10)
	runCalls(t, s, []call{
		{name: "no replay button", method: http.MethodGet, path: dl, auth: "bearer", status: 200, body: why, notBody: `id="replay"`},
		{name: "replay refused", method: http.MethodPost, path: dl + "/replay", auth: "bearer", status: 409, body: advice},
	}, nil, "")
	if _, err := h.Res.DLQ.GetMsg(context.Background(), seq); err != nil {
		t.Errorf("the dead letter after a refused replay: %v, want it kept", err)
	}
}
