package console_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/internal/pipetest"
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
		{"/dead-letters?reason=bogus", 400, []string{`The reason &#34;bogus&#34; is not one this list knows: it is one of malformed, invalid, conflict,`, "gave_up."}, `id="dead-count"`},
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
