package visengine_test

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// TestAnswerAboutAnotherRequest: an answer to a call on /richiesta/{id}
// that names another request, or none, is not that request's. A cache or
// gateway that mixes answers up, or an upstream bug, would otherwise have
// tracking take another request's state (Annullata: the submission's own,
// paid request is dropped) and reconciliation adopt another request (its
// document stored as this submission's). A GET is retried; a call that
// changes something cannot tell what it changed: ambiguous.
func TestAnswerAboutAnotherRequest(t *testing.T) {
	const other = "5f22f722065afc42223c7131"
	bodies := []struct {
		name, body string
	}{
		{"another id", `{"success":true,"message":"","error":null,"data":{"_id":"` + other + `","stato_richiesta":"Annullata"}}`},
		{"another id in extended JSON", `{"success":true,"data":{"_id":{"$oid":"` + other + `"},"stato_richiesta":"Annullata"}}`},
		{"no id", `{"success":true,"data":{"stato_richiesta":"Annullata"}}`},
		{"an empty id", `{"success":true,"data":{"_id":"","stato_richiesta":"Annullata"}}`},
		{"cut after another id", `{"success":true,"data":{"_id":"` + other + `","stato_richiesta":"Annullata","ricerche":[{"json_ricerca":"{\"$0\":\"Ma`},
	}
	ops := []struct {
		op   string
		want visengine.Class
	}{
		{"GET /richiesta/{id}", visengine.ClassRetryable},
		{"PUT /richiesta/{id}", visengine.ClassAmbiguous},
		{"DELETE /richiesta/{id}", visengine.ClassAmbiguous},
		{"POST /richiesta/{id}", visengine.ClassAmbiguous},
		{"PUT /richiesta/{id}/ricerche", visengine.ClassAmbiguous},
	}
	for _, b := range bodies {
		for _, o := range ops {
			t.Run(b.name+"/"+o.op, func(t *testing.T) {
				r, err := richiestaOp(context.Background(), newClient(t, raw(200, b.body)), o.op)
				if got := visengine.ClassOf(err); got != o.want {
					t.Fatalf("asked for %s: got %+v, %v; want no request and a %v error", reqID, r, err, o.want)
				}
			})
		}
	}
	t.Run("the request asked for", func(t *testing.T) {
		r, err := richiestaOp(context.Background(), newClient(t, raw(200, answer(`,"stato_richiesta":"Annullata"`))), "GET /richiesta/{id}")
		if err != nil || r.ID != reqID || r.StatoRichiesta != visengine.StateCancelled {
			t.Errorf("got %+v, %v; want request %s, Annullata", r, err, reqID)
		}
	})
}
