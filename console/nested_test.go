package console_test

import (
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestDeeplyNestedPayloadIsBounded: a tenant's payload of 10 KB nested
// 5,000 levels deep ({"fields":{"a":[[[…1…]]]}}) was about 50 MB once
// indented, two spaces per level per line: the masked page built and sent
// all of it on every view, to read-only users too, and a reveal built all
// of it before showing its first 64 KiB. Both pages now stay small, and so
// does what a view allocates.
func TestDeeplyNestedPayloadIsBounded(t *testing.T) {
	const depth = 5_000
	payload := []byte(`{"id":"emp-1","fields":{"a":` + strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth) + "}}")
	h := pipetest.New(t)
	s := newSite(t, h, testToken, nil)
	seq := deadLetter(t, h, "emp-1", "malformed", payload)
	letter := "/dead-letters/" + strconv.FormatUint(seq, 10)
	tests := []struct {
		name string
		c    call
		want []string // in the page
	}{
		{"masked", call{method: http.MethodGet, path: letter, auth: "bearer"},
			[]string{`id="payload"`, "‹nested deeper than 64 levels›"}},
		{"revealed", call{method: http.MethodPost, path: letter + "/reveal", auth: "bearer"},
			[]string{`id="payload-revealed"`, `id="payload-cut"`, "iseed dlq show " + strconv.FormatUint(seq, 10) + " --reveal"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *http.Response
			var body string
			alloc := allocated(func() { resp, body = s.do(t, tt.c, nil, "") })
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("got %d, want 200", resp.StatusCode)
			}
			if len(body) > 192<<10 {
				t.Errorf("got a page of %d bytes for a payload of %d, want at most 192 KiB", len(body), len(payload))
			}
			if alloc > 16<<20 {
				t.Errorf("the view allocated %d MiB, want at most 16 MiB", alloc>>20)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the page lacks %q", w)
				}
			}
		})
	}
}

// TestMaskedPayloadIsCut: a masked payload is cut as a revealed one is:
// the page shows the first 64 KiB of it, says so and names the command
// that prints the whole one, masked. It used to show every one of up to
// 20,000 values, a line each.
func TestMaskedPayloadIsCut(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	values := make([]string, 10_000) // about 150 KiB masked and indented
	for i := range values {
		values[i] = fmt.Sprintf("value-%05d", i)
	}
	fields := pipetest.ValidFields("Mario")
	fields["$1"] = values
	seq := deadLetter(t, h, "emp-1", "malformed", pipetest.Submission("emp-1", fields))
	resp, body := s.do(t, call{method: http.MethodGet, path: "/dead-letters/" + strconv.FormatUint(seq, 10)}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200", resp.StatusCode)
	}
	if len(body) > 192<<10 {
		t.Errorf("got a page of %d bytes, want at most 192 KiB (64 KiB of payload, escaped)", len(body))
	}
	for _, want := range []string{`id="payload-cut"`, "only the first 64 KiB", "iseed dlq show " + strconv.FormatUint(seq, 10) + "</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "value-") || strings.Contains(body, "Mario") {
		t.Errorf("the masked page shows a value")
	}
}

// allocated returns the bytes allocated while f runs (the whole process's:
// the request's, the handler's and what else runs meanwhile).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
