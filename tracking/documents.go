package tracking

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/seal"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/iseed-dev/iseed/workpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Metadata keys of a stored document (ObjectMeta.Metadata).
const (
	DocMetaSHA256      = "sha256"       // hex SHA-256 of the plaintext document
	DocMetaSize        = "size"         // plaintext size in bytes
	DocMetaContentType = "content_type" // of the plaintext document
	DocMetaTenant      = "tenant"
	DocMetaSubmission  = "submission_id"
	DocMetaRequest     = "request_id"
	DocMetaName        = "name" // the upstream's file name
	// Encryption metadata: seal.MetaEncryption, seal.MetaRecipients (and
	// seal.MetaKeyID on documents stored before age).
)

// SpoolPattern names the files documents are spooled to, in clear, while
// they download (os.CreateTemp's pattern, and filepath.Glob's). A download
// unlinks its file as soon as it is made, and uses only the file it holds
// open, never its name: whoever sweeps the spool directory may remove any
// of them (one left by a killed process, or on a system that cannot remove
// an open file) at any time.
const SpoolPattern = "iseed-document-*"

// ErrDocumentMismatch reports a stored object whose digest differs from
// what was sent (retried, never published), or a fetched document whose
// size or SHA-256 differs from the record's (FetchDocument). A download
// whose size differs from the declared dimensione is not an error: it is
// stored with DeclaredSize.
var ErrDocumentMismatch = errors.New("document size or digest mismatch")

// storedDocument is a document in the bucket, with the event that
// announces it.
type storedDocument struct {
	ref      record.DocumentRef
	event    publisher.DocumentReady
	sealedTo string // the recipients' ids when sealed
}

// announces reports whether doc, about to become the record's document in
// place of prev, needs its own event: it is new, or it is the final
// document and prev, though the same bytes, was announced as an earlier
// one (the event of the final document has an id of its own).
func (doc *storedDocument) announces(prev *record.DocumentRef) bool {
	return prev == nil || prev.SHA256 != doc.ref.SHA256 || doc.event.Final && prev.Stato != visengine.StateFulfilled
}

// DocumentObject is the deterministic object name of a submission's
// document: <tenant>/<submission id>/<first 16 hex digits of its SHA-256>/<nome>.
// Different documents of one submission (the DSU receipt, then the ISEE
// certificate) never overwrite each other, even when two refreshes race.
func DocumentObject(tenant, id, sha256Hex, nome string) string {
	return tenant + "/" + id + "/" + sha256Hex[:min(16, len(sha256Hex))] + "/" + nome
}

// FinalDocumentObject is the object name of a final document whose
// DocumentObject is its receipt's (the same bytes under the same name):
// <tenant>/<submission id>/<first 16 hex digits of its SHA-256>.final/<nome>.
// The final document is stored anew, so that it is kept the bucket's max
// age from its own event, not from the receipt's, which may be weeks
// older; and under a name of its own, so that the receipt's object, which
// a tenant told of it may be reading, is never put again.
func FinalDocumentObject(tenant, id, sha256Hex, nome string) string {
	return tenant + "/" + id + "/" + sha256Hex[:min(16, len(sha256Hex))] + ".final/" + nome
}

// FinalDocumentEventID is the id of the iseed.document.ready event of a
// final document stored under FinalDocumentObject: DocumentEventID's with
// ".anew" after it. Another id than the final event's under the receipt's
// object: a catch-up that lost the race to the receipt's (it announced the
// final document under the receipt's object, then found the receipt
// written and stored the final document again under the final name)
// announces the object the record ends on, which the first event's id
// would have deduplicated away. The id follows from the object alone, so
// a catch-up retried after a crash publishes it again under the same id.
func FinalDocumentEventID(tenant, id, sha256Hex string) string {
	return publisher.DocumentEventID(tenant, id, sha256Hex, true) + ".anew"
}

// objectFor names the object of a document of rec's about to be stored,
// ref (Bucket, SHA256 and Stato set), under the upstream's file name.
// Only a final document whose name would be its receipt's, prev, gets the
// final name: the name depends on the record alone, so a catch-up retried
// after a crash, or one racing beside it, finds the object the other put.
func objectFor(rec *record.Record, ref record.DocumentRef, name string) string {
	object := DocumentObject(rec.Tenant, rec.ID, ref.SHA256, name)
	prev := rec.Document
	if ref.Stato == visengine.StateFulfilled && prev != nil && prev.Stato != visengine.StateFulfilled &&
		prev.Bucket == ref.Bucket && prev.Object == object {
		return FinalDocumentObject(rec.Tenant, rec.ID, ref.SHA256, name)
	}
	return object
}

