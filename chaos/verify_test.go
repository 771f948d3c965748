//go:build chaos && linux

package chaos

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// figures are what the run measured; problems are what make it fail.
type figures struct {
	submissions, messages, publishRetries int
	created, charged, posts               int
	upstreamRequests, duplicateRequests   int
	orphanRequests, missingRequests       int
	recordsCompleted, indexMismatches     int
	documentsVerified, cliVerified        int
	events                                int
	eventsByType                          map[string]int
	duplicateEvents                       int
	deadLetters                           int
	processes                             []string // per iseed process, from its log
	problems                              []string
}

func (f *figures) problem(format string, a ...any) {
	if len(f.problems) < 1000 {
		f.problems = append(f.problems, fmt.Sprintf(format, a...))
	}
}

// simCounters reads the simulator's GET /_sim/counters.
func (w *world) simCounters(ctx context.Context) (map[string]int, error) {
	var c map[string]int
	err := w.getJSON(ctx, "http://"+simAddr+":8089/_sim/counters", false, &c)
	return c, err
}

func (w *world) getJSON(ctx context.Context, url string, auth bool, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+simToken)
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("GET %s: %s %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// checkUpstream counts the simulator's requests per submission, from the
// input each request recorded. It returns the request id of each
// submission that has exactly one.
func (w *world) checkUpstream(ctx context.Context, f *figures) (map[int]string, error) {
	c, err := w.simCounters(ctx)
	if err != nil {
		return nil, err
	}
	f.created, f.charged, f.posts = c["created"], c["charged"], c["POST /richiesta"]
	if f.created != f.submissions {
		f.problem("simulator created %d requests for %d submissions", f.created, f.submissions)
	}
	if f.charged != f.submissions {
		f.problem("simulator charged %d requests for %d submissions", f.charged, f.submissions)
	}
	var list struct {
		Data []struct {
			ID string `json:"_id"`
		} `json:"data"`
	}
	if err := w.getJSON(ctx, "http://"+simAddr+":8089/richiesta", true, &list); err != nil {
		return nil, err
	}
	f.upstreamRequests = len(list.Data)
	names := make([]string, len(list.Data))
	var mu sync.Mutex
	var firstErr error
	forEach(len(list.Data), 8, func(k int) {
		name, err := w.requestName(ctx, list.Data[k].ID)
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		names[k] = name
	})
	if firstErr != nil {
		return nil, firstErr
	}
	bySub := map[int][]string{}
	for k, name := range names {
		var i int
		if _, err := fmt.Sscanf(name, "Chaos%05d", &i); err != nil || i < 0 || i >= f.submissions {
			f.orphanRequests++
			f.problem("upstream request %s has name %q: no such submission", list.Data[k].ID, name)
			continue
		}
		bySub[i] = append(bySub[i], list.Data[k].ID)
	}
	one := map[int]string{}
	for i := range f.submissions {
		switch ids := bySub[i]; len(ids) {
		case 0:
			f.missingRequests++
			f.problem("%s: no upstream request", submissionID(i))
		case 1:
			one[i] = ids[0]
		default:
			f.duplicateRequests += len(ids) - 1
			f.problem("%s: %d upstream requests %v", submissionID(i), len(ids), ids)
		}
	}
	return one, nil
}

// requestName reads one upstream request and returns the name field its
// recorded input holds.
func (w *world) requestName(ctx context.Context, id string) (string, error) {
	var r struct {
		Data struct {
			Ricerche []struct {
				JSON string `json:"json_ricerca"`
			} `json:"ricerche"`
		} `json:"data"`
	}
	if err := w.getJSON(ctx, "http://"+simAddr+":8089/richiesta/"+id, true, &r); err != nil {
		return "", err
	}
	if len(r.Data.Ricerche) == 0 {
		return "", fmt.Errorf("request %s: no json_ricerca", id)
	}
	var in map[string]string
	if err := json.Unmarshal([]byte(r.Data.Ricerche[0].JSON), &in); err != nil {
		return "", fmt.Errorf("request %s: json_ricerca: %w", id, err)
	}
	return in["$0"], nil
}

// record is the part of iseed's submission record the suite checks
// (decoded from its JSON, so the suite does not depend on iseed's types).
type record struct {
	State     string `json:"state"`
	Reason    string `json:"reason"`
	RequestID string `json:"request_id"`
	Document  *struct {
		Bucket string `json:"bucket"`
		Object string `json:"object"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"document"`
}

// checkRecords checks each submission's record against the upstream, the
// request index and the stored document (digest recomputed from the
// Object Store). It returns the records.
func (w *world) checkRecords(ctx context.Context, f *figures, upstream map[int]string) ([]*record, error) {
	recs, err := retrying(ctx, "the records bucket", func(ctx context.Context) (jetstream.KeyValue, error) {
		return w.js.KeyValue(ctx, "iseed_submissions")
	})
	if err != nil {
		return nil, err
	}
	index, err := retrying(ctx, "the request index", func(ctx context.Context) (jetstream.KeyValue, error) {
		return w.js.KeyValue(ctx, "iseed_requests")
	})
	if err != nil {
		return nil, err
	}
	docs := &buckets{js: w.js, open: map[string]jetstream.ObjectStore{}}
	out := make([]*record, f.submissions)
	var mu sync.Mutex
	forEach(f.submissions, 8, func(i int) {
		r, probs := checkOne(ctx, i, recs, index, docs, upstream[i])
		mu.Lock()
		defer mu.Unlock()
		out[i] = r
		for _, p := range probs {
			f.problem("%s: %s", submissionID(i), p)
		}
		if r != nil && r.State == "completed" {
			f.recordsCompleted++
		}
		if len(probs) == 0 {
			f.documentsVerified++
		}
	})
	return out, nil
}

// checkOne checks one submission. Each read is retried for a while, so
// that only a lasting fault counts: a direct get may be answered by a
// replica that is still catching up.
func checkOne(ctx context.Context, i int, recs, index jetstream.KeyValue, docs *buckets, upstreamID string) (*record, []string) {
	var r record
	_, err := retrying(ctx, "the completed record of "+submissionID(i), func(ctx context.Context) (bool, error) {
		e, err := recs.Get(ctx, recordKey(i))
		if err != nil {
			return false, err
		}
		r = record{}
		if err := json.Unmarshal(e.Value(), &r); err != nil {
			return false, stopWaiting(err)
		}
		if r.State == "failed" {
			return false, stopWaiting(fmt.Errorf("state failed, reason %s", r.Reason))
		}
		if r.State != "completed" || r.Document == nil {
			return false, fmt.Errorf("state %s, document %v", r.State, r.Document != nil)
		}
		return true, nil
	})
	if r.State == "" {
		return nil, []string{fmt.Sprintf("record: %v", err)}
	}
	var probs []string
	if err != nil {
		probs = append(probs, fmt.Sprintf("record: %v", err))
	}
	if upstreamID != "" && r.RequestID != upstreamID {
		probs = append(probs, fmt.Sprintf("record names request %q, the upstream's is %s", r.RequestID, upstreamID))
	}
	owner, err := retrying(ctx, "the request index entry of "+r.RequestID, func(ctx context.Context) (string, error) {
		e, err := index.Get(ctx, r.RequestID)
		if err != nil {
			return "", err
		}
		return string(e.Value()), nil
	})
	if err != nil || owner != recordKey(i) {
		probs = append(probs, fmt.Sprintf("request index for %q: %q (%v)", r.RequestID, owner, err))
	}
	if r.Document == nil {
		return &r, probs
	}
	b, err := retrying(ctx, "document "+r.Document.Object, func(ctx context.Context) ([]byte, error) {
		obs, err := docs.get(ctx, r.Document.Bucket)
		if err != nil {
			return nil, err
		}
		return obs.GetBytes(ctx, r.Document.Object)
	})
	if err != nil {
		return &r, append(probs, fmt.Sprintf("document %s: %v", r.Document.Object, err))
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != r.Document.SHA256 || int64(len(b)) != r.Document.Size {
		probs = append(probs, fmt.Sprintf("document %s: sha256 %s size %d, record says %s size %d",
			r.Document.Object, got, len(b), r.Document.SHA256, r.Document.Size))
	}
	return &r, probs
}

// buckets opens the Object Store buckets records name (one per tenant),
// once each.
type buckets struct {
	js   jetstream.JetStream
	mu   sync.Mutex
	open map[string]jetstream.ObjectStore
}

func (b *buckets) get(ctx context.Context, name string) (jetstream.ObjectStore, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if obs, ok := b.open[name]; ok {
		return obs, nil
	}
	obs, err := b.js.ObjectStore(ctx, name)
	if err == nil {
		b.open[name] = obs
	}
	return obs, err
}

// retrying calls f until it succeeds, returns stopWaiting(err), or 30 s
// have passed (right after a fault a stream may still be electing its
// leader, or a replica catching up).
func retrying[T any](ctx context.Context, what string, f func(context.Context) (T, error)) (T, error) {
	var v T
	err := waitFor(ctx, 30*time.Second, what, func() error {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		var err error
		v, err = f(actx)
		return err
	})
	return v, err
}

// event is the part of a CloudEvent the suite checks.
type event struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data struct {
		SubmissionID string `json:"submission_id"`
		SHA256       string `json:"sha256"`
		Object       string `json:"object"`
		Final        bool   `json:"final"`
	} `json:"data"`
}

// finalDocument is the per-submission count key of the final document's
// event; earlier documents' events are not counted.
const finalDocument = "iseed.document.ready final"

// finalDocumentAnew is the count key of the final document's event when
// it is stored under the final name beside its receipt (id ".final.anew").
const finalDocumentAnew = "iseed.document.ready final anew"

// checkEvents reads the whole events stream: every event id must be there
// once, and each submission must have one submitted, one completed and one
// final document_ready event (or two, the same document announced under
// its receipt's object and then under the final name), the last naming
// the stored document's digest and the record's object.
func (w *world) checkEvents(ctx context.Context, f *figures, recs []*record) error {
	byID := map[string]int{}
	per := map[string]map[string]int{}
	digests := map[string]string{}
	objects := map[string]string{} // the last final event's object, by submission
	f.eventsByType = map[string]int{}
	err := w.readStream(ctx, "ISEED_EVENTS", func(data []byte) {
		f.events++
		var ev event
		if err := json.Unmarshal(data, &ev); err != nil {
			f.problem("event: %v", err)
			return
		}
		byID[ev.ID]++
		f.eventsByType[ev.Type]++
		if per[ev.Data.SubmissionID] == nil {
			per[ev.Data.SubmissionID] = map[string]int{}
		}
		per[ev.Data.SubmissionID][ev.Type]++
		if ev.Type == "iseed.document.ready" && ev.Data.Final {
			key := finalDocument
			if strings.HasSuffix(ev.ID, ".final.anew") {
				key = finalDocumentAnew
			}
			per[ev.Data.SubmissionID][key]++
			digests[ev.Data.SubmissionID] = ev.Data.SHA256
			objects[ev.Data.SubmissionID] = ev.Data.Object
		}
	})
	if err != nil {
		return err
	}
	for id, n := range byID {
		if n > 1 {
			f.duplicateEvents += n - 1
			f.problem("event %s stored %d times", id, n)
		}
	}
	for i := range f.submissions {
		got := per[submissionID(i)]
		// A final document announced under its receipt's object by a
		// catch-up that then found the receipt written is announced again
		// under the final name (tracking.FinalDocumentEventID): one final
		// document, the last event naming the record's.
		finals := max(got[finalDocument], got[finalDocumentAnew])
		for _, typ := range []string{"iseed.submission.submitted", "iseed.submission.completed", finalDocument} {
			n := got[typ]
			if typ == finalDocument {
				n = finals
			}
			if n != 1 {
				f.problem("%s: %d %s events, want 1", submissionID(i), n, typ)
			}
		}
		if r := recs[i]; r != nil && r.Document != nil {
			if digests[submissionID(i)] != r.Document.SHA256 {
				f.problem("%s: the final document_ready says sha256 %s, the record %s", submissionID(i), digests[submissionID(i)], r.Document.SHA256)
			}
			// A consumer keeps the last final event's object: it must be
			// the one the record names, not the receipt's, which expires
			// first (docs/events.md).
			if objects[submissionID(i)] != r.Document.Object {
				f.problem("%s: the last final document_ready names object %q, the record %q", submissionID(i), objects[submissionID(i)], r.Document.Object)
			}
		}
	}
	return nil
}

// readStream calls f with every message of stream, in order, from the
// first to the last sequence at the time of the call. A fetch that fails
// (a leader moving, the consumer lost) is resumed with a new ordered
// consumer from the next sequence; two minutes bound the whole read.
func (w *world) readStream(ctx context.Context, name string, f func([]byte)) error {
	st, err := retrying(ctx, "stream "+name, func(ctx context.Context) (jetstream.Stream, error) {
		return w.js.Stream(ctx, name)
	})
	if err != nil {
		return err
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return nil
	}
	next, last := state.FirstSeq, state.LastSeq
	deadline := time.Now().Add(2 * time.Minute)
	var lastErr error
	for next <= last {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: read up to sequence %d of %d in 2 minutes (last error: %v)", name, next-1, last, lastErr)
		}
		c, err := w.js.OrderedConsumer(ctx, name, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: next})
		if err != nil {
			lastErr = err
			_ = sleep(ctx, time.Second)
			continue
		}
		for next <= last {
			batch, err := c.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				lastErr = err
				break
			}
			for m := range batch.Messages() {
				meta, err := m.Metadata()
				if err != nil || meta.Sequence.Stream < next {
					continue
				}
				next = meta.Sequence.Stream + 1
				if meta.Sequence.Stream <= last {
					f(m.Data())
				}
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				lastErr = err
				break
			}
		}
	}
	return nil
}

