package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// BenchmarkReportMonth reads a month of 50,000 entries of 20 tenants (one
// subject each, as every request has) and sums them per tenant and
// service: what the console's spend page and iseed money read. docs/
// performance.md has the numbers.
func BenchmarkReportMonth(b *testing.B) {
	const n, tenants = 50_000, 20
	l, srv := newLedger(b)
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for i := range n {
		e := entry(fmt.Sprintf("t%02d", i%tenants), fmt.Sprintf("r%08d", i), at)
		data, err := json.Marshal(e)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := srv.JS.PublishAsync(fmt.Sprintf("%s.ledger.%s.%s", prefix, e.Tenant, e.RequestID), data); err != nil {
			b.Fatal(err)
		}
		if i%4096 == 4095 {
			<-srv.JS.PublishAsyncComplete()
		}
	}
	<-srv.JS.PublishAsyncComplete()
	from, to := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		lines, err := l.Report(context.Background(), from, to, "")
		if err != nil {
			b.Fatal(err)
		}
		if len(lines) != tenants {
			b.Fatalf("%d lines, want %d", len(lines), tenants)
		}
	}
}
