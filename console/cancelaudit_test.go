package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/console"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestCancelMarkedButNotSentIsAnAuditLine: a console cancel that marked
// the record cancelled but could not send its held message again (the
// holds bucket does not answer: the proxy before the server drops its
// reads) has cancelled the submission all the same: no delivery sends it
// now, and one fails it cancelled_by_operator. It is written as an audit
// line, whatever ISEED_LOG_LEVEL says, as a cancel done is; it was a
// warning only, dropped at ISEED_LOG_LEVEL=error.
func TestCancelMarkedButNotSentIsAnAuditLine(t *testing.T) {
	h := pipetest.New(t)
	putHeld(h, "emp-mark", false)
	holds := "KV_" + h.Res.Layout.HoldsBucket()
	s, proxy := newSiteDropping(t, h, console.Config{Token: testToken}, func(subject string) bool {
		return strings.HasPrefix(subject, "$JS.API.DIRECT.GET."+holds) || strings.HasPrefix(subject, "$JS.API.STREAM.MSG.GET."+holds)
	})
	form := url.Values{"tenant": {pipetest.Tenant}, "id": {"emp-mark"}}
	resp, body := s.do(t, call{method: http.MethodPost, path: "/submission/cancel", form: form, auth: "bearer"}, nil, "")
	if resp.StatusCode != http.StatusBadGateway || proxy.Dropped.Load() == 0 {
		t.Fatalf("cancel (%d reads dropped): %d; want 502\n%s", proxy.Dropped.Load(), resp.StatusCode, body)
	}
	if r := h.Record("emp-mark"); r.CancelRequested.IsZero() {
		t.Fatal("emp-mark after the cancel: not marked cancelled; want marked (its message alone not sent again)")
	}
	var line string
	for _, l := range strings.Split(s.logs.String(), "\n") {
		if strings.Contains(l, `"submission":"emp-mark"`) && strings.Contains(l, "cancel") {
			line = l
		}
	}
	if !strings.Contains(line, `"audit":"console"`) || !strings.Contains(line, "marked cancelled") {
		t.Errorf("the cancel's log line: %q; want an audit line saying it is marked cancelled", line)
	}
}
