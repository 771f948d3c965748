package pipetest

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// DocumentEvents returns the data of the document-ready events among evs,
// in their order.
func DocumentEvents(t testing.TB, evs []publisher.Event) []publisher.DocumentReady {
	t.Helper()
	var out []publisher.DocumentReady
	for _, ev := range evs {
		if ev.Type != publisher.TypeDocumentReady {
			continue
		}
		var d publisher.DocumentReady
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatalf("document event %s: %v", ev.ID, err)
		}
		out = append(out, d)
	}
	return out
}

// CheckDocuments checks the document-ready events of a submission whose
// tracking ended with its final document, evs being its events in stream
// order: one per distinct document fetched before Visura evasa (final:
// false), and one final document (final: true, stato Visura evasa), the
// record's, stored before completed (or two, the same bytes, the last the
// record's: the final document announced under its receipt's object, then
// under the final name, tracking.FinalDocumentEventID). Either profile passes: the friendly
// simulator serves the same bytes in Dati disponibili and Visura evasa, the
// published one the DSU receipt, then the certificate. It returns the
// document events.
func CheckDocuments(t testing.TB, evs []publisher.Event, rec *record.Record) []publisher.DocumentReady {
	t.Helper()
	docs := DocumentEvents(t, evs)
	seen := map[string]bool{}
	var finals []publisher.DocumentReady
	for _, d := range docs {
		if want := d.Stato == visengine.StateFulfilled; d.Final != want || (!d.Final && d.Stato != visengine.StateDataReady) {
			t.Errorf("%s: document %.16s: stato %q, final %v; want final only for Visura evasa", rec.ID, d.SHA256, d.Stato, d.Final)
		}
		key := fmt.Sprintf("%.16s (final: %v) %s", d.SHA256, d.Final, d.Object)
		if seen[key] {
			t.Errorf("%s: document %s announced twice (events %+v)", rec.ID, key, docs)
		}
		seen[key] = true
		if d.Final {
			finals = append(finals, d)
		}
	}
	// One final event, but for a catch-up that announced the final
	// document under the receipt's object and then found the receipt
	// written (a callback beside a poll): it stores the same bytes again
	// under the final name and announces that too. The last one names the
	// record's document.
	switch n := len(finals); {
	case n == 0 || n > 2:
		t.Errorf("%s: %d final document events (events %+v), want 1", rec.ID, n, docs)
	case n == 2 && finals[0].SHA256 != finals[1].SHA256:
		t.Errorf("%s: two final documents %+v", rec.ID, finals)
	}
	if n := len(finals); n > 0 {
		if d := finals[n-1]; rec.Document == nil || d.SHA256 != rec.Document.SHA256 || d.Object != rec.Document.Object {
			t.Errorf("%s: final document event %+v, want the record's %+v", rec.ID, d, rec.Document)
		}
	}
	if f, c := indexOf(evs, isFinalDocument), indexOf(evs, isType(publisher.StatusType(publisher.StateCompleted))); c >= 0 && (f < 0 || f > c) {
		t.Errorf("%s: completed is event %d, the final document's %d; want the document first", rec.ID, c, f)
	}
	return docs
}

func indexOf(evs []publisher.Event, f func(publisher.Event) bool) int {
	for i, ev := range evs {
		if f(ev) {
			return i
		}
	}
	return -1
}

func isType(typ string) func(publisher.Event) bool {
	return func(ev publisher.Event) bool { return ev.Type == typ }
}

func isFinalDocument(ev publisher.Event) bool {
	var d publisher.DocumentReady
	return ev.Type == publisher.TypeDocumentReady && json.Unmarshal(ev.Data, &d) == nil && d.Final
}
