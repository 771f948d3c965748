package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

// terminalControls are characters a terminal acts on rather than shows,
// that encoding/json leaves as they are: C1 controls (U+009B is CSI,
// U+009D OSC, U+009C ST: the window title) and bidi overrides.
var terminalControls = []string{"\u009b", "\u009d", "\u009c", "\u202e"}

// TestDLQShowEscapesTerminalControls: a tenant's keys, service and values
// reach iseed dlq show, on a terminal, as escapes: no C1 control or bidi
// override that would clear the screen, set the window title or reorder
// what the operator reads.
func TestDLQShowEscapesTerminalControls(t *testing.T) {
	startCLIDaemon(t)
	b, err := iseeEvent("ctl-1", "Mario\u009b2J")
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	ev["fields"].(map[string]any)["$2"] = "mario at example" // invalid: dead-lettered
	// As field names: metadata's keys are masked.
	for _, k := range []string{"\u009d0;iseed pwned\u009c", "ref\u202e1gp.exe"} {
		ev["fields"].(map[string]any)[k] = "x"
	}
	b, _ = json.Marshal(ev)
	path := filepath.Join(t.TempDir(), "ctl-1.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", path); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	seq := fmt.Sprint(waitDeadLetters(t, 1)["ctl-1"].Seq)
	for _, args := range [][]string{{"dlq", "show", seq, "-o", "table"}, {"dlq", "show", seq, "-o", "table", "--reveal"}, {"dlq", "show", seq, "-o", "json", "--reveal"}} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %s", args, code, errOut)
		}
		for _, c := range terminalControls {
			if i := strings.Index(out, c); i >= 0 {
				t.Errorf("%v: got %q raw, in %q; want it escaped", args, c, out[max(0, i-20):min(len(out), i+20)])
			}
		}
		if !strings.Contains(out, `\u009d0;iseed pwned\u009c`) {
			t.Errorf("%v: got no %q in its output; want the key shown with its controls escaped", args, `\u009d0;iseed pwned\u009c`)
		}
	}
}

