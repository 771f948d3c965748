package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
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
