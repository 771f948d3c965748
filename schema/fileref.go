package schema

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"slices"
	"strings"
)

// FileRef is a referenced file ResolveFiles checked: what is needed to
// send it inline, and to open it again when the request is written,
// without holding its content in between.
type FileRef struct {
	Name   string // the file name sent upstream
	MIME   string // the media type sent upstream
	Size   int64  // bytes
	Digest string // "SHA-256=<base64url>" of the content checked
	Bucket string // where it is
	Object string

	src FileSource
}

// Open opens the object again, checking that it is still the object
// ResolveFiles checked. Open fails, or Read later does, with an error
// wrapping ErrFileChanged when it is not: gone, a link, of another size or
// digest. The content is checked as it is read, so the error may come as
// late as instead of io.EOF: what was read before it must not be used.
func (f FileRef) Open(ctx context.Context) (io.ReadCloser, error) {
	want, ok := parseDigest(f.Digest)
	if f.src == nil || !ok {
		return nil, fmt.Errorf("schema: an object in %s: not a file reference checked by ResolveFiles", f.Bucket)
	}
	rc, info, err := f.src.Open(ctx, f.Bucket, f.Object)
	if errors.Is(err, ErrFileNotFound) || errors.Is(err, ErrFileIsLink) {
		return nil, fmt.Errorf("%w: an object in %s: %w", ErrFileChanged, f.Bucket, err)
	}
	if err != nil {
		return nil, fmt.Errorf("schema: open an object in %s: %w", f.Bucket, err)
	}
	got, known := parseDigest(info.Digest)
	if info.Size >= 0 && info.Size != f.Size || known && !bytes.Equal(got, want) {
		rc.Close()
		return nil, fmt.Errorf("%w: an object in %s is another object now", ErrFileChanged, f.Bucket)
	}
	return &verifiedReader{rc: rc, ref: &f, want: want, h: sha256.New()}, nil
}

// verifiedReader checks that what it reads has the size and digest the
// reference was checked with.
type verifiedReader struct {
	rc   io.ReadCloser
	ref  *FileRef
	want []byte
	h    hash.Hash
	n    int64
}

func (v *verifiedReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.n += int64(n)
	v.h.Write(p[:n])
	// On a mismatch, the bytes of this read are withheld with the error.
	switch {
	case v.n > v.ref.Size:
		return 0, v.changed(fmt.Sprintf("more than %d bytes", v.ref.Size))
	case err == io.EOF && v.n < v.ref.Size:
		return 0, v.changed(fmt.Sprintf("%d bytes instead of %d", v.n, v.ref.Size))
	case err == io.EOF && !bytes.Equal(v.h.Sum(nil), v.want):
		return 0, v.changed("another digest")
	}
	return n, err
}

func (v *verifiedReader) changed(what string) error {
	return fmt.Errorf("%w: an object in %s has %s", ErrFileChanged, v.ref.Bucket, what)
}

func (v *verifiedReader) Close() error { return v.rc.Close() }

// inlinePrefix is the inline form up to the data: "name|data:mime;base64,".
func (f FileRef) inlinePrefix() string {
	return f.Name + "|" + inlineMarker + f.MIME + base64Marker
}

// WriteInline writes the file's inline form, "name|data:<mime>;base64,
// <data>", to w, reading and encoding the object as it goes: it holds no
// more of it than the source's current chunk and a copy buffer. It
// returns the bytes written. On
// error (an error wrapping ErrFileChanged when the object is not the one
// checked) what was written is incomplete and must be discarded: abort
// the request it was part of.
func (f FileRef) WriteInline(ctx context.Context, w io.Writer) (int64, error) {
	cw := &countingWriter{w: w}
	if _, err := io.WriteString(cw, f.inlinePrefix()); err != nil {
		return cw.n, err
	}
	err := f.writeData(ctx, cw)
	return cw.n, err
}

// WriteInlineJSON writes the inline form as a JSON string, quotes
// included, byte for byte as encoding/json writes it (HTML characters
// escaped). The same rules as WriteInline apply.
func (f FileRef) WriteInlineJSON(ctx context.Context, w io.Writer) (int64, error) {
	quoted, err := json.Marshal(f.inlinePrefix()) // base64 never needs escaping: the data follows as is
	if err != nil {
		return 0, err
	}
	cw := &countingWriter{w: w}
	if _, err := cw.Write(quoted[:len(quoted)-1]); err != nil {
		return cw.n, err
	}
	if err := f.writeData(ctx, cw); err != nil {
		return cw.n, err
	}
	_, err = io.WriteString(cw, `"`)
	return cw.n, err
}

