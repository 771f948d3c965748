package console_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/budget"
	"github.com/iseed-dev/iseed/internal/pipetest"
)

// overviewPage returns the overview page's body, read without a token.
func (s *site) overviewPage(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestOverviewShowsTheOldestWaitingSubmission: the overview page says how
// long ago the oldest submission not yet sent was published, and nothing
// once none waits.
func TestOverviewShowsTheOldestWaitingSubmission(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	waiting := regexp.MustCompile(`id="oldest-waiting"[^>]*>([0-9a-z]+) <span class="muted">([^<]*)</span>`)
	page := func() string { return s.overviewPage(t) }
	if m := waiting.FindStringSubmatch(page()); m != nil {
		t.Fatalf("nothing published yet: the page shows %q waiting", m[1])
	}
	h.Publish(pipetest.Submission("emp-w", pipetest.ValidFields("Mario")), nil) // no pipeline runs: it waits
	var got, tenant string
	pipetest.WaitFor(t, 20*time.Second, "two seconds of waiting or more shown", func() bool {
		if m := waiting.FindStringSubmatch(page()); m != nil {
			got, tenant = m[1], m[2]
		}
		return got != "" && got != "0s" && got != "1s"
	})
	if tenant != pipetest.Tenant {
		t.Errorf("the oldest waiting submission's tenant shown: %q, want %q", tenant, pipetest.Tenant)
	}
	h.Start()
	pipetest.WaitFor(t, 20*time.Second, "nothing waiting any more", func() bool { return !waiting.MatchString(page()) })
}

// pausedIn reads the paused scopes from h's caps bucket, as iseed top does.
func pausedIn(h *pipetest.Harness) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		b, err := budget.New(h.Res.Budgets, h.Res.BudgetUsage, budget.Config{})
		if err != nil {
			return nil, err
		}
		return b.PausedScopes(ctx)
	}
}

// TestOverviewShowsWhatIsPaused: the overview page names the scopes an
// operator paused, and nothing once they are resumed.
func TestOverviewShowsWhatIsPaused(t *testing.T) {
	h := pipetest.New(t)
	s := newSite(t, h, "", nil)
	paused := regexp.MustCompile(`id="paused"[^>]*>([^<]*)</dd>`)
	page := func() string { return s.overviewPage(t) }
	b, err := budget.New(h.Res.Budgets, h.Res.BudgetUsage, budget.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, sc := range []budget.Scope{budget.Tenant("acme"), budget.Tenant("globex")} {
		if err := b.Pause(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	var got string
	pipetest.WaitFor(t, 20*time.Second, "the paused tenants shown", func() bool {
		if m := paused.FindStringSubmatch(page()); m != nil {
			got = m[1]
		}
		return got == "tenant:acme, tenant:globex"
	})
	for _, sc := range []budget.Scope{budget.Tenant("acme"), budget.Tenant("globex")} {
		if err := b.Resume(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	pipetest.WaitFor(t, 20*time.Second, "nothing paused shown", func() bool { return !paused.MatchString(page()) })
}
