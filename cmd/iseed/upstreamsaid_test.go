package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/visengine/sim"
)

// TestUpstreamsReasonIsShownWherePersonalDataMayBe: the upstream refuses a
// submission's POST (412) with a message of its own, which may name the
// field at fault and echo what the request carried. The record keeps it
// (record.Record.UpstreamMessage), and iseed status and iseed dlq show
// --reveal show it, so that an operator can fix the submission with its
// tenant; the masked iseed dlq show and the failed event do not carry it.
// Before, only visengine's own words were kept ("permanent (HTTP 412, code
// 250)"), and the upstream's reason was lost.
func TestUpstreamsReasonIsShownWherePersonalDataMayBe(t *testing.T) {
	d, srv := startCLIDaemonOn(t)
	d.sim.sim.SetFaults(sim.Faults{Errors: map[string]sim.ErrorFault{"POST /richiesta": {Next: 1, Status: 412}}})
	const said = "Precondition Failed (simulated)" // the simulator's own message of an injected 412
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", eventFile(t, "up-1", nil)); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	seq := fmt.Sprint(waitDeadLetters(t, 1)["up-1"].Seq)

	if out, errOut, code := runCLI(t, "status", "-o", "table", "--tenant", "acme", "up-1"); code != 0 || !strings.Contains(out, "upstream said") || !strings.Contains(out, said) {
		t.Errorf("status: exit %d, stdout %q, stderr %q; want the upstream's message", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "dlq", "show", "-o", "table", "--reveal", seq); code != 0 || !strings.Contains(out, "upstream said") || !strings.Contains(out, said) {
		t.Errorf("dlq show --reveal: exit %d, stdout %q, stderr %q; want the upstream's message", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "dlq", "show", "-o", "json", "--reveal", seq); code != 0 || !strings.Contains(out, `"upstream_message": "`+said+`"`) {
		t.Errorf("dlq show -o json --reveal: exit %d, stdout %q, stderr %q; want the upstream's message", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, "dlq", "show", seq); code != 0 || strings.Contains(out, said) {
		t.Errorf("dlq show, masked: exit %d, stdout %q, stderr %q; want no upstream message", code, out, errOut)
	}
	l := layout.Layout{Prefix: "iseed"}
	raws, err := publisher.ReadEvents(context.Background(), srv.JS, l.EventsStream(), l.Events(), "acme", "up-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range raws {
		if bytes.Contains(raw, []byte(said)) {
			t.Errorf("an event carries the upstream's message: %s", raw)
		}
	}
}