// spooled is a document downloaded into a temporary file, unlinked at
// once, and kept open until the catch-up that downloaded it ends: one
// whose compare-and-set finds that another catch-up wrote the receipt
// meanwhile stores it again under another name (objectFor) without a
// second download.
type spooled struct {
	f     *os.File
	name  string // removed on close where an open file cannot be removed
	doc   *visengine.Document
	sum   string // hex SHA-256
	stato string // the upstream state of the answer it was downloaded on
}

// close closes the file (and removes it, where it could not be removed
// while open).
func (s *spooled) close() {
	if s == nil {
		return
	}
	s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
}

// download streams the document of rec's request into a temporary file
// while hashing it (the file is never held in memory). stato is the
// upstream state of the answer that made the poll download it, which the
// document is of: not the record's, which a read behind it (a lagging
// replica, a cache) does not take back, and which would make the receipt
// such a read downloads the final document.
func (t *Tracker) download(ctx context.Context, rec *record.Record, stato string) (*spooled, error) {
	f, err := os.CreateTemp(t.cfg.TempDir, SpoolPattern)
	if err != nil {
		return nil, fmt.Errorf("document: temp file: %w", err)
	}
	s := &spooled{f: f, stato: stato}
	// Unlinked at once: the download goes on through f, and a process
	// killed during it leaves no document in clear under a name.
	if os.Remove(f.Name()) != nil {
		s.name = f.Name() // after Close, where an open file cannot be removed
	}
	if err := t.waitToken(ctx); err != nil {
		s.close()
		return nil, err
	}
	h := sha256.New()
	if s.doc, err = t.d.Upstream.Documento(ctx, rec.RequestID, io.MultiWriter(f, h)); err != nil {
		s.close()
		return nil, fmt.Errorf("document %s: %w", rec.RequestID, err)
	}
	s.sum = hex.EncodeToString(h.Sum(nil))
	return s, nil
}

// storeDocument compares the size of the document downloaded into s with
// dimensione, and puts it, sealed when the Keyring has recipients for the
// tenant, in the tenant's documents bucket under the name rec calls for
// (objectFor), checking the stored digest.
func (t *Tracker) storeDocument(ctx context.Context, rec *record.Record, s *spooled) (*storedDocument, error) {
	doc, f := s.doc, s.f
	sd := &storedDocument{ref: record.DocumentRef{Bucket: t.lay.TenantDocumentsBucket(rec.Tenant),
		Size: doc.Written, SHA256: s.sum, Stato: s.stato}}
	name := safeName(doc.Nome, rec.RequestID)
	sd.ref.Object = objectFor(rec, sd.ref, name)
	if doc.Written != doc.Dimensione {
		// What dimensione counts is not documented (the published example's
		// does not match its own bytes). The answer decoded whole, and its
		// digest is what is stored and announced: keep it, say so, and never
		// download it again for this.
		sd.ref.DeclaredSize = doc.Dimensione
		t.rare.Warn().Str("tenant", rec.Tenant).Str("submission", rec.ID).Str("request_id", rec.RequestID).
			Int64("bytes", doc.Written).Int64("dimensione", doc.Dimensione).
			Msg("document size differs from the declared dimensione: stored as received, with its digest")
	}
	unlock := t.storeLock(sd.ref.Object)
	defer unlock()
	// Never the record's earlier document, though the same bytes: the
	// final one is kept ISEED_DOCUMENT_TTL from when it is stored, and the
	// receipt's object from when the receipt was (objectFor).
	stored, err := t.storedUnder(ctx, rec.Tenant, sd)
	if err != nil {
		t.forgetDocuments(rec.Tenant)
		return nil, err
	}
	if !stored {
		if sd.ref.ContentType, err = contentType(doc.Nome, f); err != nil {
			return nil, err
		}
		if err := t.put(ctx, rec, sd, doc.Nome, f); err != nil {
			t.forgetDocuments(rec.Tenant)
			return nil, err
		}
		t.d.Metrics.documentStored()
	}
	sd.event = publisher.DocumentReady{SubmissionID: rec.ID, Tenant: rec.Tenant, RequestID: rec.RequestID,
		Stato: sd.ref.Stato, Final: sd.ref.Stato == visengine.StateFulfilled,
		Bucket: sd.ref.Bucket, Object: sd.ref.Object, Name: doc.Nome, Size: sd.ref.Size, DeclaredSize: sd.ref.DeclaredSize,
		SHA256: sd.ref.SHA256, ContentType: sd.ref.ContentType, Encrypted: sd.sealedTo != "", KeyID: sd.sealedTo, At: t.cfg.Now()}
	if sd.ref.Object == FinalDocumentObject(rec.Tenant, rec.ID, sd.ref.SHA256, name) {
		sd.event.EventID = FinalDocumentEventID(rec.Tenant, rec.ID, sd.ref.SHA256)
	}
	return sd, nil
}

