package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/dlq"
)

// TestDLQShowBoundsAMaskedPayload: a payload whose values sit some 60
// levels deep, each on its own line indented two spaces a level, is
// printed masked by iseed dlq show as at most maxMaskedShown of its size
// (it printed some 70 times its size: 100 KB became 7 MB), cut at a
// character with a note saying how much more there is and what prints it
// whole; -o json prints the whole masked payload, valid JSON.
func TestDLQShowBoundsAMaskedPayload(t *testing.T) {
	d := startCLIDaemon(t)
	const depth = 60
	zeros := strings.Repeat("0,", 50_000) + "0"
	payload := []byte(`{"version":1,"id":"deep-1","service":"ISEE","fields":{"x":` +
		strings.Repeat("[", depth) + zeros + strings.Repeat("]", depth) + `}}`)
	dl := dlq.DeadLetter{OriginalSubject: d.res.Layout.SubmissionSubject("acme"), StreamSeq: 1, Tenant: "acme",
		SubmissionID: "deep-1", Reason: dlq.ReasonMalformed, Generation: 1}
	if err := dlq.Publish(context.Background(), d.js, d.res.Layout, dl, payload, dlq.MsgIDOfMessage("test", 1)); err != nil {
		t.Fatal(err)
	}
	seq := fmt.Sprint(waitDeadLetters(t, 1)["deep-1"].Seq)
	out, errOut, code := runCLI(t, "dlq", "show", seq, "-o", "table")
	if code != 0 {
		t.Fatalf("dlq show: exit %d, %s", code, errOut)
	}
	_, shown, _ := strings.Cut(out, "personal data hidden")
	if limit := maxMaskedShown(len(payload)); len(shown) > limit+512 {
		t.Errorf("dlq show of a %d-byte payload nested %d deep: printed %d bytes of it (%.1f times its size); want at most %d",
			len(payload), depth, len(shown), float64(len(shown))/float64(len(payload)), limit)
	}
	for _, want := range []string{`"fields": {`, `"‹number›"`, "cut: ", "bytes more", "iseed dlq show " + seq + " -o json"} {
		if !strings.Contains(shown, want) {
			t.Errorf("dlq show: got no %q in the payload it printed (%.200q…); want it", want, shown)
		}
	}
	// Whole, valid JSON, and compact rather than 70 times the payload:
	// -o json, and the revealed table.
	limit := maxMaskedShown(len(payload)) + 4096
	for _, args := range [][]string{{"-o", "json"}, {"-o", "json", "--reveal"}, {"-o", "table", "--reveal"}} {
		out, errOut, code = runCLI(t, append([]string{"dlq", "show", seq}, args...)...)
		if code != 0 {
			t.Fatalf("dlq show %v: exit %d, %s", args, code, errOut)
		}
		if len(out) > limit {
			t.Errorf("dlq show %v of a %d-byte payload nested %d deep: printed %d bytes (%.1f times its size); want at most %d",
				args, len(payload), depth, len(out), float64(len(out))/float64(len(payload)), limit)
		}
		var got map[string]any
		if args[1] == "json" {
			var doc struct {
				Payload  map[string]any `json:"payload"`
				Revealed bool           `json:"revealed"`
			}
			if err := json.Unmarshal([]byte(out), &doc); err != nil {
				t.Fatalf("dlq show %v: %v; want valid JSON", args, err)
			}
			if doc.Revealed != (len(args) == 3) {
				t.Errorf("dlq show %v: revealed %v", args, doc.Revealed)
			}
			got = doc.Payload
		} else {
			_, text, _ := strings.Cut(out, "file contents hidden):\n")
			if err := json.Unmarshal([]byte(text), &got); err != nil {
				t.Fatalf("dlq show %v: the payload printed is not JSON: %v (%.200q…)", args, err, text)
			}
		}
		v := got["fields"].(map[string]any)["x"]
		for range depth - 1 {
			v = v.([]any)[0]
		}
		if n := len(v.([]any)); n != 50_001 {
			t.Errorf("dlq show %v: got %d values at depth %d, want all 50001", args, n, depth)
		}
		if len(args) == 3 && v.([]any)[50_000] != float64(0) {
			t.Errorf("dlq show %v: the last value is %v, want the revealed 0", args, v.([]any)[50_000])
		}
	}
}
