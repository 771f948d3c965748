package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// bidiControls are the characters that reorder the text around them: the
// embeddings and overrides, the isolates and the marks.
var bidiControls = []rune{'\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c'}

// TestPagesShowBidiControlsVisibly: what a tenant chose (a field name in a
// problem, a field name in a dead letter's payload) or the upstream sent
// (a state, a service name, a message) reaches the page with a bidi
// override or a C1 control written as visible text, \u202e, as the CLI
// writes it: HTML escaping leaves them, and a U+202E in a field name
// reversed the rest of its line.
func TestPagesShowBidiControlsVisibly(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	now := time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "bidi-1", Generation: 1, Created: now, Service: "ISEE\u2067x",
		RequestID: "req-bidi-1", StatoRichiesta: "In verifica\u202e", Errors: []publisher.Problem{{Field: "\u202eevil.exe", Code: "required"}}}
	rec.To(record.StateRejected, now, "upstream: \u202etxt.exe\u009b2J")
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(pipetest.Submission("bidi-2", pipetest.ValidFields("Mario")), &ev); err != nil {
		t.Fatal(err)
	}
	ev["fields"].(map[string]any)["ref\u202e1gp.exe"] = "x" // metadata's keys are masked
	payload, _ := json.Marshal(ev)
	seq := strconv.FormatUint(deadLetter(t, h, "bidi-2", "invalid\u202e", payload), 10)
	for _, tt := range []struct{ path, want string }{
		{"/submission?tenant=" + pipetest.Tenant + "&id=bidi-1", `\u202eevil.exe`},
		{"/dead-letters/" + seq, `ref\u202e1gp.exe`},
		{"/dead-letters", `invalid\u202e`},
	} {
		resp, err := http.Get(s.url + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body := string(b)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: got %d, want 200:\n%s", tt.path, resp.StatusCode, body)
		}
		for _, c := range append(bidiControls, '\u009b') {
			if i := strings.IndexRune(body, c); i >= 0 {
				t.Errorf("GET %s: got %U raw, in %q; want it shown as \\u%04x", tt.path, c, body[max(0, i-30):min(len(body), i+30)], c)
			}
		}
		if !strings.Contains(body, tt.want) {
			t.Errorf("GET %s: the page lacks %s", tt.path, tt.want)
		}
	}
}
