package e2e_test

import (
	"context"
	"io"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
)

// namedDocuments serves the simulator's requests with a small document
// under the file name nome, however odd.
type namedDocuments struct {
	*visengine.Client
	nome string
}

func (c namedDocuments) Documento(ctx context.Context, id string, w io.Writer) (*visengine.Document, error) {
	return pdfAnswerNamed(w, c.nome, []byte("%PDF-1.4 "+id))
}

func pdfAnswerNamed(w io.Writer, nome string, body []byte) (*visengine.Document, error) {
	n, err := w.Write(body)
	return &visengine.Document{Nome: nome, Dimensione: int64(len(body)), Written: int64(n)}, err
}

// An upstream file name of kilobytes (the API bounds none) is stored under
// a shortened name: in full, base64-encoded in the object's subjects, it
// went over the server's control line, and the server closed iseed's NATS
// connection, which nats.go does not reopen after such an error.
func TestLongDocumentNameIsShortened(t *testing.T) {
	tests := []struct{ name, nome string }{
		{"ASCII", strings.Repeat("a", 8000) + ".pdf"},
		{"multibyte", strings.Repeat("è", 3000) + ".pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTrackHarness(t, fastTracking(100*time.Millisecond))
			h.upstream = namedDocuments{h.Client, tt.nome}
			tr := h.newTracker(nil)
			h.runTracker(tr)
			h.startPipeline(tr, false)
			h.Publish(pipetest.Submission("emp-longname", pipetest.ValidFields("Mario")), nil)
			r := h.waitClosed("emp-longname", 20*time.Second)
			if r.State != record.StateCompleted || r.Document == nil {
				t.Fatalf("got %q with document %+v, want completed with its document", r.State, r.Document)
			}
			name := path.Base(r.Document.Object)
			if len(name) > 255 || !utf8.ValidString(name) || path.Ext(name) != ".pdf" {
				t.Errorf("object's file name: got %d bytes (valid UTF-8: %t, extension %q), want at most 255, valid, ending .pdf",
					len(name), utf8.ValidString(name), path.Ext(name))
			}
			docs := pipetest.CheckDocuments(t, h.Events("emp-longname"), r)
			if len(docs) == 0 || docs[len(docs)-1].Name != tt.nome {
				t.Errorf("document_ready events: got %d, want the last to name the upstream's file in full", len(docs))
			}
		})
	}
}