func TestEscapeUnprintable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"a":"Zoë € ‹text›"}`, `{"a":"Zoë € ‹text›"}`},
		{"{\"\u009b2J\":\"x\u202ey\"}", `{"\u009b2J":"x\u202ey"}`},
		{"[\"\U000e0041\u200b\"]", `["\udb40\udc41\u200b"]`},
	} {
		got := string(escapeUnprintable([]byte(tt.in)))
		if got != tt.want {
			t.Errorf("escapeUnprintable(%q): got %q, want %q", tt.in, got, tt.want)
		}
		var in, out any
		if json.Unmarshal([]byte(tt.in), &in) != nil || json.Unmarshal([]byte(got), &out) != nil || fmt.Sprint(in) != fmt.Sprint(out) {
			t.Errorf("escapeUnprintable(%q): got %q, which does not decode as the same JSON", tt.in, got)
		}
	}
}

// TestStatusEscapesTerminalControls: the tables of iseed status and iseed
// track list show what a tenant or the upstream chose, quoted when a
// terminal would act on it rather than show it: a field name with a bidi
// override (a tenant's, in a problem), a stato_richiesta iseed does not
// know (stored as the upstream sent it) and a document's file name (the
// upstream's, which may echo the person's data) with an OSC that sets the
// window title.
func TestStatusEscapesTerminalControls(t *testing.T) {
	d := startCLIDaemon(t)
	path := eventFile(t, "ctl-2", func(f map[string]any) { f["\u202eevil"] = "x" })
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", path); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	waitUntil(t, 20*time.Second, "ctl-2 rejected", func() bool {
		rec, _, err := record.NewStore(d.res.Records).Get(context.Background(), "acme", "ctl-2")
		return err == nil && rec.State == record.StateRejected
	})
	const osc = "\x1b]0;iseed pwned\x07"
	rec := openRecord("ctl-3", record.StateSubmitted, "In verifica"+osc, "", time.Hour)
	rec.RequestID += osc
	rec.Document = &record.DocumentRef{Bucket: "b", Object: "acme/ctl-3/0123456789abcdef/DSU" + osc + ".pdf", ContentType: "application/pdf"}
	if _, err := record.NewStore(d.res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"status", "--tenant", "acme", "ctl-2", "-o", "table"},
		{"status", "--tenant", "acme", "ctl-3", "-o", "table"},
		{"track", "list", "-o", "table"},
	} {
		out, errOut, code := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d, %s", args, code, errOut)
		}
		for _, c := range append([]string{"\x1b", "\x07"}, terminalControls...) {
			if i := strings.Index(out, c); i >= 0 {
				t.Errorf("%v: got %q raw, in %q; want it escaped", args, c, out[max(0, i-20):min(len(out), i+20)])
			}
		}
	}
	line := eventLine([]byte(`{"type":"iseed.document.ready","time":"2026-12-02T10:00:00Z",` +
		`"data":{"tenant":"acme","submission_id":"ctl-3","object":"acme/ctl-3/0123456789abcdef/DSU\u001b]0;x\u0007.pdf","sha256":"00","content_type":"application/pdf"}}`))
	if strings.ContainsAny(line, "\x1b\x07") {
		t.Errorf("eventLine: got %q; want the object's controls escaped", line)
	}
}

// TestDocumentGetErrorHidesTheFileName: when the object store fails on a
// document (here a link to a bucket deleted since), iseed document get's
// error names the object without its file name, which is the upstream's
// and may name the person (standard error is a log when a script runs the
// command), nor an escape sequence in it, which could set the window
// title or rewrite the operator's screen.
func TestDocumentGetErrorHidesTheFileName(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	const osc = "\x1b]0;iseed pwned\x07"
	object := "acme/ctl-doc/0123456789abcdef/DSU." + walkTaxCode + osc + "\u202e.pdf"
	gone, err := d.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "ctl_gone"})
	if err != nil {
		t.Fatal(err)
	}
	target, err := gone.PutBytes(ctx, "x", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	docs, err := d.js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "ctl_docs"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := docs.AddLink(ctx, object, target); err != nil {
		t.Fatal(err)
	}
	if err := d.js.DeleteObjectStore(ctx, "ctl_gone"); err != nil {
		t.Fatal(err)
	}
	rec := openRecord("ctl-doc", record.StateSubmitted, "", "", time.Hour)
	rec.Document = &record.DocumentRef{Bucket: "ctl_docs", Object: object, ContentType: "application/pdf"}
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "-o", "-", "ctl-doc")
	want := `iseed document get: document "acme/ctl-doc/0123456789abcdef/…": `
	if code != 1 || !strings.HasPrefix(errOut, want) {
		t.Errorf("document get: got exit %d, %q; want 1 and %q…", code, errOut, want)
	}
	for _, c := range append([]string{walkTaxCode, "DSU", "\x1b", "\x07", "pwned"}, terminalControls...) {
		if strings.Contains(errOut, c) {
			t.Errorf("document get: got %q in %q; want the file name left out", c, errOut)
		}
	}
}

// TestReportErrorEscapesTerminalControls: whatever an error carries that
// iseed did not write (the upstream's message, a name it chose) reaches
// standard error with the characters a terminal acts on escaped; the
// lines and indents of a message of several lines stay as they are.
func TestReportErrorEscapesTerminalControls(t *testing.T) {
	root, audit := &cobra.Command{Use: "iseed"}, &cobra.Command{Use: "audit"}
	root.AddCommand(audit)
	up := &visengine.Error{Op: "GET /richiesta", Class: visengine.ClassPermanent, Status: 400, Message: "bad\x1b]0;iseed pwned\x07 id\u202e\u009b2J"}
	for _, tt := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("audit: %w", up), "iseed audit: audit: visengine: GET /richiesta: " + visengine.ClassPermanent.String() +
			` (HTTP 400): bad\x1b]0;iseed pwned\a id\u202e\u009b2J` + "\n"},
		{errors.New("two problems:\n\tfield a\n\tfield b"), "iseed audit: two problems:\n\tfield a\n\tfield b\n"},
	} {
		var b strings.Builder
		reportError(&b, audit, tt.err)
		if got := b.String(); got != tt.want {
			t.Errorf("reportError(%q): got %q, want %q", tt.err, got, tt.want)
		}
	}
}
