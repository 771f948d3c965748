package console_test

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
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
