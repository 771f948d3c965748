package consumer_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// TestCutFailureNamingARequestIsReconciled: the upstream creates (and
// charges) the request, and its answer, a failure whose data names the
// request, breaks off after the _id. The client classifies it ambiguous
// (visengine's TestFailureNamingARequestCutShortIsAmbiguous), so the
// pipeline reconciles and adopts the request: one paid request, recorded.
// Before, a 412 failed the submission upstream_rejected beside a request
// no record named (a replay would POST again), and a 402 was handed back
// as insufficient credit and POSTed again: two paid requests.
func TestCutFailureNamingARequestIsReconciled(t *testing.T) {
	t.Parallel()
	for _, status := range []int{http.StatusPreconditionFailed, http.StatusPaymentRequired} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			sim, err := url.Parse(h.SimURL)
			if err != nil {
				t.Fatal(err)
			}
			forward := httputil.NewSingleHostReverseProxy(sim)
			var cut atomic.Bool
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/richiesta" || cut.Swap(true) {
					forward.ServeHTTP(w, r)
					return
				}
				// The first POST reaches the simulator, which creates
				// the request; its answer comes back as a failure, cut
				// just after the request's _id.
				rec := httptest.NewRecorder()
				forward.ServeHTTP(rec, r)
				body, _ := io.ReadAll(rec.Result().Body)
				i := bytes.Index(body, []byte(`"state"`))
				if i < 0 {
					t.Errorf("the simulator's answer has no state after its _id: %s", body)
					i = len(body)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(status)
				_, _ = w.Write(body[:i]) // short of its length: the connection breaks
			}))
			t.Cleanup(proxy.Close)
			u, err := url.Parse(proxy.URL)
			if err != nil {
				t.Fatal(err)
			}
			c, err := visengine.New(visengine.Config{BaseURL: u, Token: pipetest.SimToken, Timeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			h.Start(pipetest.WithUpstream(c), pipetest.WithConfig(func(cfg *consumer.Config) { cfg.WalletProbe = 200 * time.Millisecond }))
			h.Publish(pipetest.Submission("emp-cut", pipetest.ValidFields("Mario")), nil)
			var r *record.Record
			pipetest.WaitExplained(t, 30*time.Second, "the submission to settle", func() bool {
				r = h.Record("emp-cut")
				return r != nil && r.State != record.StateClaimed && r.State != record.StateHeld
			}, func() string { return fmt.Sprintf("record: %+v", r) })
			if !cut.Load() {
				t.Fatal("no POST went through the proxy")
			}
			if r.State != record.StateSubmitted || r.RequestID == "" {
				t.Errorf("record %s, reason %s, request %q; want submitted with the request the upstream created", r.State, r.Reason, r.RequestID)
			}
			if got := h.Counter("created"); got != 1 {
				t.Errorf("upstream requests: %d; want 1", got)
			}
		})
	}
}
