// Package budget caps what iseed spends, per tenant and for the whole
// account, per day and per month, in euros and in number of requests, and
// counts every paid request against those caps before it is sent, so that
// no number of replicas racing each other ever exceeds one.
//
// # Caps
//
// A scope (the account, one tenant, or every tenant by default:
// TenantDefault) has Caps: DailyEUR, MonthlyEUR, DailyRequests,
// MonthlyRequests; zero is no cap. They live in the caps bucket under
// "account", "tenant.<name>" and "tenant_default", set at run time (Set,
// Get, List, Delete) or from a start-up File (ParseFile, Apply). A tenant
// is held to its own caps over the default tenant caps, cap by cap
// (Caps.Or); the default scope counts nothing of its own. Days and months
// are civil periods in Europe/Rome (money.Day, money.Month). Every change
// of a scope's caps is a compare-and-set of the value it read.
//
// # Pauses
//
// An operator may pause a tenant or the account (Pause, Resume): Paused in
// the scope's value, kept by Set, Delete and Apply. Reserve and Allows of
// a paused scope return a *PausedError (the account's first) and count
// nothing; the pipeline holds the submission as over a cap. The default
// tenant caps cannot be paused, and a caps File may not say paused.
//
// # Counting
//
// The usage bucket holds one key per scope and month: "account.2026-03",
// "tenant.<name>.2026-03". Its value is the month's total (cents and
// requests), the total of each day, and the reservations held: those
// neither committed nor released, by "<tenant>.<submission id>", with
// their amount and day. A key is only ever changed by compare-and-set on
// its revision.
//
// Reserve(tenant, id, amount, now), before the POST:
//
//  1. reads both scopes' caps (the tenant's own over the default tenant
//     caps), and returns a *PausedError when either is paused;
//  2. looks in the tenant's key of the previous month for a reservation
//     of the submission (one made before midnight of the month's last day
//     counts there);
//  3. counts it in the tenant's key, unless the key holds it already
//     (then it returns it as made) or it would exceed a tenant cap (then
//     it returns an *OverBudgetError and writes nothing);
//  4. counts it in the account's key the same way; if an account cap
//     refuses, it gives the tenant's count back, then returns the
//     *OverBudgetError.
//
// After the POST: Commit when it created a request (or may have: the
// amount stays counted, the keys forget the id); Release when it
// definitely created nothing (the amount is given back). Release and
// Commit change the account's key first, then the tenant's, so a
// reservation the account holds is always held by its tenant.
//
// # Why a cap is never exceeded
//
// Every write to a usage key is a compare-and-set computed from the value
// at the revision it replaces, and every write that adds checks that the
// new totals of the day and the month stay within the scope's caps. Two
// writers can never both add on the same revision: the second's
// compare-and-set fails, and it re-reads and re-checks. So at every
// revision each key's totals are within the caps its writers read. A
// Reserve succeeds only once both keys count it, and each count is a
// request and its price, so the requests (and euros) that succeed in a
// period are at most the cap: TestReserveNeverExceedsCapAcrossReplicas
// runs 500 concurrent Reserves through three replicas against a cap of
// 100 and sees exactly 100 pass.
//
// What a cap cannot do: a reservation counts before the request is
// created, so a lowered cap applies only to reservations that start after
// the change (what was counted stays); a count held by the tenant while
// the account refuses is visible for one round trip, so another
// reservation of that tenant may be refused in that instant (never
// admitted above a cap). Counting errs on the high side, never the low.
//
// # Idempotence and crashes
//
// While a submission's reservation is held, Reserve returns it unchanged
// and counts nothing: a redelivery after a crash, at any step, reserves
// once. A crash between the tenant's count and the account's leaves a
// reservation the next Reserve completes (TestCrashBetweenScopes). A
// reservation whose process died before Commit or Release stays counted
// until the submission's redelivery decides it (Release when no request
// exists, Commit when one does) or, at worst, until its period ends: the
// day's count keeps it until Rome midnight, the month's until the month
// ends. Commit before the record holds the request would let a
// redelivery reserve again (counted twice, never exceeding a cap).
//
// Within one process, changes of one key are combined: one caller at a
// time runs a round (one read, every queued change, one write) for all
// callers then waiting, so a compare-and-set races only other processes.
// Lost compare-and-sets retry at once, then after random pauses of a few
// milliseconds; 64 in a row fail with ErrContended.
//
// # Resuming held submissions
//
// A refused reservation's *OverBudgetError names the cap (Code, e.g.
// "tenant_day_eur"), its limit, what was used, and Until: the end of the
// period. The cheap read-only check is Allows(tenant, amount, now); call
// it when a cap changes (WatchCaps reports every change on any replica),
// when Until passes, and on a timer, since a Release frees room without a
// signal.
//
// # Buckets
//
// CapsBucketConfig (History 10, no expiry) and UsageBucketConfig (History
// 1, TTL UsageTTL: a month's key outlives the next month) are the two
// buckets; EnsureBuckets creates them. Keys hold no personal data: tenant
// names, submission ids, amounts.
package budget