// storeLock serialises the stores of one object name in this process: a
// callback's refresh and a poll of one submission may download its
// document at once.
func (t *Tracker) storeLock(object string) (unlock func()) {
	h := fnv.New32a()
	h.Write([]byte(object))
	mu := &t.storing[h.Sum32()%uint32(len(t.storing))]
	mu.Lock()
	return mu.Unlock
}

// storedUnder reports whether sd's object is in the tenant's documents
// bucket already, stored by a catch-up that ran beside this one (a callback
// beside a poll, here or on another replica) and whose record write this
// one has not read. The name holds the document's digest, so the object
// is this document: sd takes its content type, recipients and time, and
// nothing is put. Putting it again would give it new chunks and purge the old
// ones under a tenant who, told of it, is reading them.
func (t *Tracker) storedUnder(ctx context.Context, tenant string, sd *storedDocument) (bool, error) {
	bucket, info, err := t.thisDocument(ctx, tenant, sd)
	if info == nil || err != nil {
		return false, err // absent, or not this document after all: put it
	}
	if ok, err := t.intact(ctx, bucket, info); !ok || err != nil {
		return false, err // left by a put that failed, or damaged on its way: put it again
	}
	sd.ref.ContentType = info.Metadata[DocMetaContentType]
	sd.ref.Stored = info.ModTime.UTC()
	sd.sealedTo = sealedTo(info)
	return true, nil
}

// thisDocument returns the tenant's documents bucket and the info of the
// object under sd's name when it is sd's document (its digest); nil info
// when there is none, or another one.
func (t *Tracker) thisDocument(ctx context.Context, tenant string, sd *storedDocument) (jetstream.ObjectStore, *jetstream.ObjectInfo, error) {
	bucket, err := t.documents(ctx, tenant)
	if err != nil {
		return nil, nil, err
	}
	info, err := objectInfo(ctx, bucket, sd.ref.Object)
	if info == nil || err != nil || info.Metadata[DocMetaSHA256] != sd.ref.SHA256 {
		return bucket, nil, err
	}
	return bucket, info, nil
}

// whole reports whether every chunk the object's info names is in its
// bucket's stream. A put that fails after its meta landed (an ack late or
// lost on a slow link; nats.go then purges the chunks it sent) leaves a
// name whose chunks are gone: a get of it waits for bytes that never come.
// Such an object is not stored; putting it again replaces it whole.
func (t *Tracker) whole(ctx context.Context, info *jetstream.ObjectInfo) (bool, error) {
	if info.Chunks == 0 {
		return true, nil
	}
	var st jetstream.Stream
	if s, ok := t.streams.Load(info.Bucket); ok {
		st = s.(jetstream.Stream)
	} else {
		s, err := t.d.Publisher.Stream(ctx, "OBJ_"+info.Bucket)
		if err != nil {
			return false, fmt.Errorf("document bucket %s: %w", info.Bucket, err)
		}
		t.streams.Store(info.Bucket, s)
		st = s
	}
	subj := "$O." + info.Bucket + ".C." + info.NUID
	si, err := st.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return false, fmt.Errorf("document %s: chunks: %w", objectLabel(info.Name), err)
	}
	if n := si.State.Subjects[subj]; n != uint64(info.Chunks) {
		t.rare.Warn().Str("bucket", info.Bucket).Uint64("chunks", n).Uint32("want", info.Chunks).
			Msg("stored document has lost chunks (a put that failed): storing it again")
		return false, nil
	}
	return true, nil
}

