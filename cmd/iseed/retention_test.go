package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/retention"
)

// TestServeScrubsOldClosedRecords: iseed serve runs the retention
// (ISEED_RECORD_SCRUB_AFTER): a closed record older than it is scrubbed,
// iseed_records_scrubbed_total counts it on /metrics, and iseed status
// shows the scrubbed record and says why its data are missing.
func TestServeScrubsOldClosedRecords(t *testing.T) {
	srv := cliEnv(t)
	ctx := context.Background()
	res, err := layout.Ensure(ctx, srv.JS, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "emp-old", Fingerprint: "fp", Generation: 1, State: record.StateRejected,
		Reason: "invalid", Metadata: json.RawMessage(`{"employee":"Mario Rossi"}`), Created: now, Updated: now,
		Errors: []publisher.Problem{{Field: "Codice Fiscale", Code: "invalid_tax_code", Message: "RSSMRA80A01H501U is not a tax code"}}}
	rec.To(record.StateRejected, now, "invalid")
	if _, err := record.NewStore(res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RecordScrub.Duration() != 2400*time.Hour {
		t.Errorf("ISEED_RECORD_SCRUB_AFTER by default: got %s, want 2400h", cfg.RecordScrub.Duration())
	}
	// Below what validation allows, so that the record is old enough now.
	cfg.RecordScrub = Retention(time.Millisecond)
	dctx, cancel := context.WithCancel(ctx)
	d, err := newDaemon(dctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(dctx) }()
	t.Cleanup(func() { cancel(); <-done; d.close() })

	var st struct {
		Record record.Record `json:"record"`
	}
	waitUntil(t, 20*time.Second, "iseed status to show the record scrubbed", func() bool {
		out, _, code := runCLI(t, "status", "--tenant", "acme", "emp-old", "-o", "json")
		st.Record = record.Record{} // a decode into what an earlier try left keeps what the JSON omits
		return code == 0 && json.Unmarshal([]byte(out), &st) == nil && !st.Record.Scrubbed.IsZero()
	})
	if r := st.Record; len(r.Metadata) != 0 || len(r.Errors) != 1 || r.Errors[0] != (publisher.Problem{Code: "invalid_tax_code"}) {
		t.Errorf("scrubbed record: metadata %s, errors %+v; want none, the code only", r.Metadata, r.Errors)
	}
	out, errOut, code := runCLI(t, "status", "--tenant", "acme", "emp-old", "-o", "table")
	if code != 0 || !strings.Contains(out, "scrubbed") || !strings.Contains(out, "invalid_tax_code") ||
		strings.Contains(out, "Mario") || strings.Contains(out, "RSSMRA") {
		t.Errorf("iseed status: exit %d, stdout %q, stderr %q; want the code and a scrubbed line, no personal data", code, out, errOut)
	}
	if got := metric(t, "http://"+d.admin.ln.Addr().String()+"/metrics", "iseed_records_scrubbed_total"); got != "1" {
		t.Errorf("iseed_records_scrubbed_total: got %q, want 1", got)
	}
}

// metric returns the value of an unlabelled series scraped from url.
func metric(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v
		}
	}
	return ""
}

// TestRetentionUnderShippedPermissions: the scrub's reads and writes (the
// records stream's info, an ordered consumer on it, a record's
// compare-and-set, the checkpoint in the keys bucket) are all allowed to
// the iseed user of the shipped NATS configuration.
func TestRetentionUnderShippedPermissions(t *testing.T) {
	url, pw := runShippedNATS(t)
	c := connectAs(t, url, "iseed", pw["iseed"], "")
	ctx := context.Background()
	res, err := layout.Ensure(ctx, c.js, layout.Layout{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "emp-old", Fingerprint: "fp", Generation: 1, State: record.StateCancelled,
		RequestID: "r1", Metadata: json.RawMessage(`{"employee":"7781"}`), PersonKey: "pk", Created: now, Updated: now}
	if _, err := record.NewStore(res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	s, err := retention.New(retention.Config{After: time.Millisecond, Now: func() time.Time { return time.Now().Add(time.Second) },
		Logger: testLogger(t)}, retention.Deps{JS: c.js, Records: res.Records, Keys: res.Keys})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Scrub(ctx)
	if err != nil || got.Scrubbed != 1 {
		t.Fatalf("pass as user iseed: %+v, %v; want 1 scrubbed", got, err)
	}
	if _, err := res.Keys.Get(ctx, retention.CheckpointKey); err != nil {
		t.Errorf("checkpoint: %v", err)
	}
	select {
	case err := <-c.violations:
		t.Errorf("permissions violation: %v", err)
	default:
	}
}
