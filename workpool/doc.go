// Package workpool runs a fixed pool of workers on one durable JetStream
// pull consumer: the submission pipeline and the request tracker each run
// one.
//
// Contract: at most Workers messages are handled at once per process (at
// most Calm, when set, of those delivered while nothing waited on the
// server), and at most Workers are fetched ahead (PullMaxMessages), so that AckWait is
// spent on work rather than in a buffer while the workers keep up. (When
// every worker is held longer than AckWait, a fetched message can be
// delivered again while it still waits here: handlers must tolerate a
// second delivery, as they do a redelivery.) While Paused says so, nothing is pulled
// and what was buffered is handed back with NakWithDelay(HandBack). When
// the context ends: stop pulling; hand back what was fetched but not
// started, at once and without ever starting it, even when a worker frees
// up; let in-flight handlers finish within Shutdown, counted from the end
// of the context (what a handler only waits for, it waits for on
// Stopping, which ends at once); then cancel their context (their messages are
// redelivered after AckWait). Run returns within Shutdown of the end of
// the context plus the time handlers take to return once cancelled. Every
// goroutine the pool starts has ended when Run returns. A handler that
// panics is logged and its message left to be redelivered after AckWait;
// the pool runs on. A handler that holds a message for long keeps it in
// progress with KeepInProgress, as often as its consumer's Pace says:
// every third of the consumer's AckWait as the server has it, which may
// be another replica's.
package workpool
