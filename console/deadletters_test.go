package console_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/nats-io/nats.go"
)

// TestDeadLetterListReadsHeadersOnly: the list shows what the letters'
// headers say, so it reads no payload. It used to read every letter whole:
// a tenant whose submissions dead-letter near the size limit (8 MB each)
// made every view of the list, and every filter that matched none of them
// (?reason=…, read to the stream's end), pull their payloads from NATS.
func TestDeadLetterListReadsHeadersOnly(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	const letters, size = 8, 256 << 10
	payload := bytes.Repeat([]byte("x"), size)
	for i := range letters {
		deadLetter(t, h, fmt.Sprintf("big-%d", i), "malformed", payload)
	}
	for _, path := range []string{"/dead-letters", "/dead-letters?reason=insufficient_credit"} {
		before := h.NATS.NC.Stats().InBytes
		resp, body := s.do(t, call{method: http.MethodGet, path: path}, nil, "")
		read := h.NATS.NC.Stats().InBytes - before
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		if read >= letters*size/2 {
			t.Errorf("%s: the list read %d bytes from NATS for %d letters of %d bytes: their payloads", path, read, letters, size)
		}
	}
}

// TestDeadLetterPageOfAFloodOfValues: a dead letter's masked payload is
// bounded by the values it may show, not by what a tenant sent. A
// malformed submission of one array with hundreds of thousands of values
// (a megabyte) was decoded whole, masked value by value and shown as a
// page of megabytes (about 13 bytes each), on every view: anyone who may
// read the console (and, read-only, any page the operator's browser
// opens, by sequence number) made the daemon do that work.
func TestDeadLetterPageOfAFloodOfValues(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	const values = 400_000
	payload := []byte(`{"id":"flood","service":"ISEE","fields":{"a":[0` + strings.Repeat(",0", values-1) + `]}}`)
	seq := deadLetter(t, h, "flood", "malformed", payload)
	resp, body := s.do(t, call{method: http.MethodGet, path: fmt.Sprintf("/dead-letters/%d", seq)}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(body) > 64<<10 {
		t.Errorf("the page of a dead letter of %d bytes is %d bytes: its %d values each shown masked", len(payload), len(body), values)
	}
	if want := fmt.Sprintf("%d bytes", len(payload)); !strings.Contains(body, want) {
		t.Errorf("the page does not say the payload's size (%q)", want)
	}
}

// TestDeadLetterWithoutTenantLinksNoSubmission: a message published on a
// subject that names no valid tenant is dead-lettered with its id but no
// tenant; the list and its page show the id without a link to a submission
// page that cannot exist (it linked to /submission?tenant=&id=…, which
// says a tenant is 1 to 64 letters: the console walk).
func TestDeadLetterWithoutTenantLinksNoSubmission(t *testing.T) {
	h := pipetest.New(t)
	h.Start()
	s := newSite(t, h, "", nil)
	m := nats.NewMsg(h.Res.Layout.SubmissionSubject("<svg/onload=x>"))
	m.Data = pipetest.Submission("no-tenant-1", pipetest.ValidFields("Mario"))
	if _, err := h.NATS.JS.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var seq uint64
	pipetest.WaitFor(t, 20*time.Second, "the dead letter", func() bool {
		for _, dl := range h.DeadLetters() {
			if dl.SubmissionID == "no-tenant-1" {
				seq = dl.Seq
			}
		}
		return seq != 0
	})
	page := "/dead-letters/" + strconv.FormatUint(seq, 10)
	runCalls(t, s, []call{
		{name: "list", method: http.MethodGet, path: "/dead-letters", status: 200, body: "no-tenant-1", notBody: "/submission?tenant=&amp;"},
		{name: "page", method: http.MethodGet, path: page, status: 200, body: "no-tenant-1", notBody: "/submission?tenant=&amp;"},
		{name: "escaped subject", method: http.MethodGet, path: page, status: 200, body: "&lt;svg/onload=x&gt;", notBody: "<svg"},
	}, nil, "")
}
