package console_test

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
)

// TestRevealShowsWhatTheUpstreamSaid: the reveal of the dead letter of a
// submission the upstream refused shows the upstream's own message of
// that refusal, which its record keeps (record.Record.UpstreamMessage:
// it may echo personal data), as iseed dlq show --reveal does; the masked
// page does not.
func TestRevealShowsWhatTheUpstreamSaid(t *testing.T) {
	const said = "error in the input data: campo codice_fiscale_dichiarante"
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	h.PutRecord("emp-up", pipetest.ValidFields("Mario"), func(r *record.Record) {
		r.State, r.Reason, r.UpstreamMessage = record.StateFailed, dlq.ReasonUpstreamRejected, said
	})
	seq := deadLetter(t, h, "emp-up", dlq.ReasonUpstreamRejected, pipetest.Submission("emp-up", pipetest.ValidFields("Mario")))
	letter := "/dead-letters/" + strconv.FormatUint(seq, 10)
	runCalls(t, s, []call{
		{name: "revealed", method: http.MethodPost, path: letter + "/reveal", auth: "bearer", status: 200, body: `<p id="upstream-said">The upstream said: <code>` + said},
		{name: "masked", method: http.MethodGet, path: letter, auth: "bearer", status: 200, notBody: said},
	}, nil, "")
}

// TestRevealHidesFileContents: the console's reveal shows what iseed dlq
// show --reveal shows (dlq.Mask): the values in clear, an inline file as
// its name, type and size, never its contents. It used to show the
// payload as it is, identity documents' base64 included.
func TestRevealHidesFileContents(t *testing.T) {
	const contents = "RGlzdGluY3RpdmUgaWRlbnRpdHkgZG9jdW1lbnQsIHBhZ2UgMSBvZiAx" // 42 bytes
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	fields := pipetest.ValidFields("Mario")
	fields["$6"] = "cf.pdf|data:application/pdf;base64," + contents
	seq := deadLetter(t, h, "emp-1", "insufficient_credit", pipetest.Submission("emp-1", fields))
	reveal := "/dead-letters/" + strconv.FormatUint(seq, 10) + "/reveal"
	post := http.MethodPost
	runCalls(t, s, []call{
		{name: "a value in clear", method: post, path: reveal, auth: "bearer", status: 200, body: "RSSMRA85T10A562S"},
		{name: "the file as the CLI describes it", method: post, path: reveal, auth: "bearer", status: 200, body: "‹file cf.pdf, application/pdf, 42 bytes›"},
		{name: "not the file's contents", method: post, path: reveal, auth: "bearer", status: 200, notBody: contents},
	}, nil, "")
}

// TestAuditLinesWhateverTheLogLevel: what an operator does through the
// console (a login, a reveal of personal data, a replay, a logout) is an
// audit line, written whatever the log level: the site logs at warn, where
// an Info line would be dropped and the reveal go unrecorded.
func TestAuditLinesWhateverTheLogLevel(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := deadLetter(t, h, "emp-1", "insufficient_credit", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	letter := "/dead-letters/" + strconv.FormatUint(seq, 10)
	cookie := s.login(t)
	csrf := s.csrfOf(t, cookie, letter)
	post := http.MethodPost
	runCalls(t, s, []call{
		{name: "reveal", method: post, path: letter + "/reveal", auth: "cookie", csrf: "valid", status: 200},
		{name: "replay", method: post, path: letter + "/replay", auth: "cookie", csrf: "valid", status: 303},
		{name: "logout", method: post, path: "/logout", auth: "cookie", csrf: "valid", status: 303},
	}, cookie, csrf)
	logs := s.logs.String()
	for _, msg := range []string{"console login", "console: dead-letter payload revealed", "console: dead letter replayed", "console logout"} {
		if !strings.Contains(logs, `"audit":"console"`) || !strings.Contains(logs, `"message":"`+msg+`"`) {
			t.Errorf("no audit line %q in the log of a console logging at warn:\n%s", msg, logs)
		}
	}
}

// TestRevealOfAFloodedPayloadIsCut: a tenant may send payloads as large as
// NATS takes (1 MiB by default), many under one id. A reveal shows the
// first 64 KiB of the indented payload, says that it is cut and which
// command prints the whole one, instead of a page of megabytes; a payload
// within the bound is shown whole, without the notice.
func TestRevealOfAFloodedPayloadIsCut(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	values := make([]string, 40_000) // about 1 MiB indented
	for i := range values {
		values[i] = fmt.Sprintf("value-%05d", i)
	}
	values[len(values)-1] = "the-tail-of-the-payload"
	fields := pipetest.ValidFields("Mario")
	fields["$1"] = values
	payload := pipetest.Submission("emp-1", fields)
	big := deadLetter(t, h, "emp-1", "malformed", payload)
	small := deadLetter(t, h, "emp-2", "insufficient_credit", pipetest.Submission("emp-2", pipetest.ValidFields("Luigi")))
	bigPath := "/dead-letters/" + strconv.FormatUint(big, 10) + "/reveal"
	resp, body := s.do(t, call{method: http.MethodPost, path: bigPath, auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("reveal of a %d-byte payload: got %d, want 200", len(payload), resp.StatusCode)
	}
	if len(body) > 192<<10 {
		t.Errorf("reveal of a %d-byte payload: got a page of %d bytes, want at most 192 KiB (64 KiB of payload, escaped)", len(payload), len(body))
	}
	for _, want := range []string{`id="payload-cut"`, "value-00000", "only the first 64 KiB", "iseed dlq show " + strconv.FormatUint(big, 10) + " --reveal"} {
		if !strings.Contains(body, want) {
			t.Errorf("reveal of a %d-byte payload: the page lacks %q", len(payload), want)
		}
	}
	if strings.Contains(body, "the-tail-of-the-payload") {
		t.Errorf("reveal of a %d-byte payload: the page shows its tail, want only its first 64 KiB", len(payload))
	}
	_, body = s.do(t, call{method: http.MethodPost, path: "/dead-letters/" + strconv.FormatUint(small, 10) + "/reveal", auth: "bearer"}, nil, "")
	if !strings.Contains(body, "Luigi") || strings.Contains(body, `id="payload-cut"`) {
		t.Errorf("reveal of a small payload: got Luigi %v, a cut notice %v; want its values and no notice",
			strings.Contains(body, "Luigi"), strings.Contains(body, `id="payload-cut"`))
	}
}
