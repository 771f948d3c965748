package ledger

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/internal/shown"
	"github.com/iseed-dev/iseed/money"
)

// Line is what one tenant spent on one service in a period.
type Line struct {
	Tenant      string      `json:"tenant"`
	Service     string      `json:"service"`
	ServiceHash string      `json:"service_hash"`
	Requests    int         `json:"requests"`
	Amount      money.Cents `json:"eur"`
}

// Report returns the spend of [from, to) per tenant and service, of one
// tenant or of all (tenant ""): what a platform invoices its clients.
func (l *Ledger) Report(ctx context.Context, from, to time.Time, tenant string) ([]Line, error) {
	var s Summary
	if err := l.Visit(ctx, from, to, tenant, s.Add); err != nil {
		return nil, err
	}
	return s.Lines(), nil
}

// Summarize totals entries per tenant and service (by hash; the name
// shown is the earliest entry's), ordered by tenant, then service name,
// then hash.
func Summarize(entries []Entry) []Line {
	var s Summary
	for _, e := range entries {
		s.Add(e)
	}
	return s.Lines()
}

// Summary totals entries as they are added, per tenant and service (by
// hash; the name shown is the earliest entry's): Summarize without
// holding the entries. The zero value is empty.
type Summary struct {
	idx   map[summaryKey]int
	first []Entry // the entry each line's name is from
	out   []Line
}

type summaryKey struct{ tenant, hash string }

// Add counts e.
func (s *Summary) Add(e Entry) {
	if s.idx == nil {
		s.idx = map[summaryKey]int{}
	}
	k := summaryKey{e.Tenant, e.ServiceHash}
	i, ok := s.idx[k]
	if !ok {
		i = len(s.out)
		s.idx[k] = i
		s.out = append(s.out, Line{Tenant: e.Tenant, Service: e.Service, ServiceHash: e.ServiceHash})
		s.first = append(s.first, e)
	} else if f := s.first[i]; cmp.Or(e.At.Compare(f.At), cmp.Compare(e.RequestID, f.RequestID)) < 0 {
		// In stream order an entry recorded late (reconciled, adopted) comes
		// after later ones: the name stays the earliest entry's (by At,
		// then request id), as Entries sorts them.
		s.out[i].Service, s.first[i] = e.Service, e
	}
	s.out[i].Requests++
	s.out[i].Amount += e.Price
}

// Lines returns the totals, ordered by tenant, then service name, then
// hash.
func (s *Summary) Lines() []Line {
	out := slices.Clone(s.out)
	slices.SortFunc(out, func(a, b Line) int {
		return cmp.Or(cmp.Compare(a.Tenant, b.Tenant), cmp.Compare(a.Service, b.Service), cmp.Compare(a.ServiceHash, b.ServiceHash))
	})
	return out
}

// Total adds up lines.
func Total(lines []Line) (requests int, amount money.Cents) {
	for _, l := range lines {
		requests += l.Requests
		amount += l.Amount
	}
	return requests, amount
}

// WriteTable writes lines as an aligned table, numbers to the right, with
// a total line:
//
//	TENANT  SERVICE  REQUESTS    EUR
//	acme    ISEE            2  23.40
//	TOTAL                   2  23.40
func WriteTable(w io.Writer, lines []Line) error {
	n, sum := Total(lines)
	rows := [][4]string{{"TENANT", "SERVICE", "REQUESTS", "EUR"}}
	for _, l := range lines {
		rows = append(rows, [4]string{shown.Text(l.Tenant), shown.Text(l.Service), strconv.Itoa(l.Requests), l.Amount.String()})
	}
	rows = append(rows, [4]string{"TOTAL", "", strconv.Itoa(n), sum.String()})
	var width [4]int
	for _, r := range rows {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		line := fmt.Sprintf("%-*s  %-*s  %*s  %*s", width[0], r[0], width[1], r[1], width[2], r[2], width[3], r[3])
		if _, err := fmt.Fprintln(w, line); err != nil {
			return err
		}
	}
	return nil
}

// WriteCSV writes lines as CSV with a header: tenant, service,
// service_hash, requests, eur (two decimals, a decimal point). It has no
// total row: it is data for a spreadsheet.
func WriteCSV(w io.Writer, lines []Line) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"tenant", "service", "service_hash", "requests", "eur"}); err != nil {
		return err
	}
	for _, l := range lines {
		if err := cw.Write([]string{shown.Text(l.Tenant), shown.Text(l.Service), shown.Text(l.ServiceHash), strconv.Itoa(l.Requests), l.Amount.String()}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes {"lines": [...], "total": {"requests", "eur"}}, euros
// as numbers with two decimals, indented.
func WriteJSON(w io.Writer, lines []Line) error {
	n, sum := Total(lines)
	if lines == nil {
		lines = []Line{}
	}
	doc := struct {
		Lines []Line `json:"lines"`
		Total struct {
			Requests int         `json:"requests"`
			Amount   money.Cents `json:"eur"`
		} `json:"total"`
	}{Lines: lines}
	doc.Total.Requests, doc.Total.Amount = n, sum
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}
