package sim

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

const (
	callbackWorkers  = 4
	callbackAttempts = 5                      // per state change
	callbackBackoff  = 100 * time.Millisecond // doubled after each failed attempt
	callbackTimeout  = 10 * time.Second       // per attempt, whatever the client
	maxSchedulerWait = 200 * time.Millisecond // so a Config.Now that jumps is noticed
)

// delivery is one callback due: the request's state change to phase at time at.
type delivery struct {
	due     time.Time
	rec     *record
	phase   phase
	at      time.Time
	attempt int
}

// dispatcher delivers callbacks: one scheduler goroutine pops due deliveries
// off a min-heap and hands them to a fixed pool of workers; failed attempts
// go back on the heap with backoff. Nothing here blocks an API call.
type dispatcher struct {
	s     *Server
	mu    sync.Mutex
	queue deliveryHeap
	wake  chan struct{}
	jobs  chan delivery
}

func newDispatcher(s *Server) *dispatcher {
	return &dispatcher{s: s, wake: make(chan struct{}, 1), jobs: make(chan delivery)}
}

// start runs the scheduler and the workers until ctx is done; wg waits for them.
func (d *dispatcher) start(ctx context.Context, wg *sync.WaitGroup) {
	wg.Add(1 + callbackWorkers)
	go func() {
		defer wg.Done()
		d.schedule(ctx)
	}()
	for range callbackWorkers {
		go func() {
			defer wg.Done()
			d.work(ctx)
		}()
	}
}

func (d *dispatcher) push(dl delivery) {
	d.mu.Lock()
	first := len(d.queue) == 0 || dl.due.Before(d.queue[0].due)
	heap.Push(&d.queue, dl)
	d.mu.Unlock()
	if first {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// next pops the earliest delivery if it is due, or says how long to wait.
func (d *dispatcher) next(now time.Time) (delivery, time.Duration, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.queue) == 0 {
		return delivery{}, -1, false
	}
	if wait := d.queue[0].due.Sub(now); wait > 0 {
		return delivery{}, min(wait, maxSchedulerWait), false
	}
	return heap.Pop(&d.queue).(delivery), 0, true
}

func (d *dispatcher) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		dl, wait, ok := d.next(d.s.now())
		if ok {
			select {
			case d.jobs <- dl:
				continue
			case <-ctx.Done():
				return
			}
		}
		var tick <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-tick:
		case <-d.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (d *dispatcher) work(ctx context.Context) {
	for {
		select {
		case dl := <-d.jobs:
			d.deliver(ctx, dl)
		case <-ctx.Done():
			return
		}
	}
}

// deliver makes one attempt; a superseded state change (the request was
// cancelled before it happened) is dropped.
func (d *dispatcher) deliver(ctx context.Context, dl delivery) {
	s, rec := d.s, dl.rec
	rec.mu.Lock()
	tl := rec.life.timeline(s.step)
	if !tl[dl.phase].Equal(dl.at) {
		rec.mu.Unlock()
		return
	}
	view := rec.viewLocked(s, dl.at, s.echo)
	rec.mu.Unlock()
	if err := s.post(ctx, rec.target, &view); err != nil {
		s.counters[cCallbackFailures].Add(1)
		if dl.attempt+1 < callbackAttempts && ctx.Err() == nil {
			dl.attempt++
			dl.due = s.now().Add(callbackBackoff << (dl.attempt - 1))
			d.push(dl)
		}
		return
	}
	s.counters[cCallbacks].Add(1)
}

// post sends one callback: {<field>: <Richiesta>} as JSON for method "JSON",
// or a form with <field> = the Richiesta's JSON for "POST".
func (s *Server) post(ctx context.Context, t *callbackTarget, view *richiestaWire) error {
	data, err := json.Marshal(view)
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	var body []byte
	ctype := "application/x-www-form-urlencoded"
	if t.json {
		body, err = json.Marshal(map[string]json.RawMessage{t.field: data})
		ctype = "application/json"
	} else {
		body = []byte(url.Values{t.field: {string(data)}}.Encode())
	}
	if err != nil {
		return fmt.Errorf("encode callback: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, callbackTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("User-Agent", "visengine-sim")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("callback: HTTP %d", resp.StatusCode)
	}
	return nil
}

// scheduleLifecycle queues a callback for every state change of a request
// just submitted.
func (s *Server) scheduleLifecycle(rec *record) {
	if rec.target == nil {
		return
	}
	rec.mu.Lock()
	tl := rec.life.timeline(s.step)
	rec.mu.Unlock()
	for p := phInProgress; p < numPhases; p++ {
		if !tl[p].IsZero() {
			due := tl[p]
			if rec.visible.After(due) {
				due = rec.visible // a late commit: nothing is told before the request is seen
			}
			s.callbacks.push(delivery{due: due, rec: rec, phase: p, at: tl[p]})
		}
	}
}

// scheduleCancel queues the callback of a DELETE.
func (s *Server) scheduleCancel(rec *record, at time.Time) {
	if rec.target != nil {
		s.callbacks.push(delivery{due: at, rec: rec, phase: phCancelled, at: at})
	}
}

// deliveryHeap is a min-heap of deliveries by due time.
type deliveryHeap []delivery

func (h deliveryHeap) Len() int           { return len(h) }
func (h deliveryHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h deliveryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *deliveryHeap) Push(x any)        { *h = append(*h, x.(delivery)) }
func (h *deliveryHeap) Pop() any {
	old := *h
	n := len(old)
	x := old[n-1]
	old[n-1] = delivery{}
	*h = old[:n-1]
	return x
}
