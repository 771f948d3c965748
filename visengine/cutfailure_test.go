package visengine_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// TestFailureNamingARequestCutShortIsAmbiguous: a failure (a 4xx) to a
// POST whose data names a request is ambiguous, whole or not: the request
// exists and may be charged. An answer that echoes the files is large, and
// may break off after its _id (the connection cut, or the call's timeout
// while it still streams); classified by its status alone, a 412 was
// permanent (the submission failed upstream_rejected beside a paid request,
// and a replay would POST again) and a 402 insufficient_credit (the next
// delivery POSTed again without reconciling).
func TestFailureNamingARequestCutShortIsAmbiguous(t *testing.T) {
	const head = `{"success":false,"error":250,"message":"x","data":{"_id":"5f22f722065afc42223c7131","state":1,"stato_richiesta":"In erogazione","ricerche":[{"json_ricerca":"{\"$5\":\"doc|data:application/pdf;base64,`
	for _, status := range []int{412, 402, 404, 429} {
		for _, how := range []string{"cut", "timed out"} {
			t.Run(strconv.Itoa(status)+" "+how, func(t *testing.T) {
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					if how == "cut" { // the handler returns short of its length: the connection breaks
						w.Header().Set("Content-Length", strconv.Itoa(len(head)+1000))
					}
					w.WriteHeader(status)
					_, _ = w.Write([]byte(head))
					w.(http.Flusher).Flush()
					if how == "timed out" { // still streaming when the call's time is up
						<-r.Context().Done()
					}
				})
				c := newClient(t, h, func(cfg *visengine.Config) { cfg.Timeout = 500 * time.Millisecond })
				_, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3", JSONVisura: map[string]string{"$0": "x"}})
				if e := asError(t, err); e.Class != visengine.ClassAmbiguous {
					t.Errorf("HTTP %d naming a request, %s: class %v (%v); want ambiguous, as the same answer whole", status, how, e.Class, err)
				}
			})
		}
	}
	// Cut before it names one, a failure keeps its status's class.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(412)
		_, _ = w.Write([]byte(`{"success":false,"error":250,"message":"x","data":{"state":1,`))
	})
	_, err := newClient(t, h).CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "eccbc87e4b5ce2fe28308fd9f2a7baf3", JSONVisura: map[string]string{"$0": "x"}})
	if e := asError(t, err); e.Class != visengine.ClassPermanent {
		t.Errorf("HTTP 412 cut before naming a request: class %v (%v); want permanent", e.Class, err)
	}
}
