package overview

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// entry is all the watcher keeps of one open or unsent submission: 8 bytes
// beside its key.
type entry struct {
	submitted uint32 // unix seconds
	state     uint8  // names number
	kind      kind
	flags     uint8
	code      uint8 // names number of a held one's code (flagHeld)
}

const (
	// flagOverdue: the tracker published the request's overdue event.
	flagOverdue = 1 << iota
	// flagHeld: the submission is held; code says why.
	flagHeld
)

// tally is the counts of one pass of the records watch, kept up to date.
type tally struct {
	entries map[string]entry
	open    [256]int // by state number
	unsent  [256]int
	held    [256]int // by code number
	tenants map[string]*tenantTally
}

type tenantTally struct{ open, unsent int }

func newTally() *tally {
	return &tally{entries: make(map[string]entry), tenants: make(map[string]*tenantTally)}
}

// put stores e under key, replacing what was there.
func (t *tally) put(key string, e entry) {
	if old, ok := t.entries[key]; ok {
		t.count(key, old, -1)
	} else {
		// The entry's key may share the memory of a whole message subject.
		key = strings.Clone(key)
	}
	t.entries[key] = e
	t.count(key, e, 1)
}

// remove forgets key.
func (t *tally) remove(key string) {
	if old, ok := t.entries[key]; ok {
		t.count(key, old, -1)
		delete(t.entries, key)
	}
}

func (t *tally) count(key string, e entry, n int) {
	tenant := tenantOf(key)
	tt := t.tenants[tenant]
	if tt == nil {
		tt = &tenantTally{}
		t.tenants[tenant] = tt
	}
	if e.kind == kindOpen {
		t.open[e.state] += n
		tt.open += n
	} else {
		t.unsent[e.state] += n
		tt.unsent += n
	}
	if e.flags&flagHeld != 0 {
		t.held[e.code] += n
	}
	if tt.open == 0 && tt.unsent == 0 {
		delete(t.tenants, tenant)
	}
}

// Counts are the open and unsent submissions at one moment.
type Counts struct {
	// Open counts the upstream requests being tracked, by state:
	// submitted, in_progress, data_ready, awaiting_document (these four
	// always present), and any other state a record with a request is in.
	Open      map[string]int `json:"open_requests"`
	OpenTotal int            `json:"open_requests_total"`
	// Overdue counts the open requests the tracker marked overdue or open
	// longer than the configured overdue time.
	Overdue int `json:"overdue_requests"`
	// Oldest is the open request submitted first; nil when none is open.
	Oldest *Request `json:"oldest_open_request,omitempty"`
	// Unsent counts submissions without an upstream request that are not
	// closed, by state: claimed (being submitted), held, and any state by
	// its name.
	Unsent map[string]int `json:"unsent_submissions"`
	// Held is Unsent["held"].
	Held int `json:"held_submissions"`
	// HeldBy counts the held submissions by their code (why they are
	// held): a spending cap's (tenant_day_eur, account_month_requests, …),
	// unknown_price, a pause's (tenant_paused, account_paused), fair_share
	// (their tenant's share of the upstream budget's waits is full) or
	// queued (behind older held submissions of their tenant); unknown for
	// a held record without one.
	HeldBy map[string]int `json:"held_by_code"`
	// Tenants are the counts of each tenant with something open, by name.
	Tenants []TenantCounts `json:"tenants"`
}

// TenantCounts are one tenant's counts.
type TenantCounts struct {
	Tenant  string `json:"tenant"`
	Open    int    `json:"open_requests"`
	Overdue int    `json:"overdue_requests"`
	Unsent  int    `json:"unsent_submissions"`
}

// Request names one open or unsent submission.
type Request struct {
	Tenant      string    `json:"tenant"`
	ID          string    `json:"id"`
	State       string    `json:"state"`
	SubmittedAt time.Time `json:"submitted_at"`
	// HeldCode says why a held submission is held (Counts.HeldBy); empty
	// for any other.
	HeldCode string `json:"held_code,omitempty"`
}

// openStates are always present in Counts.Open.
var openStates = [...]string{"submitted", "in_progress", "data_ready", StateAwaitingDocument}

