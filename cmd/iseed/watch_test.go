package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// TestWatchPrintsTheEventsStoredWhileItWasAway: watch, started on new
// events only, has printed none yet when NATS goes away (the daemon's
// embedded server restarting); an event is stored before watch is back.
// Its ordered consumer, made again then, began at the events new at that
// moment, and that event was never printed, though "events resume when it
// is back". Now it is printed.
func TestWatchPrintsTheEventsStoredWhileItWasAway(t *testing.T) {
	srv := natstest.Run(t)
	ctx, cancel := context.WithCancel(context.Background())
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layout
	var open atomic.Bool // whether watch's connection may reach the server
	open.Store(true)
	var stdout, stderr pipetest.Buffer
	nc, js := natstest.Connect(t, srv.ClientURL(), append(watchConnOptions(&stderr),
		nats.SetCustomDialer(gatedDialer{&open}), nats.ReconnectWait(50*time.Millisecond))...)
	defer nc.Close()
	done := make(chan error, 1)
	go func() { done <- watchEvents(ctx, js, l, "acme", "", jetstream.DeliverNewPolicy, &stdout, &stderr) }()
	defer func() { cancel(); <-done }()
	explain := func() string { return "stdout: " + stdout.String() + "; stderr: " + stderr.String() }
	p := publisher.New(srv.JS, publisher.Config{Prefix: l.Prefix, EventsStream: l.EventsStream()})
	publish := func(id string) error {
		return p.Status(ctx, publisher.Status{Tenant: "acme", SubmissionID: id, State: "submitted", Generation: 1, At: time.Now()})
	}
	printed := func(id string) int { return strings.Count(stdout.String(), "acme/"+id+" submitted") }
	going := func() {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			t.Fatalf("watch ended: %v; want it to go on; %s", err, explain())
		default:
		}
	}
	st, err := srv.JS.Stream(ctx, l.EventsStream())
	if err != nil {
		t.Fatal(err)
	}
	// A consumer alone is not enough: the server may stop before its
	// maker hears it is made (which TestWatchKeepsTryingWhenItsConsumerIsNotMade
	// covers). A pull waiting on it is watch consuming.
	pipetest.WaitExplained(t, 20*time.Second, "watch's consumer on the events stream, pulling", func() bool {
		going()
		for ci := range st.ListConsumers(ctx).Info() {
			if ci.NumWaiting > 0 {
				return true
			}
		}
		return false
	}, explain)

	open.Store(false)
	srv.Stop()
	srv.Start()
	pipetest.WaitExplained(t, 20*time.Second, "an event stored while watch is away", func() bool {
		return publish("while-away") == nil
	}, explain)
	open.Store(true)
	pipetest.WaitExplained(t, 20*time.Second, "watch says it is reconnected", func() bool {
		return strings.Contains(stderr.String(), "watch: reconnected to NATS")
	}, explain)
	pipetest.WaitExplained(t, 20*time.Second, "an event stored after watch is back", func() bool {
		return publish("back") == nil
	}, explain)
	// Printed in the order stored: the one stored while watch was away is
	// printed before this one, or never.
	pipetest.WaitExplained(t, 30*time.Second, "watch prints the event stored after it is back", func() bool {
		going()
		return printed("back") > 0
	}, explain)
	if printed("while-away") != 1 || printed("back") != 1 {
		t.Errorf("watch printed the event stored while it was away %d times and the one after %d times, want once each; %s",
			printed("while-away"), printed("back"), explain())
	}
}

