package pipetest

import (
	"encoding/json"
	"testing"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
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
// order: one per distinct document, the record's among them. Either
// profile passes: the friendly simulator serves the same bytes in Dati
// disponibili and Visura evasa, the published one the DSU receipt, then
// the certificate. It returns the document events.
func CheckDocuments(t testing.TB, evs []publisher.Event, rec *record.Record) []publisher.DocumentReady {
	t.Helper()
	docs := DocumentEvents(t, evs)
	seen := map[string]bool{}
	for _, d := range docs {
		if seen[d.SHA256] {
			t.Errorf("%s: document %.16s announced twice (events %+v)", rec.ID, d.SHA256, docs)
		}
		seen[d.SHA256] = true
	}
	if rec.Document == nil || !seen[rec.Document.SHA256] {
		t.Errorf("%s: document events %+v, want one announcing the record's document %+v", rec.ID, docs, rec.Document)
	}
	return docs
}