// counts reads t at now; one pass over the entries for the overdue ones and
// the oldest.
func (t *tally) counts(n *names, now time.Time, overdueAfter time.Duration) Counts {
	c := Counts{Open: make(map[string]int), Unsent: make(map[string]int), HeldBy: make(map[string]int)}
	for _, s := range openStates {
		c.Open[s] = 0
	}
	for id := range t.open {
		if t.open[id] != 0 {
			c.Open[n.name(uint8(id))] += t.open[id]
			c.OpenTotal += t.open[id]
		}
		if t.unsent[id] != 0 {
			c.Unsent[n.name(uint8(id))] += t.unsent[id]
		}
		if t.held[id] != 0 {
			c.HeldBy[n.name(uint8(id))] += t.held[id]
		}
	}
	c.Held = c.Unsent[StateHeld]
	overdue := t.scan(n, now, overdueAfter, &c)
	for tenant, tt := range t.tenants {
		c.Tenants = append(c.Tenants, TenantCounts{Tenant: tenant, Open: tt.open, Unsent: tt.unsent, Overdue: overdue[tenant]})
	}
	slices.SortFunc(c.Tenants, func(a, b TenantCounts) int { return cmp.Compare(a.Tenant, b.Tenant) })
	return c
}

// scan finds the oldest open request and counts the overdue ones, in total
// and by tenant.
func (t *tally) scan(n *names, now time.Time, overdueAfter time.Duration, c *Counts) map[string]int {
	overdue := make(map[string]int)
	limit := uint32(0)
	if overdueAfter > 0 {
		limit = unixSeconds(now.Add(-overdueAfter))
	}
	var oldestKey string
	var oldest entry
	for key, e := range t.entries {
		if e.kind != kindOpen {
			continue
		}
		if e.flags&flagOverdue != 0 || (overdueAfter > 0 && e.submitted <= limit) {
			c.Overdue++
			overdue[tenantOf(key)]++
		}
		if oldestKey == "" || e.submitted < oldest.submitted || (e.submitted == oldest.submitted && key < oldestKey) {
			oldestKey, oldest = key, e
		}
	}
	if oldestKey != "" {
		r := request(n, oldestKey, oldest)
		c.Oldest = &r
	}
	return overdue
}

func request(n *names, key string, e entry) Request {
	r := Request{Tenant: tenantOf(key), ID: idOf(key), State: n.name(e.state), SubmittedAt: time.Unix(int64(e.submitted), 0).UTC()}
	if e.flags&flagHeld != 0 {
		r.HeldCode = n.name(e.code)
	}
	return r
}

// Query selects open or unsent submissions for List; empty fields match
// all.
type Query struct {
	State  string
	Tenant string
	Offset int
	Limit  int // 0: 50; NoLimit: every match
}

// NoLimit as a Query's Limit lists every match, read at one moment: asking
// Total first, then that many, can miss one added in between.
const NoLimit = -1

// Page is one page of List, oldest first.
type Page struct {
	Requests []Request `json:"requests"`
	Total    int       `json:"total"` // matching the query, on every page
}

// list returns the page of q, oldest first (then by key).
func (t *tally) list(n *names, q Query) Page {
	type item struct {
		key string
		e   entry
	}
	var items []item
	for key, e := range t.entries {
		if (q.State == "" || n.name(e.state) == q.State) && (q.Tenant == "" || tenantOf(key) == q.Tenant) {
			items = append(items, item{key, e})
		}
	}
	slices.SortFunc(items, func(a, b item) int {
		return cmp.Or(cmp.Compare(a.e.submitted, b.e.submitted), cmp.Compare(a.key, b.key))
	})
	p := Page{Total: len(items)}
	from := min(max(q.Offset, 0), len(items))
	limit := cmp.Or(q.Limit, 50)
	if limit < 0 {
		limit = len(items)
	}
	to := min(from+limit, len(items))
	for _, it := range items[from:to] {
		p.Requests = append(p.Requests, request(n, it.key, it.e))
	}
	return p
}

// names numbers state names, so that an entry holds a byte.
type names struct {
	list []string
	ids  map[string]uint8
}

// nameOther stands for every state past the 255th distinct one.
const nameOther = "other"

func newNames() names {
	n := names{ids: make(map[string]uint8)}
	for _, s := range []string{nameOther, "unknown", "claimed", StateHeld} {
		n.id(s)
	}
	for _, s := range openStates {
		n.id(s)
	}
	return n
}

func (n *names) id(s string) uint8 {
	if s == "" {
		s = "unknown"
	}
	if id, ok := n.ids[s]; ok {
		return id
	}
	if len(n.list) == 256 {
		return n.ids[nameOther]
	}
	id := uint8(len(n.list))
	n.list = append(n.list, s)
	n.ids[s] = id
	return id
}

func (n *names) name(id uint8) string {
	if int(id) < len(n.list) {
		return n.list[id]
	}
	return nameOther
}
