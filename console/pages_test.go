package console_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
)

// TestOpenPagesClampTheAskedPage: the open requests' ?page= past the end,
// however large, shows the last page labelled as such, with its links;
// zero, a negative number or one that is not a number shows the first.
// A page past the end used to show no row, or for a number whose offset
// overflowed the first page, labelled with the number asked, its
// previous link to the page before that.
func TestOpenPagesClampTheAskedPage(t *testing.T) {
	h := pipetest.New(t)
	ctx, now := context.Background(), time.Now()
	store := record.NewStore(h.Res.Records)
	const open = 120 // three pages: 50, 50, 20
	for i := range open {
		rec := &record.Record{Tenant: pipetest.Tenant, ID: fmt.Sprintf("open-%03d", i), State: record.StateInProgress,
			Generation: 1, Created: now.Add(time.Duration(i-open) * time.Minute), Updated: now}
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, h, "", nil)
	pipetest.WaitFor(t, 10*time.Second, "the overview to see the open requests", func() bool {
		return s.ov.List(overview.Query{}).Total == open
	})
	first := pageWant{label: "page 1 of 3", first: "open-000", rows: 50, next: "2"}
	last := pageWant{label: "page 3 of 3", first: "open-100", rows: 20, prev: "2"}
	tests := []struct {
		page string
		want pageWant
	}{
		{"", first},
		{"1", first},
		{"0", first},
		{"-5", first},
		{"one", first},
		{"-99999999999999999999", first},
		{"2", pageWant{label: "page 2 of 3", first: "open-050", rows: 50, prev: "1", next: "3"}},
		{"3", last},
		{"4", last},
		{"1000", last},
		{"368934881474191034", last}, // its offset, (page-1)*50, overflowed to 34
		{"9223372036854775807", last},
		{"99999999999999999999", last},
	}
	for _, tt := range tests {
		t.Run(tt.page, func(t *testing.T) {
			checkOpenPage(t, s, "/open?page="+url.QueryEscape(tt.page), tt.want)
		})
	}
	t.Run("past the end of no rows", func(t *testing.T) {
		checkOpenPage(t, s, "/open?tenant=globex&page=5", pageWant{label: "0 open or unsent"})
	})
}

// pageWant is what a page of the open requests shows: its label, its
// first row and how many, the pages its links go to ("": no link).
type pageWant struct {
	label, first string
	rows         int
	prev, next   string
}

func checkOpenPage(t *testing.T, s *site, path string, want pageWant) {
	t.Helper()
	resp, body := s.do(t, call{method: http.MethodGet, path: path}, nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: got %d, want 200", path, resp.StatusCode)
	}
	_, count, _ := strings.Cut(body, `id="open-count">`)
	count, _, _ = strings.Cut(count, "</p>")
	if !strings.Contains(count, want.label) {
		t.Errorf("%s: labelled %q, want %q", path, count, want.label)
	}
	ids := regexp.MustCompile(`<a href="/submission\?tenant=[^"]*">([^<]*)</a>`).FindAllStringSubmatch(body, -1)
	if len(ids) != want.rows || len(ids) > 0 && ids[0][1] != want.first {
		t.Errorf("%s: got %d rows from %v, want %d from %q", path, len(ids), firstOf(ids), want.rows, want.first)
	}
	for id, page := range map[string]string{"prev": want.prev, "next": want.next} {
		got := ""
		if m := regexp.MustCompile(`href="([^"]*)" id="` + id + `"`).FindStringSubmatch(body); m != nil {
			u, err := url.Parse(html.UnescapeString(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			got = u.Query().Get("page")
		}
		if got != page {
			t.Errorf("%s: the %s link goes to page %q, want %q", path, id, got, page)
		}
	}
}

func firstOf(ids [][]string) string {
	if len(ids) == 0 {
		return "none"
	}
	return ids[0][1]
}

// TestOpenPageLeavesOutUnpublishedStates: the open requests list a
// request in a state the API does not publish (the upstream's free text,
// here naming the person) with ‹unpublished› for its upstream state; a
// published one as it is. The submission's own page shows it whole, to the
// operator looking into that request.
func TestOpenPageLeavesOutUnpublishedStates(t *testing.T) {
	h := pipetest.New(t)
	ctx, now := context.Background(), time.Now()
	store := record.NewStore(h.Res.Records)
	for id, stato := range map[string]string{"odd-1": "Sospesa: documento di ROSSI MARIO scaduto", "sub-1": "In ricerca"} {
		rec := &record.Record{Tenant: pipetest.Tenant, ID: id, State: record.StateInProgress, RequestID: "req-" + id,
			StatoRichiesta: stato, Generation: 1, Created: now.Add(-time.Hour), Updated: now}
		if _, err := store.Create(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	s := newSite(t, h, "", nil)
	pipetest.WaitFor(t, 10*time.Second, "the overview to see the open requests", func() bool {
		return s.ov.List(overview.Query{}).Total == 2
	})
	resp, body := s.do(t, call{method: http.MethodGet, path: "/open"}, nil, "")
	if resp.StatusCode != http.StatusOK || strings.Contains(body, "ROSSI") || !strings.Contains(body, "‹unpublished›") || !strings.Contains(body, "In ricerca") {
		t.Errorf("/open: %d, want the unpublished state as ‹unpublished›, the published one as it is, in\n%s", resp.StatusCode, body)
	}
	resp, body = s.do(t, call{method: http.MethodGet, path: "/submission?tenant=" + pipetest.Tenant + "&id=odd-1"}, nil, "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "ROSSI MARIO") {
		t.Errorf("/submission: %d, want the state whole", resp.StatusCode)
	}
}
