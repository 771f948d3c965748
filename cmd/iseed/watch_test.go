package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/tracking"
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

// TestWatchHidesTheDocumentName: a document_ready line names the document
// by its size, digest and type, and its object without the file name: the
// file name is the upstream's nome and may carry the person's data (a
// codice fiscale), which watch never shows.
func TestWatchHidesTheDocumentName(t *testing.T) {
	d := startCLIDaemon(t)
	const fileName = "DSU_RSSMRA80A01H501U.pdf"
	sum := strings.Repeat("0123456789abcdef", 4)
	p := publisher.New(d.js, publisher.Config{Prefix: d.res.Layout.Prefix, EventsStream: d.res.Layout.EventsStream()})
	if err := p.DocumentReady(context.Background(), publisher.DocumentReady{Tenant: "acme", SubmissionID: "doc-watch",
		Bucket: "b", Object: tracking.DocumentObject("acme", "doc-watch", sum, fileName), Name: fileName, Size: 42, SHA256: sum,
		ContentType: "application/pdf", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr pipetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--tenant", "acme", "--all"}, strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	pipetest.WaitExplained(t, 20*time.Second, "watch prints the document_ready line", func() bool {
		return strings.Contains(stdout.String(), "acme/doc-watch document_ready")
	}, func() string { return "stdout: " + stdout.String() + "; stderr: " + stderr.String() })
	out := stdout.String()
	for _, want := range []string{"size=42", "sha256=" + sum, "object=acme/doc-watch/0123456789abcdef/…"} {
		if !strings.Contains(out, want) {
			t.Errorf("watch: got %q; want %s in it", out, want)
		}
	}
	if strings.Contains(out, "RSSMRA80A01H501U") {
		t.Errorf("watch: got %q; want no document file name in it", out)
	}
}
