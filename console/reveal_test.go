package console_test

import (
	"net/http"
	"strconv"
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
