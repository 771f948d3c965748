// Package ledger records every request iseed paid for, once, in a
// JetStream stream, and reads it back per period: what each tenant spent
// on each service, identical on every replica because it is computed from
// the stream alone.
//
// # The stream
//
// StreamConfig: "<PREFIX>_LEDGER" on "<prefix>.ledger.<tenant>.<request
// id>", the deployment's storage (ISEED_STORAGE, file by default), kept
// DefaultMaxAge (400 days) by default.
// MaxMsgsPerSubject 1 with DiscardNew and DiscardNewPerSubject: the server
// refuses a second message for a request, whatever the duplicate window,
// so Record is idempotent for ever, not just for two minutes; DenyDelete
// and DenyPurge keep the stream append-only.
//
// # Entries
//
// An Entry is one request: tenant, submission id, request id, service
// name and hash, its price in cents (the service's prezzo_visura, its
// prezzo_ricerca, each chosen option by name and price, and their sum),
// when it was committed (At: the upstream's timestamp_creation when known,
// else when recorded) and how it was found (posted, reconciled). No personal data: no names, tax codes or e-mail.
//
// Record enters an entry and is a success when the request is entered
// already (the first entry stays). The pipeline records a request as soon
// as its id is durable in the submission's record: after a POST's answer,
// after reconciliation adopts a request, and when an operator adopts an
// unowned request an audit found.
//
// # Reading
//
// Entries(from, to, tenant) returns the entries whose At falls in [from,
// to); periods are the caller's (money.Month in Europe/Rome for a month's
// invoice). It starts an ordered consumer at from − ReadSlack by the
// stream's time (an entry is stored after the request it names was
// created) and reads to the end of the stream as it is when the read
// begins, so late entries are found (internal/jsread: a fetch answered "no
// responders" or that brings nothing is tried again, twice in a row at
// most; a stream deleted meanwhile ends the read with an error).
// Report totals them per tenant and service (Summarize), and WriteTable,
// WriteCSV and WriteJSON format the lines (testdata holds the goldens;
// regenerate with go test ./ledger -update). Entry(tenant, request id)
// reads one request's entry from the stream's leader: the audit's second
// look at a request it found unledgered. A Tally (NewTally) follows the
// stream and keeps the running total of the current period, the daemon's
// spend today, without reading the period again at each refresh.
package ledger
