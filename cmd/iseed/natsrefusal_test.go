package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// TestCLISaysNATSRefusalsInItsOwnWords runs `iseed submit` with a tenant's
// credentials that may not subscribe to _INBOX.>, as a process of its own:
// nats.go's default handler writes to the process's stderr, which an
// in-process run does not see. The refusal is said once, in iseed's words,
// naming the subject, the permission lacking and where permissions are
// described, before submit's own error, which does not say it again; and
// nats.go's raw line is not there. A second command on a connection of its
// own says its refusal too.
func TestCLISaysNATSRefusalsInItsOwnWords(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a subprocess")
	}
	url, pw := runShippedNATS(t, func(o *server.Options) {
		for _, u := range o.Users {
			if u.Username == "acme" {
				u.Permissions.Subscribe.Allow = slices.DeleteFunc(u.Permissions.Subscribe.Allow, func(s string) bool { return s == "_INBOX.>" })
			}
		}
	})
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	if _, err := layout.Ensure(context.Background(), operator.js, layout.Layout{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_NATS_URL", url)
	t.Setenv("ISEED_NATS_USER", "acme")
	t.Setenv("ISEED_NATS_PASSWORD", pw["acme"])
	event := eventFile(t, "refused-1", nil)

	const ours = "iseed: NATS refused to let this command subscribe to _INBOX."
	check := func(how, errOut string, code int) {
		t.Helper()
		if code != exitFailed || !strings.Contains(errOut, "may have been stored") {
			t.Errorf("%s: exit %d, stderr %q; want %d, saying the event may have been stored", how, code, errOut, exitFailed)
		}
		if strings.Count(errOut, ours) != 1 || !strings.Contains(errOut, "lack the permission to subscribe to _INBOX.>") ||
			!strings.Contains(errOut, "docs/security.md") {
			t.Errorf("%s: stderr %q; want %q once, naming the permission lacking and docs/security.md", how, errOut, ours)
		}
		if strings.Contains(errOut, "on connection [") || strings.Count(errOut, "Subscription to") != 0 {
			t.Errorf("%s: stderr %q; want neither nats.go's raw line nor the server's words again", how, errOut)
		}
		if i, j := strings.Index(errOut, ours), strings.Index(errOut, "iseed submit:"); i < 0 || j < i {
			t.Errorf("%s: stderr %q; want the refusal before submit's error", how, errOut)
		}
	}
	_, errOut, code := runCLIProcess(t, "submit", "--tenant", "acme", event)
	check("as a process", errOut, code)
	_, errOut, code = runCLI(t, "submit", "--tenant", "acme", event)
	check("in process, a second command", errOut, code)
}

// runCLIProcess runs iseed (this test binary as main) with args, in the
// environment as set, and returns its stdout, stderr and exit status.
func runCLIProcess(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "ISEED_TEST_AS_MAIN=1", "ISEED_TEST_ARGS="+strings.Join(args, " "))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestDescribeAsyncError: a refusal names the subject and the permission
// lacking, and is said once per permission (the kind); a reply subject
// stands for the whole inbox prefix. Anything else is said as it is.
func TestDescribeAsyncError(t *testing.T) {
	violation := func(words string) error { return fmt.Errorf("%w: %s", nats.ErrPermissionViolation, words) }
	tests := []struct {
		name       string
		err        error
		kind, want string // want: in the line
	}{
		{"a reply subscription", violation(`Permissions Violation for Subscription to "_INBOX.abc.*"`),
			"subscribe to _INBOX.> (the command's reply subjects)", "subscribe to _INBOX.abc.* (a permissions violation)"},
		{"another reply subscription", violation(`Permissions Violation for Subscription to "_INBOX.def"`),
			"subscribe to _INBOX.> (the command's reply subjects)", "subscribe to _INBOX.def (a permissions violation)"},
		{"a subscription", violation(`Permissions Violation for Subscription to "iseed.status.globex.>"`),
			"subscribe to iseed.status.globex.>", "lack the permission to subscribe to iseed.status.globex.>;"},
		{"a publish", violation(`Permissions Violation for Publish to "iseed.submissions.globex"`),
			"publish to iseed.submissions.globex", "lack the permission to publish to iseed.submissions.globex;"},
		{"a slow consumer", nats.ErrSlowConsumer, nats.ErrSlowConsumer.Error(), "iseed: the NATS connection reported: nats: slow consumer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, line := describeAsyncError(nil, tt.err)
			if kind != tt.kind || !strings.Contains(line, tt.want) || !strings.HasPrefix(line, "iseed: ") {
				t.Errorf("got %q, %q; want %q, a line with %q", kind, line, tt.kind, tt.want)
			}
		})
	}
}

// TestSubmitWithATenantsCredentials runs `iseed submit` as tenant acme
// under the shipped grants, which let a tenant subscribe to _INBOX.>: the
// stream's acknowledgement reaches the command, which prints the id and
// exits 0, as docs/cli.md and docs/events.md say a tenant's submit does.
// Its help says the same, not that the acknowledgement cannot reach it.
// `iseed withdraw` publishes a withdrawal so too.
func TestSubmitWithATenantsCredentials(t *testing.T) {
	url, pw := runShippedNATS(t)
	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	if _, err := layout.Ensure(context.Background(), operator.js, layout.Layout{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_NATS_URL", url)
	t.Setenv("ISEED_NATS_USER", "acme")
	t.Setenv("ISEED_NATS_PASSWORD", pw["acme"])
	out, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "tenant-1", nil))
	if code != 0 || strings.TrimSpace(out) != "tenant-1" {
		t.Fatalf("submit as acme: exit %d, stdout %q, stderr %q; want 0 and the id", code, out, errOut)
	}
	if n := subjectCount(t, operator.js, "ISEED_SUBMISSIONS", "iseed.submissions.acme"); n != 1 {
		t.Errorf("the submissions stream holds %d of acme's events, want 1", n)
	}
	// A producer's retry: the stream drops the copy as a duplicate, and the
	// command says so without reading the stream, which the tenant may not
	// (a permissions violation on standard error, then the read's 5 s
	// timeout).
	start := time.Now()
	out, errOut, code = runCLI(t, "submit", "--tenant", "acme", eventFile(t, "tenant-1", nil))
	if took := time.Since(start); code != 0 || strings.TrimSpace(out) != "tenant-1" || !strings.Contains(errOut, "dropped as a duplicate") ||
		strings.Contains(errOut, "permissions violation") || took > 4*time.Second {
		t.Errorf("submit again as acme: exit %d after %s, stdout %q, stderr %q; want 0 at once, the id, a note that it was a duplicate and no permissions violation",
			code, took.Round(time.Millisecond), out, errOut)
	}
	// Its withdrawal too: a producer's, published on its own subject.
	if out, errOut, code := runCLI(t, "withdraw", "--tenant", "acme", "tenant-1"); code != 0 || out != "acme/tenant-1: withdrawal published\n" || strings.Contains(errOut, "permissions violation") {
		t.Errorf("withdraw as acme: exit %d, stdout %q, stderr %q; want 0, published", code, out, errOut)
	}
	if n := subjectCount(t, operator.js, "ISEED_SUBMISSIONS", "iseed.submissions.acme"); n != 2 {
		t.Errorf("the submissions stream holds %d of acme's messages, want 2: the submission and its withdrawal", n)
	}
	help, _, _ := runCLI(t, "submit", "--help")
	if strings.Contains(help, "cannot reach the command") || !strings.Contains(help, "a tenant's credentials") {
		t.Errorf("submit --help does not say that it works with a tenant's credentials (without --wait):\n%s", help)
	}
}
