package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/ledger"
	"github.com/iseed-dev/iseed/money"
	"github.com/iseed-dev/iseed/record"
)

// TestMoneyAndTopJSONEscapeTerminalControls: iseed audit, spend and top
// print JSON as every other command does (writeJSON): a C1 control or a
// bidi override in what the upstream sent (a request id, a service's
// nome_visura) or in a record (a state) reaches the operator's terminal
// as a \uXXXX escape, and the document decodes the same.
func TestMoneyAndTopJSONEscapeTerminalControls(t *testing.T) {
	d := startCLIDaemon(t)
	ctx := context.Background()
	const (
		reqID   = "6b0ee1771dcdaf\u009b2J"        // CSI: clears the screen
		service = "ISEE\u202e1gp.exe"             // a bidi override
		state   = "\u009d0;iseed pwned\u009cwait" // OSC … ST: sets the window title
	)
	now := time.Now()
	rec := &record.Record{Tenant: "acme", ID: "ctl-json-1", Generation: 1, Attempts: 1, Service: service, Created: now, RequestID: reqID}
	rec.To(record.StateSubmitted, now, "")
	rec.To(state, now, "")
	if _, err := record.NewStore(d.res.Records).Create(ctx, rec); err != nil {
		t.Fatal(err)
	}
	e := ledger.Entry{Tenant: "acme", SubmissionID: "ctl-json-2", RequestID: "req-ctl-json-2", Service: service, ServiceHash: "h",
		ServicePrice: money.Cents(100), Price: money.Cents(100), At: now, Source: ledger.SourcePosted}
	if err := ledger.New(d.js, d.res.Ledger, ledger.Config{Prefix: d.res.Layout.Prefix}).Record(ctx, e); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string // a value as the JSON must show it
	}{
		{[]string{"audit", "-o", "json"}, `6b0ee1771dcdaf\u009b2J`},
		{[]string{"spend", "-o", "json"}, `ISEE\u202e1gp.exe`},
		{[]string{"top", "-o", "json"}, `\u009d0;iseed pwned\u009cwait`},
	} {
		var out, errOut string
		waitUntil(t, 20*time.Second, strings.Join(tt.args, " ")+" to show the value", func() bool {
			out, errOut, _ = runCLIFor(t, 30*time.Second, tt.args...)
			return strings.Contains(out, tt.want) || strings.Contains(out, strings.NewReplacer(`\u009b`, "\u009b", `\u202e`, "\u202e",
				`\u009d`, "\u009d", `\u009c`, "\u009c").Replace(tt.want))
		})
		for _, c := range terminalControls {
			if i := strings.Index(out, c); i >= 0 {
				t.Errorf("%v: got %q raw, in %q; want it escaped", tt.args, c, out[max(0, i-20):min(len(out), i+20)])
			}
		}
		if !strings.Contains(out, tt.want) || !json.Valid([]byte(out)) {
			t.Errorf("%v: got %q (stderr %q); want valid JSON showing %s", tt.args, out, errOut, tt.want)
		}
	}
}
