package e2e_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestPollAnsweredAboutAnotherRequestChangesNothing: a gateway in front of
// the upstream answers the polls of one request with another request's
// answer (a cache keyed wrongly, answers mixed up). The other request was
// cancelled; the submission's own, paid, is still in progress. Before, the
// tracker took the answer for the submission's request: the record became
// cancelled, tracking ended, and the request's document would never have
// been fetched. Now such an answer is a failed poll, retried.
func TestPollAnsweredAboutAnotherRequestChangesNothing(t *testing.T) {
	h := newTrackHarness(t, trackSetup{sim: sim.Config{Step: time.Hour},
		tracker: tracking.Config{Workers: 2, Schedule: []time.Duration{30 * time.Millisecond}, RetryDelay: 30 * time.Millisecond}})
	ctx := context.Background()
	mine := h.openRequest(ctx, "emp-mine")
	theirs := h.openRequest(ctx, "emp-theirs")
	if _, err := h.Client.DeleteRichiesta(ctx, theirs, "test"); err != nil {
		t.Fatal(err)
	}
	var mixed atomic.Int32
	h.upstream = clientOf(t, mixUp(t, h.SimURL, "/richiesta/"+mine, "/richiesta/"+theirs, &mixed))
	tr := h.newTracker(nil)
	if err := tr.Track(ctx, h.Record("emp-mine")); err != nil {
		t.Fatal(err)
	}
	h.runTracker(tr)
	var r *record.Record
	pipetest.WaitFor(t, 10*time.Second, "three polls of the request, or its record closed", func() bool {
		r = h.Record("emp-mine")
		return mixed.Load() >= 3 || r.Closed()
	})
	if r.State != record.StateSubmitted || r.RequestID != mine || r.StatoRichiesta != visengine.StateInProgress {
		t.Fatalf("record after %d polls answered about another request: got %s, request %s, %q; want submitted, request %s, %q",
			mixed.Load(), r.State, r.RequestID, r.StatoRichiesta, mine, visengine.StateInProgress)
	}
}

// mixUp serves the simulator at simURL through a proxy that answers every
// GET of path with what the simulator answers for other, counting them.
func mixUp(t *testing.T, simURL, path, other string, n *atomic.Int32) string {
	t.Helper()
	target, err := url.Parse(simURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		if pr.In.Method == http.MethodGet && pr.In.URL.Path == path {
			n.Add(1)
			pr.Out.URL.Path, pr.Out.URL.RawPath = other, ""
		}
	}}
	srv := httptest.NewServer(proxy)
	t.Cleanup(srv.Close)
	return srv.URL
}

// clientOf is a Visengine client of the simulator's token on base.
func clientOf(t *testing.T, base string) *visengine.Client {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: pipetest.SimToken, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
