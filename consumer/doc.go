// Package consumer is iseed's submission pipeline: it consumes submission
// events from the durable JetStream consumer "submitter" and turns each
// into at most one paid Visengine request.
//
// # Delivery guarantee
//
// JetStream delivers at least once and Visengine has no idempotency key.
// The pipeline makes at most one upstream request per submission (tenant and
// id) and never loses one: a submission ends submitted (its request id
// durable in the records bucket before the message is acknowledged),
// rejected (nothing was sent), or dead-lettered with a reason. Crashes,
// redeliveries, duplicate events, timeouts and replays never cause a second
// POST: before any POST that might repeat an earlier one, the earlier one is
// reconciled.
//
// # One message, step by step
//
//  1. handle (handle.go) takes a message from the worker pool and calls
//     process; whatever comes out is an Outcome.
//  2. process (process.go) decodes the event (DecodeSubmission), resolves
//     the service and validates the input (validate), then claims the
//     submission (claim): the record is created in the KV bucket
//     iseed_submissions with a pending Attempt and a lease, or, when it
//     exists, resume decides what this message means for it (a conflict,
//     an earlier result, another worker's live lease, a replay, a take-over).
//  3. proceed (submit.go) resolves the files the input references in the
//     tenant's files bucket (schema.ResolveFiles) and reserves the price
//     against the caps (reserve, money.go: see below); then submit sends
//     the POST, at most once per attempt: token waits for the upstream budget (the rate limit, shared
//     by every replica), then markAttempt records the pending attempt with
//     a lease that outlasts the call, and post makes the call within it,
//     through the circuit breaker.
//  4. The answer decides. A request id: adopt (adopt.go) writes it to the
//     request index, then to the record. A clear "no" (4xx): fail, or a
//     retry that clears the attempt (release). A lost answer (timeout,
//     reset, 5xx after the body was written: visengine.ClassAmbiguous) makes
//     the job unsure.
//
// # The ambiguous-POST path
//
// When a POST may have created a request that iseed does not know of (its
// answer was lost, or a crashed worker's attempt is still pending):
//
//  1. submit sees j.unsure and, before any new POST, calls resolveUnsure
//     (reconcile.go), which reads the upstream at once and then at growing
//     intervals (checkInterval) until the attempt has settled (settleAt:
//     ISEED_RECONCILE_SETTLE after the call gave up, or after the end of the
//     lease a crashed worker's call was bounded by), in process or by ending
//     the delivery with a delay (release keeps the attempt).
//  2. Each read is reconcile: it lists GET /richiesta and reads, with
//     candidate, every request of the same service created between the
//     claim and the settle time (both widened by ReconcileSkew), and judges
//     each: ours when the request index names this submission or the
//     request carries its marker (callback_data); not ours when the index
//     or the marker names another submission, or something it records
//     differs from what was sent (differs); unknown otherwise.
//  3. One that is ours: adopt. An unknown one: fail with reason ambiguous
//     (a person decides; dlq). None: read again until the attempt has
//     settled; then sending is safe, and submit posts.
//
// # The ack table
//
// Decide (decide.go) is the one place that maps an Outcome to the message's
// fate; finish (handle.go) carries it out: the dead letter first (stored,
// acknowledged), then the event and the tracking task, then, for a dead
// letter of a recorded submission, the record read again (erased.go: an
// erasure meanwhile removes the letter and the events), then Ack, Term or
// NakWithDelay. TestDecide covers every row; docs/consumer.md has the table.
//
// # Spending caps and holds
//
// Before the first POST, money.go reserves the submission's price against
// the caps of its tenant (its own, or the default tenant caps) and of the
// account (budget.Budgets.Reserve), unless the caps view (capsview.go,
// a watch of the caps bucket) says that no cap applies. A submission a cap
// refuses is held: its record says held and a key in the holds bucket
// names its message. RunHolds (holds.go) sends a held submission again,
// in order per tenant, when its caps allow it, or when it is past the
// maximum age (the delivery then expires it); holdend.go fails one that
// can never be sent again (its message too large for a lowered size
// limit, its release refused by its tenant's quota, its message gone),
// with its dead letter and failed event; the max-deliveries advisory
// fails one whose message ran out of deliveries undecided (advisory.go,
// failHeld), removing its key. docs/money.md is the user's view.
//
// # Restart
//
// Nothing is held in process memory that JetStream does not also hold.
// Unacknowledged messages are redelivered after AckWait; a record left
// claimed with a pending attempt is reconciled before anything is sent. A
// message that exhausts MaxDeliver without a decision is dead-lettered by
// RunAdvisories from the server's max-deliveries advisory, or, when its
// submission has its upstream request or its record keeps the id an
// earlier POST got back, finished (that id adopted) as a redelivery would.
package consumer
