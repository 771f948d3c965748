package console_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
)

// TestHeldShownByWhy: the overview page counts the held submissions by
// their code, and the list of held ones names each one's: a cap's hold and
// a fair share's are told apart wherever an operator looks.
func TestHeldShownByWhy(t *testing.T) {
	h := pipetest.New(t)
	ctx, now := context.Background(), time.Now()
	store := record.NewStore(h.Res.Records)
	codes := []string{"tenant_day_eur", publisher.HeldFairShare, publisher.HeldFairShare, publisher.HeldQueued}
	for i, code := range codes {
		rec := &record.Record{Tenant: "acme", ID: "held-" + string(rune('a'+i)), State: overview.StateHeld, Generation: 1,
			Created: now.Add(time.Duration(i) * time.Second), Errors: []publisher.Problem{{Code: code, Message: "held"}}}
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, h, "", nil)
	var page string
	pipetest.WaitFor(t, 20*time.Second, "the overview page to count the held submissions", func() bool {
		page = s.overviewPage(t)
		return strings.Contains(page, `<span id="held">4</span>`)
	})
	for _, want := range []string{`data-code="fair_share">fair_share 2</span>`, `data-code="queued">queued 1</span>`,
		`data-code="tenant_day_eur">tenant_day_eur 1</span>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the overview page lacks %s:\n%s", want, page)
		}
	}

	resp, list := s.do(t, call{method: http.MethodGet, path: "/open?state=held"}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/open?state=held: got %d, want 200", resp.StatusCode)
	}
	for i, code := range codes {
		at := strings.Index(list, "id=held-"+string(rune('a'+i)))
		if at < 0 {
			t.Errorf("held-%c is not listed:\n%s", 'a'+i, list)
			continue
		}
		row, _, _ := strings.Cut(list[at:], "</tr>")
		if !strings.Contains(row, `<span class="muted held-code">(`+code+`)</span>`) {
			t.Errorf("held-%c's row does not name its code %s: %s", 'a'+i, code, row)
		}
	}
}
