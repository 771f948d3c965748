package tracking

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/rs/zerolog"
)

func TestCallbackTrust(t *testing.T) {
	start := time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC)
	type step struct {
		at       time.Duration // after start
		poll     string        // a poll found news of this request; "" is a genuine callback
		switched bool
		trusted  bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"news on three requests after a quiet hour: distrusted", []step{
			{time.Hour, "a", false, true}, {time.Hour, "b", false, true}, {time.Hour, "c", true, false},
			{2 * time.Hour, "d", false, false},
		}},
		{"the same request thrice is one", []step{
			{time.Hour, "a", false, true}, {time.Hour, "a", false, true}, {time.Hour, "a", false, true},
		}},
		{"three requests within the hour: not yet, then the hour", []step{
			{time.Minute, "a", false, true}, {time.Minute, "b", false, true}, {time.Minute, "c", false, true},
			{time.Hour - time.Nanosecond, "d", false, true}, {time.Hour, "a", true, false},
		}},
		{"a genuine callback: trusted again, counting anew", []step{
			{time.Hour, "a", false, true}, {time.Hour, "b", false, true}, {time.Hour, "c", true, false},
			{2 * time.Hour, "", true, true}, {2 * time.Hour, "", false, true},
			{3 * time.Hour, "a", false, true}, {3 * time.Hour, "b", false, true}, {3 * time.Hour, "c", true, false},
		}},
		{"a genuine callback restarts the quiet hour", []step{
			{time.Hour, "a", false, true}, {time.Hour, "b", false, true}, {90 * time.Minute, "", false, true},
			{2 * time.Hour, "a", false, true}, {2 * time.Hour, "b", false, true}, {2 * time.Hour, "c", false, true},
			{150 * time.Minute, "d", true, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var shown []bool
			c := newCallbackTrust(start, func(on bool) { shown = append(shown, on) })
			for i, s := range tt.steps {
				now := start.Add(s.at)
				var switched bool
				if s.poll == "" {
					switched = c.arrived(now)
				} else {
					switched = c.polled(s.poll, now)
				}
				if switched != s.switched || c.trusted() != s.trusted {
					t.Fatalf("step %d (%+v): got switched %v, trusted %v, want %v, %v", i, s, switched, c.trusted(), s.switched, s.trusted)
				}
				if s.switched && (len(shown) == 0 || shown[len(shown)-1] != s.trusted) {
					t.Fatalf("step %d (%+v): switches shown %v, want the last %v", i, s, shown, s.trusted)
				}
			}
		})
	}
}

func TestNoCallbackTrustWithoutCallbacks(t *testing.T) {
	var c *callbackTrust
	if !c.trusted() {
		t.Error("without callbacks: got distrusted, want trusted (nothing to distrust)")
	}
}

// TestNewsOfUnpromisedRequests: only a request whose POST carried
// callback_data (record.Record.Callback) can be announced by a callback,
// so only a poll finding its news counts toward distrust. Records written
// before the field existed do not have it: never counted.
func TestNewsOfUnpromisedRequests(t *testing.T) {
	start := time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC)
	legacy := func(id string) *record.Record {
		var r record.Record
		if err := json.Unmarshal([]byte(`{"tenant":"acme","id":"`+id+`","state":"submitted","request_id":"r-`+id+`"}`), &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	rec := func(id string, callback bool) *record.Record {
		return &record.Record{Tenant: "acme", ID: id, State: record.StateSubmitted, RequestID: "r-" + id, Callback: &callback}
	}
	tests := []struct {
		name    string
		recs    []*record.Record
		trusted bool
	}{
		{"three promised a callback: distrusted", []*record.Record{rec("a", true), rec("b", true), rec("c", true)}, false},
		{"three posted without callback_data: trusted", []*record.Record{rec("a", false), rec("b", false), rec("c", false)}, true},
		{"three written before the field: trusted", []*record.Record{legacy("a"), legacy("b"), legacy("c")}, true},
		{"two promised among many: trusted", []*record.Record{rec("a", true), rec("b", false), legacy("c"), rec("d", true), rec("e", false)}, true},
		{"a third promised one: distrusted", []*record.Record{rec("a", true), rec("b", false), legacy("c"), rec("d", true), rec("e", true)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := start.Add(2 * distrustQuiet)
			tr := &Tracker{cfg: Config{Now: func() time.Time { return now }}, log: zerolog.Nop(), trust: newCallbackTrust(start, nil)}
			for _, r := range tt.recs {
				tr.pollFoundNews(r, record.StateCompleted)
			}
			if got := tr.trust.trusted(); got != tt.trusted {
				t.Errorf("got trusted %v, want %v", got, tt.trusted)
			}
		})
	}
}
