package console

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/internal/shown"
	"github.com/iseed-dev/iseed/overview"
	"github.com/iseed-dev/iseed/record"
)

// pageTimeout bounds the reads behind one page.
const pageTimeout = 10 * time.Second

// pageSize is the rows of one page of open requests.
const pageSize = 50

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	s, err := c.d.Overview.Snapshot(ctx)
	if err != nil {
		c.fail(w, r, http.StatusServiceUnavailable, "The overview cannot be read right now: "+err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "overview", "Overview", overviewData{S: s, OldestAge: s.OldestAge(),
		Reasons: dlq.Reasons()})
}

type overviewData struct {
	S         *overview.Snapshot
	OldestAge time.Duration
	Reasons   []string
}

// openStates are offered as filters of the open requests.
func openStates() []string {
	return []string{"submitted", "in_progress", "data_ready", overview.StateAwaitingDocument, "claimed", overview.StateHeld}
}

func (c *Console) open(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := openData{State: q.Get("state"), Tenant: q.Get("tenant"), Page: 1, States: openStates()}
	if d.Problem = filterProblem(d.Tenant, "state", d.State, c.knownStates(d.State)); d.Problem != "" {
		c.render(w, r, http.StatusBadRequest, "open", "Open requests", d)
		return
	}
	d.Page = pageOf(q.Get("page"))
	query := overview.Query{State: d.State, Tenant: d.Tenant, Offset: (d.Page - 1) * pageSize, Limit: pageSize}
	p := c.d.Overview.List(query)
	d.Total, d.Pages = p.Total, pagesOf(p.Total)
	if d.Page > d.Pages { // past the end: the last page, labelled as such
		d.Page = d.Pages
		query.Offset = (d.Page - 1) * pageSize
		p = c.d.Overview.List(query)
		d.Total, d.Pages = p.Total, pagesOf(p.Total)
		d.Page = min(d.Page, d.Pages) // fewer since the first read: rows went meanwhile
	}
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	store := record.NewStore(c.d.Resources.Records)
	for _, req := range p.Requests {
		row := openRow{Request: req}
		if rec, _, err := store.Get(ctx, req.Tenant, req.ID); err == nil {
			row.Service, row.RequestID, row.Stato = rec.Service, rec.RequestID, shown.State(rec.StatoRichiesta)
		}
		d.Rows = append(d.Rows, row)
	}
	c.render(w, r, http.StatusOK, "open", "Open requests", d)
}

// knownStates are the states the open requests are filtered by: those
// offered, and state too when some row is in it (a record of an earlier
// version, say, which the overview counts and links to by its state).
func (c *Console) knownStates(state string) []string {
	known := openStates()
	if state != "" && !slices.Contains(known, state) && c.d.Overview.List(overview.Query{State: state, Limit: 1}).Total > 0 {
		known = append(known, state)
	}
	return known
}

// maxPage bounds the page asked for, so that its offset cannot overflow.
const maxPage = math.MaxInt / pageSize

// pageOf is the page ?page= asks for: 1 for what is not a number, zero or
// negative; at most maxPage, so that a number past the end, however
// large, is past the end (the last page is shown) and not an offset that
// overflows.
func pageOf(s string) int {
	n, err := strconv.Atoi(s)
	switch {
	case errors.Is(err, strconv.ErrRange) && n > 0, n > maxPage:
		return maxPage
	case err != nil || n < 1:
		return 1
	}
	return n
}

// pagesOf is the pages of total rows: at least one, empty.
func pagesOf(total int) int { return max(1, (total+pageSize-1)/pageSize) }

type openData struct {
	State, Tenant string
	Page, Pages   int
	Total         int
	States        []string
	Rows          []openRow
	Problem       string
}

type openRow struct {
	overview.Request
	Service, RequestID, Stato string
}

// filterProblem says what is wrong with a list's filters, "" when nothing:
// a tenant that cannot be one (a malformed name), or a value of the list's
// other filter (name: "state", "reason") that is not one of known (the
// caller adds a value that matches something). Either would show an empty
// list, as if nothing matched, when the filter is the mistake: the page
// answers 400 and names the known values instead. A well-formed tenant
// with nothing to list is an answer, not a mistake: the console has no
// list of tenants (they are NATS users), and one with nothing open or
// dead-lettered is no less a tenant.
func filterProblem(tenant, name, value string, known []string) string {
	var p []string
	if tenant != "" && !record.ValidToken(tenant) {
		p = append(p, "A tenant is 1 to 64 letters, digits, _ or -.")
	}
	if value != "" && !slices.Contains(known, value) {
		p = append(p, "The "+name+" "+strconv.Quote(value)+" is not one this list knows: it is one of "+strings.Join(known, ", ")+".")
	}
	return strings.Join(p, " ")
}
