package visengine_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/visengine"
)

// fileBytes returns the deterministic content of a test document.
func fileBytes(seed uint64, size int64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// slashEscaper writes what it is given with each '/' written as esc, as PHP's
// json_encode writes `\/`.
type slashEscaper struct {
	w   io.Writer
	esc string
}

func (s slashEscaper) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		i := bytes.IndexByte(rest, '/')
		if i < 0 {
			if _, err := s.w.Write(rest); err != nil {
				return 0, err
			}
			break
		}
		if _, err := s.w.Write(rest[:i]); err != nil {
			return 0, err
		}
		if _, err := io.WriteString(s.w, s.esc); err != nil {
			return 0, err
		}
		rest = rest[i+1:]
	}
	return len(p), nil
}

// streamDocument serves a document of size bytes without holding it: the
// "file" comes first, "nome" and "dimensione" after it, '/' escaped as esc.
func streamDocument(seed uint64, size int64, esc string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"success":true,"message":"","error":null,"data":{"file":"`)
		enc := base64.NewEncoder(base64.StdEncoding, slashEscaper{w, esc})
		_, _ = io.Copy(enc, fileBytes(seed, size))
		_ = enc.Close()
		_, _ = fmt.Fprintf(w, `","nome":"big.zip","dimensione":%d}}`, size)
	}
}

func TestDocumentoStreamsALargeFile(t *testing.T) {
	const size = 20 << 20
	want := sha256.New()
	if _, err := io.Copy(want, fileBytes(1, size)); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, streamDocument(1, size, `\/`))
	got := sha256.New()

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	d, err := c.Documento(context.Background(), "5f22f5b5065afc21cc60a27a", got)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}

	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Errorf("got sha256 %x, want %x", got.Sum(nil), want.Sum(nil))
	}
	if *d != (visengine.Document{Nome: "big.zip", Dimensione: size, Written: size}) {
		t.Errorf("got %+v, want big.zip with %d bytes declared and written", *d, size)
	}
	t.Logf("allocated %d bytes for a %d-byte document", after.TotalAlloc-before.TotalAlloc, size)
	// TotalAlloc only grows, so it bounds the peak heap growth of the whole
	// process (client, server and net/http) during the call.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/8 {
		t.Errorf("got %d bytes allocated for a %d-byte document, want under %d", alloc, size, size/8)
	}
}

func TestDocumentoEscapes(t *testing.T) {
	const size = 100 << 10
	var want bytes.Buffer
	_, _ = io.Copy(&want, fileBytes(2, size))
	for _, esc := range []string{"/", `\/`, `\u002F`, `\u002f`} {
		var got bytes.Buffer
		c := newClient(t, streamDocument(2, size, esc))
		if _, err := c.Documento(context.Background(), "x", &got); err != nil {
			t.Fatalf("'/' as %s: %v", esc, err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("'/' as %s: got %d bytes that differ from the %d sent", esc, got.Len(), want.Len())
		}
	}
}

func TestDocumentoLineBreaks(t *testing.T) {
	file := bytes.Repeat([]byte("ISEE \xff\xfe"), 100)
	b64 := base64.StdEncoding.EncodeToString(file)
	var chunked strings.Builder
	for i := 0; i < len(b64); i += 76 { // as PHP's chunk_split, JSON-encoded
		chunked.WriteString(b64[i:min(i+76, len(b64))] + `\r\n`)
	}
	c := newClient(t, raw(200, `{"data":{"file":"`+chunked.String()+`"},"success":true}`))
	var got bytes.Buffer
	if _, err := c.Documento(context.Background(), "x", &got); err != nil || !bytes.Equal(got.Bytes(), file) {
		t.Errorf("got %d bytes, %v; want the %d bytes sent", got.Len(), err, len(file))
	}
}

func TestDocumentoMalformed(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"no file", `{"data":{"nome":"a.zip","dimensione":3},"success":true}`},
		{"file null", `{"data":{"file":null},"success":true}`},
		{"file empty", `{"data":{"nome":"a.zip","dimensione":0,"file":""},"success":true}`},
		{"data null", `{"data":null,"success":true}`},
		{"file twice", `{"data":{"file":"QUJD","file":"QUJD"},"success":true}`},
		{"bad base64", `{"data":{"file":"QU*D"},"success":true}`},
		{"data after base64 padding", `{"data":{"file":"QQ==QUJD"},"success":true}`},
		{"file not a string", `{"data":{"file":12},"success":true}`},
		{"bad escape", `{"data":{"file":"QU\qD"},"success":true}`},
		{"cut in the file", `{"data":{"file":"QUJDQUJD`},
		{"data a list", `{"data":["QUJD"],"success":true}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := newClient(t, raw(200, tt.body)).Documento(context.Background(), "x", io.Discard)
			if got := visengine.ClassOf(err); got != visengine.ClassRetryable {
				t.Errorf("got class %v, want retryable (err: %v)", got, err)
			}
		})
	}
}

func TestDocumentoErrorEnvelopes(t *testing.T) {
	tests := []struct {
		status, code int
		class        visengine.Class
	}{
		{422, 247, visengine.ClassNotReady},
		{404, 244, visengine.ClassNotFound},
		{400, 243, visengine.ClassPermanent},
		{428, 242, visengine.ClassPermanent},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		_, err := newClient(t, failWith(tt.status, tt.code, "x")).Documento(context.Background(), "x", &buf)
		e := asError(t, err)
		if e.Class != tt.class || e.Code != tt.code || buf.Len() != 0 {
			t.Errorf("%d/%d: got class %v code %d and %d bytes written, want %v %d 0", tt.status, tt.code, e.Class, e.Code, buf.Len(), tt.class, tt.code)
		}
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestDocumentoWriterFails(t *testing.T) {
	diskFull := errors.New("disk full")
	c := newClient(t, streamDocument(3, 1<<20, `\/`))
	_, err := c.Documento(context.Background(), "x", failingWriter{diskFull})
	if !errors.Is(err, diskFull) || visengine.ClassOf(err) == 0 {
		t.Errorf("got %v, want a *visengine.Error wrapping the writer's error", err)
	}
}
