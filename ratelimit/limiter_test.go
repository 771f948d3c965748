package ratelimit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	"github.com/iseed-dev/iseed/ratelimit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const bucket = "RATELIMIT"

// replicaKV connects to url as a replica of its own would and binds to the
// bucket, creating it the first time.
func replicaKV(t testing.TB, url string, replicas int) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	kv, err := ratelimit.EnsureBucket(ctx, js, bucket, replicas, jetstream.FileStorage)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func newLimiter(t testing.TB, kv jetstream.KeyValue, cfg ratelimit.Config) *ratelimit.Limiter {
	t.Helper()
	l, err := ratelimit.New(kv, "upstream", cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// grants records when Waits returned nil, across replicas.
type grants struct {
	mu sync.Mutex
	at []time.Time
	by map[string]int
}

func (g *grants) add(who string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.at = append(g.at, time.Now())
	if g.by == nil {
		g.by = make(map[string]int)
	}
	g.by[who]++
}

func (g *grants) snapshot() ([]time.Time, map[string]int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.at), maps(g.by)
}

func maps(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (g *grants) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.at)
}

// hammer runs n goroutines that Wait for class c in a loop until ctx is
// done, recording grants; the returned function waits for them.
func hammer(ctx context.Context, l *ratelimit.Limiter, who string, c ratelimit.Class, n int, g *grants) func() {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				if l.Wait(ctx, c) == nil {
					g.add(who)
				}
			}
		})
	}
	return wg.Wait
}

// recordingSlack is the window check's slack for callers that record a
// grant when Wait returns: a caller descheduled between the take and its
// record makes two grants look closer than they were (seen once on a
// loaded machine: 8 grants in 19ms against a bound of 7.78 with slack 2).
const recordingSlack = 3

// checkBudget checks the grants against the token bucket bound: by any
// time t, at most burst + extra + rate×(t − t0) grants since t0; and in any
// window between two grants, at most burst + slack + rate×window (slack
// covers the delay between a take and its being recorded).
func checkBudget(t *testing.T, at []time.Time, t0 time.Time, rate float64, burst int, extra, slack float64) {
	t.Helper()
	slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
	for i, ti := range at {
		if bound := float64(burst) + extra + rate*ti.Sub(t0).Seconds(); float64(i+1) > bound+1e-9 {
			t.Fatalf("%d grants by %v, want at most %.2f", i+1, ti.Sub(t0), bound)
		}
	}
	for i := range at {
		for j := i + 1; j < len(at); j++ {
			if bound := float64(burst) + slack + rate*at[j].Sub(at[i]).Seconds(); float64(j-i+1) > bound {
				t.Fatalf("%d grants in %v, want at most %.2f", j-i+1, at[j].Sub(at[i]), bound)
			}
		}
	}
}

// TestThreeReplicasShareOneBudget runs three replicas, each with its own
// connection and several concurrent callers of both classes, against one
// bucket, and checks that together they stay within Rate and Burst while
// using most of it.
func TestThreeReplicasShareOneBudget(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst, run = 20.0, 5, 2 * time.Second
	var g grants
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	t0 := time.Now()
	var waits []func()
	var ls []*ratelimit.Limiter
	for i := range 3 {
		l := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
		ls = append(ls, l)
		who := fmt.Sprint("replica", i)
		waits = append(waits, hammer(ctx, l, who, ratelimit.Poll, 3, &g), hammer(ctx, l, who, ratelimit.Submission, 1, &g))
	}
	for _, w := range waits {
		w()
	}
	elapsed := time.Since(t0)
	at, by := g.snapshot()
	checkBudget(t, at, t0, rate, burst, 0, recordingSlack)
	if min := 0.8 * rate * elapsed.Seconds(); float64(len(at)) < min {
		t.Errorf("%d grants in %v, want at least %.0f: the budget goes unused", len(at), elapsed, min)
	}
	for i := range 3 {
		if who := fmt.Sprint("replica", i); by[who] < len(at)/20 {
			t.Errorf("%s got %d of %d grants, want at least a twentieth", who, by[who], len(at))
		}
	}
	var st ratelimit.Stats
	for _, l := range ls {
		s := l.Stats()
		st.Granted[ratelimit.Poll] += s.Granted[ratelimit.Poll]
		st.Granted[ratelimit.Submission] += s.Granted[ratelimit.Submission]
		st.RoundTrips += s.RoundTrips
		st.Conflicts += s.Conflicts
	}
	if got := int(st.Granted[ratelimit.Poll] + st.Granted[ratelimit.Submission]); got != len(at) {
		t.Errorf("Stats count %d grants, the callers %d", got, len(at))
	}
	t.Logf("%d grants in %v (%.1f/s); %d KV operations, %d conflicts; by replica %v", len(at), elapsed,
		float64(len(at))/elapsed.Seconds(), st.RoundTrips, st.Conflicts, by)
}

