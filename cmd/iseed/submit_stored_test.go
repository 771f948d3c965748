package main

import (
	"context"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/layout"
)

// TestSubmitSaysWhetherItWasStored runs `iseed submit` against the shipped
// NATS configuration. Before iseed created its streams, nothing listens
// on the submissions subject: the command says that nothing was stored.
// With a tenant's credentials, which may not subscribe to the _INBOX
// prefix the CLI takes its reply subjects from, the stream stores the
// event but its acknowledgement never arrives: the command must not say
// that the event was not stored, and must say why no answer came.
func TestSubmitSaysWhetherItWasStored(t *testing.T) {
	url, pw := runShippedNATS(t)
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_NATS_URL", url)
	event := eventFile(t, "stored-1", nil)
	as := func(user string) {
		t.Setenv("ISEED_NATS_USER", user)
		t.Setenv("ISEED_NATS_PASSWORD", pw[user])
	}

	as("iseed")
	_, errOut, code := runCLI(t, "submit", "--tenant", "acme", event)
	if code != exitFailed || !strings.Contains(errOut, "nothing was stored") || !strings.Contains(errOut, "iseed serve") {
		t.Errorf("before iseed serve: exit %d, stderr %q; want %d, saying nothing was stored", code, errOut, exitFailed)
	}

	operator := connectAs(t, url, "iseed", pw["iseed"], "")
	if _, err := layout.Ensure(context.Background(), operator.js, layout.Layout{}.WithDefaults()); err != nil {
		t.Fatal(err)
	}
	as("acme")
	_, errOut, code = runCLI(t, "submit", "--tenant", "acme", event)
	if n := subjectCount(t, operator.js, "ISEED_SUBMISSIONS", "iseed.submissions.acme"); n != 1 {
		t.Fatalf("messages on iseed.submissions.acme: got %d, want 1 (the stream stores the tenant's event)", n)
	}
	if code != exitFailed || !strings.Contains(errOut, "may have been stored") || strings.Contains(errOut, "nothing was stored") ||
		strings.Contains(errOut, "does the stream exist") || !strings.Contains(errOut, "permissions violation") {
		t.Errorf("with tenant credentials: exit %d, stderr %q; want %d, saying the event may have been stored and why no acknowledgement came", code, errOut, exitFailed)
	}
}
