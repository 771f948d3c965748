package publisher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go/jetstream"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var at = time.Date(2026, 11, 25, 10, 30, 0, 0, time.UTC)

func price(f float64) *float64 { return &f }

func goldenEvents() map[string]any {
	meta := json.RawMessage(`{"employee_id":"7781"}`)
	return map[string]any{
		"status_submitted": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateSubmitted, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "In erogazione", Price: price(16), Metadata: meta, At: at},
		"status_rejected": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateRejected, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Errors: []publisher.Problem{{Field: "$4", Name: "Codice Fiscale *", Code: "invalid_codice_fiscale",
				Message: "Codice Fiscale ($4): the check character (the 16th) does not match: a character was probably mistyped"}},
			Metadata: meta, At: at},
		// A malformed message whose id is free: generation 0, before any
		// record; no service, no metadata (the message cannot be read).
		"status_rejected_malformed": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateRejected, Generation: 0,
			Reason: "malformed", Errors: []publisher.Problem{{Code: "malformed", Message: `malformed submission: fields is required`}},
			At: at, EventID: publisher.MalformedEventID("acme", "emp-7781-isee-2026", []byte(`{"id":"emp-7781-isee-2026","service":"ISEE"}`))},
		"status_failed": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateFailed, Generation: 2,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Reason: "upstream_rejected",
			Errors:   []publisher.Problem{{Code: "upstream_rejected", Message: "visengine: POST /richiesta: permanent (HTTP 412, code 250): insufficient data to validate the request"}},
			Metadata: meta, At: at},
		"status_held": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateHeld, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", Reason: "budget",
			Errors:   []publisher.Problem{{Code: "tenant_day_eur", Message: "budget: tenant:acme daily cap of 100.00 EUR reached (95.00 used, 16.00 asked) until 2026-11-26T00:00:00+01:00"}},
			Metadata: meta, At: at},
		"status_cancelled": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateCancelled, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "Annullata", Price: price(16), Reason: "documentazione incompleta",
			Outcome: &publisher.Outcome{Code: "101", Info: "KO"}, Metadata: meta, At: at},
		"status_in_progress": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateInProgress, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "In erogazione", Price: price(16), Metadata: meta, At: at},
		"status_data_ready": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateDataReady, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "Dati disponibili", Price: price(16), Metadata: meta, At: at},
		"status_completed": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateCompleted, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "Visura evasa", Price: price(16), Outcome: &publisher.Outcome{Code: "0", Info: "OK"}, Metadata: meta, At: at},
		"status_conflict": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateConflict, Generation: 1,
			Reason: "conflict", Errors: []publisher.Problem{{Code: "conflict", Message: "submission emp-7781-isee-2026 was received before with another payload (service, fields, options or email_target); this message was not sent. A new submission needs a new id"}},
			Metadata: meta, At: at, EventID: publisher.ConflictEventID("acme", "emp-7781-isee-2026", "dd442197499f0d13aa")},
		"status_withdrawal_refused": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateWithdrawalRefused, Generation: 1,
			Reason: "too_late", Errors: []publisher.Problem{{Code: "too_late", Message: "too late: sent already: its upstream request exists (and is paid)"}},
			Metadata: meta, At: at, EventID: publisher.WithdrawalRefusedEventID("acme", "emp-7781-isee-2026", at.Add(-1500*time.Millisecond))},
		"status_overdue": publisher.Status{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", State: publisher.StateOverdue, Generation: 1,
			Service: "ISEE", ServiceHash: "6aa0789f5ba34684b2bc5ccf364f8929", RequestID: "5f2829ce065afc21cc60ad0e",
			StatoRichiesta: "In erogazione", Price: price(16), Metadata: meta, At: at},
		// The final document, fetched in Visura evasa.
		"document_ready": publisher.DocumentReady{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", RequestID: "5f2829ce065afc21cc60ad0e",
			Stato: "Visura evasa", Final: true, Bucket: "iseed_documents_acme", Object: "acme/emp-7781-isee-2026/9f86d081884c7d65/5f2829ce065afc21cc60ad0e.zip", Name: "5f2829ce065afc21cc60ad0e.zip",
			Size: 10206, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", ContentType: "application/zip",
			Encrypted: true, KeyID: "1a2b3c4d", Metadata: meta, At: at},
		// An earlier document (an ISEE's DSU receipt), whose dimensione
		// disagrees with the bytes sent (as in the upstream's own published
		// example): the document is kept as received.
		"document_ready_declared_size": publisher.DocumentReady{SubmissionID: "emp-7781-isee-2026", Tenant: "acme", RequestID: "5f22f5b5d4a1c2e3f4a5b6c7",
			Stato: "Dati disponibili", Final: false, Bucket: "iseed_documents_acme", Object: "acme/emp-7781-isee-2026/3c1f0e2b7a9d4c55/5f22f5b5d4a1c2e3f4a5b6c7.zip", Name: "5f22f5b5d4a1c2e3f4a5b6c7.zip",
			Size: 103, DeclaredSize: 10206, SHA256: "3c1f0e2b7a9d4c5581e6f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e3f5a7b9c1", ContentType: "application/zip",
			Metadata: meta, At: at},
	}
}

