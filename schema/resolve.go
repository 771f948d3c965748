package schema

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrFileNotFound is returned (wrapped) by a FileSource when the bucket or
// the object does not exist.
var ErrFileNotFound = errors.New("schema: file not found")

// FileInfo describes an object to be sent inline.
type FileInfo struct {
	Name        string // the object's name
	ContentType string // its media type; "" when unknown
	Size        int64  // bytes, as declared; -1 when unknown
}

// FileSource opens objects named by "nats-os://" references.
type FileSource interface {
	// Open returns the object's content and description. A missing bucket
	// or object is an error wrapping ErrFileNotFound.
	Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error)
}

// ResolveFiles replaces every Object Store reference of p by the inline
// form the upstream takes, streaming each object through a base64 encoder
// and stopping at lim.MaxFileBytes. Missing, empty or too large objects are
// a *ValidationError (invalid_file_reference, invalid_file, file_too_large);
// other failures are returned wrapped and may be retried. p is changed only
// when every reference resolves.
func ResolveFiles(ctx context.Context, p *Prepared, src FileSource, lim Limits) error {
	lim = lim.withDefaults()
	resolved := make(map[string]string, len(p.FileRefs))
	var probs []Problem
	for _, key := range p.FileRefs {
		v, prob, err := resolveFile(ctx, src, p.JSONVisura[key], lim)
		if err != nil {
			return fmt.Errorf("schema: resolving %s: %w", key, err)
		}
		if prob != nil {
			prob.Field, prob.Name = key, p.fieldName(key)
			prob.Message = fmt.Sprintf("%s (%s): %s", label(prob.Name), key, prob.Message)
			probs = append(probs, *prob)
			continue
		}
		resolved[key] = v
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: probs}
	}
	for key, v := range resolved {
		p.JSONVisura[key] = v
	}
	p.FileRefs = nil
	return nil
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

// resolveFile turns one reference into the inline form.
func resolveFile(ctx context.Context, src FileSource, ref string, lim Limits) (string, *Problem, error) {
	r, reason := parseFileRef(ref)
	if reason != "" {
		return "", &Problem{Code: CodeInvalidFileRef, Message: reason}, nil
	}
	rc, info, err := src.Open(ctx, r.bucket, r.object)
	if errors.Is(err, ErrFileNotFound) {
		return "", &Problem{Code: CodeInvalidFileRef, Message: fmt.Sprintf("no object %q in bucket %q", shorten(r.object), r.bucket)}, nil
	}
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	if info.Size > lim.MaxFileBytes {
		return "", tooLarge(info.Size, lim), nil
	}
	name := inlineName(r.name, info.Name)
	mediaType := contentType(info.ContentType, name)
	var b strings.Builder
	b.Grow(len(name) + len(mediaType) + len("|data:;base64,") + base64.StdEncoding.EncodedLen(int(max(info.Size, 0))))
	b.WriteString(name + "|" + inlineMarker + mediaType + base64Marker)
	enc := base64.NewEncoder(base64.StdEncoding, &b)
	n, err := io.Copy(enc, io.LimitReader(rc, lim.MaxFileBytes+1))
	if err != nil {
		return "", nil, fmt.Errorf("reading %s/%s: %w", r.bucket, shorten(r.object), err)
	}
	switch {
	case n > lim.MaxFileBytes:
		return "", tooLarge(n, lim), nil
	case n == 0:
		return "", &Problem{Code: CodeInvalidFile, Message: "the referenced object is empty"}, nil
	}
	enc.Close() // writes to a strings.Builder: cannot fail
	return b.String(), nil, nil
}

func tooLarge(size int64, lim Limits) *Problem {
	msg := fmt.Sprintf("the referenced object is larger than %d bytes", lim.MaxFileBytes)
	if size > lim.MaxFileBytes+1 {
		msg = fmt.Sprintf("the referenced object is %d bytes; at most %d are allowed", size, lim.MaxFileBytes)
	}
	return &Problem{Code: CodeFileTooLarge, Message: msg}
}

// inlineName is the file name sent upstream: the one the reference gives,
// else the object's base name, made safe for the inline form.
func inlineName(given, object string) string {
	name := given
	if name == "" {
		name = path.Base(object)
	}
	name = strings.Map(func(r rune) rune {
		if r == '|' || r < ' ' || r == 0x7f {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	if name == "" || name == "." || name == "/" {
		return "file"
	}
	if len(name) > maxFileName {
		name = strings.ToValidUTF8(name[:maxFileName], "")
	}
	return name
}

// contentType is the object's media type without parameters, else the one
// its extension suggests, else application/octet-stream.
func contentType(declared, name string) string {
	for _, t := range []string{declared, mime.TypeByExtension(path.Ext(name))} {
		if mt, _, err := mime.ParseMediaType(t); err == nil && validMediaType(mt) {
			return mt
		}
	}
	return "application/octet-stream"
}

// ObjectStoreSource opens references from JetStream Object Store buckets.
// The object's "Content-Type" header, when set, gives its media type.
func ObjectStoreSource(js jetstream.JetStream) FileSource {
	return objectStore{js: js}
}

type objectStore struct {
	js jetstream.JetStream
}

// Open implements FileSource.
func (o objectStore) Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error) {
	store, err := o.js.ObjectStore(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) || errors.Is(err, jetstream.ErrInvalidStoreName) {
		return nil, FileInfo{}, fmt.Errorf("%w: bucket %s: %w", ErrFileNotFound, bucket, err)
	}
	if err != nil {
		return nil, FileInfo{}, fmt.Errorf("schema: object store %s: %w", bucket, err)
	}
	obj, err := store.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, FileInfo{}, fmt.Errorf("%w: %s/%s: %w", ErrFileNotFound, bucket, shorten(name), err)
	}
	if err != nil {
		return nil, FileInfo{}, fmt.Errorf("schema: object %s/%s: %w", bucket, shorten(name), err)
	}
	info, err := obj.Info()
	if err != nil {
		obj.Close()
		return nil, FileInfo{}, fmt.Errorf("schema: object %s/%s: %w", bucket, shorten(name), err)
	}
	return obj, FileInfo{Name: info.Name, ContentType: info.Headers.Get("Content-Type"), Size: int64(info.Size)}, nil
}
