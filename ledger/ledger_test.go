package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const prefix = "t"

func newLedger(t testing.TB) (*ledger.Ledger, *natstest.Server) {
	t.Helper()
	srv := natstest.Run(t)
	st, err := ledger.EnsureStream(context.Background(), srv.JS, ledger.StreamConfig(prefix, 1, jetstream.FileStorage, 0))
	if err != nil {
		t.Fatal(err)
	}
	return ledger.New(srv.JS, st, ledger.Config{Prefix: prefix}), srv
}

// entry is an ISEE with urgency for tenant, created at.
func entry(tenant, req string, at time.Time) ledger.Entry {
	return ledger.Entry{Tenant: tenant, SubmissionID: "sub-" + req, RequestID: req, Service: "ISEE",
		ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", ServicePrice: 1200,
		Options: []ledger.Option{{Name: "opzione_0", Type: "urgenza", Price: 400}}, Price: 1600, At: at, Source: ledger.SourcePosted}
}

func record(t *testing.T, l *ledger.Ledger, es ...ledger.Entry) {
	t.Helper()
	for _, e := range es {
		if err := l.Record(context.Background(), e); err != nil {
			t.Fatalf("Record %s: %v", e.RequestID, err)
		}
	}
}

func ids(es []ledger.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.RequestID)
	}
	return out
}

