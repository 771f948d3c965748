package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine/sim"
)

// onTerminal runs iseed (this test binary as main) with args under
// script(1), so that its standard output is a terminal, and returns what
// the terminal showed.
func onTerminal(t *testing.T, args string) string {
	t.Helper()
	if _, err := exec.LookPath("script"); err != nil {
		t.Skip("script(1) is not installed")
	}
	cmd := exec.Command("script", "-qec", "'"+os.Args[0]+"'", "/dev/null")
	cmd.Env = append(os.Environ(), "ISEED_TEST_AS_MAIN=1", "ISEED_TEST_ARGS="+args)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("iseed %s on a terminal: %v\n%s", args, err, out)
	}
	return strings.ReplaceAll(string(out), "\r\n", "\n")
}

// TestOnATerminal: on a terminal, records are tables by default and a
// replay of several dead letters shows its progress.
func TestOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	d := startCLIDaemon(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Rate: 1, Status: 412}}}) // the upstream refuses every POST: nothing created
	for _, id := range []string{"tty-1", "tty-2"} {
		if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, id, nil)); code != 0 {
			t.Fatalf("submit: exit %d, %s", code, errOut)
		}
	}
	waitDeadLetters(t, 2)
	d.sim.sim.SetFaults(sim.Faults{})
	if out := onTerminal(t, "dlq list"); !strings.HasPrefix(out, "SEQ") || !strings.Contains(out, "tty-2") {
		t.Errorf("dlq list on a terminal: %q; want a table", out)
	}
	out := onTerminal(t, "dlq replay --reason upstream_rejected")
	if !strings.Contains(out, "[1/2] replayed dead letter") || !strings.Contains(out, "[2/2] replayed dead letter") ||
		!strings.Contains(out, "of 2 dead letter(s): 2 replayed, 0 refused, 0 failed") {
		t.Errorf("dlq replay on a terminal: %q; want [n/2] progress and the summary", out)
	}
}