// writeData writes the object's content as standard padded base64.
func (f FileRef) writeData(ctx context.Context, w io.Writer) error {
	rc, err := f.Open(ctx)
	if err != nil {
		return err
	}
	defer rc.Close()
	enc := base64.NewEncoder(base64.StdEncoding, w)
	if _, err := io.Copy(enc, rc); err != nil {
		return err // the last partial group stays unwritten: the output is unusable
	}
	return enc.Close()
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteJSONVisura writes the json_visura object to send: the values of
// JSONVisura and the inline form of every file of Files, streamed from the
// Object Store, keys sorted. The bytes are exactly those encoding/json
// writes for the map of every value with the files inline. Referenced
// files are read one at a time, so writing holds at most one chunk of one
// file. It is an error to call it before ResolveFiles has resolved every
// reference. On error what was written must be discarded (see WriteInline).
func (p *Prepared) WriteJSONVisura(ctx context.Context, w io.Writer) error {
	if len(p.FileRefs) > 0 {
		return fmt.Errorf("schema: %s still hold file references: ResolveFiles first", strings.Join(p.FileRefs, ", "))
	}
	keys := p.keys()
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		f, isFile := p.Files[k]
		if !isFile {
			writeJSONString(&b, p.JSONVisura[k])
			continue
		}
		if _, err := b.WriteTo(w); err != nil {
			return err
		}
		if _, err := f.WriteInlineJSON(ctx, w); err != nil {
			return &FileError{Field: k, Name: p.fieldName(k), Err: err}
		}
	}
	b.WriteByte('}')
	_, err := b.WriteTo(w)
	return err
}

// keys returns the keys of json_visura, sorted as encoding/json sorts a
// map's; a key in both JSONVisura and Files is written once, as the file.
func (p *Prepared) keys() []string {
	keys := slices.AppendSeq(slices.Collect(maps.Keys(p.JSONVisura)), maps.Keys(p.Files))
	slices.Sort(keys)
	return slices.Compact(keys)
}

// JSONVisuraLen returns the exact length of what WriteJSONVisura writes,
// without reading any file: a request body can declare its
// Content-Length instead of being sent chunked.
func (p *Prepared) JSONVisuraLen() (int64, error) {
	if len(p.FileRefs) > 0 {
		return 0, fmt.Errorf("schema: %s still hold file references: ResolveFiles first", strings.Join(p.FileRefs, ", "))
	}
	keys := p.keys()
	n := int64(2 + max(len(keys)-1, 0)) // braces and commas
	for _, k := range keys {
		n += jsonLen(k) + 1
		if f, ok := p.Files[k]; ok {
			n += jsonLen(f.inlinePrefix()) + int64(base64.StdEncoding.EncodedLen(int(f.Size)))
			continue
		}
		n += jsonLen(p.JSONVisura[k])
	}
	return n, nil
}

// jsonLen is the length of s as encoding/json writes it, quotes included.
func jsonLen(s string) int64 {
	q, _ := json.Marshal(s) // a string always marshals
	return int64(len(q))
}

// FileError is a referenced file that WriteJSONVisura could not write.
// Find it with errors.As; errors.Is(err, ErrFileChanged) tells an object
// that is not the one checked (reject the submission: Problem) from a
// failure to read it (retry).
type FileError struct {
	Field string // the field's "$N"
	Name  string // the field's name as published
	Err   error
}

// Error implements error.
func (e *FileError) Error() string { return fmt.Sprintf("schema: file %s: %v", e.Field, e.Err) }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// Problem describes, for the producer, a file that changed after it was
// checked (code file_changed); ok is false for any other failure.
func (e *FileError) Problem() (p Problem, ok bool) {
	if !errors.Is(e.Err, ErrFileChanged) {
		return Problem{}, false
	}
	return Problem{Field: e.Field, Name: e.Name, Code: CodeFileChanged, Message: fmt.Sprintf("%s (%s): %s", label(e.Name), e.Field,
		"the referenced object changed (replaced, deleted or made a link) after it was checked; nothing was sent: submit it again")}, true
}

// fieldName returns the published name of a field of p's service.
func (p *Prepared) fieldName(key string) string {
	if p.service != nil {
		if f, ok := p.service.Field(key); ok {
			return f.Name
		}
	}
	return ""
}

// writeJSONString writes s as encoding/json does.
func writeJSONString(b *bytes.Buffer, s string) {
	q, _ := json.Marshal(s) // a string always marshals
	b.Write(q)
}

// digestPrefix starts the Object Store's digests: "SHA-256=<base64url>".
const digestPrefix = "SHA-256="

// parseDigest decodes a SHA-256 digest in the Object Store's form (padded
// URL-safe base64; unpadded and standard base64 are accepted too).
func parseDigest(d string) ([]byte, bool) {
	if len(d) < len(digestPrefix) || !strings.EqualFold(d[:len(digestPrefix)], digestPrefix) {
		return nil, false
	}
	d = d[len(digestPrefix):]
	for _, enc := range []*base64.Encoding{base64.URLEncoding, base64.RawURLEncoding, base64.StdEncoding} {
		if sum, err := enc.DecodeString(d); err == nil && len(sum) == sha256.Size {
			return sum, true
		}
	}
	return nil, false
}

func formatDigest(sum []byte) string {
	return digestPrefix + base64.URLEncoding.EncodeToString(sum)
}