// TestSubmissionsFirst saturates the budget with polls on three replicas
// and checks that a submission, on any replica, still gets its token within
// one token interval, while polls queue for about a second.
func TestSubmissionsFirst(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 10.0, 4
	interval := time.Duration(float64(time.Second) / rate)
	var polls grants
	ctx, cancel := context.WithCancel(context.Background())
	var ls []*ratelimit.Limiter
	var waits []func()
	for i := range 3 {
		l := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst, Reserve: 1})
		ls = append(ls, l)
		waits = append(waits, hammer(ctx, l, fmt.Sprint("replica", i), ratelimit.Poll, 6, &polls))
	}
	defer func() {
		cancel()
		for _, w := range waits {
			w()
		}
	}()
	for deadline := time.Now().Add(5 * time.Second); polls.count() < 2*burst; {
		if time.Now().After(deadline) {
			t.Fatalf("polls got %d tokens in 5s, want the budget saturated", polls.count())
		}
		time.Sleep(10 * time.Millisecond) // polling a condition
	}
	var worst time.Duration
	pollsBefore, phase := polls.count(), time.Now()
	for i := range 6 {
		l := ls[i%3]
		start := time.Now()
		if err := l.Wait(ctx, ratelimit.Submission); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		worst = max(worst, took)
		if took > interval {
			t.Errorf("submission %d on replica %d waited %v with polls saturating, want at most one token interval (%v)", i, i%3, took, interval)
		}
		time.Sleep(3 * interval) // a submission every three tokens: the rest is for polls
	}
	// The polls kept the budget busy meanwhile: what the submissions left
	// went to them, so the submissions did not just find an idle bucket.
	pollRate := float64(polls.count()-pollsBefore) / time.Since(phase).Seconds()
	t.Logf("worst submission wait %v; polls meanwhile at %.1f/s", worst, pollRate)
	if used := pollRate + 1/(3*interval.Seconds()); used < 0.6*rate {
		t.Errorf("polls got %.1f tokens/s while the submissions ran, want the budget saturated", pollRate)
	}
}

