package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestBudgetPauseAndResume: 'budget pause' holds a tenant's submissions
// (submit --wait says so, and why), 'budget set' keeps the pause and says
// so, list and show show it, 'budget resume' lets the held one go; the
// default tenant caps cannot be paused.
func TestBudgetPauseAndResume(t *testing.T) {
	d, _ := startCLIDaemonWith(t, func(c *Config) {
		inCapsZone(c)
		c.overviewRefresh = 250 * time.Millisecond // the gauge below shows at the next snapshot, not up to 15 s later
	})
	pausedGauge := regexp.MustCompile(`(?m)^iseed_paused_scopes ([0-9]+)$`)
	gauge := func() string {
		resp, err := http.Get("http://" + d.admin.ln.Addr().String() + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if m := pausedGauge.FindSubmatch(body); m != nil {
			return string(m[1])
		}
		return ""
	}
	if out, errOut, code := runCLI(t, "budget", "pause", "--tenant", "acme"); code != 0 ||
		out != "tenant:acme: paused: its submissions are held as they come, until 'iseed budget resume --tenant acme'\n" {
		t.Fatalf("budget pause: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "budget", "set", "--tenant", "acme", "--daily-requests", "5"); code != 0 ||
		out != "tenant:acme: paused; 5 requests a day\n" {
		t.Errorf("budget set on a paused tenant: exit %d, stdout %q, stderr %q; want the caps, still paused", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "budget", "list", "-o", "json"); code != 0 ||
		strings.Join(strings.Fields(out), "") != `[{"scope":"tenant:acme","caps":{"daily_requests":5,"paused":true}}]` {
		t.Errorf("budget list -o json: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitUntil(t, 20*time.Second, "iseed_paused_scopes 1 on the daemon's /metrics", func() bool { return gauge() == "1" })
	if out, errOut, code := runCLI(t, "top", "-o", "json"); code != 0 || !strings.Contains(out, `"paused": [`) || !strings.Contains(out, `"tenant:acme"`) {
		t.Errorf("top -o json: exit %d, stderr %q; want the paused tenant named:\n%s", code, errOut, out)
	}
	if out, errOut, code := runCLI(t, "budget", "show", "--tenant", "acme", "-o", "table"); code != 0 ||
		!strings.HasPrefix(out, "tenant:acme is paused: its submissions are held until 'iseed budget resume --tenant acme'\n") {
		t.Errorf("budget show: exit %d, stdout %q, stderr %q; want it to say paused first", code, out, errOut)
	}
	event := eventFile(t, "paused-1", nil)
	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "--timeout", "3s", event)
	if code != exitTimeout || !strings.Contains(out, "paused-1 is held") ||
		!strings.Contains(errOut, "held: budget: tenant:acme is paused by an operator; it goes out when it is resumed") {
		t.Errorf("submit --wait while paused: exit %d, stdout %q, stderr %q; want %d and a note that the tenant is paused", code, out, errOut, exitTimeout)
	}
	if out, errOut, code := runCLI(t, "budget", "resume", "--tenant", "acme"); code != 0 || out != "tenant:acme: resumed\n" {
		t.Fatalf("budget resume: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", event); code != 0 {
		t.Errorf("submit --wait of the held submission after resume: exit %d, stderr %q; want it sent", code, errOut)
	}
	if out, errOut, code := runCLI(t, "budget", "list", "-o", "json"); code != 0 ||
		strings.Join(strings.Fields(out), "") != `[{"scope":"tenant:acme","caps":{"daily_requests":5}}]` {
		t.Errorf("budget list -o json after resume: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	waitUntil(t, 20*time.Second, "iseed_paused_scopes 0 on the daemon's /metrics", func() bool { return gauge() == "0" })
	for _, cmd := range []string{"pause", "resume"} {
		if _, errOut, code := runCLI(t, "budget", cmd, "--tenant-default"); code != 2 || !strings.Contains(errOut, "default tenant caps") {
			t.Errorf("budget %s --tenant-default: exit %d, stderr %q; want 2 and why not", cmd, code, errOut)
		}
	}
}
