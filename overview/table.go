package overview

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/internal/shown"
)

// tableWidth is the widest line WriteTable writes.
const tableWidth = 100

// maxTenantRows bounds the tenants WriteTable lists (most open first).
const maxTenantRows = 12

// WriteJSON writes s as one indented JSON document.
func WriteJSON(w io.Writer, s *Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteTable writes s as a compact table, no line wider than 100 columns.
func WriteTable(w io.Writer, s *Snapshot) error {
	t := &table{}
	t.line("iseed overview", s.At.Format("2006-01-02 15:04:05 MST")+ready(s))
	t.submissions(s)
	t.upstream(s)
	t.requests(s)
	t.deadLetters(s)
	for _, p := range s.Problems {
		t.line("problem", p)
	}
	t.tenants(s)
	_, err := w.Write(t.buf.Bytes())
	return err
}

func ready(s *Snapshot) string {
	if s.Ready {
		return ""
	}
	return "  (still reading: counts incomplete)"
}

type table struct{ buf bytes.Buffer }

// line writes a label and items, wrapping items under the label's column.
func (t *table) line(label string, items ...string) {
	const indent = 14
	cur := fmt.Sprintf("%-*s", indent-1, label)
	for i, it := range items {
		it = clip(it, tableWidth-indent)
		if i > 0 && len(cur)+2+len(it) > tableWidth {
			t.buf.WriteString(strings.TrimRight(cur, " ") + "\n")
			cur = strings.Repeat(" ", indent-1)
		}
		cur += " " + it
		if i < len(items)-1 {
			cur += " "
		}
	}
	t.buf.WriteString(strings.TrimRight(cur, " ") + "\n")
}

func (t *table) submissions(s *Snapshot) {
	if sub := s.Submissions; sub != nil {
		parts := []string{kv("backlog", sub.Backlog), kv("in flight", sub.InFlight), kv("redelivered", sub.Redelivered)}
		if w := sub.Waiting(); w > 0 {
			parts = append(parts, kv("oldest waiting", Age(w)+" "+shown.Text(sub.OldestWaitingTenant)))
		}
		t.line("submissions", parts...)
	}
	if len(s.Paused) > 0 {
		t.line("paused", append(slices.Clone(s.Paused), "(held as they come: iseed budget resume)")...)
	}
	if tr := s.Tracking; tr != nil {
		t.line("tracking", kv("tasks", tr.Tasks), kv("undelivered", tr.Undelivered))
	}
}

func (t *table) upstream(s *Snapshot) {
	if u := s.Upstream; u != nil {
		breaker := "breaker closed"
		if u.BreakerOpen {
			breaker = "BREAKER OPEN"
		}
		rate := fmt.Sprintf("%.1f calls/s", u.CallsPerSecond)
		if u.RateLimit > 0 {
			rate += fmt.Sprintf(" of %.4g/s (%.0f%%)", u.RateLimit, 100*u.CallsPerSecond/u.RateLimit)
		}
		t.line("upstream", breaker, rate)
	}
	if s.SpendToday != nil {
		t.line("spent today", fmt.Sprintf("EUR %.2f", *s.SpendToday))
	}
}

func (t *table) requests(s *Snapshot) {
	r := s.Requests
	if r == nil {
		return
	}
	t.line("open", kv("requests", r.OpenTotal), kv("overdue", r.Overdue))
	t.line("", byName(r.Open)...)
	if o := r.Oldest; o != nil {
		t.line("oldest", Age(s.OldestAge()), shown.Text(o.State), "submitted "+o.SubmittedAt.Format("2006-01-02 15:04 MST"),
			clip(o.Tenant+"/"+o.ID, 60))
	}
	if len(r.Unsent) > 0 {
		t.line("unsent", byName(r.Unsent)...)
	}
	if len(r.HeldBy) > 0 {
		t.line("held by", byName(r.HeldBy)...)
	}
}

func (t *table) deadLetters(s *Snapshot) {
	if s.DeadLetters == nil {
		return
	}
	t.line("dead letters", append([]string{fmt.Sprint(s.DeadLettersTotal)}, byName(s.DeadLetters)...)...)
}

func (t *table) tenants(s *Snapshot) {
	if s.Requests == nil || len(s.Requests.Tenants) == 0 {
		return
	}
	ts := slices.Clone(s.Requests.Tenants)
	slices.SortStableFunc(ts, func(a, b TenantCounts) int { return b.Open - a.Open })
	fmt.Fprintf(&t.buf, "\n%-40s %10s %10s %10s\n", "tenant", "open", "overdue", "unsent")
	for i, tc := range ts {
		if i == maxTenantRows {
			fmt.Fprintf(&t.buf, "... %d more tenants\n", len(ts)-i)
			break
		}
		fmt.Fprintf(&t.buf, "%-40s %10d %10d %10d\n", clip(tc.Tenant, 40), tc.Open, tc.Overdue, tc.Unsent)
	}
}

func kv(k string, v any) string { return fmt.Sprintf("%s %v", k, v) }

// byName lists counts as "name n", by name.
func byName(counts map[string]int) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, kv(shown.Text(k), counts[k]))
	}
	return out
}

// clip cuts s to n bytes, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

// Age formats a duration for people: 16d04h, 3h12m, 45s.
func Age(d time.Duration) string {
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%02dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	default:
		return fmt.Sprintf("%ds", d/time.Second)
	}
}

// clearScreen moves the cursor home and clears the terminal.
const clearScreen = "\x1b[H\x1b[2J"

// Top writes a fresh table to w every interval (default 2s), clearing the
// screen first, until ctx is done; it returns nil then, or the first
// error writing to w. A snapshot that fails is shown as its error, and the
// next interval tries again.
func Top(ctx context.Context, w io.Writer, every time.Duration, collect func(context.Context) (*Snapshot, error)) error {
	if every <= 0 {
		every = 2 * time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		var frame bytes.Buffer
		frame.WriteString(clearScreen)
		s, err := collect(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			fmt.Fprintf(&frame, "overview: %v\n", err)
		} else {
			_ = WriteTable(&frame, s) // a bytes.Buffer takes every write
		}
		fmt.Fprintf(&frame, "\nrefreshing every %s (Ctrl-C to stop)\n", every)
		if _, err := w.Write(frame.Bytes()); err != nil {
			return fmt.Errorf("top: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
