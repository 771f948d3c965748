package tracking

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

func TestDecideTrack(t *testing.T) {
	c := Config{}.withDefaults()
	const next, retry = time.Hour, time.Minute
	notReady := &visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady}
	failing := &visengine.Error{Op: "GET /documento/{id}", Status: 500, Class: visengine.ClassRetryable}
	tests := []struct {
		name string
		o    trackOutcome
		next time.Duration
		want trackAction
	}{
		{"final acks", trackOutcome{Final: true}, next, trackAction{Ack: true}},
		{"final even with a late error", trackOutcome{Final: true, Err: errors.New("x")}, next, trackAction{Ack: true}},
		{"open waits for the next poll", trackOutcome{}, next, trackAction{Delay: time.Hour}},
		{"error retries at the retry delay", trackOutcome{Err: errors.New("x")}, next, trackAction{Delay: time.Minute}},
		{"error retries no later than the next poll", trackOutcome{Err: errors.New("x")}, 10 * time.Second, trackAction{Delay: 10 * time.Second}},
		{"a request the upstream does not know waits for the next poll", trackOutcome{Err: fmt.Errorf("poll: %w", &visengine.Error{Class: visengine.ClassNotFound, Status: 404})}, next, trackAction{Delay: time.Hour}},
		// The upstream names how long to wait: polling sooner would be
		// refused again and spend the budget submissions share.
		{"a throttled poll waits for Retry-After", trackOutcome{Err: fmt.Errorf("poll: %w", &visengine.Error{Class: visengine.ClassThrottled, Status: 429, RetryAfter: 5 * time.Minute})}, next, trackAction{Delay: 5 * time.Minute}},
		{"Retry-After past the next scheduled poll still holds", trackOutcome{Err: fmt.Errorf("poll: %w", &visengine.Error{Class: visengine.ClassThrottled, Status: 503, RetryAfter: 3 * time.Minute})}, 2 * time.Minute, trackAction{Delay: 3 * time.Minute}},
		{"Retry-After is capped", trackOutcome{Err: fmt.Errorf("poll: %w", &visengine.Error{Class: visengine.ClassThrottled, Status: 429, RetryAfter: 48 * time.Hour})}, 72 * time.Hour, trackAction{Delay: 10 * time.Minute}},
		{"a short Retry-After does not hasten the retry", trackOutcome{Err: fmt.Errorf("poll: %w", &visengine.Error{Class: visengine.ClassThrottled, Status: 429, RetryAfter: time.Second})}, next, trackAction{Delay: time.Minute}},
		{"interrupted hands back", trackOutcome{Interrupted: true, Err: errors.New("x")}, next, trackAction{Delay: time.Second}},
		// A document over MaxDocumentBytes is as large at the next try:
		// retried at the retry delay, each try would read the whole limit
		// (256 MiB by default) once a minute until the maximum age.
		{"a document over the size limit waits for the next poll", trackOutcome{Err: fmt.Errorf("document 5f22f722065afc42223c7131: %w",
			&visengine.Error{Op: "GET /documento/{id}", Status: 200, Class: visengine.ClassPermanent, Message: "answer too large", Err: visengine.ErrResponseTooLarge})},
			next, trackAction{Delay: time.Hour}},
		// The upstream serves no document yet in Dati disponibili (422,
		// "document not yet available"): the request stays there for days,
		// and retrying every minute would make each one cost two calls a
		// minute instead of the schedule's dozen in all.
		{"a document not ready before Visura evasa waits for the next poll", trackOutcome{State: record.StateDataReady, Err: fmt.Errorf("document 5f22f722065afc42223c7131: %w",
			&visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady})}, next, trackAction{Delay: time.Hour}},
		// In Visura evasa the final document is all tracking waits for.
		{"a final document not ready retries at the retry delay", trackOutcome{State: record.StateCompleted, Err: fmt.Errorf("document: %w",
			&visengine.Error{Op: "GET /documento/{id}", Status: 422, Code: 247, Class: visengine.ClassNotReady})}, next, trackAction{Delay: time.Minute}},
		// A final document the upstream never serves: retried every
		// minute until the maximum age (60 days), each request would take
		// two calls a minute from the budget every poll shares. The
		// retries back off, memoryless: each waits as long as the request
		// has been in Visura evasa (doubling from the retry delay), up to
		// an hour and never past the next scheduled poll.
		{"a final document not ready just after Visura evasa retries at the retry delay", trackOutcome{State: record.StateCompleted, Awaited: 20 * time.Second,
			Err: fmt.Errorf("document: %w", notReady)}, next, trackAction{Delay: time.Minute}},
		{"a final document not ready backs off as long as it has been awaited", trackOutcome{State: record.StateCompleted, Awaited: 8 * time.Minute,
			Err: fmt.Errorf("document: %w", notReady)}, next, trackAction{Delay: 8 * time.Minute}},
		{"a final document not ready for days is retried hourly", trackOutcome{State: record.StateCompleted, Awaited: 30 * 24 * time.Hour,
			Err: fmt.Errorf("document: %w", notReady)}, 24 * time.Hour, trackAction{Delay: time.Hour}},
		{"a final document not ready is retried no later than the next poll", trackOutcome{State: record.StateCompleted, Awaited: 3 * time.Hour,
			Err: fmt.Errorf("document: %w", notReady)}, 20 * time.Minute, trackAction{Delay: 20 * time.Minute}},
		{"a final document not ready on a short schedule", trackOutcome{State: record.StateCompleted, Awaited: 3 * time.Hour,
			Err: fmt.Errorf("document: %w", notReady)}, 10 * time.Second, trackAction{Delay: 10 * time.Second}},
		// Any other failure of the upstream to serve the final document
		// (a 5xx every time, a 403, a cut answer) backs off the same way:
		// retried every minute, one such request would take two calls a
		// minute until the maximum age.
		{"a final document the upstream fails to serve backs off as long as it has been awaited", trackOutcome{State: record.StateCompleted, Awaited: 8 * time.Minute,
			Err: fmt.Errorf("document: %w", failing)}, next, trackAction{Delay: 8 * time.Minute}},
		{"a final document the upstream fails to serve for days is retried hourly", trackOutcome{State: record.StateCompleted, Awaited: 30 * 24 * time.Hour,
			Err: fmt.Errorf("document: %w", &visengine.Error{Op: "GET /documento/{id}", Status: 403, Class: visengine.ClassPermanent})}, 24 * time.Hour, trackAction{Delay: time.Hour}},
		{"a final document the upstream fails to serve just after Visura evasa retries at the retry delay", trackOutcome{State: record.StateCompleted, Awaited: 20 * time.Second,
			Err: fmt.Errorf("document: %w", failing)}, next, trackAction{Delay: time.Minute}},
		{"a Retry-After longer than the backoff still holds", trackOutcome{State: record.StateCompleted, Awaited: 2 * time.Minute,
			Err: fmt.Errorf("document: %w", &visengine.Error{Op: "GET /documento/{id}", Status: 503, Class: visengine.ClassThrottled, RetryAfter: 5 * time.Minute})}, next, trackAction{Delay: 5 * time.Minute}},
		// iseed's own failure (storing the document, writing the record)
		// spends no more of the budget by being retried soon, and the
		// document should be stored as soon as NATS is back.
		{"a final document iseed fails to store retries at the retry delay", trackOutcome{State: record.StateCompleted, Awaited: 8 * time.Minute,
			Err: errors.New("store document: nats: timeout")}, next, trackAction{Delay: time.Minute}},
		// A read of the request that keeps failing (a 5xx, no answer):
		// retried every minute, it would cost a call a minute until the
		// maximum age. The retries back off, memoryless: each waits as
		// long as the reads have failed, never past the next scheduled
		// poll; a Retry-After still holds.
		{"a read failing for the first time retries at the retry delay", trackOutcome{Err: fmt.Errorf("poll: %w", failing)}, next, trackAction{Delay: time.Minute}},
		{"a read failing for 10 minutes retries after 10 minutes", trackOutcome{Failing: 10 * time.Minute, Err: fmt.Errorf("poll: %w", failing)}, next, trackAction{Delay: 10 * time.Minute}},
		{"a read failing for days waits for the next poll", trackOutcome{Failing: 72 * time.Hour, Err: fmt.Errorf("poll: %w", failing)}, next, trackAction{Delay: time.Hour}},
		{"a read failing for seconds retries at the retry delay", trackOutcome{Failing: 20 * time.Second, Err: fmt.Errorf("poll: %w", failing)}, next, trackAction{Delay: time.Minute}},
		{"a read failing with a longer Retry-After waits for it", trackOutcome{Failing: 2 * time.Minute, Err: fmt.Errorf("poll: %w",
			&visengine.Error{Status: 503, Class: visengine.ClassThrottled, RetryAfter: 5 * time.Minute})}, next, trackAction{Delay: 5 * time.Minute}},
		{"a document over the size limit still polls no later than the schedule", trackOutcome{Err: fmt.Errorf("document: %w",
			&visengine.Error{Class: visengine.ClassPermanent, Err: visengine.ErrResponseTooLarge})}, 10 * time.Second, trackAction{Delay: 10 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decideTrack(tt.o, tt.next, retry, c); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestTransitions(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	ts := func(min int) visengine.Timestamp {
		return visengine.Timestamp(now.Add(time.Duration(-min) * time.Minute).Unix())
	}
	stamps := visengine.TimestampStati{InErogazione: ts(30), DatiDisponibili: ts(20), VisuraEvasa: ts(10)}
	tests := []struct {
		name    string
		current string
		r       visengine.Richiesta
		want    []string
	}{
		{"in ricerca is nothing", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateSearching}, nil},
		{"unknown state is nothing", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: "Boh"}, nil},
		{"submitted to in progress", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateInProgress, TimestampStati: stamps}, []string{record.StateInProgress}},
		{"missed states are caught up", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled, TimestampStati: stamps}, []string{record.StateInProgress, record.StateDataReady, record.StateCompleted}},
		{"from data ready", record.StateDataReady, visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled, TimestampStati: stamps}, []string{record.StateCompleted}},
		{"up to date", record.StateCompleted, visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled, TimestampStati: stamps}, nil},
		{"cancelled after in progress", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateCancelled,
			TimestampStati: visengine.TimestampStati{InErogazione: ts(30), Annullata: ts(5)}}, []string{record.StateInProgress, record.StateCancelled}},
		{"missing timestamps: only the target", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateDataReady}, []string{record.StateDataReady}},
		{"timestamps ahead: now", record.StateSubmitted, visengine.Richiesta{StatoRichiesta: visengine.StateDataReady,
			TimestampStati: visengine.TimestampStati{InErogazione: visengine.Timestamp(now.UnixMicro()), DatiDisponibili: ts(-60)}}, []string{record.StateInProgress, record.StateDataReady}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, tr := range transitions(tt.current, &tt.r, now) {
				got = append(got, tr.State)
				if tr.At.IsZero() || tr.At.After(now) {
					t.Errorf("%s at %v: want a time not after %v", tr.State, tr.At, now)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCallback(t *testing.T) {
	scan := `"carta.pdf|data:application/pdf;base64,` + strings.Repeat("JVBE", 1<<20) + `"` // 4 MiB echoed
	tests := []struct {
		name, ctype, body, want string
	}{
		{"json", "application/json", `{"data":{"_id":"x","callback_data":{"url":"u","data":{"secret":"s3"}}}}`, "s3"},
		{"form", "application/x-www-form-urlencoded", `data=%7B%22callback_data%22%3A%7B%22data%22%3A%7B%22secret%22%3A%22s4%22%7D%7D%7D`, "s4"},
		{"no secret", "application/json", `{"data":{"callback_data":false}}`, ""},
		{"garbage", "application/json", `{{{`, ""},
		{"echoed files before the secret", "application/json",
			`{"data":{"_id":"x","ricerche":[{"json_mappato":{"Copia":` + scan + `}}],"callback_data":{"data":{"secret":"s5"}},"other":` + scan + `}}`, "s5"},
	}
	c := &Callbacks{cfg: CallbackConfig{}.withDefaults()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/callbacks/acme/x", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.ctype)
			cb, err := c.parse(httptest.NewRecorder(), r, tt.ctype != "application/json")
			if err != nil || cb.secret != tt.want {
				t.Errorf("got %q (error %v), want %q", cb.secret, err, tt.want)
			}
		})
	}
}

// TestFulfilledAt: how long a final document has been awaited counts from
// the upstream's timestamp of Visura evasa, which every poll reads; the
// record has no entry for it (completed waits for the document).
func TestFulfilledAt(t *testing.T) {
	ready := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	done := ready.Add(72 * time.Hour)
	awaiting := &record.Record{State: record.StateDataReady, StatoRichiesta: visengine.StateFulfilled,
		Timeline: []record.Transition{{State: record.StateDataReady, At: ready}}}
	earlier := &record.Record{State: record.StateCompleted, StatoRichiesta: visengine.StateFulfilled,
		Timeline: []record.Transition{{State: record.StateDataReady, At: ready}, {State: record.StateCompleted, At: done}}}
	submitted := &record.Record{State: record.StateSubmitted, StatoRichiesta: visengine.StateFulfilled,
		Timeline: []record.Transition{{State: record.StateSubmitted, At: ready}}}
	fulfilled := &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled,
		TimestampStati: visengine.TimestampStati{DatiDisponibili: visengine.Timestamp(ready.Unix()), VisuraEvasa: visengine.Timestamp(done.Unix())}}
	untimed := &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled}
	tests := []struct {
		name string
		rec  *record.Record
		r    *visengine.Richiesta
		want time.Time
	}{
		{"the upstream's visura_evasa", awaiting, fulfilled, done},
		{"no answer", awaiting, nil, time.Time{}},
		{"not fulfilled", awaiting, &visengine.Richiesta{StatoRichiesta: visengine.StateDataReady}, time.Time{}},
		{"without the timestamp: completed by an earlier iseed", earlier, untimed, done},
		{"without the timestamp: data_ready, which came first", awaiting, untimed, ready},
		{"without the timestamp, fulfilled straight from submitted: the submission, which came first", submitted, untimed, ready},
		{"a timestamp in the future says nothing", awaiting, &visengine.Richiesta{StatoRichiesta: visengine.StateFulfilled,
			TimestampStati: visengine.TimestampStati{VisuraEvasa: visengine.Timestamp(done.Add(24 * time.Hour).Unix())}}, ready},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fulfilledAt(tt.rec, tt.r, done.Add(time.Hour)); !got.Equal(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
