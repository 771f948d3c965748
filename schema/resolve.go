package schema

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"
)

// Errors a FileSource returns (wrapped), and a FileRef when the object it
// checked is no longer there to send.
var (
	// ErrFileNotFound: the bucket or the object does not exist.
	ErrFileNotFound = errors.New("schema: file not found")
	// ErrFileIsLink: the object is a link to another object or bucket.
	// Links are never followed: the link's bucket is the tenant's, its
	// target may be anyone's.
	ErrFileIsLink = errors.New("schema: file is a link")
	// ErrFileChanged: the object is not the one ResolveFiles checked any
	// more (replaced, deleted, turned into a link, or its content does not
	// match the size and digest checked).
	ErrFileChanged = errors.New("schema: file changed since it was checked")
)

// errObjectInfo marks an object whose info cannot be right (a NUID that is
// not one, more chunks than its size fills at 1 KiB each, no SHA-256
// digest, a size past 2^63): it is there, but
// taken as missing, and the problem says so rather than "no object".
var errObjectInfo = errors.New("the object's info cannot be right")

// ForeignBucketError is what a FileSource returns for a reference to a
// bucket it does not read (another tenant's): nothing in that bucket is
// looked up. It wraps ErrFileNotFound.
type ForeignBucketError struct {
	Bucket string // the bucket the reference names
	Own    string // the one bucket references may name
}

func (e *ForeignBucketError) Error() string {
	return fmt.Sprintf("%v: bucket %s is not %s", ErrFileNotFound, e.Bucket, e.Own)
}

// Unwrap makes a foreign bucket a file not found to errors.Is.
func (e *ForeignBucketError) Unwrap() error { return ErrFileNotFound }

// FileInfo describes an object to be sent inline.
type FileInfo struct {
	Name        string // the object's name
	ContentType string // its media type; "" when unknown
	Size        int64  // bytes, as declared; -1 when unknown
	// Digest is the content's SHA-256 as the Object Store records it,
	// "SHA-256=<base64url>"; "" when unknown.
	Digest string
}

// FileSource opens objects named by "nats-os://" references.
type FileSource interface {
	// Open returns the object's content and description. It must not
	// fetch the content before the first Read: ResolveFiles opens objects
	// to check their FileInfo and closes them unread. A missing bucket or
	// object is an error wrapping ErrFileNotFound; a bucket the source
	// does not read, a *ForeignBucketError; a link, whether or not its
	// target exists, an error wrapping ErrFileIsLink.
	Open(ctx context.Context, bucket, name string) (io.ReadCloser, FileInfo, error)
}

// ResolveFiles checks every Object Store reference of p without keeping
// its content: the object exists and is not a link, its declared size is
// within lim.MaxFileBytes and, with the inline files, within
// lim.MaxTotalFileBytes, and its digest is known (read from its info, or
// computed by streaming it when the source declares no size or digest).
// Each checked reference moves from p.JSONVisura to p.Files, whose FileRef
// opens the object again, and checks it is the same, when the request is
// written (Prepared.WriteJSONVisura).
//
// Missing, linked, empty or too large objects are a *ValidationError
// (invalid_file_reference, file_is_link, invalid_file, file_too_large,
// files_too_large); other failures are returned wrapped and may be
// retried. p is changed only when every reference resolves.
func ResolveFiles(ctx context.Context, p *Prepared, src FileSource, lim Limits) error {
	lim = lim.withDefaults()
	refs := make(map[string]FileRef, len(p.FileRefs))
	var probs []Problem
	total := p.fileBytes
	for _, key := range p.FileRefs {
		f, prob, err := checkReference(ctx, src, p.JSONVisura[key], lim)
		if err != nil {
			return fmt.Errorf("schema: resolving %s: %w", key, err)
		}
		if prob == nil {
			total += f.Size
			if total > lim.MaxTotalFileBytes && total-f.Size <= lim.MaxTotalFileBytes {
				prob = &Problem{}
				prob.Code, prob.Message = filesTooLarge(total, lim)
			}
		}
		if prob != nil {
			probs = append(probs, p.fieldProblem(key, *prob))
			continue
		}
		refs[key] = f
	}
	if len(probs) > 0 {
		return &ValidationError{Problems: capProblems(probs, lim)}
	}
	for key, f := range refs {
		if p.Files == nil {
			p.Files = make(map[string]FileRef, len(refs))
		}
		p.Files[key] = f
		delete(p.JSONVisura, key)
	}
	p.FileRefs = nil
	return nil
}

