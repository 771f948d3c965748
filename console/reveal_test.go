package console_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

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