// intact reports whether an object is whole and reads back as its digest
// says. The digest nats.go stores is of the bytes it sent, not of the
// bytes the server stored: a put whose bytes were damaged on their way
// leaves an object that is whole and that no get can read.
func (t *Tracker) intact(ctx context.Context, bucket jetstream.ObjectStore, info *jetstream.ObjectInfo) (bool, error) {
	if ok, err := t.whole(ctx, info); !ok || err != nil {
		return false, err
	}
	if _, ok, err := readsBack(ctx, bucket, info.Name, int64(min(info.Size, math.MaxInt64)), info.Digest); !ok || err != nil {
		if err == nil {
			t.rare.Warn().Str("bucket", info.Bucket).Msg("stored document does not read back as it was sent: storing it again")
		}
		return false, err
	}
	return true, nil
}

// readsBack reports whether the object stored under name, of size bytes,
// reads back with digest ("SHA-256=" and the base64url SHA-256, as nats.go
// writes it): false when its bytes differ, or when there is no such object,
// in readBackTries reads. stored is when the server stored the object read
// (its meta's time, UTC).
func readsBack(ctx context.Context, bucket jetstream.ObjectStore, name string, size int64, digest string) (stored time.Time, ok bool, err error) {
	// Bounded: a get of an object whose chunks went meanwhile (a put racing
	// on another replica, an object deleted meanwhile) waits for bytes
	// that never come. And ended as the tracker's shutdown begins
	// (workpool.Stopping), as is the pause between tries: nothing is
	// written on what a read-back finds until it ends, and a poll cut here
	// is handed back, to find the object stored and read it back again.
	ctx, stop := workpool.Stopping(ctx)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, readBackTimeout(size))
	defer cancel()
	// An object's metadata is read with a direct get, which any replica of
	// an R3 bucket answers: one that has not stored the put yet finds no
	// object, or an earlier one under the name. Read again a few times
	// before taking the document for not stored (it would be downloaded
	// from the upstream again).
	for try := 1; ; try++ {
		stored, ok, err = readBackOnce(ctx, bucket, name, digest)
		if ok || err != nil || try == readBackTries {
			return stored, ok, err
		}
		select {
		case <-ctx.Done():
			return stored, ok, nil
		case <-time.After(readBackPause):
		}
	}
}

// readBackTries reads are made of a stored document, readBackPause apart,
// before it is taken for not stored: a replica catches up within
// milliseconds.
const (
	readBackTries = 8
	readBackPause = 250 * time.Millisecond
)

// readBackOnce reads the object back once.
func readBackOnce(ctx context.Context, bucket jetstream.ObjectStore, name string, digest string) (stored time.Time, ok bool, err error) {
	obj, err := bucket.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("document %s: read back: %w", objectLabel(name), err)
	}
	if info, _ := obj.Info(); info != nil {
		stored = info.ModTime.UTC() // the meta's, as Get read it (Put's is the client's clock)
	}
	// nats.go's reader waits for the next chunk until its context's
	// deadline, and sees its cancellation only then: a read of an object
	// whose chunks went meanwhile (deleted while a poll checks it, a put
	// racing on another replica) would hold a cancelled poll, and the
	// shutdown that cancelled it, until readBackTimeout (a minute or
	// more). So the read runs in a goroutine of its own and this one
	// returns when ctx ends. The goroutine is not waited for, against
	// the rule that every goroutine has an owner that waits: waiting is
	// what must not happen. It ends by that same deadline at the latest,
	// and closes obj.
	read := make(chan readBack, 1)
	go func() {
		defer obj.Close()
		h := sha256.New()
		_, err := io.Copy(h, obj)
		read <- readBack{h.Sum(nil), err}
	}()
	var r readBack
	select {
	case <-ctx.Done():
		return time.Time{}, false, fmt.Errorf("document %s: read back: %w", objectLabel(name), ctx.Err())
	case r = <-read:
	}
	if errors.Is(r.err, jetstream.ErrDigestMismatch) {
		return time.Time{}, false, nil
	}
	if r.err != nil {
		return time.Time{}, false, fmt.Errorf("document %s: read back: %w", objectLabel(name), r.err)
	}
	return stored, objectDigest(r.sum) == digest, nil
}

// readBack is what reading a stored object back came to: the SHA-256 of
// the bytes read, or why they could not be read.
type readBack struct {
	sum []byte
	err error
}

