package visengine

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
)

const documentRoute = "/documento/{id}"

// Documento downloads a request's document (GET /documento/{id}) and writes
// the decoded file to w as it arrives: the base64 "file" value is decoded
// straight from the answer, never held in memory whole. It fails with
// ClassNotReady while the document is not available yet.
//
// On failure w may already hold part of the file: write to a temporary file
// and keep it only when Documento succeeds. A failing w ends the call with a
// retryable *Error that wraps w's error. Written is what was decoded;
// Dimensione is what the API declares and is not checked against it.
func (c *Client) Documento(ctx context.Context, id string, w io.Writer) (*Document, error) {
	k, err := withID(http.MethodGet, documentRoute, "/documento/", id, nil)
	if err != nil {
		return nil, err
	}
	d := &documentAnswer{w: w}
	if err := c.do(ctx, k, d); err != nil {
		return nil, err
	}
	return &d.doc, nil
}

// errNoFile reports a successful /documento answer without a "file", and
// one whose "file" is empty: no document is empty, and one taken for the
// final document would end tracking without it.
var errNoFile = errors.New(`document answer has no "file"`)

var errEmptyFile = errors.New(`document answer has an empty "file"`)

// maxDocumentValue bounds the values of the document's data other than "file".
const maxDocumentValue = 64 << 10

// documentAnswer streams the "data" of a /documento answer:
// {"nome": …, "dimensione": …, "file": base64}, in any order.
type documentAnswer struct {
	w    io.Writer
	doc  Document
	seen bool // "file" was seen
	file bool // "file" held a string, now decoded into w
}

func (d *documentAnswer) data(s *scanner) error {
	return s.object(func(key string) error {
		switch key {
		case "file":
			return d.decodeFile(s)
		case "nome":
			var v String
			return decodeValue(s, &v, func() { d.doc.Nome = string(v) })
		case "dimensione":
			// Informative (not checked against the bytes): a value that is
			// no number, PHP's false from a failed filesize() say, leaves
			// it 0 rather than failing the download of a paid document.
			raw, err := s.capture(maxDocumentValue, true)
			var v Int
			if err == nil && v.UnmarshalJSON(raw) == nil {
				d.doc.Dimensione = int64(v)
			}
			return err
		default:
			_, err := s.capture(0, false)
			return err
		}
	})
}

func (d *documentAnswer) complete() error {
	if !d.file {
		return errNoFile
	}
	if d.doc.Written == 0 {
		return errEmptyFile
	}
	return nil
}

// decodeFile decodes the base64 string at the scanner's position into w.
func (d *documentAnswer) decodeFile(s *scanner) error {
	if d.seen {
		return fmt.Errorf(`%w: "file" appears twice`, errSyntax)
	}
	d.seen = true
	if c, err := s.peek(); err == nil && c == 'n' {
		return s.literal("null") // no file: complete reports it
	}
	sr, err := s.str()
	if err != nil {
		return err
	}
	d.file = true
	cw := &countingWriter{w: d.w}
	_, err = io.Copy(cw, base64.NewDecoder(base64.StdEncoding, &padder{r: sr}))
	d.doc.Written = cw.n
	if err != nil {
		return fmt.Errorf("decoding file: %w", err)
	}
	_, err = io.Copy(io.Discard, sr) // nothing is left after valid base64
	return err
}

// padder passes base64 text through and, at its end, adds the '=' padding
// a last group of 2 or 3 characters lacks: the API's example document is
// unpadded. Line breaks are not counted, as the decoder skips them.
type padder struct {
	r   io.Reader
	n   int // characters passed, modulo 4
	pad int // '=' still to add; -1 once added
}

func (p *padder) Read(b []byte) (int, error) {
	if p.pad > 0 {
		n := copy(b, "=="[:p.pad])
		p.pad -= n
		if p.pad == 0 {
			p.pad = -1
		}
		return n, nil
	}
	n, err := p.r.Read(b)
	for _, c := range b[:n] {
		if c != '\r' && c != '\n' {
			p.n = (p.n + 1) % 4
		}
	}
	if err == io.EOF && p.pad == 0 && p.n >= 2 {
		p.pad = 4 - p.n
		return n, nil
	}
	return n, err
}

// decodeValue captures a small value, decodes it into v and calls set.
func decodeValue(s *scanner, v interface{ UnmarshalJSON([]byte) error }, set func()) error {
	raw, err := s.capture(maxDocumentValue, true)
	if err != nil {
		return err
	}
	if err := v.UnmarshalJSON(raw); err != nil {
		return err
	}
	set()
	return nil
}

// countingWriter counts what it writes; a failure of w is a writeError.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if err != nil {
		return n, writeError{err}
	}
	return n, nil
}
