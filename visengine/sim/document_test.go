package sim_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
)

func TestDocument(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now})
	id := h.create(iseeBody(nil)).ID
	if _, _, ok := h.sim.Document(id); ok {
		t.Errorf("Document before Dati disponibili: got ok")
	}
	c.Advance(time.Minute)
	doc := decode[struct {
		Nome       string `json:"nome"`
		Dimensione int    `json:"dimensione"`
		File       []byte `json:"file"` // base64
	}](t, h.ok(http.MethodGet, "/documento/"+id, nil))
	name, content, ok := h.sim.Document(id)
	if !ok || doc.Nome != id+".zip" || name != doc.Nome || doc.Dimensione != len(doc.File) || !bytes.Equal(doc.File, content) {
		t.Fatalf("documento: got %s (%d bytes, declared %d), want %s.zip matching Document()", doc.Nome, len(doc.File), doc.Dimensione, id)
	}
	c.Advance(time.Minute) // Visura evasa: the same bytes
	again := decode[struct {
		File []byte `json:"file"`
	}](t, h.ok(http.MethodGet, "/documento/"+id, nil))
	if sha256.Sum256(again.File) != sha256.Sum256(doc.File) {
		t.Errorf("documento changed between calls")
	}
	pdf := onlyFile(t, doc.File, id+".pdf")
	checkPDF(t, pdf)
	for _, want := range []string{id, "ISEE", sim.HashISEE} {
		if !bytes.Contains(pdf, []byte(want)) {
			t.Errorf("PDF does not name %q", want)
		}
	}
}

// TestPublishedDocuments: the published profile serves the DSU receipt at
// Dati disponibili and the certificate at Visura evasa, each as the
// published example is sent: unpadded base64, and a dimensione that is not
// the size of the bytes sent (here the PDF's inside the ZIP).
func TestPublishedDocuments(t *testing.T) {
	c := newClock()
	h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, Profile: sim.ProfilePublished})
	id := h.create(iseeBody(nil)).ID
	var sums [][32]byte
	for _, stage := range []string{"Ricevuta DSU", "Attestazione"} {
		c.Advance(time.Minute)
		doc := decode[struct {
			Dimensione int    `json:"dimensione"`
			File       string `json:"file"`
		}](t, h.ok(http.MethodGet, "/documento/"+id, nil))
		zipped, err := base64.RawStdEncoding.DecodeString(doc.File)
		if err != nil {
			t.Fatalf("%s: file is not unpadded base64: %v", stage, err)
		}
		if _, content, ok := h.sim.Document(id); !ok || !bytes.Equal(zipped, content) {
			t.Errorf("%s: documento does not match Document()", stage)
		}
		pdf := onlyFile(t, zipped, id+".pdf")
		checkPDF(t, pdf)
		if !bytes.Contains(pdf, []byte(stage)) {
			t.Errorf("%s: the PDF does not say %q", stage, stage)
		}
		if doc.Dimensione != len(pdf) || doc.Dimensione == len(zipped) {
			t.Errorf("%s: dimensione %d for %d bytes sent; want the PDF's %d", stage, doc.Dimensione, len(zipped), len(pdf))
		}
		sums = append(sums, sha256.Sum256(zipped))
	}
	if sums[0] == sums[1] {
		t.Errorf("the same document at Dati disponibili and Visura evasa, want the receipt then the certificate")
	}
}

// onlyFile returns the single file of a ZIP, which must be named name.
func onlyFile(t *testing.T, z []byte, name string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(z), int64(len(z)))
	if err != nil {
		t.Fatalf("zip: %v", err)
	}
	if len(zr.File) != 1 || zr.File[0].Name != name {
		t.Fatalf("zip entries: got %d (%v), want one %s", len(zr.File), zr.File, name)
	}
	f, err := zr.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("zip entry: %v", err)
	}
	return b
}

// checkPDF checks the header, trailer and that every xref offset points at its object.
func checkPDF(t *testing.T, pdf []byte) {
	t.Helper()
	if !bytes.HasPrefix(pdf, []byte("%PDF-1.4\n")) || !bytes.HasSuffix(pdf, []byte("%%EOF\n")) {
		t.Fatalf("PDF header/trailer: got %q … %q", pdf[:9], pdf[len(pdf)-6:])
	}
	m := regexp.MustCompile(`startxref\n(\d+)\n`).FindSubmatch(pdf)
	if m == nil {
		t.Fatal("no startxref")
	}
	xref, _ := strconv.Atoi(string(m[1]))
	if !bytes.HasPrefix(pdf[xref:], []byte("xref\n0 6\n")) {
		t.Fatalf("startxref %d does not point at the xref table", xref)
	}
	entries := regexp.MustCompile(`(\d{10}) 00000 n \n`).FindAllSubmatch(pdf[xref:], -1)
	if len(entries) != 5 {
		t.Fatalf("xref: got %d in-use entries, want 5", len(entries))
	}
	for i, e := range entries {
		off, _ := strconv.Atoi(string(e[1]))
		if want := fmt.Sprintf("%d 0 obj\n", i+1); !bytes.HasPrefix(pdf[off:], []byte(want)) {
			t.Errorf("xref entry %d: offset %d does not start %q", i+1, off, want)
		}
	}
	stream := regexp.MustCompile(`(?s)<< /Length (\d+) >>\nstream\n(.*)endstream`).FindSubmatch(pdf)
	if stream == nil {
		t.Fatal("no content stream")
	}
	if n, _ := strconv.Atoi(string(stream[1])); n != len(stream[2]) {
		t.Errorf("stream /Length %d, want %d", n, len(stream[2]))
	}
}

func TestDocumentDeterministicPerID(t *testing.T) {
	docs := make([][]byte, 2)
	var ids [2]string
	for i := range docs {
		c := newClock()
		h := newHarness(t, sim.Config{Step: time.Minute, Now: c.Now, Seed: 9})
		ids[i] = h.create(iseeBody(nil)).ID
		c.Advance(time.Minute)
		_, docs[i], _ = h.sim.Document(ids[i])
	}
	if ids[0] != ids[1] || !bytes.Equal(docs[0], docs[1]) {
		t.Errorf("same seed and clock: ids %v, documents equal %v; want the same id and bytes", ids, bytes.Equal(docs[0], docs[1]))
	}
}
