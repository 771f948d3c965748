// Package ratelimit keeps one upstream call budget for the whole
// deployment, whatever the number of replicas, and serves submissions
// before tracking polls.
//
// # Contract
//
// All Limiters on one KV key together grant at most Burst + Rate×t tokens
// in any span of t seconds of the NATS server's clock, the clock that
// stamps KV revisions. A Wait returns nil only after the grant is stored in
// the bucket, so a replica that dies holding tokens loses them rather than
// letting another replica spend them twice.
//
// Polls never delay a submission by more than a round of KV operations:
// a poll takes a token only when Reserve tokens (at least 1) stay in the
// bucket after it, while a submission takes any token. Polls that saturate
// the budget therefore keep the bucket at the reserve, and a submission
// arriving at any replica finds a token there; only other submissions
// compete with it. Within a process, a submission also wakes a fetcher that
// sleeps waiting for a poll's token. The price: polls alone run at Rate
// with a burst of Burst − Reserve.
//
// # The shared bucket
//
// The bucket is one KV entry, {"tokens": balance, "upto_ns": server time up
// to which refills are credited}, changed only by compare-and-set on its
// revision. A round reads it, credits Rate×(now − upto) capped at Burst,
// takes what the pending Waits of the process need and can have, and
// writes it back: one Get and one Update when tokens are there; a round
// that can take nothing writes nothing and sleeps, locally, until the
// refill should cover the need. One Wait per process (the fetcher) does the
// rounds for every Wait then pending, so concurrent Waits share rounds
// (tokens are taken in small batches, each handed to a Wait at once; one
// taken for a Wait cancelled meanwhile serves another Wait then pending, or
// is dropped: kept for a later Wait, it would be spent on top of the
// tokens the bucket refilled meanwhile).
// Losing a compare-and-set retries at once with the fresh value, then with
// a short random back-off; 32 losses in a row fail the Wait with
// ErrContended.
//
// # Clock skew
//
// Replicas' wall clocks may disagree by hours; "now − upto" must not use
// them. Each replica estimates the server's clock instead, as its local
// clock plus the largest (server stamp − local arrival time) seen on the
// entries it read, a bound that can only be below the true offset: the
// estimate never runs ahead of the server, so a replica whose clock is an
// hour ahead credits nothing it should not, and one an hour behind is not
// starved. Local time is measured on the monotonic clock, so stepping the
// wall clock does nothing. Should a local clock still jump forward (a
// Config.Now without monotonic readings), the next read of an entry at or
// after the replica's own last write proves the estimate too high and
// restarts it; until then, one write at most credits a burst it should not.
// Readers also never credit from later than an entry's own server stamp,
// so such a write cannot starve the other replicas either. The NATS
// servers' own clocks are assumed to agree (the stream leader stamps).
//
// The first round of a process writes even when it takes nothing, so that
// its estimate starts from a fresh stamp rather than the stamp of a bucket
// idle for hours.
//
// # Failure
//
// Every KV operation is bounded by Config.Timeout. When NATS cannot be
// reached, Wait returns an error matching ErrUnavailable and wrapping the
// cause; callers retry it as any transient failure. A failed round fails
// every Wait of the process pending then, so that they return after one
// timeout, not one each in turn. An update whose answer
// was lost may have taken tokens nobody uses: the budget errs on the low
// side. A cancelled ctx returns ctx.Err() at once, even mid-round.
//
// # Pauses
//
// When the upstream itself asks to wait (429 or 503 with Retry-After),
// [Limiter.Pause] puts the shared bucket in debt: Rate × the wait, at most
// Config.MaxPause. Every Limiter on the bucket, in every replica, then
// grants nothing until the refill has paid it back, and resumes at Rate,
// not with a burst. The debt is the stored balance below zero, so a
// replica that does not know pauses (an older release) reads it as an
// empty bucket: it does not pause, but it does not burst either. Pauses do
// not add up; the longer wins. A pause starts when the server stores it:
// its balance is dated by the entry's own stamp, not by the writer's
// estimate of the server's clock, which runs behind by as much as the
// bucket has been quiet; and before it judges whether an earlier pause
// lasts as long, Pause makes that estimate close with a write of its own
// beside the bucket (its key with ".clock").
//
// Every replica must use the same Rate, Burst and Reserve: each refills and
// caps the shared bucket with its own. [Limiter.Announce] stores them
// beside the bucket (its key with ".settings") and returns the previous
// replica's, so that a replica started otherwise can say so; a replica that
// keeps no budget at all stores the zero Settings ([AnnounceNone]). The bucket can be any KV bucket
// with History 1 ([EnsureBucket] makes one); R3 works, at the cost of a
// replicated write per round.
//
// # Metering
//
// A [Meter] counts the Waits a process's limiters grant, one per upstream
// call, and reports their rate over the last minute: the process's own
// calls, not the deployment's.
package ratelimit