// TestRecordOnce: a request is entered once, whatever is recorded for it
// later and whatever the duplicate window; the first entry stays.
func TestRecordOnce(t *testing.T) {
	l, srv := newLedger(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	first := entry("acme", "r1", at)
	record(t, l, first)

	// Past the duplicate window, as a message with another id would be:
	// the stream itself refuses a second entry for the request.
	m := nats.NewMsg(ledger.Subject(prefix, "acme", "r1"))
	m.Data = []byte(`{}`)
	m.Header.Set(jetstream.MsgIDHeader, "another")
	if _, err := srv.JS.PublishMsg(ctx, m); err == nil {
		t.Fatal("the stream stored a second entry for r1")
	}
	again := first
	again.Source, again.At = ledger.SourceReconciled, at.Add(time.Hour)
	record(t, l, again, again)

	got, err := l.Entries(ctx, at.Add(-time.Minute), at.Add(2*time.Hour), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source != ledger.SourcePosted || !got[0].At.Equal(at) || got[0].Recorded.IsZero() {
		t.Fatalf("got %+v, want the first entry once", got)
	}
	got[0].Recorded = time.Time{}
	if !reflect.DeepEqual(got[0], first) {
		t.Errorf("read back %+v, want %+v", got[0], first)
	}
}

func TestRecordRefusesInvalid(t *testing.T) {
	l, _ := newLedger(t)
	now := time.Now()
	tests := []struct {
		name string
		edit func(*ledger.Entry)
	}{
		{"price not the sum", func(e *ledger.Entry) { e.Price = 1200 }},
		{"unknown source", func(e *ledger.Entry) { e.Source = "guessed" }},
		{"tenant with a dot", func(e *ledger.Entry) { e.Tenant = "a.b" }},
		{"no request id", func(e *ledger.Entry) { e.RequestID = "" }},
		{"no service hash", func(e *ledger.Entry) { e.ServiceHash = "" }},
		{"negative price", func(e *ledger.Entry) { e.ServicePrice, e.Price = -1200, -800 }},
		{"unnamed option", func(e *ledger.Entry) { e.Options[0].Name = "" }},
	}
	for _, tt := range tests {
		e := entry("acme", "r1", now)
		e.Options = append([]ledger.Option(nil), e.Options...)
		tt.edit(&e)
		if err := l.Record(context.Background(), e); !errors.Is(err, ledger.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestPeriodsInRome: an entry at 23:30 UTC on a month's last day belongs
// to the next month in Rome; late entries are found; tenants filter.
func TestPeriodsInRome(t *testing.T) {
	l, _ := newLedger(t)
	rome, err := money.Rome()
	if err != nil {
		t.Fatal(err)
	}
	// Months around now, since the stream stamps entries with the real
	// clock and Entries reads from the period's start.
	this := money.Month(time.Now(), rome)
	prev := money.Month(this.From.Add(-time.Hour), rome)
	lastDay := this.From.Add(-time.Hour).UTC() // some time on the previous month's last day, UTC
	y, m, d := lastDay.Date()
	utc2330 := time.Date(y, m, d, 23, 30, 0, 0, time.UTC)
	utc2159 := time.Date(y, m, d, 21, 59, 0, 0, time.UTC) // 22:59 or 23:59 in Rome: still that day
	record(t, l,
		entry("acme", "r-2330", utc2330),
		entry("acme", "r-2159", utc2159),
		entry("beta", "r-beta", utc2159),
		entry("acme", "r-early", prev.From.Add(-time.Second)), // the month before
		entry("acme", "r-first", prev.From),                   // the first instant of prev
	)
	tests := []struct {
		name   string
		period money.Period
		tenant string
		want   []string
	}{
		{"this month", this, "", []string{"r-2330"}},
		{"previous month, late entries included", prev, "", []string{"r-first", "r-2159", "r-beta"}},
		{"previous month, one tenant", prev, "beta", []string{"r-beta"}},
		{"a tenant with nothing", this, "nobody", []string{}},
	}
	for _, tt := range tests {
		got, err := l.Entries(context.Background(), tt.period.From, tt.period.To, tt.tenant)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(ids(got), tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, ids(got), tt.want)
		}
	}
}

func TestEntriesOfAnEmptyLedger(t *testing.T) {
	l, _ := newLedger(t)
	got, err := l.Entries(context.Background(), time.Now().Add(-time.Hour), time.Now(), "")
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v; want nothing", got, err)
	}
}

func TestReport(t *testing.T) {
	l, _ := newLedger(t)
	now := time.Now().UTC().Truncate(time.Second)
	naspi := entry("acme", "r3", now)
	naspi.Service, naspi.ServiceHash, naspi.ServicePrice, naspi.Options, naspi.Price = "NASPI", "61987f81efc1a1cdde3ba0f8f48a3aaa", 2500, nil, 2500
	var es []ledger.Entry
	for i := range 3 {
		es = append(es, entry("acme", fmt.Sprintf("r%d", i), now))
	}
	es[2] = naspi
	es = append(es, entry("beta", "r9", now))
	record(t, l, es...)
	got, err := l.Report(context.Background(), now.Add(-time.Minute), now.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.Line{
		{Tenant: "acme", Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Requests: 2, Amount: 3200},
		{Tenant: "acme", Service: "NASPI", ServiceHash: "61987f81efc1a1cdde3ba0f8f48a3aaa", Requests: 1, Amount: 2500},
		{Tenant: "beta", Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Requests: 1, Amount: 1600},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if n, sum := ledger.Total(got); n != 4 || sum != 7300 {
		t.Errorf("Total: got %d, %s; want 4, 73.00", n, sum)
	}
}

// TestReportNamesAServiceByItsEarliestEntry: entries come in stream order,
// and one recorded late (reconciled, adopted) may be earlier than those
// stored before it. A service renamed upstream under the same hash is
// shown by its earliest entry's name (by at, then request id), as when
// the entries are sorted first (Summarize).
func TestReportNamesAServiceByItsEarliestEntry(t *testing.T) {
	l, _ := newLedger(t)
	now := time.Now().UTC().Truncate(time.Second)
	later := entry("acme", "r1", now)
	later.Service = "ISEE 2027"
	tie := entry("acme", "r0", now.Add(-time.Hour))
	tie.Service = "ISEE ORDINARIO"
	early := entry("acme", "r2", now.Add(-time.Hour)) // recorded last, tied with r0 at its at
	record(t, l, later, early, tie)
	got, err := l.Report(context.Background(), now.Add(-2*time.Hour), now.Add(time.Minute), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Service != "ISEE ORDINARIO" || got[0].Requests != 3 {
		t.Errorf("got %+v; want one line of 3 requests named ISEE ORDINARIO (r0's: the earliest at, then the first request id)", got)
	}
	if sorted := ledger.Summarize([]ledger.Entry{tie, early, later}); !reflect.DeepEqual(got, sorted) {
		t.Errorf("Report %+v, Summarize of the sorted entries %+v; want the same", got, sorted)
	}
}

// TestForeignMessagesOnLedgerSubjects: any client that may publish in the
// account can have a message stored on a ledger subject, through a reply
// subject (docs/security.md): an empty one (the 404 status answer of a
// pull request with no_wait), or a publish acknowledgement. The stream
// keeps them (DenyDelete, DenyPurge). Readers skip them instead of failing
// on every read for the ledger's retention, and Record does not take one
// for the entry of the request whose subject it holds: ErrForeign, which
// the pipeline logs and goes on (consumer.Pipeline.spent).
func TestForeignMessagesOnLedgerSubjects(t *testing.T) {
	l, srv := newLedger(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	record(t, l, entry("acme", "r1", at))
	for _, foreign := range []struct{ subject, data string }{
		{ledger.Subject(prefix, "globex", "r9"), ""},
		{ledger.Subject(prefix, "globex", "r8"), `{"stream":"T_SUBMISSIONS","seq":7}`},
		{ledger.Subject(prefix, "acme", "r7"), `{"tenant":"globex","request_id":"r7","price":100}`},
	} {
		if _, err := srv.JS.Publish(ctx, foreign.subject, []byte(foreign.data)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Entries(ctx, at.Add(-time.Minute), at.Add(time.Minute), "")
	if err != nil || !reflect.DeepEqual(ids(got), []string{"r1"}) {
		t.Fatalf("Entries: got %v (%v), want [r1]", ids(got), err)
	}
	if err := l.Record(ctx, entry("globex", "r9", at)); !errors.Is(err, ledger.ErrForeign) {
		t.Errorf("Record r9, whose subject holds a foreign message: got %v, want ErrForeign", err)
	}
}

// TestEntry reads one request's entry: the one Record entered, none for a
// request never entered, for another tenant's subject, for a foreign
// message on its subject, or for an id no subject can hold.
func TestEntry(t *testing.T) {
	l, srv := newLedger(t)
	ctx := context.Background()
	at := time.Now().UTC().Truncate(time.Second)
	record(t, l, entry("acme", "r1", at))
	if _, err := srv.JS.Publish(ctx, ledger.Subject(prefix, "acme", "r9"), []byte(`{"stream":"T_SUBMISSIONS","seq":7}`)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		tenant, req string
		want        bool
	}{
		{"acme", "r1", true},
		{"acme", "r2", false},
		{"globex", "r1", false},
		{"acme", "r9", false},
		{"acme", "r1.>", false},
	}
	for _, tt := range tests {
		got, ok, err := l.Entry(ctx, tt.tenant, tt.req)
		if err != nil || ok != tt.want || ok && (got.RequestID != tt.req || !got.At.Equal(at) || got.Recorded.IsZero()) {
			t.Errorf("Entry(%s, %s) = %+v, %v, %v; want found %v", tt.tenant, tt.req, got, ok, err, tt.want)
		}
	}
}
