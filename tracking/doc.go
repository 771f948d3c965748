// Package tracking drives every submitted Visengine request to its end:
// polls, state changes and their events, the document, callbacks as hints,
// and the prior-ISEE history.
//
// # Design
//
// One task per open request lives in the work-queue stream of tracking
// tasks, consumed by the durable "tracker" consumer that every replica
// shares. A task is held by one worker at a time (the server's ack-pending
// set), so no request is polled by two replicas at once and there is no
// leader. Between polls the task waits in the server through NakWithDelay,
// never in process memory: a replica's memory and goroutines depend on its
// worker pool, not on the number of open requests. A restarted or added
// replica simply fetches; a killed one's task comes back after AckWait.
//
// NakWithDelay was chosen over JetStream message scheduling (Nats-Schedule,
// nats-server 2.12+) because it needs no extra stream of schedules. The
// delay comes from the poll schedule (schedule.go), which follows the
// service's expected time on the Italian working-day calendar and needs no
// state beyond what the task and the record already hold (the service, the
// submission time, the state reached): a task stays O(1), and nothing is
// kept in process memory per open request.
//
// # One poll
//
// handle (poll.go) decodes the task and calls poll: one KV get, one GET
// /richiesta/{id} (refresh) through the shared rate limit, and catchUp
// (catchup.go), which writes only what changed. Events are published before
// the record is written, and are deduplicated by id, so a crash between the
// two repeats an event, never loses one; the record is written by
// compare-and-set, so a callback and a poll racing on one request are safe.
// decideTrack maps the poll's outcome to the task's fate (Ack when final,
// else NakWithDelay by the schedule). The schedule's clock is the daemon's
// unless Config.Timebase accelerates it (benchmarks).
//
// # Documents
//
// In Dati disponibili and again in Visura evasa the document is streamed
// to a temporary file while hashed, compared with dimensione (a difference
// is kept as DeclaredSize, with a warning), sealed when the Keyring has
// recipients for the tenant, and put in the tenant's documents bucket under
// a name that carries its digest (DocumentObject), so that two refreshes
// racing never overwrite each other; the record then names it. Each
// document-ready event says the state it was fetched in and whether it is
// final (fetched in Visura evasa); the final one is stored anew and
// announced even when its bytes are the earlier one's (its event id has
// ".final"; its object too, FinalDocumentObject, when its name would be the
// receipt's that the record its compare-and-set writes over names, and then
// its event id is FinalDocumentEventID, so that a catch-up that announced
// it under the receipt's object before finding the receipt written
// announces the final name too), so that it expires the bucket's max age after it is stored,
// not after the receipt was. The record
// becomes completed only with the final document stored, and its event is
// published just before completed: no consumer is told completed before it
// is told of the final document. A request closes only with the document
// fetched in Visura evasa; one whose final document never comes is given up
// at Config.MaxAge like any other, and its failed event says why.
//
// # Callbacks and giving up
//
// Callbacks (callback.go) carry a per-submission HMAC secret and only
// trigger Refresh: the request is always re-read. A request open for
// Config.OverdueWorkdays working days gets one overdue event, on time: its
// next poll is never scheduled past that moment until the event is out.
// A request still open after Config.MaxAge is given up (giveup.go), as
// soon as that is past (its polls are scheduled so): dead letter
// gave_up, failed event. A refresh that stores the final document of a
// request given up on meanwhile, or a callback's after it, overrides the
// give-up (catchup.go): the record becomes completed, and its events follow
// the failed one; then its gave_up dead letter is withdrawn (withdraw.go),
// by the override or by a give-up that stored it after the override.
// Replaying that dead letter reopens tracking once (replay.go), and
// announces it: from then on the record's status events have the replay's
// sequence in their ids (publisher.StatusAfterReplayEventID).
package tracking