// fieldProblem names the field of p's service a resolution problem is about.
func (p *Prepared) fieldProblem(key string, prob Problem) Problem {
	prob.Field, prob.Name = key, p.fieldName(key)
	prob.Message = fmt.Sprintf("%s (%s): %s", label(prob.Name), key, prob.Message)
	return prob
}

// checkReference checks the object one reference names, reading it only
// when the source declares no size or no digest.
func checkReference(ctx context.Context, src FileSource, ref string, lim Limits) (FileRef, *Problem, error) {
	r, reason := parseFileRef(ref)
	if reason != "" {
		return FileRef{}, &Problem{Code: CodeInvalidFileRef, Message: reason}, nil
	}
	rc, info, err := src.Open(ctx, r.bucket, r.object)
	var foreign *ForeignBucketError
	switch {
	case errors.As(err, &foreign):
		return FileRef{}, &Problem{Code: CodeInvalidFileRef, Message: fmt.Sprintf("bucket %q is not this tenant's: a reference names a file in its own bucket, %q", foreign.Bucket, foreign.Own)}, nil
	case errors.Is(err, errObjectInfo):
		return FileRef{}, &Problem{Code: CodeInvalidFileRef, Message: fmt.Sprintf("the info of object %q in bucket %q cannot be right (a malformed NUID, "+
			"chunks of less than 1 KiB on average, no SHA-256 digest, or a size past 2^63): put the file again whole, e.g. with PutBytes or PutFile (nats.go's Put stores one chunk per Read "+
			"of its reader, and a pipe or a network stream may return little at a time)", shorten(r.object), r.bucket)}, nil
	case errors.Is(err, ErrFileIsLink):
		return FileRef{}, &Problem{Code: CodeFileIsLink, Message: "the referenced object is a link, and links are not followed: put the file itself in the bucket"}, nil
	case errors.Is(err, ErrFileNotFound):
		return FileRef{}, &Problem{Code: CodeInvalidFileRef, Message: fmt.Sprintf("no object %q in bucket %q", shorten(r.object), r.bucket)}, nil
	case err != nil:
		return FileRef{}, nil, err
	}
	defer rc.Close()
	if info.Size > lim.MaxFileBytes {
		return FileRef{}, tooLarge(info.Size, lim), nil
	}
	if _, ok := parseDigest(info.Digest); !ok || info.Size < 0 {
		if info.Size, info.Digest, err = measure(rc, lim); err != nil {
			return FileRef{}, nil, fmt.Errorf("reading a file in %s (its name is the tenant's: not logged): %w", r.bucket, err)
		}
	}
	switch {
	case info.Size > lim.MaxFileBytes:
		return FileRef{}, tooLarge(info.Size, lim), nil
	case info.Size == 0:
		return FileRef{}, &Problem{Code: CodeInvalidFile, Message: "the referenced object is empty"}, nil
	}
	name := inlineName(r.name, info.Name)
	return FileRef{
		Name: name, MIME: contentType(info.ContentType, name), Size: info.Size, Digest: info.Digest,
		Bucket: r.bucket, Object: r.object, src: src,
	}, nil, nil
}

// measure streams an object of undeclared size or digest, keeping nothing
// but its size (up to one byte past the limit) and SHA-256.
func measure(r io.Reader, lim Limits) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(r, lim.MaxFileBytes+1))
	if err != nil {
		return 0, "", err
	}
	return n, formatDigest(h.Sum(nil)), nil
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
		if r == '|' || isControl(r) {
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
		if mt, _, err := mime.ParseMediaType(t); err == nil && len(mt) <= maxMediaType && validMediaType(mt) {
			return mt
		}
	}
	return "application/octet-stream"
}
