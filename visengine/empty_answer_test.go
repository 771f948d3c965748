package visengine_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// A 2xx to POST /richiesta that names no request cannot be adopted: the
// request may exist, so it must be ambiguous, not a success with no id.
func TestPostSuccessWithoutIDIsAmbiguous(t *testing.T) {
	for _, body := range []string{`{}`, `{"success":true,"data":null}`, `{"success":true}`} {
		c := newClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}))
		r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "x"}})
		if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
			t.Errorf("%s: got %v (%v), want an ambiguous error", body, got, r)
		}
	}
}
