package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iseed-dev/iseed/internal/shown"
)

// WriteJSON writes r with its counts and whether it is clean, indented.
// An unowned request's state the API does not publish is written as
// shown.Unpublished, as the table shows it: the upstream's free text may
// name the person.
func WriteJSON(w io.Writer, r *Result) error {
	if len(r.Unowned) > 0 {
		c := *r
		c.Unowned = slices.Clone(r.Unowned)
		for i := range c.Unowned {
			c.Unowned[i].StatoRichiesta = shown.State(c.Unowned[i].StatoRichiesta)
		}
		r = &c
	}
	doc := struct {
		Clean  bool   `json:"clean"`
		Counts Counts `json:"counts"`
		*Result
	}{r.Clean(), r.Counts(), r}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// WriteTable writes a summary, then one table per kind of finding found.
func WriteTable(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	c, n := r.Checked, r.Counts()
	fmt.Fprintf(tw, "audit of [%s, %s)\n", stamp(r.Period.From), stamp(r.Period.To))
	wallet := "wallet not checked"
	if c.Wallet {
		wallet = fmt.Sprintf("%d wallet charges", c.Transactions)
	}
	fmt.Fprintf(tw, "checked: %d upstream requests, %d submitted records, %d ledger entries, %s\n", c.Upstream, c.Records, c.Ledger, wallet)
	if r.Clean() {
		fmt.Fprintln(tw, "clean: no findings")
		return tw.Flush()
	}
	fmt.Fprintf(tw, "findings: %d unowned, %d missing, %d mismatches, %d unledgered, %d unmatched charges\n",
		n.Unowned, n.Missing, n.Mismatches, n.Unledgered, n.UnmatchedCharges)
	section(tw, "UNOWNED: paid upstream, owned by no submission", len(r.Unowned), "REQUEST\tSERVICE\tCREATED\tEUR\tSTATE\tCANDIDATES", func(i int) string {
		u := r.Unowned[i]
		return strings.Join([]string{shown.Text(u.RequestID), shown.Text(u.Service), stamp(u.Created), u.Price.String(), shown.State(u.StatoRichiesta), candidates(u.Candidates)}, "\t")
	})
	section(tw, "MISSING: iseed names a request the upstream does not list", len(r.Missing), "REQUEST\tSUBMISSION\tAT\tEUR\tSOURCES", func(i int) string {
		m := r.Missing[i]
		return strings.Join([]string{shown.Text(m.RequestID), m.Tenant + "/" + m.SubmissionID, stamp(m.At), m.Price.String(), strings.Join(m.Sources, "+")}, "\t")
	})
	section(tw, "MISMATCHES: prices that disagree", len(r.Mismatches), "REQUEST\tSUBMISSION\tAT\tAGAINST\tLEDGER\tOTHER", func(i int) string {
		m := r.Mismatches[i]
		sub := "-"
		if m.Tenant != "" {
			sub = m.Tenant + "/" + m.SubmissionID
		}
		return strings.Join([]string{or(shown.Text(m.RequestID), "-"), sub, stamp(m.At), m.Against, m.Ledger.String(), m.Other.String()}, "\t")
	})
	section(tw, "UNLEDGERED: owned requests without a ledger entry", len(r.Unledgered), "REQUEST\tSUBMISSION\tAT\tSTATE\tSERVICE", func(i int) string {
		u := r.Unledgered[i]
		return strings.Join([]string{shown.Text(u.RequestID), u.Tenant + "/" + u.SubmissionID, stamp(u.At), or(u.State, "-"), or(shown.Text(u.Service), "-")}, "\t")
	})
	section(tw, "UNMATCHED CHARGES: wallet charges for no known request", len(r.UnmatchedCharges), "TRANSACTION\tAT\tEUR\tNAMES", func(i int) string {
		ch := r.UnmatchedCharges[i]
		return strings.Join([]string{shown.Text(ch.TransactionID), stamp(ch.CreatedAt), ch.Amount.String(), or(shown.Text(ch.RequestID), "-")}, "\t")
	})
	return tw.Flush()
}

func section(w io.Writer, title string, n int, header string, row func(int) string) {
	if n == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n%s\n", title, header)
	for i := range n {
		fmt.Fprintln(w, row(i))
	}
}

func candidates(cs []Candidate) string {
	if len(cs) == 0 {
		return "none"
	}
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.Tenant + "/" + c.SubmissionID + " (" + strings.TrimSpace(c.State+" "+c.Reason) + ")"
	}
	return strings.Join(parts, ", ")
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func or(s, dflt string) string {
	if s == "" {
		return dflt
	}
	return s
}
