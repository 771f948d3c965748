// Package audit compares what the upstream charged with what iseed
// recorded, for a period, and reports every disagreement. It is pure: it
// gets slices (GET /richiesta's listing, the wallet's transactions, the
// submission records, the request index, the ledger's entries) and does
// no I/O, so the CLI loads them and this package only judges.
//
// # Findings
//
//   - Unowned: a request the upstream created in the period (drafts left
//     out: they are not charged; one listed more than once counted once)
//     that neither the request index nor any record names. It was paid, usually by a POST whose answer was lost.
//     Candidates are the records of the same service without a request
//     whose attempt window (the pending attempt's start to its lease or
//     settle time, or a failed-ambiguous record's claim to its failure,
//     widened by Input.Slack) covers the creation time; a record that
//     keeps the request's id (record.Record.Answered: its POST got it
//     back, the request index refused it) is its one candidate.
//   - Missing: a request a record (submitted in the period) or a ledger
//     entry (committed in the period) names and the upstream does not
//     list.
//   - Mismatches: a ledger entry whose price disagrees with the listing
//     (prezzo_visura + prezzo_ricerca, plus the entry's options, which
//     the listing lacks) or with the wallet (the charges naming the
//     request; none is 0). When no wallet charge names a request, the
//     period's entries and the Visengine charges from its start to the
//     slack past its end are compared as totals (AgainstWalletTotal):
//     the charges must cover the entries, and exceed them by no more than
//     the entries within the slack of either end, whose charges may fall
//     on either side.
//   - Unledgered: a request iseed owns (a record's, or the index's alone
//     after a crash between the two), listed upstream and submitted in
//     the period, with no ledger entry.
//   - Unmatched charges: a Visengine charge of the period (Input.ChargeMatch
//     in its description, amount negative) naming no request the upstream
//     or the ledger knows, or naming none while others do, or naming a
//     request of another period more than the slack after its creation (a
//     draft made outside iseed and submitted later, a second charge): no
//     period's audit would count it otherwise.
//
// Charges may be stamped a little after their request: those up to the
// slack past the period's end count for the period's entries, and a
// charge of another period's request, up to the slack after its creation,
// is that period's business.
//
// Result.Clean is false when anything was found; WriteTable and WriteJSON
// print a Result (goldens in testdata, -update to regenerate). Nothing
// personal is read or printed: ids, tenants, services, amounts and times.
package audit
