package visengine_test

import (
	"context"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// TestWriteFailureWithoutADocumentedCodeIsAmbiguous: every failure the API
// publishes comes with a 4xx status and a documented code. A 2xx whose
// envelope says "success": false without one (no code, an unknown one, a
// server error's) contradicts itself: the status says the call went
// through, and a generic handler that caught a fault after the request
// was written (and charged) answers just so. To a POST, PUT or DELETE it
// is ambiguous, never a refusal: a refusal is dead-lettered as
// replayable, and its replay is a second POST that nothing reconciles. A
// documented code keeps its documented class, and a GET stays permanent.
func TestWriteFailureWithoutADocumentedCodeIsAmbiguous(t *testing.T) {
	tests := []struct {
		name   string
		op     string
		status int
		body   string
		want   visengine.Class
	}{
		{"no code", "POST /richiesta", 200, `{"success":false,"message":"Errore interno","error":null,"data":null}`, visengine.ClassAmbiguous},
		{"no error key", "POST /richiesta", 200, `{"success":false,"message":"x","data":null}`, visengine.ClassAmbiguous},
		{"unknown code", "POST /richiesta", 200, `{"success":false,"message":"x","error":999,"data":null}`, visengine.ClassAmbiguous},
		{"a server error's code", "POST /richiesta", 200, `{"success":false,"message":"x","error":500,"data":null}`, visengine.ClassAmbiguous},
		{"201", "POST /richiesta", 201, `{"success":false,"message":"x","error":0,"data":null}`, visengine.ClassAmbiguous},
		{"no code to a PUT", "PUT /richiesta/{id}", 200, `{"success":false,"message":"x","data":null}`, visengine.ClassAmbiguous},
		{"no code to a DELETE", "DELETE /richiesta/{id}", 200, `{"success":false,"message":"x","data":null}`, visengine.ClassAmbiguous},
		// What the API documents keeps its class.
		{"documented refusal", "POST /richiesta", 200, `{"success":false,"message":"x","error":250,"data":null}`, visengine.ClassPermanent},
		{"documented credit", "POST /richiesta", 200, `{"success":false,"message":"x","error":211,"data":null}`, visengine.ClassInsufficientCredit},
		{"no code to a GET", "GET /visure", 200, `{"success":false,"message":"x","data":null}`, visengine.ClassPermanent},
		{"a 4xx without a code", "POST /richiesta", 400, `{"success":false,"message":"x","data":null}`, visengine.ClassPermanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := invoke(context.Background(), newClient(t, raw(tt.status, tt.body)), tt.op)
			if got := visengine.ClassOf(err); got != tt.want {
				t.Errorf("%s answered %d %s: got %v (%v), want %v", tt.op, tt.status, tt.body, got, err, tt.want)
			}
		})
	}
}