// TestSubmissionBurstStarvesPolls checks strict priority the other way:
// while submissions wait for tokens, polls get none.
func TestSubmissionBurstStarvesPolls(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 20.0, 4
	kv := replicaKV(t, s.ClientURL(), 1)
	a, b := newLimiter(t, kv, ratelimit.Config{Rate: rate, Burst: burst}), newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst})
	var polls grants
	ctx, cancel := context.WithCancel(context.Background())
	wait := hammer(ctx, b, "b", ratelimit.Poll, 4, &polls)
	defer func() { cancel(); wait() }()
	for deadline := time.Now().Add(5 * time.Second); polls.count() < burst; {
		if time.Now().After(deadline) {
			t.Fatalf("polls got %d tokens in 5s, want the budget saturated", polls.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
	var subs grants
	subCtx, subCancel := context.WithCancel(ctx)
	waitSubs := hammer(subCtx, a, "a", ratelimit.Submission, 4, &subs)
	defer func() { subCancel(); waitSubs() }()
	// Once submissions are being served, measure what polls get while
	// submissions take the next 10 tokens (half a second at the rate).
	until := func(what string, cond func() bool) {
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	until("submissions to be served", func() bool { return subs.count() >= 2 })
	before, from := polls.count(), subs.count()
	until("ten more submission tokens", func() bool { return subs.count() >= from+10 })
	if during := polls.count() - before; during > 1 {
		t.Errorf("polls got %d tokens while submissions waited for 10, want at most 1 (one round in flight)", during)
	}
}

// skewedClock is a wall clock offset by skew, without a monotonic reading.
func skewedClock(skew *atomic.Int64) func() time.Time {
	return func() time.Time { return time.Now().Round(0).Add(time.Duration(skew.Load())) }
}

// TestClockSkew runs replicas whose clocks are an hour ahead and an hour
// behind beside a right one: none mints tokens from its skew, none is
// starved.
func TestClockSkew(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst, run = 20.0, 5, 2 * time.Second
	var g grants
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	t0 := time.Now()
	var waits []func()
	var ls []*ratelimit.Limiter
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		var sk atomic.Int64
		sk.Store(int64(skew))
		l := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst, Now: skewedClock(&sk)})
		ls = append(ls, l)
		waits = append(waits, hammer(ctx, l, skew.String(), ratelimit.Poll, 3, &g))
	}
	for _, w := range waits {
		w()
	}
	at, by := g.snapshot()
	checkBudget(t, at, t0, rate, burst, 0, recordingSlack)
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		if by[skew.String()] < len(at)/20 {
			t.Errorf("the replica %v off got %d of %d grants, want at least a twentieth", skew, by[skew.String()], len(at))
		}
	}
	for i, l := range ls {
		if r := l.Stats().ClockResets; r != 0 {
			t.Errorf("replica %d: %d clock resets with a steady skew, want 0", i, r)
		}
	}
	t.Logf("%d grants; by skew %v", len(at), by)
}

// TestClockJump jumps a replica's wall clock an hour forward mid-run: it
// may mint one burst once, not one per write, and the other replica keeps
// getting tokens. The run lasts 1.5 s from the jump, whenever the set-up
// (two buckets bound, on a loaded machine slowly) let it begin: a run of
// 2 s from before the set-up left less than the last second counted below.
func TestClockJump(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 20.0, 5
	var g grants
	var jump, none atomic.Int64
	jumper := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst, Now: skewedClock(&jump)})
	steady := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: rate, Burst: burst, Now: skewedClock(&none)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	t0 := time.Now()
	w1, w2 := hammer(ctx, jumper, "jumper", ratelimit.Poll, 3, &g), hammer(ctx, steady, "steady", ratelimit.Poll, 3, &g)
	time.Sleep(500 * time.Millisecond) // the run before the jump
	jump.Store(int64(time.Hour))
	jumpedAt := time.Now()
	time.Sleep(1500 * time.Millisecond) // the run after it, whose last second is counted below
	cancel()
	w1()
	w2()
	at, by := g.snapshot()
	checkBudget(t, at, t0, rate, burst, burst, burst+2)
	if r := jumper.Stats().ClockResets; r < 1 {
		t.Errorf("the jumping replica reset its clock %d times, want at least 1", r)
	}
	after := 0
	g.mu.Lock()
	for _, a := range g.at {
		if a.After(jumpedAt.Add(500 * time.Millisecond)) {
			after++
		}
	}
	g.mu.Unlock()
	if after < int(0.6*rate) {
		t.Errorf("%d grants in the last second, want the budget still in use", after)
	}
	t.Logf("%d grants; by replica %v", len(at), by)
}

