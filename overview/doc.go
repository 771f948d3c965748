// Package overview is the pipeline at a glance, for operators: the backlog
// and the work in flight, the open requests by state and the oldest, the
// overdue ones, held submissions, dead letters by reason, the breaker and
// the upstream call rate, and the euros committed today. It feeds `iseed
// top` (WriteTable, WriteJSON, Top), the web console, and Prometheus
// gauges (Register), and names the states `iseed track list` shows and
// filters by (OpenState).
//
// # Contract
//
//   - Cheap at any size. Open requests are counted from one KV watch of the
//     records bucket (Watcher): the first pass delivers every record once,
//     then every change as it is stored. For each open or unsent
//     submission the Watcher keeps its key, a state number and a submitted
//     time, nothing of the record; closed submissions cost nothing. Dead
//     letters are counted from their headers, read once each by a
//     headers-only ordered consumer (DeadLetters); replayed and expired ones
//     are found from the stream's state. A Snapshot adds one info call to
//     each consumer and one to the DLQ stream (a second, listing the
//     deleted sequences, when dead letters left it since the last).
//   - Open means what tracking means (tracking.ListOpen): an upstream
//     request exists and the record is not closed (cancelled, failed,
//     rejected, or completed with its final document). A request the
//     upstream fulfilled whose final document is not stored yet (tracking
//     holds completed back until it is) counts as awaiting_document.
//     A submission without an upstream request that is not closed is
//     unsent, counted by state: claimed (being submitted), held, or any
//     other state by its name.
//   - Overdue: open, and marked overdue by the tracker or submitted longer
//     than Config.OverdueAfter ago.
//   - Nothing is guessed. Until a first pass is complete its counts are
//     missing (Snapshot.Ready is false); a part that cannot be read is
//     missing and named in Snapshot.Problems; the gauges leave out what the
//     snapshot lacks rather than report 0.
//   - Read-only: the Overview binds to resources it is given and changes
//     nothing, so operator commands may use it with layout.Open.
//   - Every replica reports the same cluster-wide counts: aggregate the
//     gauges with max, never sum.
//
// Personal data never reaches it: it reads record states, times and keys
// (tenant and submission id), and dead letters' reason headers only.
package overview