func TestGolden(t *testing.T) {
	p := publisher.New(nil, publisher.Config{})
	for name, v := range goldenEvents() {
		t.Run(name, func(t *testing.T) {
			var ev *publisher.Event
			var err error
			switch d := v.(type) {
			case publisher.Status:
				ev, err = p.StatusEvent(d)
			case publisher.DocumentReady:
				ev, err = p.DocumentEvent(d)
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name, append(got, '\n'))
		})
	}
}

// TestGoldenCoversEveryState: every state a status event names
// (publisher.State…, read from events.go) has its golden file
// status_<state>, as docs/events.md says: a state's event format is pinned
// like the others.
func TestGoldenCoversEveryState(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok || gd.Tok != token.CONST {
			continue
		}
		for _, spec := range gd.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if !strings.HasPrefix(name.Name, "State") || i >= len(vs.Values) {
					continue
				}
				if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, _ := strconv.Unquote(lit.Value)
					states = append(states, s)
				}
			}
		}
	}
	if len(states) < 10 {
		t.Fatalf("found states %v in events.go: the parser missed the State constants", states)
	}
	golden := goldenEvents()
	for _, state := range states {
		s, ok := golden["status_"+state].(publisher.Status)
		if !ok {
			t.Errorf("state %q: no golden status_%s (testdata/status_%s.golden.json)", state, state, state)
			continue
		}
		if s.State != state {
			t.Errorf("golden status_%s: got state %q, want %q", state, s.State, state)
		}
	}
}

// TestEventTime: an event's time is RFC 3339 in UTC, cut to the
// millisecond, without a fraction when it is zero (the upstream's
// timestamp_stati are whole seconds) and without the fraction's trailing
// zeros (one to three digits), as docs/events.md says.
func TestEventTime(t *testing.T) {
	p := publisher.New(nil, publisher.Config{})
	rome := time.FixedZone("CET", 3600)
	tests := []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 11, 25, 11, 30, 0, 123456789, rome), `"2026-11-25T10:30:00.123Z"`},
		{time.Date(2026, 11, 25, 10, 30, 17, 0, time.UTC), `"2026-11-25T10:30:17Z"`},
		{time.Date(2026, 11, 25, 10, 30, 17, 999999, time.UTC), `"2026-11-25T10:30:17Z"`},
		{time.Date(2026, 11, 25, 10, 30, 17, 540_000_000, time.UTC), `"2026-11-25T10:30:17.54Z"`},
		{time.Date(2026, 11, 25, 10, 30, 17, 500_999_999, time.UTC), `"2026-11-25T10:30:17.5Z"`},
	}
	for _, tt := range tests {
		ev, err := p.StatusEvent(publisher.Status{SubmissionID: "a", Tenant: "acme", State: publisher.StateInProgress, At: tt.at})
		if err != nil {
			t.Fatal(err)
		}
		var raw struct {
			Time json.RawMessage `json:"time"`
		}
		b, _ := json.Marshal(ev)
		if err := json.Unmarshal(b, &raw); err != nil || string(raw.Time) != tt.want {
			t.Errorf("time of an event at %s: got %s, want %s", tt.at, raw.Time, tt.want)
		}
	}
}

func TestStatusEventNeedsIdentity(t *testing.T) {
	p := publisher.New(nil, publisher.Config{})
	for _, s := range []publisher.Status{{Tenant: "a", State: "submitted"}, {SubmissionID: "x", State: "submitted"}, {Tenant: "a", SubmissionID: "x"}} {
		if _, err := p.StatusEvent(s); err == nil {
			t.Errorf("StatusEvent(%+v): got nil error, want one", s)
		}
	}
}

// TestDocumentEventID: one id per document and stage, so that the final
// document is announced even when its bytes are the earlier one's.
func TestDocumentEventID(t *testing.T) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		final bool
		want  string
	}{
		{false, "acme.s1.document.9f86d081884c7d65"},
		{true, "acme.s1.document.9f86d081884c7d65.final"},
	}
	p := publisher.New(nil, publisher.Config{})
	for _, tt := range tests {
		ev, err := p.DocumentEvent(publisher.DocumentReady{SubmissionID: "s1", Tenant: "acme", Object: "o", SHA256: sum, Final: tt.final})
		if err != nil {
			t.Fatal(err)
		}
		if got := publisher.DocumentEventID("acme", "s1", sum, tt.final); ev.ID != tt.want || got != tt.want {
			t.Errorf("final %v: got ids %q and %q, want %q", tt.final, ev.ID, got, tt.want)
		}
	}
}

