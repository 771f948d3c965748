// Package dlq owns dead letters: their headers, storing them, and the
// operator's queue (list and replay).
//
// A dead letter is a copy of the message that cannot succeed, stored in
// the DLQ stream on <prefix>.dlq.<tenant>.<id> with headers saying why
// (reason code, a redacted error, attempts, deliveries, first and last
// failure, generation). It is stored, acknowledged by the stream, before
// the original message is terminated; its Nats-Msg-Id (MsgID) makes
// repeats of one failure one dead letter.
//
// Replay republishes a dead letter to its original subject with the
// ReplayHeader naming it, then removes it. Withdraw removes the letters of
// a failure that turned out not to be one (a give-up the upstream's
// completion overrode), by their message id. Whether a replay reopens a
// submission is the record's business (record.Record.Replays): a dead
// letter reopens a submission at most once, and a submission that has its
// upstream request is never sent again.
package dlq
