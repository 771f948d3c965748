package main

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// openRecord is an open request for the track list tests: submitted age
// ago, then moved to state, in stato upstream, with a document fetched in
// doc ("" none).
func openRecord(id, state, stato, doc string, age time.Duration) *record.Record {
	at := time.Now().Add(-age)
	r := &record.Record{Tenant: "acme", ID: id, Generation: 1, Created: at, RequestID: "req-" + id, StatoRichiesta: stato}
	r.To(record.StateSubmitted, at, "")
	if state != r.State {
		r.To(state, at.Add(time.Second), "")
	}
	if doc != "" {
		r.Document = &record.DocumentRef{Bucket: "b", Object: "o", Stato: doc}
	}
	return r
}

// createRecords stores recs in the records bucket of the server cliEnv
// runs.
func createRecords(t *testing.T, srv *natstest.Server, recs ...*record.Record) {
	t.Helper()
	res, err := layout.Ensure(context.Background(), srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	st := record.NewStore(res.Records)
	for _, r := range recs {
		if _, err := st.Create(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrackListStatesAreTop: `iseed track list` names and filters each
// open request by the state `iseed top` counts it under. A fulfilled
// request whose final document is not stored yet is awaiting_document in
// both, though its record is still data_ready; completed, the flag's
// earlier name for it, means the same.
func TestTrackListStatesAreTop(t *testing.T) {
	createRecords(t, cliEnv(t),
		openRecord("sub-1", record.StateSubmitted, "In ricerca", "", time.Hour),
		openRecord("ready-1", record.StateDataReady, visengine.StateDataReady, visengine.StateDataReady, 2*time.Hour),
		openRecord("held-back", record.StateDataReady, visengine.StateFulfilled, "", 3*time.Hour), // the final document's download fails
		openRecord("done-legacy", record.StateCompleted, visengine.StateFulfilled, visengine.StateDataReady, 4*time.Hour),
		openRecord("done-final", record.StateCompleted, visengine.StateFulfilled, visengine.StateFulfilled, 5*time.Hour), // closed
	)
	out, errOut, code := runCLI(t, "top", "-o", "json")
	var top struct {
		Requests struct {
			Open map[string]int `json:"open_requests"`
		} `json:"requests"`
	}
	if err := json.Unmarshal([]byte(out), &top); code != 0 || err != nil {
		t.Fatalf("top: exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
	}
	tests := []struct {
		state string
		want  []string // oldest first
		count string   // the state top counts them under
	}{
		{"submitted", []string{"sub-1"}, "submitted"},
		{"in_progress", nil, "in_progress"},
		{"data_ready", []string{"ready-1"}, "data_ready"},
		{"awaiting_document", []string{"done-legacy", "held-back"}, "awaiting_document"},
		{"completed", []string{"done-legacy", "held-back"}, "awaiting_document"},
	}
	for _, tt := range tests {
		t.Run(tt.state, func(t *testing.T) {
			out, errOut, code := runCLI(t, "track", "list", "--state", tt.state, "-o", "json")
			var rows []openRow
			if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil {
				t.Fatalf("exit %d, %v, stdout %q, stderr %q", code, err, out, errOut)
			}
			var ids []string
			for _, r := range rows {
				ids = append(ids, r.ID)
				if r.State != tt.count {
					t.Errorf("%s: state %q, want %q", r.ID, r.State, tt.count)
				}
			}
			if !slices.Equal(ids, tt.want) || top.Requests.Open[tt.count] != len(tt.want) {
				t.Errorf("got %v; want %v, the %d top counts as %s", ids, tt.want, top.Requests.Open[tt.count], tt.count)
			}
		})
	}
	out, _, _ = runCLI(t, "track", "list", "-o", "table")
	if !strings.Contains(out, "held-back    awaiting_document  Visura evasa") {
		t.Errorf("table: got %q, want held-back's STATE awaiting_document", out)
	}
}

// TestTrackListLeavesOutUnpublishedStates: an open request in a state the
// API does not publish (the upstream's free text, here naming the person)
// is listed with ‹unpublished› for its upstream state, in the table and in
// JSON; iseed status shows it whole, for that one submission.
func TestTrackListLeavesOutUnpublishedStates(t *testing.T) {
	createRecords(t, cliEnv(t),
		openRecord("odd-1", record.StateSubmitted, "Sospesa: documento di ROSSI MARIO scaduto", "", time.Hour),
		openRecord("sub-1", record.StateSubmitted, visengine.StateSearching, "", 2*time.Hour),
	)
	for _, format := range []string{"table", "json"} {
		out, errOut, code := runCLI(t, "track", "list", "-o", format)
		if code != 0 || strings.Contains(out, "ROSSI") || !strings.Contains(out, "‹unpublished›") || !strings.Contains(out, visengine.StateSearching) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want the unpublished state as ‹unpublished›, the published one as it is", format, code, out, errOut)
		}
	}
	if out, _, code := runCLI(t, "status", "--tenant", "acme", "odd-1"); code != 0 || !strings.Contains(out, "ROSSI MARIO") {
		t.Errorf("status: exit %d, stdout %q; want the state whole", code, out)
	}
}
