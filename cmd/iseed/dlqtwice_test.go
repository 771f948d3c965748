package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestDLQReplayByTwoOperatorsAtOnce: two operators replay the same dead
// letters at the same moment. Each letter is replayed once: one command
// says "replayed", the other that it did not replay it (a replay is in
// the stream already, or the letter is gone), and each submission is sent
// once. Both used to say "replayed", each publishing a replay.
func TestDLQReplayByTwoOperatorsAtOnce(t *testing.T) {
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	const n = 4
	for i := range n {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, fmt.Sprintf("two-%d", i), nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	waitDeadLetters(t, n)
	d.sim.sim.SetFaults(sim.Faults{})
	ctx := context.Background()
	_, js := natstest.Connect(t, os.Getenv("ISEED_NATS_URL"))
	subs, err := js.Stream(ctx, d.res.Layout.SubmissionsStream())
	if err != nil {
		t.Fatal(err)
	}
	before, err := subs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	var stdout, stderr [2]bytes.Buffer
	var codes [2]int
	for i := range 2 {
		wg.Go(func() {
			err := run(ctx, []string{"dlq", "replay", "--reason", "upstream_rejected"}, strings.NewReader(""), &stdout[i], &stderr[i])
			codes[i] = exitCode(err)
		})
	}
	wg.Wait()
	said := strings.Count(stdout[0].String(), "replayed dead letter") + strings.Count(stdout[1].String(), "replayed dead letter")
	after, err := subs.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored := after.State.Msgs - before.State.Msgs; stored != n || said != n {
		t.Errorf("two operators replaying %d letters at once: %d replays stored, %d said replayed, want %d and %d\n"+
			"first: exit %d, stdout %q, stderr %q\nsecond: exit %d, stdout %q, stderr %q",
			n, stored, said, n, n, codes[0], stdout[0].String(), stderr[0].String(), codes[1], stdout[1].String(), stderr[1].String())
	}
	if left := deadLetters(t); len(left) != 0 {
		t.Errorf("dead letters after both: %+v, want none", left)
	}
	for i := range n {
		waitSubmitted(t, d, fmt.Sprintf("two-%d", i))
	}
	if got := d.sim.sim.Counters()["created"]; got != n {
		t.Errorf("upstream requests: got %d, want %d", got, n)
	}
}
