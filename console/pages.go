package console

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/dlq"
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
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 1 {
		d.Page = n
	}
	if d.Tenant != "" && !record.ValidToken(d.Tenant) {
		d.Problem = "A tenant is 1 to 64 letters, digits, _ or -."
		c.render(w, r, http.StatusBadRequest, "open", "Open requests", d)
		return
	}
	p := c.d.Overview.List(overview.Query{State: d.State, Tenant: d.Tenant, Offset: (d.Page - 1) * pageSize, Limit: pageSize})
	d.Total, d.Pages = p.Total, max(1, (p.Total+pageSize-1)/pageSize)
	ctx, cancel := context.WithTimeout(r.Context(), pageTimeout)
	defer cancel()
	store := record.NewStore(c.d.Resources.Records)
	for _, req := range p.Requests {
		row := openRow{Request: req}
		if rec, _, err := store.Get(ctx, req.Tenant, req.ID); err == nil {
			row.Service, row.RequestID, row.Stato = rec.Service, rec.RequestID, rec.StatoRichiesta
		}
		d.Rows = append(d.Rows, row)
	}
	c.render(w, r, http.StatusOK, "open", "Open requests", d)
}

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