// checkCLI fetches a sample of documents with `iseed document get`, as an
// operator would, from the control namespace: it decrypts if need be and
// verifies size and digest against the record before writing the file.
func (w *world) checkCLI(ctx context.Context, f *figures, recs []*record, sample int) {
	if sample <= 0 || sample > f.submissions {
		sample = f.submissions
	}
	dir := filepath.Join(w.dir, "documents")
	_ = os.MkdirAll(dir, 0o755)
	step := max(1, f.submissions/sample)
	for k := 0; k < sample; k++ {
		i := (k * step) % f.submissions
		out := filepath.Join(dir, submissionID(i)+".zip")
		cmd := w.ctl.command(filepath.Join(w.bin, "iseed"), "document", "get", "--tenant", tenant, submissionID(i), "-o", out)
		cmd.Env = append(os.Environ(), "ISEED_NATS_URL="+natsURLs())
		if b, err := cmd.CombinedOutput(); err != nil {
			f.problem("iseed document get %s: %v: %s", submissionID(i), err, strings.TrimSpace(string(b)))
			continue
		}
		b, err := os.ReadFile(out)
		sum := sha256.Sum256(b)
		if err != nil || recs[i] == nil || recs[i].Document == nil || hex.EncodeToString(sum[:]) != recs[i].Document.SHA256 {
			f.problem("iseed document get %s: file does not match the record (%v)", submissionID(i), err)
			continue
		}
		f.cliVerified++
	}
}

