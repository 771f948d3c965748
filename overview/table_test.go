package overview

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func fullSnapshot() *Snapshot {
	eur, waiting := 123.4, 754.2
	long := strings.Repeat("x", 64)
	s := &Snapshot{
		At: testNow, Ready: true,
		Submissions: &Submissions{Backlog: 12, InFlight: 3, Redelivered: 1, OldestWaiting: &waiting, OldestWaitingTenant: "acme"},
		Tracking:    &Tracking{Tasks: 1034, Undelivered: 2, Delivered: 1032},
		Requests: &Counts{
			Open:      map[string]int{"submitted": 10, "in_progress": 900, "data_ready": 100, StateAwaitingDocument: 24},
			OpenTotal: 1034, Overdue: 3,
			Oldest:  &Request{Tenant: long, ID: long, State: "in_progress", SubmittedAt: testNow.Add(-(16*24 + 4) * time.Hour)},
			Unsent:  map[string]int{"claimed": 2, "held": 5},
			Held:    5,
			HeldBy:  map[string]int{"fair_share": 3, "queued": 1, "tenant_day_eur": 1},
			Tenants: []TenantCounts{{"acme", 900, 2, 1}, {long, 134, 1, 6}},
		},
		DeadLetters:      map[string]int{"invalid": 3, "insufficient_credit": 2, "ambiguous": 2, "max_deliveries": 1, "prior_isee_required": 9},
		DeadLettersTotal: 17,
		Upstream:         &Gauges{BreakerOpen: true, CallsPerSecond: 4.2, RateLimit: 10},
		SpendToday:       &eur,
		Problems:         []string{"tracking consumer: " + strings.Repeat("nats: timeout ", 12)},
	}
	for i := range 20 {
		s.Requests.Tenants = append(s.Requests.Tenants, TenantCounts{Tenant: fmt.Sprintf("t%02d", i), Open: i})
	}
	return s
}

func TestWriteTable(t *testing.T) {
	tests := []struct {
		name string
		s    *Snapshot
		want []string
		not  []string
	}{
		{"full", fullSnapshot(), []string{
			"backlog 12  in flight 3  redelivered 1  oldest waiting 12m34s acme", "tasks 1034", "BREAKER OPEN  4.2 calls/s of 10/s (42%)",
			"EUR 123.40", "requests 1034  overdue 3", "awaiting_document 24  data_ready 100  in_progress 900  submitted 10",
			"16d04h  in_progress", "claimed 2  held 5", "held by       fair_share 3  queued 1  tenant_day_eur 1", "dead letters  17  ambiguous 2", "problem", "acme", "... 10 more tenants",
		}, []string{"still reading"}},
		{"starting", &Snapshot{At: testNow}, []string{"still reading"}, []string{"open", "dead letters", "tenant"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := WriteTable(&b, tt.s); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			t.Logf("\n%s", out)
			for i, line := range strings.Split(out, "\n") {
				if n := len([]rune(line)); n > tableWidth {
					t.Errorf("line %d is %d columns, want at most %d: %q", i+1, n, tableWidth, line)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("table lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("table has %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, fullSnapshot()); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"at", "ready", "submissions", "tracking", "requests", "dead_letters", "upstream", "spend_today_euros"} {
		if _, ok := got[key]; !ok {
			t.Errorf("JSON lacks %q: %s", key, b.String())
		}
	}
	req := got["requests"].(map[string]any)
	if req["oldest_open_request"].(map[string]any)["state"] != "in_progress" {
		t.Errorf("oldest: got %v", req["oldest_open_request"])
	}
	if by, _ := req["held_by_code"].(map[string]any); by["fair_share"] != 3.0 {
		t.Errorf("held_by_code: got %v", req["held_by_code"])
	}
}

func TestTop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	collect := func(context.Context) (*Snapshot, error) {
		calls++
		switch calls {
		case 2:
			return nil, errors.New("nats: no responders")
		case 3:
			cancel()
		}
		return fullSnapshot(), nil
	}
	var b bytes.Buffer
	if err := Top(ctx, &b, time.Millisecond, collect); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if got := strings.Count(out, clearScreen); got != 2 {
		t.Errorf("frames: got %d, want 2 (the third snapshot came after ctx ended)", got)
	}
	if !strings.Contains(out, "overview: nats: no responders") || !strings.Contains(out, "refreshing every 1ms") {
		t.Errorf("output:\n%s", out)
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {45 * time.Second, "45s"}, {3*time.Minute + 7*time.Second, "3m07s"},
		{3*time.Hour + 12*time.Minute, "3h12m"}, {(16*24 + 4) * time.Hour, "16d04h"},
	}
	for _, tt := range tests {
		if got := Age(tt.d); got != tt.want {
			t.Errorf("Age(%s): got %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestWriteTableQuotesStateNames: a state name that is not iseed's own (a
// record written by another release, or by hand) reaches the operator's
// terminal quoted, never raw: iseed top redraws the screen with it.
func TestWriteTableQuotesStateNames(t *testing.T) {
	s := fullSnapshot()
	s.Requests.Open["in\u009d0;pwned\u009cprogress"] = 1
	s.Requests.Unsent["held\u202e"] = 1
	s.Requests.Oldest.State = "x\x1b[2J"
	var b bytes.Buffer
	if err := WriteTable(&b, s); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"\u009d", "\u202e", "\x1b"} {
		if strings.Contains(b.String(), c) {
			t.Errorf("table has %q raw:\n%s", c, b.String())
		}
	}
}