// TestWatchKeepsTryingWhenItsConsumerIsNotMade: NATS is lost while watch
// makes its consumer, and the answer never comes back (here the request is
// lost on its way, which the client cannot tell apart). watchEvents
// returned that error and ended, so watch printed nothing more, though it
// "keeps reconnecting": a CI run of
// TestWatchPrintsTheEventsStoredWhileItWasAway stopped the server just
// after it made watch's consumer and waited 30 s for events from a watch
// that had ended. Now watch says so and tries again at its next check,
// from where it was to begin.
func TestWatchKeepsTryingWhenItsConsumerIsNotMade(t *testing.T) {
	t.Parallel()
	srv := natstest.Run(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	l := res.Layout
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	creates := new(atomic.Int64)
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.CREATE."+l.EventsStream()+".") && creates.Add(1) == 1
	}
	var stdout, stderr pipetest.Buffer
	nc, js := natstest.Connect(t, proxy.URL, watchConnOptions(&stderr)...)
	defer nc.Close()
	done := make(chan error, 1)
	go func() { done <- watchEvents(ctx, js, l, "acme", "", jetstream.DeliverNewPolicy, &stdout, &stderr) }()
	defer func() { cancel(); <-done }()
	explain := func() string { return "stdout: " + stdout.String() + "; stderr: " + stderr.String() }
	pipetest.WaitExplained(t, 20*time.Second, "watch's first consumer lost on its way", func() bool {
		return proxy.Dropped.Load() == 1
	}, explain)
	p := publisher.New(srv.JS, publisher.Config{Prefix: l.Prefix, EventsStream: l.EventsStream()})
	if err := p.Status(ctx, publisher.Status{Tenant: "acme", SubmissionID: "meanwhile", State: "submitted", Generation: 1,
		At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitExplained(t, 30*time.Second, "watch prints the event stored while it made its consumer", func() bool {
		select {
		case err := <-done:
			done <- err // for the deferred wait
			t.Fatalf("watch ended: %v; want it to go on; %s", err, explain())
		default:
		}
		return strings.Contains(stdout.String(), "acme/meanwhile submitted")
	}, explain)
	if !strings.Contains(stderr.String(), "watch: cannot follow the events stream") {
		t.Errorf("watch: got stderr %q; want it to say it cannot follow the events stream yet", stderr.String())
	}
}

// gatedDialer dials only while open is true: a client kept away from a
// server that is back.
type gatedDialer struct{ open *atomic.Bool }

func (g gatedDialer) Dial(network, address string) (net.Conn, error) {
	if !g.open.Load() {
		return nil, errors.New("gatedDialer: closed")
	}
	return net.Dial(network, address)
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

// TestWatchFollowsAnEventsStreamMadeAnew: an operator deletes the events
// stream and iseed makes it anew (layout.Ensure, as iseed serve does on
// start). The new stream numbers its events from 1 again, and watch's
// ordered consumer went on after the old stream's last sequence: it never
// printed the new stream's first events. Now every event of the new stream
// is printed, once.
func TestWatchFollowsAnEventsStreamMadeAnew(t *testing.T) {
	d, srv := startCLIDaemonOn(t)
	srv.KeepStreamsDir(t)
	var stdout, stderr pipetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"watch", "--tenant", "acme", "--all"}, strings.NewReader(""), &stdout, &stderr)
	}()
	defer func() { cancel(); <-done }()
	explain := func() string { return "stdout: " + stdout.String() + "; stderr: " + stderr.String() }
	p := publisher.New(d.js, publisher.Config{Prefix: d.res.Layout.Prefix, EventsStream: d.res.Layout.EventsStream()})
	publish := func(id string) {
		t.Helper()
		if err := p.Status(ctx, publisher.Status{Tenant: "acme", SubmissionID: id, State: "submitted", Generation: 1,
			At: time.Now()}); err != nil {
			t.Fatalf("publish %s: %v", id, err)
		}
	}
	printed := func(id string) int { return strings.Count(stdout.String(), "acme/"+id+" submitted") }
	for i := range 20 { // the old stream's sequences go past the new one's first
		publish(fmt.Sprint("old-", i))
	}
	pipetest.WaitExplained(t, 20*time.Second, "watch prints the old stream's events", func() bool {
		return printed("old-19") == 1
	}, explain)

	if err := d.js.DeleteStream(ctx, d.res.Layout.EventsStream()); err != nil {
		t.Fatal(err)
	}
	if _, err := layout.Ensure(ctx, d.js, d.res.Layout); err != nil {
		t.Fatal(err)
	}
	for i := range 25 { // some past the old stream's last sequence, too
		publish(fmt.Sprint("new-", i))
	}
	pipetest.WaitExplained(t, 30*time.Second, "watch prints the new stream's events", func() bool {
		for i := range 25 {
			if printed(fmt.Sprint("new-", i)) == 0 {
				return false
			}
		}
		return true
	}, explain)
	pipetest.WaitExplained(t, 30*time.Second, "watch says the stream was made anew", func() bool {
		return strings.Contains(stderr.String(), "watch: the events stream was made anew")
	}, explain)
	publish("last") // printed after any event printed twice
	pipetest.WaitExplained(t, 20*time.Second, "watch prints the last event", func() bool {
		return printed("last") == 1
	}, explain)
	for i := range 25 {
		if n := printed(fmt.Sprint("new-", i)); n != 1 {
			t.Errorf("new-%d printed %d times, want once; %s", i, n, explain())
		}
	}
}
