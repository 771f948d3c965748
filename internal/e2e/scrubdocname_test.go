package e2e_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/retention"
	"github.com/iseed-dev/iseed/tracking"
	"github.com/rs/zerolog"
)

// The upstream's file name of a document may name the person ("DSU.<tax
// code>.pdf"), and it is the last part of the object name the record keeps
// for ever. Scrubbing the record removes it, and the document, while it is
// kept, can still be fetched.
func TestScrubRemovesTheDocumentsFileName(t *testing.T) {
	const taxCode = "RSSMRA80A01H501U"
	h := newTrackHarness(t, fastTracking(50*time.Millisecond))
	body := []byte("%PDF-1.4 attestazione ISEE")
	tr, err := tracking.New(tracking.Config{Workers: 4, Schedule: []time.Duration{30 * time.Millisecond}, TempDir: t.TempDir(),
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)},
		tracking.Deps{Resources: h.Res, Upstream: namedDocument{h.Client, body, "DSU." + taxCode + ".pdf"},
			Events: publisher.New(h.NATS.JS, publisher.Config{}), Publisher: h.NATS.JS})
	if err != nil {
		t.Fatal(err)
	}
	h.runTracker(tr)
	h.startPipeline(tr, false)
	h.Publish(pipetest.Submission("emp-named", pipetest.ValidFields("Mario")), nil)
	if r := h.waitClosed("emp-named", 30*time.Second); r.Document == nil || !strings.HasSuffix(r.Document.Object, taxCode+".pdf") {
		t.Fatalf("stored document: got %+v, want it stored under the upstream's name", r.Document)
	}
	ctx := context.Background()
	s, err := retention.New(retention.Config{After: time.Nanosecond}, retention.Deps{JS: h.NATS.JS, Records: h.Res.Records, Keys: h.Res.Keys})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := s.Scrub(ctx); err != nil || res.Scrubbed != 1 {
		t.Fatalf("scrub: got %+v, %v; want the record scrubbed", res, err)
	}
	e, err := h.Res.Records.Get(ctx, record.Key(pipetest.Tenant, "emp-named"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(e.Value(), []byte(taxCode)) {
		t.Errorf("scrubbed record: got %s, want no trace of the document's file name", e.Value())
	}
	var got bytes.Buffer
	if _, err := tracking.FetchDocument(ctx, h.NATS.JS, h.Res, pipetest.Tenant, "emp-named", nil, &got); err != nil || !bytes.Equal(got.Bytes(), body) {
		t.Errorf("document of the scrubbed record: got %q, %v; want %q", got.Bytes(), err, body)
	}
}
