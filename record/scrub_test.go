package record_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// full is a record with every field set, in state.
func full(state string) *record.Record {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	price := 12.5
	return &record.Record{Tenant: "acme", ID: "emp-1", Fingerprint: "fp", Generation: 2, State: state,
		Service: "ISEE", ServiceHash: "h", Price: &price, RequestID: "r1", StatoRichiesta: visengine.StateFulfilled,
		Pending: &record.Attempt{Started: at, Owner: "w/1", Until: at, Settle: at, Marked: true}, Attempts: 2,
		Reason:   "gave_up",
		Errors:   []publisher.Problem{{Field: "Codice Fiscale", Name: "RSSMRA80A01H501U", Code: "invalid_tax_code", Message: "RSSMRA80A01H501U is not valid"}},
		Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), PersonKey: "pk",
		UpstreamMessage: "error in the input data: codice_fiscale RSSMRA80A01H501U",
		Timeline:        []record.Transition{{State: state, At: at, Note: "upstream: Visura evasa"}},
		Replays:         []record.Replay{{Seq: 7, At: at}},
		HeldSince:       at, FirstFailure: at, LastFailure: at, Created: at, Updated: at,
		Document: &record.DocumentRef{Bucket: "b", Object: "acme/emp-1/x/r1.zip", Size: 1, SHA256: "s", ContentType: "application/zip", Stato: visengine.StateFulfilled, Stored: at},
		Charge:   &record.Charge{ServicePrice: 1250, Total: 1250, At: at, Source: "posted", Options: []record.ChargeOption{{Name: "urgenza", Price: 100}}},
		Reserved: &record.Reserved{Amount: 1250, Day: "2026-03-02"},
	}
}

// TestScrub: a closed record loses its metadata, person key, its document's
// file name, the problems' texts, the upstream's message and an upstream state the API does not
// publish (the upstream's free text), keeps the problems' codes and every
// other field, and notes when; a record still open, or with nothing left
// to scrub, is unchanged.
func TestScrub(t *testing.T) {
	now := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	scrubbed := func(r *record.Record) *record.Record {
		r.Metadata, r.PersonKey, r.UpstreamMessage, r.Scrubbed = nil, "", "", now
		r.Errors = []publisher.Problem{{Code: "invalid_tax_code"}}
		if r.Document != nil {
			doc := *r.Document
			doc.Object = "acme/emp-1/x/…"
			r.Document = &doc
		}
		return r
	}
	awaiting := full(record.StateCompleted)
	awaiting.Document.Stato = visengine.StateDataReady
	legacy := full(record.StateCompleted)
	legacy.Document.Stato = ""
	clean := scrubbed(full(record.StateFailed))
	noErrors := full(record.StateRejected)
	noErrors.Errors = nil
	// A state the API does not publish is the upstream's free text.
	const free = "Sospesa RSSMRA80A01H501U"
	freeState := func(r *record.Record) *record.Record { r.StatoRichiesta = free; return r }
	stateCut := func(r *record.Record) *record.Record { r.StatoRichiesta = "…"; return r }
	openFree := freeState(full(record.StateSubmitted))
	scrubbedBefore := freeState(scrubbed(full(record.StateFailed))) // by an iseed that kept the state
	tests := []struct {
		name string
		in   *record.Record
		want *record.Record // nil: unchanged
	}{
		{"completed with its final document", full(record.StateCompleted), scrubbed(full(record.StateCompleted))},
		{"completed, recorded before refetching", legacy, scrubbed(legacy.Clone())},
		{"cancelled", full(record.StateCancelled), scrubbed(full(record.StateCancelled))},
		{"failed", full(record.StateFailed), scrubbed(full(record.StateFailed))},
		{"rejected", full(record.StateRejected), scrubbed(full(record.StateRejected))},
		{"rejected without problems", noErrors, func() *record.Record { r := scrubbed(noErrors.Clone()); r.Errors = nil; return r }()},
		{"completed awaiting its final document", awaiting, nil},
		{"claimed", full(record.StateClaimed), nil},
		{"held", full(record.StateHeld), nil},
		{"submitted", full(record.StateSubmitted), nil},
		{"in progress", full(record.StateInProgress), nil},
		{"data ready", full(record.StateDataReady), nil},
		{"scrubbed already", clean, nil},
		{"failed in a state the API does not publish", freeState(full(record.StateFailed)), stateCut(scrubbed(full(record.StateFailed)))},
		{"cancelled in a state the API does not publish", freeState(full(record.StateCancelled)), stateCut(scrubbed(full(record.StateCancelled)))},
		{"scrubbed before but for its state", scrubbedBefore, stateCut(scrubbed(full(record.StateFailed)))},
		{"submitted in a state the API does not publish", openFree, nil},
		{"scrubbed already, its state too", stateCut(clean.Clone()), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.Clone()
			got := tt.in.Clone()
			changed := got.Scrub(now)
			want := tt.want
			if want == nil {
				want = before
			}
			if changed != (tt.want != nil) {
				t.Errorf("Scrub: got changed=%v, want %v", changed, tt.want != nil)
			}
			if !reflect.DeepEqual(got, want) {
				g, _ := json.Marshal(got)
				w, _ := json.Marshal(want)
				t.Errorf("got  %s\nwant %s", g, w)
			}
		})
	}
}

// TestScrubKeepsEveryOtherField: every field of Record is either one Scrub
// removes or one it keeps, so a field added later is a decision, not an
// accident.
func TestScrubKeepsEveryOtherField(t *testing.T) {
	removed := map[string]bool{"Metadata": true, "PersonKey": true, "Errors": true, "UpstreamMessage": true, "Scrubbed": true, "Document": true} // Document: its file name
	r := full(record.StateCompleted)
	before := r.Clone()
	r.Scrub(time.Now())
	v, b := reflect.ValueOf(r).Elem(), reflect.ValueOf(before).Elem()
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		same := reflect.DeepEqual(v.Field(i).Interface(), b.Field(i).Interface())
		if same == removed[name] {
			t.Errorf("field %s: changed=%v, want changed=%v (decide whether Scrub removes it)", name, !same, removed[name])
		}
	}
}
