package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// An operator command run with only ISEED_NATS_URL set must not rewrite the
// running daemon's JetStream configuration.
func TestOperatorCommandsKeepTheDaemonsLayout(t *testing.T) {
	srv := cliEnv(t)
	// The daemon's configuration.
	t.Setenv("ISEED_ACK_WAIT", "5m")
	t.Setenv("ISEED_WORKERS", "32")
	t.Setenv("ISEED_DOCUMENT_TTL", "168h")
	t.Setenv("ISEED_TRACK_ACK_WAIT", "10m")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	_, err = layout.Ensure(ctx, js, layoutOf(cfg))
	if err != nil {
		t.Fatal(err)
	}
	// The operator's shell: the same cluster, nothing else set.
	for _, k := range []string{"ISEED_ACK_WAIT", "ISEED_WORKERS", "ISEED_DOCUMENT_TTL", "ISEED_TRACK_ACK_WAIT"} {
		os.Unsetenv(k) // t.Setenv restores them
	}
	for _, args := range [][]string{
		{"status", "--tenant", "acme", "nothing-here"},
		{"document", "get", "--tenant", "acme", "nothing-here", "-o", t.TempDir() + "/x"},
		{"dlq", "list"}, {"track", "list"}, {"schemas", "list"},
	} {
		if _, errOut, code := runCLI(t, args...); code == 2 {
			t.Errorf("%v: usage error: %s", args, errOut)
		}
	}

	st, _ := js.Stream(ctx, "ISEED_SUBMISSIONS")
	c, _ := st.Consumer(ctx, "submitter")
	info, _ := c.Info(ctx)
	if info.Config.AckWait != 5*time.Minute || info.Config.MaxAckPending != 128 {
		t.Errorf("submitter consumer after `iseed status`: AckWait %s, MaxAckPending %d; want 5m0s, 128 (the daemon's)",
			info.Config.AckWait, info.Config.MaxAckPending)
	}
	obs, err := js.ObjectStore(ctx, "iseed_documents")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := obs.Status(ctx)
	if s.TTL() != 168*time.Hour {
		t.Errorf("documents bucket TTL after `iseed document get`: %s, want 168h (the daemon's)", s.TTL())
	}
}

func TestOperatorCommandsBeforeAnyDaemon(t *testing.T) {
	cliEnv(t)
	_, errOut, code := runCLI(t, "status", "--tenant", "acme", "x")
	if code != 1 || !strings.Contains(errOut, "iseed serve") {
		t.Errorf("status with no layout: exit %d, stderr %q; want 1 and a hint to start iseed serve", code, errOut)
	}
}

// TestNoSubmissionNamesTheTenantFlag: status and document get of a
// submission the tenant has no record of say which tenant was looked in
// and, when --tenant was not given (the tenant "default"), how to name
// another: an operator who submitted as acme and forgot --tenant is told.
func TestNoSubmissionNamesTheTenantFlag(t *testing.T) {
	startCLIDaemon(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "emp-1"}, `no submission "emp-1" for tenant "default" (no --tenant given: pass --tenant T`},
		{[]string{"status", "--tenant", "acme", "emp-1"}, `no submission "emp-1" for tenant "acme"` + "\n"},
		{[]string{"document", "get", "emp-1", "-o", "-"}, `no submission "emp-1" for tenant "default" (no --tenant given: pass --tenant T`},
		{[]string{"document", "get", "--tenant", "acme", "emp-1", "-o", "-"}, `no submission "emp-1" for tenant "acme"` + "\n"},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: got exit %d, %q; want exit 1 and %q", tc.args, code, errOut, tc.want)
		}
	}
}

// TestPrintStatusTimelineLines: a timeline entry without a note ends with
// its state, not with a space.
func TestPrintStatusTimelineLines(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	r := &record.Record{Tenant: "acme", ID: "emp-1", Generation: 1}
	r.To(record.StateClaimed, now, "")
	r.To(record.StateRejected, now, "invalid")
	var b strings.Builder
	if err := printStatus(&b, r, nil, nil, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"  2026-11-25T10:00:00Z claimed\n", "  2026-11-25T10:00:00Z rejected invalid\n"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("printStatus: got %q; want a line %q", b.String(), want)
		}
	}
}

// TestConnectRefusalNamesTheVariables: an operator command that cannot
// reach NATS says which variable chose the address, so that an operator
// whose daemon was moved to another port knows what to set.
func TestConnectRefusalNamesTheVariables(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"ISEED_NATS_URL": "", "ISEED_EMBEDDED_NATS_LISTEN": "127.0.0.1:1"},
			"iseed status: connect to NATS at nats://127.0.0.1:1 (is `iseed serve` running? one started with another ISEED_EMBEDDED_NATS_LISTEN, or with ISEED_NATS_URL, is reached with the same value set here): "},
		{map[string]string{"ISEED_NATS_URL": "nats://127.0.0.1:1"},
			"iseed status: connect to NATS at nats://127.0.0.1:1 (ISEED_NATS_URL): "},
		// The URL's credentials are never printed: the error may reach a
		// terminal recorded, a CI log, a ticket.
		{map[string]string{"ISEED_NATS_URL": "nats://ops:s3cret-pass@127.0.0.1:1"},
			"iseed status: connect to NATS at nats://xxxxx@127.0.0.1:1 (ISEED_NATS_URL): "},
		// A URL that does not parse is a configuration mistake, refused
		// before any connection: TestConfigRefusesANATSURLThatDoesNotParse.
	} {
		for k, v := range tc.env {
			t.Setenv(k, v)
		}
		_, errOut, code := runCLI(t, "status", "--tenant", "acme", "emp-1")
		if code != 1 || !strings.HasPrefix(errOut, tc.want) || strings.Contains(errOut, "s3cret") {
			t.Errorf("status with %v: got exit %d, %q; want 1 and %q…", tc.env, code, errOut, tc.want)
		}
	}
}
