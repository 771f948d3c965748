package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/record"
)

// storeSubmitted stores the record of a submission sent at now as request
// req, as the pipeline would.
func storeSubmitted(t *testing.T, d *daemon, tenant, id, req string, now time.Time) {
	t.Helper()
	rec := &record.Record{Tenant: tenant, ID: id, Fingerprint: "fp-" + id, Generation: 1, Attempts: 1, Created: now, RequestID: req}
	rec.To(record.StateSubmitted, now, "")
	if _, err := record.NewStore(d.res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
}

// TestStatusPrintsTheRecordWhenItsEventsStopShort: when the events of a
// submission cannot all be read (the fetches lost on a loaded server, a
// NATS hiccup), iseed status prints the record and the events it read,
// then says on stderr that the list is incomplete, and exits 1; with -o
// json what it prints is one JSON document that says so too
// (events_incomplete). It used to print nothing at all, only the error:
// an operator looking at a submission during the hiccup saw no record.
func TestStatusPrintsTheRecordWhenItsEventsStopShort(t *testing.T) {
	const tenant, id, req = "acme", "emp-events", "6b0ee1771dcdaf00000000f2"
	d, srv := startCLIDaemonOn(t)
	ctx, now := context.Background(), time.Now()
	storeSubmitted(t, d, tenant, id, req, now)
	subject := d.res.Layout.Events().Status(tenant, id)
	// More events than a fetch brings (publisher's batch, 64), the last
	// one "accepted".
	kinds := []string{"claimed"}
	for range 100 {
		kinds = append(kinds, "submitted")
	}
	for _, kind := range append(kinds, "accepted") {
		ev := fmt.Sprintf(`{"type":"iseed.submission.%s","time":%q,"data":{"tenant":%q,"submission_id":%q}}`, kind, now.UTC().Format(time.RFC3339), tenant, id)
		if _, err := d.js.Publish(ctx, subject, []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	// Every fetch of the events after the first is lost on its way.
	proxy := natstest.NewDropProxy(t, srv.Addr().String())
	pulls := new(atomic.Int64)
	proxy.Drop = func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.CONSUMER.MSG.NEXT."+d.res.Layout.EventsStream()+".") && pulls.Add(1) >= 2
	}
	t.Setenv("ISEED_NATS_URL", proxy.URL)

	out, errOut, code := runCLI(t, "status", "--tenant", tenant, id, "-o", "table")
	if code != 1 || !strings.Contains(out, "state") || !strings.Contains(out, record.StateSubmitted) || !strings.Contains(out, req) ||
		!strings.Contains(out, "claimed") || strings.Contains(out, "accepted") || !strings.Contains(errOut, "incomplete") {
		t.Errorf("status with its events cut short: exit %d, stdout %q, stderr %q; want 1, the record and the events of the first fetch, and the error", code, out, errOut)
	}

	pulls.Store(0)
	out, errOut, code = runCLI(t, "status", "--tenant", tenant, id, "-o", "json")
	var got struct {
		Record     *record.Record    `json:"record"`
		Events     []json.RawMessage `json:"events"`
		Incomplete bool              `json:"events_incomplete"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 1 || got.Record == nil || got.Record.RequestID != req ||
		len(got.Events) == 0 || len(got.Events) >= len(kinds)+1 || !got.Incomplete || !strings.Contains(errOut, "incomplete") {
		t.Errorf("status -o json with its events cut short: exit %d, stdout %q (%v), stderr %q; want 1, one JSON document with the record, "+
			"the events of the first fetch and events_incomplete, and the error", code, out, err, errOut)
	}
}