// waitSleeping waits until l's fetcher has slept for a refill.
func waitSleeping(t *testing.T, l *ratelimit.Limiter) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); l.Stats().Sleeps == 0; {
		if time.Now().After(deadline) {
			t.Fatal("no Wait slept for a refill within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSubmissionWakesSleepingFetcher checks that a submission does not wait
// for a fetcher that sleeps until a poll's token (two refills away) when
// the reserve is there for it.
func TestSubmissionWakesSleepingFetcher(t *testing.T) {
	s := natstest.Run(t)
	l := newLimiter(t, replicaKV(t, s.ClientURL(), 1), ratelimit.Config{Rate: 2, Burst: 3, Reserve: 1})
	ctx, cancel := context.WithCancel(context.Background())
	for range 2 { // down to the reserve
		if err := l.Wait(ctx, ratelimit.Poll); err != nil {
			t.Fatal(err)
		}
	}
	poll := make(chan error, 1)
	go func() { poll <- l.Wait(ctx, ratelimit.Poll) }()
	defer func() { cancel(); <-poll }()
	waitSleeping(t, l)
	start := time.Now()
	if err := l.Wait(ctx, ratelimit.Submission); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("submission waited %v behind a poll's sleep, want it served from the reserve at once", took)
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	s := natstest.Run(t)
	kv := replicaKV(t, s.ClientURL(), 1)
	l := newLimiter(t, kv, ratelimit.Config{Rate: 0.2, Burst: 2}) // one token every 5s
	ctx := context.Background()
	if err := l.Wait(ctx, ratelimit.Poll); err != nil { // the one token above the reserve
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	errs := make(chan error, 3)
	for range 3 { // one fetcher sleeping for the refill, two waiting on it
		go func() { errs <- l.Wait(cctx, ratelimit.Poll) }()
	}
	waitSleeping(t, l) // one of them fetches and sleeps for the refill
	cancel()
	start := time.Now()
	for range 3 {
		select {
		case err := <-errs:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled Wait: got %v, want context.Canceled", err)
			}
		case <-time.After(time.Second):
			t.Fatal("a cancelled Wait still blocks after 1s")
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("cancelled Waits returned after %v, want promptly", took)
	}
	done, stop := context.WithCancel(ctx)
	stop()
	if err := l.Wait(done, ratelimit.Submission); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with a done context: got %v, want context.Canceled", err)
	}
	if st := l.Stats(); st.Failed != [2]uint64{} {
		t.Errorf("cancelled Waits counted as failures: %v", st.Failed)
	}
}

// TestNATSDown stops the server under a Limiter: Wait fails within its
// timeout with an error that says why, and works again once the server is
// back.
func TestNATSDown(t *testing.T) {
	s := natstest.Run(t)
	kv := replicaKV(t, s.ClientURL(), 1)
	l := newLimiter(t, kv, ratelimit.Config{Rate: 100, Burst: 10, Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	if err := l.Wait(ctx, ratelimit.Submission); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	start := time.Now()
	errs := make(chan error, 5)
	for range 5 { // one fetches, four wait for it: all fail with it
		go func() { errs <- l.Wait(ctx, ratelimit.Submission) }()
	}
	for range 5 {
		err := <-errs
		if !errors.Is(err, ratelimit.ErrUnavailable) {
			t.Fatalf("Wait with NATS down: got %v, want ErrUnavailable", err)
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrConnectionClosed) && !errors.Is(err, nats.ErrNoResponders) {
			t.Errorf("Wait with NATS down: got %v, want it to wrap the KV operation's error", err)
		}
	}
	if took := time.Since(start); took > 700*time.Millisecond {
		t.Errorf("five Waits with NATS down took %v, want about one 200ms timeout, not five", took)
	}
	if got := l.Stats().Failed[ratelimit.Submission]; got != 5 {
		t.Errorf("Stats.Failed = %d, want 5", got)
	}
	s.Start()
	deadline := time.Now().Add(10 * time.Second)
	for l.Wait(ctx, ratelimit.Submission) != nil {
		if time.Now().After(deadline) {
			t.Fatal("Wait still fails 10s after the server came back")
		}
	}
}

func TestWaiterAndConfig(t *testing.T) {
	s := natstest.Run(t)
	kv := replicaKV(t, s.ClientURL(), 1)
	l := newLimiter(t, kv, ratelimit.Config{Rate: 100, Burst: 10})
	if err := l.For(ratelimit.Submission).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.For(ratelimit.Class(7)).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := l.Stats().Granted; got != [2]uint64{1, 1} {
		t.Errorf("Granted = %v, want one poll (the unknown class) and one submission", got)
	}
	for _, cfg := range []ratelimit.Config{
		{Rate: 0, Burst: 10},
		{Rate: -1, Burst: 10},
		{Rate: 10, Burst: 1},              // no room above the default reserve
		{Rate: 10, Burst: 3, Reserve: 3},  // nor above this one
		{Rate: 10, Burst: 3, Reserve: -1}, // a reserve below 1
	} {
		if _, err := ratelimit.New(kv, "k", cfg); err == nil {
			t.Errorf("New(%+v): got no error, want one", cfg)
		}
	}
}

func BenchmarkWait(b *testing.B) {
	s := natstest.Run(b)
	l := newLimiter(b, replicaKV(b, s.ClientURL(), 1), ratelimit.Config{Rate: 1e9, Burst: 1e6})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx, ratelimit.Poll); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(l.Stats().RoundTrips)/float64(b.N), "kvops/op")
}

// BenchmarkWaitParallel shows concurrent Waits sharing rounds.
func BenchmarkWaitParallel(b *testing.B) {
	s := natstest.Run(b)
	l := newLimiter(b, replicaKV(b, s.ClientURL(), 1), ratelimit.Config{Rate: 1e9, Burst: 1e6})
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx, ratelimit.Poll); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(l.Stats().RoundTrips)/float64(b.N), "kvops/op")
}

// hookedKV calls a hook, once, after an update of the bucket succeeded and
// before its answer reaches the Limiter.
type hookedKV struct {
	jetstream.KeyValue
	hook atomic.Pointer[func()]
}

func (h *hookedKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	r, err := h.KeyValue.Update(ctx, key, value, rev)
	if f := h.hook.Swap(nil); f != nil && err == nil {
		(*f)()
	}
	return r, err
}

// TestCancelledWaitsKeepNoTokens: the Waits a round took a token for are
// cancelled before it comes back. The token must not stay in the process
// for a later Wait: spent on top of a bucket refilled meanwhile, it makes
// more than Burst grants at once.
func TestCancelledWaitsKeepNoTokens(t *testing.T) {
	s := natstest.Run(t)
	const rate, burst = 2.0, 3
	kv := &hookedKV{KeyValue: replicaKV(t, s.ClientURL(), 1)}
	l := newLimiter(t, kv, ratelimit.Config{Rate: rate, Burst: burst, Reserve: 1})
	ctx := context.Background()
	for range burst { // empty the bucket
		if err := l.Wait(ctx, ratelimit.Submission); err != nil {
			t.Fatal(err)
		}
	}
	// Three Waits for the next refill; the round that takes a token for
	// them comes back after every one has been cancelled.
	cctx, cancel := context.WithCancel(ctx)
	errs, hooked := make(chan error, 3), make(chan struct{})
	hook := func() {
		defer close(hooked)
		cancel()
		for range 2 { // the third is the fetcher, in this round
			if err := <-errs; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled Wait: got %v, want context.Canceled", err)
			}
		}
	}
	kv.hook.Store(&hook)
	for range 3 {
		go func() { errs <- l.Wait(cctx, ratelimit.Submission) }()
	}
	select {
	case <-hooked:
	case <-time.After(10 * time.Second):
		t.Fatal("no round took a token for the Waits within 10s")
	}
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("the fetcher's Wait: got %v, want context.Canceled", err)
	}
	// Wait for the bucket to refill to Burst, reading it without taking.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		e, err := kv.Get(ctx, "upstream")
		if err != nil {
			t.Fatal(err)
		}
		var b struct {
			Tokens float64 `json:"tokens"`
			Upto   int64   `json:"upto_ns"`
		}
		if err := json.Unmarshal(e.Value(), &b); err != nil {
			t.Fatal(err)
		}
		if b.Tokens+rate*time.Since(time.Unix(0, b.Upto)).Seconds() >= burst {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bucket holds %v tokens at %d after 10s, want it refilled", b.Tokens, b.Upto)
		}
	}
	// Six submissions at once: the bucket has Burst for them, and no more
	// until the next refill.
	start := time.Now()
	fire, stop := context.WithTimeout(ctx, 250*time.Millisecond)
	defer stop()
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if l.Wait(fire, ratelimit.Submission) == nil {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if got, bound := float64(granted.Load()), burst+rate*elapsed.Seconds(); got > bound {
		t.Errorf("%v grants in %v from a bucket of burst %d refilling at %v/s, want at most %.2f: tokens taken for cancelled Waits were spent on top",
			got, elapsed, burst, rate, bound)
	}
}
