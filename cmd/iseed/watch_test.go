package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestWatchSaysWhenNATSIsLostAndBack: iseed watch says on standard error
// when its connection is lost and when it is back, and events resume.
func TestWatchSaysWhenNATSIsLostAndBack(t *testing.T) {
	_, srv := startCLIDaemonOn(t)
	var stdout, stderr pipetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--tenant", "acme"}, strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	explain := func() string { return "stdout: " + stdout.String() + "; stderr: " + stderr.String() }
	submitted := func(id string) {
		t.Helper()
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit %s: exit %d, %s", id, code, errOut)
		}
		pipetest.WaitExplained(t, 20*time.Second, "watch prints "+id+"'s submitted event", func() bool {
			return strings.Contains(stdout.String(), "acme/"+id+" submitted")
		}, explain)
	}
	submitted("before-1") // watch is consuming (it starts with new events only, so it may miss none after this)
	srv.Stop()
	pipetest.WaitExplained(t, 10*time.Second, "watch says the connection is lost", func() bool {
		return strings.Contains(stderr.String(), "watch: lost the connection to NATS")
	}, explain)
	srv.Start()
	pipetest.WaitExplained(t, 20*time.Second, "watch says it is reconnected", func() bool {
		return strings.Contains(stderr.String(), "watch: reconnected to NATS")
	}, explain)
	submitted("after-1")
}
