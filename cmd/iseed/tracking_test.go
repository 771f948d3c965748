package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/tracking"
)

func TestScheduleDecode(t *testing.T) {
	tests := []struct {
		in   string
		want []time.Duration
		ok   bool
	}{
		{"1m,5m,15m,1h", []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour}, true},
		{" 50ms , 1s", []time.Duration{50 * time.Millisecond, time.Second}, true},
		{"", nil, false},
		{"1m,,1h", nil, false},
		{"1m,-1s", nil, false},
		{"soon", nil, false},
	}
	for _, tt := range tests {
		var got Schedule
		err := got.Decode(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("Schedule.Decode(%q): got %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestEventLine(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"status", `{"type":"iseed.submission.cancelled","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","state":"cancelled","service":"ISEE","request_id":"5f","stato_richiesta":"Annullata","reason":"Delega mancante","esito":{"codice":"302","info":"KO"}}}`,
			`2026-11-25T10:30:00Z acme/e1 cancelled service="ISEE" request=5f stato="Annullata" esito=302`},
		{"document", `{"type":"iseed.document.ready","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","object":"acme/e1/0123456789abcdef/DSU.RSSMRA80A01H501U.zip","size":10,"sha256":"ab","content_type":"application/zip","encrypted":true,"key_id":"k1"}}`,
			"2026-11-25T10:30:00Z acme/e1 document_ready object=acme/e1/0123456789abcdef/… size=10 sha256=ab type=application/zip encrypted key=k1"},
		{"final document", `{"type":"iseed.document.ready","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","stato":"Visura evasa","final":true,"object":"acme/e1/0123456789abcdef/DSU.RSSMRA80A01H501U.zip","size":10,"sha256":"ab","content_type":"application/zip","encrypted":false}}`,
			`2026-11-25T10:30:00Z acme/e1 document_ready object=acme/e1/0123456789abcdef/… size=10 sha256=ab type=application/zip stato="Visura evasa" final`},
		{"rejected", `{"type":"iseed.submission.rejected","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1","tenant":"acme","errors":[{"code":"x","message":"y"}]}}`,
			"2026-11-25T10:30:00Z acme/e1 rejected problems=1"},
		{"garbage", `nope`, "(undecodable event, 4 bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := eventLine([]byte(tt.data)); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestEventLineHidesCancellationReason: a cancelled event's reason is the
// upstream's motivo_annullamento, free text a CAF operator wrote, which may
// name the person as esito.info may. iseed watch (and iseed status's
// events) printed it whole ("reason=\"Delega di Mario Rossi …\""), beside
// an esito shown by its code only; now it is left out, as esito.info is.
// A failed or held event's reason, a code, is still shown.
func TestEventLineHidesCancellationReason(t *testing.T) {
	line := eventLine([]byte(`{"type":"iseed.submission.cancelled","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1",` +
		`"tenant":"acme","state":"cancelled","stato_richiesta":"Annullata","reason":"Delega di Mario Rossi (RSSMRA80A01H501U) mancante",` +
		`"esito":{"codice":"302","info":"Mario Rossi non delegato"}}}`))
	for _, n := range []string{"Rossi", "RSSMRA", "Delega"} {
		if strings.Contains(line, n) {
			t.Errorf("cancelled: %s: want no %q in it", line, n)
		}
	}
	if want := "2026-11-25T10:30:00Z acme/e1 cancelled stato=\"Annullata\" esito=302"; line != want {
		t.Errorf("cancelled:\ngot  %s\nwant %s", line, want)
	}
	for _, state := range []string{"failed", "held", "rejected"} {
		line := eventLine([]byte(`{"type":"iseed.submission.` + state + `","data":{"submission_id":"e1","tenant":"acme","state":"` + state + `","reason":"gave_up"}}`))
		if !strings.Contains(line, ` reason="gave_up"`) {
			t.Errorf("%s: %s: want its reason code", state, line)
		}
	}
}

// TestEventLineHidesAnUnpublishedState: a stato_richiesta none of the API's
// states is the upstream's free text (record.Scrub removes it from old
// records as such), which may name the person. iseed watch printed it
// whole ("stato=\"In verifica: delega di Mario Rossi\""), though its help
// says it never prints the upstream's free text; now it shows that there
// is one, not what it says. The published states, and what Scrub left of
// a free one, are shown as they are.
func TestEventLineHidesAnUnpublishedState(t *testing.T) {
	line := func(stato string) string {
		return eventLine([]byte(`{"type":"iseed.submission.submitted","time":"2026-11-25T10:30:00Z","data":{"submission_id":"e1",` +
			`"tenant":"acme","state":"submitted","request_id":"5f","stato_richiesta":"` + stato + `"}}`))
	}
	got := line("In verifica: delega di Mario Rossi")
	if want := "2026-11-25T10:30:00Z acme/e1 submitted request=5f stato=‹unpublished›"; got != want {
		t.Errorf("an unpublished state:\ngot  %s\nwant %s", got, want)
	}
	for _, stato := range []string{"In ricerca", "In erogazione", "Dati disponibili", "Visura evasa", "Annullata", "…"} {
		if got, want := line(stato), ` stato="`+stato+`"`; !strings.HasSuffix(got, want) {
			t.Errorf("%s: got %s, want it to end with %s", stato, got, want)
		}
	}
}

func TestExpectationsDecode(t *testing.T) {
	day := tracking.WorkingDays(1)
	tests := []struct {
		in   string
		want Expectations
		ok   bool
	}{
		{"ISEE=0-1/4-5/15;*=0-1/1-5/15", Expectations{
			{Services: []string{"ISEE"}, Ready: tracking.Window{From: 0, To: day}, Done: tracking.Window{From: 4 * day, To: 5 * day}, Late: 15 * day},
			{Services: []string{"*"}, Ready: tracking.Window{From: 0, To: day}, Done: tracking.Window{From: day, To: 5 * day}, Late: 15 * day}}, true},
		{" VISURA CAMERALE | eccbc87e4b5ce2fe28308fd9f2a7baf3 = 0-0.5/0-0.5/2 ;", Expectations{
			{Services: []string{"VISURA CAMERALE", "eccbc87e4b5ce2fe28308fd9f2a7baf3"}, Ready: tracking.Window{To: day / 2}, Done: tracking.Window{To: day / 2}, Late: 2 * day}}, true},
		{"", nil, false},
		{"ISEE=0-1/4-5", nil, false},
		{"ISEE=1/4-5/15", nil, false},
		{"ISEE=0-1/4-5/3", nil, false},
		{"ISEE=0-1/x-5/15", nil, false},
		{"=0-1/4-5/15", nil, false},
		{"ISEE=0-1/4-5/-15", nil, false},
	}
	for _, tt := range tests {
		var got Expectations
		err := got.Decode(tt.in)
		if (err == nil) != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Expectations.Decode(%q): got %+v, %v; want %+v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestTrackClockDecode(t *testing.T) {
	sim := time.Date(2026, 1, 12, 8, 0, 0, 0, time.FixedZone("", 3600))
	real0 := time.Date(2026, 11, 30, 14, 0, 0, 500, time.UTC)
	tests := []struct {
		in   string
		want tracking.Timebase
		ok   bool
	}{
		{"500,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00.0000005Z", tracking.Timebase{Scale: 500, Sim: sim, Real: real0}, true},
		{"0.5,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00Z", tracking.Timebase{}, false},
		{"500,2026-01-12,2026-11-30T14:00:00Z", tracking.Timebase{}, false},
		{"500", tracking.Timebase{}, false},
		{"60,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00.0000005Z,3600,2026-11-30T14:10:00Z",
			tracking.Timebase{Scale: 60, Sim: sim, Real: real0, Then: 3600, Switch: time.Date(2026, 11, 30, 14, 10, 0, 0, time.UTC)}, true},
		{"60,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00Z,3600,2026-11-30T13:00:00Z", tracking.Timebase{}, false},
		{"60,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00Z,3600", tracking.Timebase{}, false},
	}
	for _, tt := range tests {
		var got TrackClock
		err := got.Decode(tt.in)
		if (err == nil) != tt.ok || got.Scale != tt.want.Scale || !got.Sim.Equal(tt.want.Sim) || !got.Real.Equal(tt.want.Real) ||
			got.Then != tt.want.Then || !got.Switch.Equal(tt.want.Switch) {
			t.Errorf("TrackClock.Decode(%q): got %+v, %v; want %+v, ok=%v", tt.in, got.Timebase, err, tt.want, tt.ok)
		}
	}
}

func TestTrackingConfigValidation(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // a substring of the error; "" for valid
	}{
		{"defaults", nil, ""},
		{"the old overdue variable", map[string]string{"ISEED_OVERDUE_AFTER": "360h"}, "ISEED_OVERDUE_AFTER is replaced by ISEED_OVERDUE_WORKDAYS"},
		{"overdue not before the max age", map[string]string{"ISEED_OVERDUE_WORKDAYS": "60"}, "ISEED_TRACK_MAX_AGE (1440h0m0s) must be longer than ISEED_OVERDUE_WORKDAYS (60)"},
		{"zero overdue", map[string]string{"ISEED_OVERDUE_WORKDAYS": "0"}, "must be at least 1"},
		{"a fixed schedule overrides", map[string]string{"ISEED_POLL_SCHEDULE": "1m,5m"}, ""},
		{"expectations", map[string]string{"ISEED_POLL_EXPECT": "ISEE=0-1/4-5/15;NASPI=0-2/2-10/20"}, ""},
		{"bad expectations", map[string]string{"ISEED_POLL_EXPECT": "ISEE=4-5"}, "ISEED_POLL_EXPECT"},
		{"no polls in a window", map[string]string{"ISEED_POLL_WINDOW_POLLS": "0"}, "ISEED_POLL_WINDOW_POLLS"},
		{"max under min", map[string]string{"ISEED_POLL_MAX": "10m"}, "ISEED_POLL_MAX (10m0s) must not be shorter than ISEED_POLL_MIN"},
		{"jitter of 1", map[string]string{"ISEED_POLL_JITTER": "1"}, "ISEED_POLL_JITTER"},
		{"no jitter", map[string]string{"ISEED_POLL_JITTER": "0"}, ""},
		{"stretch under 1", map[string]string{"ISEED_POLL_CALLBACK_STRETCH": "0.5"}, "ISEED_POLL_CALLBACK_STRETCH"},
		{"accelerated clock", map[string]string{"ISEED_TRACK_CLOCK": "100,2026-01-12T08:00:00+01:00,2026-11-30T14:00:00Z"}, ""},
		{"bad clock", map[string]string{"ISEED_TRACK_CLOCK": "fast"}, "ISEED_TRACK_CLOCK"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}
