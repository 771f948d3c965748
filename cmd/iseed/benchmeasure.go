package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// What iseed bench measures. A phase publishes submissions (all at once
// before the pipeline starts, or at a fixed rate while it runs), and an
// eventWatch, on a connection of its own, notes when each one's submitted
// event arrives: latency is from the publication (for a paced phase, from
// the moment it was due, so that a late publisher does not hide latency) to
// the event. Messages per submission are counted on the pipeline's own
// connection (nats.Conn.Stats: what the server's connz reports for that
// connection), and, when the server's monitoring is reachable, as the
// deltas of the server's /varz in_msgs and out_msgs, which also count the
// bench's publisher and watcher.

// eventWatch collects the arrival of one event per submission index.
type eventWatch struct {
	mu      sync.Mutex
	sent    []time.Time // by index: when the submission was published (or due)
	got     []time.Time // by index: when its event arrived
	n       int         // events arrived
	first   time.Time
	last    time.Time
	all     chan struct{}
	want    int
	allOnce sync.Once
	sub     *nats.Subscription
}

// watchBench subscribes to subject; match returns the index of a message
// that is a wanted event, or -1.
func watchBench(nc *nats.Conn, subject string, n int, match func(*nats.Msg) int) (*eventWatch, error) {
	w := &eventWatch{sent: make([]time.Time, n), got: make([]time.Time, n), all: make(chan struct{}), want: n}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		if i := match(m); i >= 0 && i < n {
			w.arrived(i, time.Now())
		}
	})
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", subject, err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	w.sub = sub
	return w, nc.Flush()
}

func (w *eventWatch) arrived(i int, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.got[i].IsZero() {
		return // re-announced: the first counts
	}
	w.got[i], w.last = at, at
	if w.n == 0 {
		w.first = at
	}
	w.n++
	if w.n == w.want {
		w.allOnce.Do(func() { close(w.all) })
	}
}

func (w *eventWatch) published(i int, at time.Time) {
	w.mu.Lock()
	w.sent[i] = at
	w.mu.Unlock()
}

// wait returns when every event arrived, or fails after timeout without
// progress.
func (w *eventWatch) wait(ctx context.Context, stall time.Duration) error {
	seen, since := -1, time.Now()
	for {
		select {
		case <-w.all:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		w.mu.Lock()
		n := w.n
		w.mu.Unlock()
		if n != seen {
			seen, since = n, time.Now()
		}
		if time.Since(since) > stall {
			return fmt.Errorf("%d of %d events after %s without progress", n, w.want, stall)
		}
	}
}

func (w *eventWatch) stop() { _ = w.sub.Unsubscribe() }

// longestPause is the longest time between two events in a row, from the
// first to the last: how long the pipeline stalled, if it did.
func (w *eventWatch) longestPause() time.Duration {
	w.mu.Lock()
	at := make([]time.Time, 0, w.n)
	for _, g := range w.got {
		if !g.IsZero() {
			at = append(at, g)
		}
	}
	w.mu.Unlock()
	slices.SortFunc(at, time.Time.Compare)
	var longest time.Duration
	for i := 1; i < len(at); i++ {
		longest = max(longest, at[i].Sub(at[i-1]))
	}
	return longest
}

// stallPause is the pause between two events of a queued phase past which
// the phase stalled: its pipeline had submissions waiting and took none
// for that long (on the project's machine at most 20 to 40 ms go between
// two events of either pipeline), so its rate says how long the stall
// lasted, not what the pipeline does.
const stallPause = time.Second

// latencies returns every publication-to-event latency, sorted.
func (w *eventWatch) latencies() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Duration, 0, len(w.got))
	for i, g := range w.got {
		if !g.IsZero() && !w.sent[i].IsZero() {
			out = append(out, g.Sub(w.sent[i]))
		}
	}
	slices.Sort(out)
	return out
}

// percentile is the q-quantile (0 < q ≤ 1) of sorted durations, by the
// nearest-rank method.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// indexOf reads the index from the last subject token, "<prefix><index>".
func indexOf(subject, prefix string) int {
	tok := subject[strings.LastIndexByte(subject, '.')+1:]
	s, ok := strings.CutPrefix(tok, prefix)
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(s)
	if err != nil {
		return -1
	}
	return i
}

// msgCount is a count of messages into and out of the server.
type msgCount struct{ in, out uint64 }

func (c msgCount) minus(o msgCount) msgCount { return msgCount{c.in - o.in, c.out - o.out} }

// connCount is what conn sent to the server (the server's in_msgs of the
// connection) and what the server sent it (out_msgs).
func connCount(nc *nats.Conn) msgCount {
	s := nc.Stats()
	return msgCount{in: s.OutMsgs, out: s.InMsgs}
}

