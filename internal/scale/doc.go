// Package scale measures request tracking at the scale of a platform
// onboarding: 100,000 open ISEE requests, each for its whole life, within
// the deployment's upstream budget (issue 13).
//
// Two instruments share one workload (Workload: the DSU within a working
// day, the ISEE in 4–5 working days, a tenth in 10–15, on the Italian
// calendar):
//
//   - Model replays the tracker's poll schedule (tracking.Config.NextPoll,
//     the function the tracker calls: Polling.Next, brought forward to a
//     request's overdue moment and to its give-up) for every request on the
//     simulated clock, with no budget: it shows what the schedule asks of
//     the upstream, second by second, and the calls per completed request.
//     It takes seconds (TestScheduleDemand).
//   - The accelerated benchmark (scale_test.go, build tag "scale") runs the
//     real thing: an embedded nats-server, the simulator on an accelerated
//     clock paced by Workload, and two or three `iseed serve` processes
//     sharing that clock through ISEED_TRACK_CLOCK, with the budget
//     ISEED_UPSTREAM_RPS scaled by the same factor. It reports the calls per
//     completed request, the busiest simulated second and minute against the
//     budget, the submissions' latency while polls run, and each process's
//     RSS and goroutines.
//
// docs/performance.md has the commands and the figures.
package scale