// TestDocumentEventIDReplaced: a document event's EventID, when set, is its
// id (a final document stored anew beside its receipt has one of its own).
func TestDocumentEventIDReplaced(t *testing.T) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	p := publisher.New(nil, publisher.Config{})
	ev, err := p.DocumentEvent(publisher.DocumentReady{SubmissionID: "s1", Tenant: "acme", Object: "o", SHA256: sum, Final: true,
		EventID: "acme.s1.document.9f86d081884c7d65.final.anew"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "acme.s1.document.9f86d081884c7d65.final.anew"; ev.ID != want {
		t.Errorf("id %q, want %q", ev.ID, want)
	}
	if bytes.Contains(ev.Data, []byte("anew")) {
		t.Errorf("data %s carries the id", ev.Data)
	}
}

// TestStatusEventIDsAfterAReplay: once a replay reopened a submission
// (tracking keeps its generation), every status event tracking publishes
// has the replay's sequence, and so has a completed that overrides a later
// give-up, whose suffix comes after it: that completed must differ from
// the plain completed of the same replay, which a refresh may have
// announced before the give-up. Without a replay the ids are the plain
// ones.
func TestStatusEventIDsAfterAReplay(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{"in_progress", publisher.StatusAfterReplayEventID("acme", "s1", 2, publisher.StateInProgress, 0), "acme.s1.2.in_progress"},
		{"in_progress after replay 7", publisher.StatusAfterReplayEventID("acme", "s1", 2, publisher.StateInProgress, 7), "acme.s1.2.in_progress.r7"},
		{"completed after replay 7", publisher.StatusAfterReplayEventID("acme", "s1", 2, publisher.StateCompleted, 7), "acme.s1.2.completed.r7"},
		{"failed", publisher.GiveUpAfterReplayEventID("acme", "s1", 2, 0), "acme.s1.2.failed"},
		{"failed after replay 7", publisher.GiveUpAfterReplayEventID("acme", "s1", 2, 7), "acme.s1.2.failed.r7"},
		{"override", publisher.OverrideEventID("acme", "s1", 2, 0), "acme.s1.2.completed.overrides_gave_up"},
		{"override after replay 7", publisher.OverrideEventID("acme", "s1", 2, 7), "acme.s1.2.completed.r7.overrides_gave_up"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

func TestPublishDeduplicates(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	stream, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"iseed.status.>", "iseed.documents.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p := publisher.New(srv.JS, publisher.Config{})
	s := publisher.Status{SubmissionID: "s1", Tenant: "acme", State: publisher.StateSubmitted, At: at}
	for range 3 {
		if err := p.Status(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	s.State = publisher.StateCompleted
	if err := p.Status(ctx, s); err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := info.State.Msgs, uint64(2); got != want {
		t.Fatalf("stored events: got %d, want %d", got, want)
	}
	msg, err := stream.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := msg.Subject, "iseed.status.acme.s1"; got != want {
		t.Errorf("subject: got %q, want %q", got, want)
	}
	var ev publisher.Event
	if err := json.Unmarshal(msg.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if got, want := ev.Type, "iseed.submission.submitted"; got != want {
		t.Errorf("type: got %q, want %q", got, want)
	}
	if got, want := msg.Header.Get(jetstream.MsgIDHeader), ev.ID; got != want {
		t.Errorf("Nats-Msg-Id: got %q, want the event id %q", got, want)
	}
}

// TestGoldenAccount pins the account events as they are published: one
// round trip through JetStream, since only Account builds their envelope.
func TestGoldenAccount(t *testing.T) {
	srv := natstest.Run(t)
	ctx := context.Background()
	stream, err := srv.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"iseed.account.>"}})
	if err != nil {
		t.Fatal(err)
	}
	p := publisher.New(srv.JS, publisher.Config{})
	for i, typ := range []string{publisher.AccountWalletEmpty, publisher.AccountWalletRefilled} {
		name := "account_" + strings.TrimPrefix(typ, "iseed.account.")
		t.Run(name, func(t *testing.T) {
			e := publisher.AccountEvent{Type: typ, At: at.Add(17 * time.Second)}
			if typ == publisher.AccountWalletRefilled {
				e.At, e.EmptySince = at.Add(42*time.Minute), e.At
			}
			if err := p.Account(ctx, e); err != nil {
				t.Fatal(err)
			}
			msg, err := stream.GetMsg(ctx, uint64(i+1))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := msg.Subject, "iseed.account.wallet"; got != want {
				t.Errorf("subject: got %q, want %q", got, want)
			}
			var ev publisher.Event
			if err := json.Unmarshal(msg.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if got, want := msg.Header.Get(jetstream.MsgIDHeader), ev.ID; got != want {
				t.Errorf("Nats-Msg-Id: got %q, want the event id %q", got, want)
			}
			got, err := json.MarshalIndent(ev, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, name, append(got, '\n'))
		})
	}
}

// checkGolden compares got with testdata/<name>.golden.json, rewriting it
// first with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("event %s changed:\ngot  %s\nwant %s", name, got, want)
	}
}
