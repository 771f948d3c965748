package visengine_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// h2Retry does what net/http's HTTP/2 transport does on REFUSED_STREAM or
// GOAWAY (http2shouldRetryRequest): the first attempt's body write fails, the
// request is rewound with GetBody and sent again on the same context (so the
// same ClientTrace), written whole; then its answer never comes.
type h2Retry struct{ replayed bool }

func (rt *h2Retry) RoundTrip(req *http.Request) (*http.Response, error) {
	tr := httptrace.ContextClientTrace(req.Context())
	tr.WroteHeaders()
	tr.WroteRequest(httptrace.WroteRequestInfo{Err: errors.New("http2: stream error: REFUSED_STREAM")})
	if req.GetBody == nil {
		return nil, errors.New("http2: Transport: cannot retry after Request.Body was written")
	}
	if _, err := req.GetBody(); err != nil {
		return nil, err
	}
	rt.replayed = true
	tr.WroteHeaders()
	tr.WroteRequest(httptrace.WroteRequestInfo{}) // the replay reached the server whole
	<-req.Context().Done()
	return nil, req.Context().Err()
}

func TestReplayedPostWrittenWholeIsAmbiguous(t *testing.T) {
	rt := &h2Retry{}
	u, _ := url.Parse("https://visengine.invalid")
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: "t", HTTPClient: &http.Client{Transport: rt}, Timeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "x"}})
	if !rt.replayed {
		return // the fix that removes GetBody on POST: nothing was replayed
	}
	if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
		t.Fatalf("got class %s (%v), want ambiguous: the replayed POST was written whole", got, err)
	}
}