// checkQueues: nothing dead-lettered, nothing left to deliver or track.
func (w *world) checkQueues(ctx context.Context, f *figures) error {
	stream := func(name string) (jetstream.Stream, error) {
		return retrying(ctx, "stream "+name, func(ctx context.Context) (jetstream.Stream, error) { return w.js.Stream(ctx, name) })
	}
	dlq, err := stream("ISEED_DLQ")
	if err != nil {
		return err
	}
	f.deadLetters = int(dlq.CachedInfo().State.Msgs)
	if f.deadLetters != 0 {
		f.problem("%d dead letters", f.deadLetters)
	}
	c, err := retrying(ctx, "the submitter consumer", func(ctx context.Context) (jetstream.Consumer, error) {
		return w.js.Consumer(ctx, "ISEED_SUBMISSIONS", "submitter")
	})
	if err != nil {
		return err
	}
	ci := c.CachedInfo()
	if ci.NumPending != 0 || ci.NumAckPending != 0 {
		f.problem("submitter consumer: %d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
	}
	tr, err := stream("ISEED_TRACK")
	if err != nil {
		return err
	}
	if n := tr.CachedInfo().State.Msgs; n != 0 {
		f.problem("%d tracking tasks still open", n)
	}
	for _, p := range w.iseed {
		if !p.running() || p.starts != 1 {
			f.problem("%s: running %v after %d starts (%s)", p.name, p.running(), p.starts, p.exitStatus())
		}
	}
	return nil
}

// checkLogs sums each iseed process's log: its outcomes, the redeliveries
// it handled, the requests it saw to their end, and its errors.
func (w *world) checkLogs(f *figures) {
	for _, p := range w.iseed {
		outcomes := map[string]int{}
		var redelivered, finals, errs int
		for _, l := range p.logLines() {
			switch {
			case l.Message == "submission processed":
				outcomes[l.Outcome]++
				if l.Delivered > 1 {
					redelivered++
				}
			case l.Message == "request polled" && l.Final:
				finals++
			}
			if l.Level == "error" {
				errs++
			}
		}
		kinds := make([]string, 0, len(outcomes))
		for k, n := range outcomes {
			kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(kinds)
		f.processes = append(f.processes, fmt.Sprintf("%-22s messages %s (redeliveries %d); final polls %d; error lines %d",
			p.name+" (iseed serve)", strings.Join(kinds, " "), redelivered, finals, errs))
	}
}

// report prints the figures and the phases.
func (w *world) report(f *figures) string {
	var b strings.Builder
	fmt.Fprintf(&b, "submissions            %d (messages published %d: each once, every %dth again; publish retries %d)\n",
		f.submissions, f.messages, dupEvery, f.publishRetries)
	fmt.Fprintf(&b, "upstream               created %d, charged %d, POST /richiesta %d, requests listed %d\n",
		f.created, f.charged, f.posts, f.upstreamRequests)
	fmt.Fprintf(&b, "duplicates found       upstream requests %d, events %d (orphan requests %d, submissions without request %d)\n",
		f.duplicateRequests, f.duplicateEvents, f.orphanRequests, f.missingRequests)
	fmt.Fprintf(&b, "records                completed %d/%d\n", f.recordsCompleted, f.submissions)
	fmt.Fprintf(&b, "documents verified     %d/%d by digest from the Object Store; %d by `iseed document get`\n",
		f.documentsVerified, f.submissions, f.cliVerified)
	types := make([]string, 0, len(f.eventsByType))
	for t := range f.eventsByType {
		types = append(types, t)
	}
	sort.Strings(types)
	fmt.Fprintf(&b, "events                 %d:", f.events)
	for _, t := range types {
		fmt.Fprintf(&b, " %s=%d", strings.TrimPrefix(strings.TrimPrefix(t, "iseed.submission."), "iseed."), f.eventsByType[t])
	}
	fmt.Fprintf(&b, "\ndead letters           %d\n", f.deadLetters)
	for _, p := range f.processes {
		fmt.Fprintf(&b, "%s\n", p)
	}
	fmt.Fprintf(&b, "phases:\n")
	var total time.Duration
	for _, p := range w.phases {
		total += p.took
		fmt.Fprintf(&b, "%s\n", strings.TrimRight(fmt.Sprintf("  %-28s %8s  %s", p.name, p.took, p.note), " "))
	}
	fmt.Fprintf(&b, "  %-28s %8s\n", "total", total)
	return b.String()
}

// forEach runs f(0..n-1) on par goroutines.
func forEach(n, par int, f func(int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