// serverCounter reads the server's whole in_msgs and out_msgs: from the
// embedded server, or from the monitoring endpoint's /varz; nil when
// neither is available.
type serverCounter func(ctx context.Context) (msgCount, error)

func newServerCounter(embedded *server.Server, monitor string) serverCounter {
	switch {
	case embedded != nil:
		return func(context.Context) (msgCount, error) {
			v, err := embedded.Varz(nil)
			if err != nil {
				return msgCount{}, err
			}
			return msgCount{in: uint64(v.InMsgs), out: uint64(v.OutMsgs)}, nil
		}
	case monitor != "":
		url := strings.TrimSuffix(monitor, "/") + "/varz"
		return func(ctx context.Context) (msgCount, error) { return fetchVarz(ctx, url) }
	default:
		return nil
	}
}

func fetchVarz(ctx context.Context, url string) (msgCount, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return msgCount{}, err
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return msgCount{}, fmt.Errorf("varz: %w", err)
	}
	defer resp.Body.Close()
	var v struct {
		InMsgs  uint64 `json:"in_msgs"`
		OutMsgs uint64 `json:"out_msgs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return msgCount{}, fmt.Errorf("varz: %w", err)
	}
	return msgCount{in: v.InMsgs, out: v.OutMsgs}, nil
}

// phaseResult is what one phase measured.
type phaseResult struct {
	name      string
	n         int
	took      time.Duration // first publication (or start) to the last event
	first     time.Duration // first publication (or start) to the first event
	settled   time.Duration // the last event to settled (acknowledged, tasks delivered)
	rate      float64       // offered rate of a paced phase; 0 for a queued one
	conn      msgCount      // the pipeline's connection
	server    msgCount      // the server's varz delta; zero when unknown
	hasServer bool
	lat       []time.Duration
	cpu       cpuUse        // from the phase's start until settled
	pause     time.Duration // the longest between two events in a row
}

// stalled reports whether a queued phase stalled (stallPause); a paced
// phase's pauses are its publisher's.
func (r phaseResult) stalled() bool { return r.rate == 0 && r.pause > stallPause }

func (r phaseResult) throughput() float64 { return float64(r.n) / r.took.Seconds() }

func (r phaseResult) print(w io.Writer) {
	fmt.Fprintf(w, "%s: %d submissions", r.name, r.n)
	if r.rate > 0 {
		fmt.Fprintf(w, " offered at %.0f/s", r.rate)
	}
	fmt.Fprintf(w, " in %s (settled %s later)\n  throughput: %.0f submissions/s (the first event after %s)\n", r.took.Round(time.Millisecond), r.settled.Round(time.Millisecond), r.throughput(), fmtDur(r.first))
	fmt.Fprintf(w, "  longest pause between two events: %s", fmtDur(r.pause))
	if r.stalled() {
		fmt.Fprint(w, " (STALLED: submissions waited and none was taken; this rate is not the pipeline's)")
	}
	fmt.Fprintln(w)
	n := float64(r.n)
	fmt.Fprintf(w, "  messages per submission, pipeline connection: %.2f in, %.2f out", float64(r.conn.in)/n, float64(r.conn.out)/n)
	if r.hasServer {
		fmt.Fprintf(w, "; server /varz (all connections): %.2f in, %.2f out", float64(r.server.in)/n, float64(r.server.out)/n)
	}
	fmt.Fprintln(w)
	if r.cpu.hasSelf {
		n := time.Duration(r.n)
		fmt.Fprintf(w, "  CPU per submission: this process %s", fmtMS(r.cpu.self/n))
		if r.cpu.hasServer {
			fmt.Fprintf(w, "; nats-server %s; together %s", fmtMS(r.cpu.server/n), fmtMS((r.cpu.self+r.cpu.server)/n))
		}
		fmt.Fprintf(w, " (%.2f of %d CPUs busy)\n", r.cpu.busy(), runtime.NumCPU())
	}
	fmt.Fprintf(w, "  latency publish→submitted: p50 %s  p90 %s  p99 %s  max %s\n",
		fmtDur(percentile(r.lat, 0.50)), fmtDur(percentile(r.lat, 0.90)), fmtDur(percentile(r.lat, 0.99)), fmtDur(percentile(r.lat, 1)))
}

func fmtDur(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(10 * time.Microsecond).String()
}

// pace calls publish(i) for i in [0, n) at rate per second, each at the
// moment it is due, and returns when the last is published. It sleeps in
// steps of at least a millisecond and publishes whatever came due.
func pace(ctx context.Context, n int, rate float64, publish func(i int, due time.Time) error) error {
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(max(wait, time.Millisecond)):
			}
		}
		for ; i < n; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(time.Now()) {
				break
			}
			if err := publish(i, due); err != nil {
				return err
			}
		}
	}
	return nil
}