// Reading a stored document back is bounded by readBackFloor plus the
// time its size takes at readBackRate, a rate slower than any store iseed
// should run on (8 Mbit/s: the upstream's download of a document at the
// size limit, DefaultDocumentTimeout, is allowed about as much). A fixed
// bound would fail every read-back of a large document on a slow or
// replicated store, and each try downloads the document from the upstream
// again, until the maximum age.
const (
	readBackFloor = time.Minute
	readBackRate  = 1 << 20 // bytes a second
)

// readBackTimeout bounds reading a stored document of size bytes back:
// about 5 minutes at the size limit (256 MiB).
func readBackTimeout(size int64) time.Duration {
	return readBackFloor + time.Duration(max(size, 0))*time.Second/readBackRate
}

// objectDigest writes a SHA-256 as an object's digest.
func objectDigest(sum []byte) string { return "SHA-256=" + base64.URLEncoding.EncodeToString(sum) }

// objectInfo reads an object's info: nil when there is no such object.
func objectInfo(ctx context.Context, bucket jetstream.ObjectStore, name string) (*jetstream.ObjectInfo, error) {
	info, err := bucket.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("document %s: %w", objectLabel(name), err)
	}
	return info, nil
}

// objectLabel names a document's object in errors, which reach log lines,
// without its last part: the upstream's file name, which may name the
// person ("DSU.<tax code>.pdf"). What is left (tenant, submission id,
// digest) still tells which object it is.
func objectLabel(name string) string { return path.Dir(name) + "/…" }

// sealedTo is whom a stored document is sealed to, as its metadata says
// ("" when it is stored in clear).
func sealedTo(info *jetstream.ObjectInfo) string {
	if info.Metadata[seal.MetaEncryption] == "" {
		return ""
	}
	return cmp.Or(info.Metadata[seal.MetaRecipients], info.Metadata[seal.MetaKeyID])
}

// put stores the document (putOnce) and, when that fails, looks at what
// the failed put left under the name. nats.go purges the chunks of a put
// that fails once its meta may have landed: the name then names chunks
// that are gone, and no get of it ever ends. Another replica's catch-up
// may have found the object whole meanwhile (its chunks there until the
// purge) and announced it, closing the record: that document could then
// never be read (the chaos suite's "slow, lossy routes" found one so,
// once). A put that left the name without its chunks stores it again, up
// to putTries times in all.
func (t *Tracker) put(ctx context.Context, rec *record.Record, sd *storedDocument, nome string, f *os.File) error {
	var err error
	for try := 1; ; try++ {
		if err = t.putOnce(ctx, rec, sd, nome, f); err == nil || try == putTries {
			return err
		}
		broken, berr := t.leftBroken(ctx, rec.Tenant, sd)
		if berr != nil || !broken { // whole tells the log that it is stored again
			return err
		}
		if !workpool.Sleep(ctx, putPause) {
			return err
		}
	}
}

// putTries bounds the stores of one document in one put, putPause apart.
const (
	putTries = 3
	putPause = 500 * time.Millisecond
)

// leftBroken reports whether the name of sd holds this document's meta
// with chunks missing: what a put that failed after its meta landed leaves.
func (t *Tracker) leftBroken(ctx context.Context, tenant string, sd *storedDocument) (bool, error) {
	_, info, err := t.thisDocument(ctx, tenant, sd)
	if info == nil || err != nil {
		return false, err
	}
	whole, err := t.whole(ctx, info)
	return !whole, err
}

