package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/layout"
	"github.com/nats-io/nats-server/v2/server"
)

// TestSubmitSaysWhetherItWasStored runs `iseed submit` against the shipped
// NATS configuration. Before iseed created its streams, nothing listens
// on the submissions subject: the command says that nothing was stored.
// With a tenant's credentials the event is stored and acknowledged (a
// tenant may take its reply subjects from _INBOX.> in its own account).
// With a user that may not subscribe to the _INBOX prefix the CLI takes
// its reply subjects from (acme's grants before that), the stream stores
// the event but its acknowledgement never arrives: the command must not
// say that the event was not stored, and must say why no answer came.
func TestSubmitSaysWhetherItWasStored(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*server.Options)
	}{
		{"shipped", nil},
		{"no _INBOX.> for the tenant", func(o *server.Options) {
			for _, u := range o.Users {
				if u.Username == "acme" {
					u.Permissions.Subscribe.Allow = slices.DeleteFunc(u.Permissions.Subscribe.Allow, func(s string) bool { return s == "_INBOX.>" })
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var changes []func(*server.Options)
			if tc.change != nil {
				changes = append(changes, tc.change)
			}
			url, pw := runShippedNATS(t, changes...)
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
			if tc.change == nil {
				if code != 0 {
					t.Errorf("with tenant credentials: exit %d, stderr %q; want 0, acknowledged", code, errOut)
				}
				return
			}
			if code != exitFailed || !strings.Contains(errOut, "may have been stored") || strings.Contains(errOut, "nothing was stored") ||
				strings.Contains(errOut, "does the stream exist") || !strings.Contains(errOut, "permissions violation") {
				t.Errorf("with tenant credentials: exit %d, stderr %q; want %d, saying the event may have been stored and why no acknowledgement came", code, errOut, exitFailed)
			}
		})
	}
}
