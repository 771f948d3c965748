//go:build chaos && linux

package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Submissions: n distinct ISEE requests of tenant "chaos". The name field
// ($0) is unique per submission, so the simulator's record of each request
// (json_ricerca) says which submission it came from.

func submissionID(i int) string   { return fmt.Sprintf("chaos-%05d", i) }
func submissionName(i int) string { return fmt.Sprintf("Chaos%05d", i) }

// recordKey is the submission's key in the records bucket.
func recordKey(i int) string { return tenant + "." + submissionID(i) }

func submissionBody(i int) []byte {
	b, err := json.Marshal(map[string]any{
		"id": submissionID(i), "service": "ISEE", "options": []string{"urgenza"},
		"fields": map[string]string{
			"$0": submissionName(i), "$1": "Rossi", "$2": "mario.rossi@example.it", "$3": "+39 333 1234567",
			"$4": "RSSMRA85T10A562S", "$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
			"$6": "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		},
	})
	if err != nil {
		panic(err) // a map of strings always marshals
	}
	return b
}

// dupEvery and dupLag: every dupEvery-th submission is published a second
// time, dupLag submissions later, as an HR platform re-sending it would
// (its Nats-Msg-Id with a suffix, so the stream keeps both): iseed must not
// send it again.
const (
	dupEvery = 10
	dupLag   = 25
)

// feeder publishes the submissions at an even pace. A publish that
// fails or times out is repeated with the same Nats-Msg-Id, which the
// stream deduplicates, so each copy is stored once.
type feeder struct {
	js       jetstream.JetStream
	n        int
	interval time.Duration

	messages atomic.Int64 // stored: submissions and their duplicates
	retries  atomic.Int64
}

func (p *feeder) run(ctx context.Context) error {
	start := time.Now()
	for i := range p.n {
		if err := sleep(ctx, time.Until(start.Add(time.Duration(i)*p.interval))); err != nil {
			return err
		}
		if err := p.publish(ctx, i, ""); err != nil {
			return err
		}
		if j := i - dupLag; j >= 0 && j%dupEvery == 0 {
			if err := p.publish(ctx, j, ".again"); err != nil {
				return err
			}
		}
	}
	for j := max(0, p.n-dupLag); j < p.n; j++ {
		if j%dupEvery == 0 {
			if err := p.publish(ctx, j, ".again"); err != nil {
				return err
			}
		}
	}
	return nil
}

// duplicates is how many second copies run publishes for n submissions.
func duplicates(n int) int { return (n + dupEvery - 1) / dupEvery }

// submissionMsgID is the Nats-Msg-Id iseed requires of a submission
// (tenant, id and the payload's fingerprint; docs/events.md), with suffix
// (".again") for the second copy.
func submissionMsgID(i int, suffix string) (string, error) {
	sub, err := consumer.DecodeSubmission(submissionBody(i))
	if err != nil {
		return "", err
	}
	return publisher.SubmissionMsgID(tenant, sub.ID, sub.Fingerprint()) + suffix, nil
}

func (p *feeder) publish(ctx context.Context, i int, suffix string) error {
	msgID, err := submissionMsgID(i, suffix)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: "iseed.submissions." + tenant, Data: submissionBody(i), Header: nats.Header{}}
	msg.Header.Set(jetstream.MsgIDHeader, msgID)
	first := time.Now()
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := p.js.PublishMsg(actx, msg)
		cancel()
		if err == nil {
			p.messages.Add(1)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(first) > 5*time.Minute {
			return fmt.Errorf("publish %s: failing for 5 minutes: %w", msgID, err)
		}
		p.retries.Add(1)
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// liveTally follows the events stream while the run goes on, to know when
// every submission has completed. The final check reads the stream again
// from the start.
type liveTally struct {
	mu        sync.Mutex
	completed map[string]bool
	ended     map[string]bool // completed, or failed, cancelled or rejected: nothing more will happen
	events    int
}

// finalStates end a submission (status event types' last token).
var finalStates = []string{".completed", ".failed", ".cancelled", ".rejected"}

func followEvents(ctx context.Context, js jetstream.JetStream) (*liveTally, func(), error) {
	lt := &liveTally{completed: map[string]bool{}, ended: map[string]bool{}}
	c, err := js.OrderedConsumer(ctx, "ISEED_EVENTS", jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, nil, err
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		lt.mu.Lock()
		defer lt.mu.Unlock()
		lt.events++
		id := m.Headers().Get(jetstream.MsgIDHeader)
		if strings.HasSuffix(id, ".completed") {
			lt.completed[m.Subject()] = true
		}
		for _, f := range finalStates {
			if strings.HasSuffix(id, f) {
				lt.ended[m.Subject()] = true
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	return lt, cc.Stop, nil
}

func (lt *liveTally) counts() (completed, ended, events int) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return len(lt.completed), len(lt.ended), lt.events
}