// putOnce streams the file into the bucket and reads the stored object back,
// checking its digest against the one of the bytes sent; sd's Stored is
// when the server stored it, as read back.
//
// The put has a deadline of its own (readBackTimeout: the same rate). With
// none, nats.go gives each chunk's acknowledgement 5 s and, when one comes
// late (a slow, lossy link), fails the put and purges the chunks it sent,
// also those stored and named by a meta that landed (put). With a
// deadline it waits for them until it, and a put that runs out fails
// leaving what it stored.
func (t *Tracker) putOnce(ctx context.Context, rec *record.Record, sd *storedDocument, nome string, f *os.File) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("document: rewind: %w", err)
	}
	meta := jetstream.ObjectMeta{Name: sd.ref.Object, Description: "document of " + record.Key(rec.Tenant, rec.ID),
		Headers: nats.Header{"Content-Type": {sd.ref.ContentType}},
		Metadata: map[string]string{DocMetaSHA256: sd.ref.SHA256, DocMetaSize: strconv.FormatInt(sd.ref.Size, 10),
			DocMetaContentType: sd.ref.ContentType, DocMetaTenant: rec.Tenant, DocMetaSubmission: rec.ID,
			DocMetaRequest: rec.RequestID, DocMetaName: nome}}
	var body io.Reader = f
	if kr := t.cfg.Keyring; kr != nil && kr.CanSeal(rec.Tenant) {
		sealed, m, err := kr.Seal(f, rec.Tenant)
		if err != nil {
			return err
		}
		body = sealed
		maps.Copy(meta.Metadata, m)
		sd.sealedTo = m[seal.MetaRecipients]
	}
	bucket, err := t.documents(ctx, rec.Tenant)
	if err != nil {
		return err
	}
	sent := sha256.New()
	pctx, cancel := context.WithTimeout(ctx, readBackTimeout(sd.ref.Size))
	defer cancel()
	stored, err := bucket.Put(pctx, meta, io.TeeReader(body, sent))
	if err != nil {
		return fmt.Errorf("document of %s: store: %w", record.Key(rec.Tenant, rec.ID), err)
	}
	// The digest Put returns is of what it sent: only the bytes read back
	// tell whether the server stored them.
	at, ok, err := readsBack(ctx, bucket, sd.ref.Object, int64(min(stored.Size, math.MaxInt64)), objectDigest(sent.Sum(nil)))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the stored object of %s does not read back as sent", ErrDocumentMismatch, record.Key(rec.Tenant, rec.ID))
	}
	sd.ref.Stored = at
	return nil
}

// documents returns a tenant's documents bucket, created the first time.
// One that exists is taken as it is (layout.TenantDocuments): its TTL is
// the replica's started last, which this one must not set back.
func (t *Tracker) documents(ctx context.Context, tenant string) (jetstream.ObjectStore, error) {
	if obs, ok := t.buckets.Load(tenant); ok {
		return obs.(jetstream.ObjectStore), nil
	}
	obs, err := layout.TenantDocuments(ctx, t.d.Publisher, t.lay, tenant)
	if err != nil {
		return nil, err
	}
	t.buckets.Store(tenant, obs)
	return obs, nil
}

// forgetDocuments drops the tenant's documents bucket from the handles
// kept, after a store in it failed: the next store makes it again, as on
// first use. An operator may have deleted the bucket while iseed runs (the
// tenant's documents erased before their ISEED_DOCUMENT_TTL), and a handle
// kept for it would fail every later store of the tenant's documents, each
// retried after the retry delay with its download, until tracking gave up
// on the requests at their maximum age. After a failure that had another
// cause, making it again finds it as it is.
func (t *Tracker) forgetDocuments(tenant string) { t.buckets.Delete(tenant) }

// maxNameBytes bounds the file name in an object name: a file system's
// usual limit. The object name goes base64-encoded into the subjects of
// its meta (a put's, a get's); one over the server's control line (4 KiB
// by default) makes the server close the connection, and nats.go does not
// reopen a connection closed on such an error: an upstream's file name of
// a few kilobytes would stop every loop of the process.
const maxNameBytes = 255

// safeName keeps the upstream's file name usable as the last part of an
// object name: its last path element, at most maxNameBytes long, keeping
// a short extension. The event names the file as the upstream does.
func safeName(nome, requestID string) string {
	n := path.Base(strings.ReplaceAll(strings.TrimSpace(nome), "\\", "/"))
	if n == "." || n == "/" || n == "" || n == ".." {
		return requestID + ".bin"
	}
	if len(n) <= maxNameBytes {
		return n
	}
	ext := path.Ext(n)
	if len(ext) > 16 {
		ext = ""
	}
	// A rune cut in two is dropped, not left half.
	return strings.ToValidUTF8(n[:maxNameBytes-len(ext)], "") + ext
}

// contentType guesses the document's type from its name, else from its
// first bytes.
func contentType(nome string, f *os.File) (string, error) {
	switch ext := strings.ToLower(path.Ext(nome)); ext {
	case ".zip":
		return "application/zip", nil
	case ".pdf":
		return "application/pdf", nil
	case "":
	default:
		if ct := mime.TypeByExtension(ext); ct != "" {
			return ct, nil
		}
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("document: rewind: %w", err)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("document: sniff: %w", err)
	}
	return http.DetectContentType(head[:n]), nil
}
