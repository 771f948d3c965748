package console_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
)

// TestUnknownListFilter: a list page asked for a state or a reason it does
// not know answers 400 and names the value and the known ones, as it does
// a malformed tenant, rather than an empty list as if nothing matched. A
// well-formed tenant with nothing to list is an answer: the count says
// which filters it counted.
func TestUnknownListFilter(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	deadLetter(t, h, "emp-1", "invalid", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	tests := []struct {
		path   string
		status int
		want   []string
		not    string
	}{
		{"/open?state=bogus", 400, []string{`The state &#34;bogus&#34; is not one this list knows: it is one of submitted, in_progress, data_ready, awaiting_document, claimed, held.`}, `id="open-count"`},
		{"/open?state=completed&tenant=a.b", 400, []string{"A tenant is 1 to 64", `The state &#34;completed&#34; is not one`}, `id="open-count"`},
		{"/dead-letters?reason=bogus", 400, []string{`The reason &#34;bogus&#34; is not one this list knows: it is one of malformed, invalid, conflict,`, "gave_up, cancelled_by_operator, withdrawn."}, `id="dead-count"`},
		{"/dead-letters?reason=Invalid", 400, []string{`The reason &#34;Invalid&#34; is not one`}, `data-seq=`},
		{"/dead-letters?tenant=a*", 400, []string{"A tenant is 1 to 64"}, `id="dead-count"`},
		{"/open?state=held", 200, []string{`0 open or unsent in state held, oldest first.`}, "filter-problem"},
		{"/dead-letters?reason=invalid", 200, []string{`1 dead letter with reason invalid.`}, "filter-problem"},
		{"/dead-letters?tenant=globex&reason=invalid", 200, []string{`0 dead letters of tenant globex with reason invalid.`}, "filter-problem"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := s.do(t, call{method: http.MethodGet, path: tt.path}, nil, "")
			if resp.StatusCode != tt.status {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			if strings.Contains(body, tt.not) {
				t.Errorf("body has %q:\n%s", tt.not, body)
			}
		})
	}
}

// TestListFilterOfAnEarlierVersion: a state or a reason the console offers
// no choice for, but that some record or dead letter carries (one of an
// earlier version, which the overview counts and links to by name), lists
// them rather than answering 400.
func TestListFilterOfAnEarlierVersion(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	seq := deadLetter(t, h, "emp-1", "retired_reason", pipetest.Submission("emp-1", pipetest.ValidFields("Mario")))
	now := time.Now()
	rec := &record.Record{Tenant: pipetest.Tenant, ID: "old-1", State: "retired_state", Generation: 1, Created: now, Updated: now}
	if _, err := record.NewStore(h.Res.Records).Create(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	pipetest.WaitFor(t, 20*time.Second, "the overview to count the record", func() bool {
		return s.ov.List(overview.Query{State: "retired_state"}).Total == 1
	})
	for path, want := range map[string]string{
		"/dead-letters?reason=retired_reason": `data-seq="` + strconv.FormatUint(seq, 10) + `"`,
		"/open?state=retired_state":           ">old-1</a>",
	} {
		resp, body := s.do(t, call{method: http.MethodGet, path: path}, nil, "")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("%s: got %d, want 200 with %q:\n%s", path, resp.StatusCode, want, body)
		}
	}
}
