package e2e_test

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/rs/zerolog"
)

// TestADocumentDamagedOnItsWayToTheStoreIsStoredAgain: the bytes of a
// document's put are damaged between iseed and the server (the server
// stores what it receives, and nats.go's digest is of what it sent). The
// document must not be announced, nor the request closed, with an object
// whose bytes are not the document's: it is stored again, and what the
// record names reads back whole.
func TestADocumentDamagedOnItsWayToTheStoreIsStoredAgain(t *testing.T) {
	t.Parallel() // its own server, proxy, simulator and tracker
	body := []byte("%PDF-1.4 attestazione ISEE, damaged once on the wire")
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	chunks := "$O." + h.Res.Layout.TenantDocumentsBucket(pipetest.Tenant) + ".C."
	proxy := natstest.NewDropProxy(t, h.NATS.Server.Addr().String())
	var damaged atomic.Bool
	proxy.Rewrite = func(subject string, payload []byte) {
		if strings.HasPrefix(subject, chunks) && len(payload) > 0 && damaged.CompareAndSwap(false, true) {
			payload[len(payload)-1] ^= 0xff
		}
	}
	nc, js := natstest.Connect(t, proxy.URL)
	t.Cleanup(nc.Close)
	tr, err := tracking.New(tracking.Config{Workers: 4, Schedule: []time.Duration{30 * time.Millisecond}, TempDir: t.TempDir(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		tracking.Deps{Resources: h.Res, Upstream: oneDocument{h.Client, body},
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: js})
	if err != nil {
		t.Fatal(err)
	}
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-damaged", pipetest.ValidFields("Mario")), nil)
	h.waitClosed("emp-damaged", 20*time.Second)
	if !damaged.Load() {
		t.Fatal("no chunk was damaged: the test proves nothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-damaged", nil, &got); err != nil {
		t.Fatalf("the document the closed record names: %v; want it whole", err)
	}
	if !bytes.Equal(got.Bytes(), body) {
		t.Errorf("the document: got %q, want %q", got.Bytes(), body)
	}
}
