// Package retention scrubs old closed submission records of what their
// tenant sent (record.Record.Scrub: the metadata, the person key, the
// problems' texts) and of the upstream's free text it holds: the
// document's file name and a request state the API does not publish, which
// may name the person. A record is never deleted: it is what stops a
// duplicate, a redelivery or an operator's replay from paying for its
// submission again, and Scrub keeps everything that decides that.
//
// Contract:
//   - A record is scrubbed once it is closed (record.Record.Closed) and its
//     last write, as the server stored it, is older than Config.After.
//     Open records (claimed, held, submitted, in progress, data ready, or
//     completed while its final document is awaited) are never touched.
//   - Every write is a compare-and-set on the revision read: a change made
//     meanwhile (a replay reopening the record, a late callback) wins, and
//     the record is looked at again once that change is old in its turn.
//     Several replicas may scrub at once.
//   - A pass reads the records bucket's stream in order from a checkpoint
//     kept in the keys bucket, and stops at the first entry written after
//     now minus Config.After, or at the stream's end as it was when the
//     pass began (internal/jsread: a fetch answered "no responders", a
//     cluster's, or that brings nothing while entries remain is tried
//     again, twice in a row at most; then, or when the bucket is deleted
//     meanwhile, the pass fails, from the checkpoint it reached). The bucket keeps each key's latest entry
//     only, so what lies behind the checkpoint was scrubbed, had nothing to
//     scrub, was open, or was written again later (which puts it past the
//     checkpoint): a pass reads what became old since the last one, never
//     the whole bucket. A scrubbed record is written again, so it comes
//     back past the checkpoint; it has nothing left to scrub and is not
//     written again. The checkpoint names the stream it counts in (its
//     creation time): a checkpoint of another stream, or past this one's
//     end (the bucket was deleted and made anew), starts over; so does a
//     checkpoint of a scrub that removed less (scrubRemoves), to scrub
//     the records it left behind of the rest.
//   - Logs carry counts only, never a key; iseed_records_scrubbed_total
//     counts the records scrubbed.
package retention
