package tracking

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/nats-io/nats.go/jetstream"
)

// ErrNoDocument is returned for a submission without a stored document.
var ErrNoDocument = errors.New("the submission has no stored document (yet)")

// ErrDocumentGone means the submission's document was stored and has been
// deleted since: past its retention, or by hand.
var ErrDocumentGone = errors.New("the document was deleted")

// errExpired is ErrDocumentGone as FetchDocument says it.
var errExpired = fmt.Errorf("%w: documents are kept for ISEED_DOCUMENT_TTL after they are stored, then deleted", ErrDocumentGone)

// FetchDocument writes the plaintext of a submission's stored document to
// w, decrypting it when it was sealed (kr must then hold a key that opens
// it), and verifies its size and SHA-256 against the record. On error w may
// hold part of the document: write to a temporary file and keep it only on
// success. An error names the object without its file name, which is the
// upstream's and may name the person (DSU.<tax code>.pdf): it reaches
// standard error, which a script may log.
func FetchDocument(ctx context.Context, js jetstream.JetStream, res *layout.Resources, tenant, id string, kr *seal.Keyring, w io.Writer) (*record.DocumentRef, error) {
	rec, _, err := record.NewStore(res.Records).Get(ctx, tenant, id)
	if err != nil {
		return nil, err
	}
	ref := rec.Document
	if ref == nil {
		return nil, ErrNoDocument
	}
	bucket, err := js.ObjectStore(ctx, ref.Bucket)
	if err != nil {
		return nil, fmt.Errorf("document bucket %s: %w", ref.Bucket, err)
	}
	name := ref.Object
	if record.ScrubbedName(name) {
		if name, err = scrubbedObject(ctx, bucket, name); err != nil {
			return nil, fmt.Errorf("document bucket %s: %w", ref.Bucket, err)
		}
		if name == "" {
			return nil, errExpired
		}
	}
	obj, err := bucket.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, errExpired
	}
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", objectLabel(ref.Object), err)
	}
	defer obj.Close()
	info, err := obj.Info()
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", objectLabel(ref.Object), err)
	}
	src := io.Reader(obj)
	if info.Metadata[seal.MetaEncryption] != "" {
		if kr == nil {
			return nil, fmt.Errorf("the document is encrypted (%s): give the key that opens it", info.Metadata[seal.MetaEncryption])
		}
		if src, err = kr.Open(obj, info.Metadata); err != nil {
			return nil, err
		}
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(w, h), src)
	if err != nil {
		return nil, fmt.Errorf("document %q: %w", objectLabel(ref.Object), err)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); n != ref.Size || sum != ref.SHA256 {
		return nil, fmt.Errorf("%w: got %d bytes with sha256 %s, recorded %d bytes with %s", ErrDocumentMismatch, n, sum, ref.Size, ref.SHA256)
	}
	return ref, nil
}

// scrubbedObject returns the name of the object a scrubbed record names
// without its file name (record.ScrubbedObject), or "" when there is none
// (deleted, as usual by then). There is one when the document outlived its
// record's scrub: ISEED_DOCUMENT_TTL longer than ISEED_RECORD_SCRUB_AFTER.
// It lists the bucket, which is fine for an operator's command.
func scrubbedObject(ctx context.Context, bucket jetstream.ObjectStore, scrubbed string) (string, error) {
	prefix := strings.TrimSuffix(scrubbed, path.Base(scrubbed))
	infos, err := bucket.List(ctx)
	if errors.Is(err, jetstream.ErrNoObjectsFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	for _, info := range infos {
		if strings.HasPrefix(info.Name, prefix) && !strings.Contains(info.Name[len(prefix):], "/") {
			return info.Name, nil
		}
	}
	return "", nil
}

// OpenFilter selects open requests.
type OpenFilter struct {
	State     string        // only records in this state ("" for any open one)
	OlderThan time.Duration // only requests submitted longer ago than this
	Now       time.Time     // default time.Now()
}

// ListOpen returns the submissions still being tracked, oldest first. It
// reads every record, which is fine for an operator's command, not for a
// hot path.
func ListOpen(ctx context.Context, res *layout.Resources, f OpenFilter) ([]*record.Record, error) {
	if f.Now.IsZero() {
		f.Now = time.Now()
	}
	var out []*record.Record
	err := record.NewStore(res.Records).Each(ctx, func(r *record.Record) error {
		if r.RequestID != "" && !r.Closed() && (f.State == "" || r.State == f.State) &&
			f.Now.Sub(r.SubmittedAt()) >= f.OlderThan {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b *record.Record) int { return a.SubmittedAt().Compare(b.SubmittedAt()) })
	return out, nil
}
