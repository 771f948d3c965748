package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/record"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
)

// TestDocumentGet fetches a completed submission's document to a file and,
// with -o -, to standard output (the verification line on standard error).
func TestDocumentGet(t *testing.T) {
	cliEnv(t)
	t.Setenv("ISEED_SIM_STEP", "50ms")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newDaemon(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; d.close() })
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "../../examples/isee.json"); code != 0 {
		t.Fatalf("submit: exit %d, %s", code, errOut)
	}
	var rec *record.Record
	// The final document: the published profile's DSU receipt is replaced
	// by the certificate.
	waitUntil(t, 30*time.Second, "the stored final document", func() bool {
		r, _, err := record.NewStore(d.res.Records).Get(context.Background(), "acme", "emp-7781-isee-2026")
		rec = r
		return err == nil && r.State == record.StateCompleted && r.Document != nil && r.Document.Stato == visengine.StateFulfilled
	})
	out, errOut, code := runCLI(t, "document", "get", "emp-7781-isee-2026", "-o", "-", "--tenant", "acme")
	sum := sha256.Sum256([]byte(out))
	if code != 0 || hex.EncodeToString(sum[:]) != rec.Document.SHA256 || !strings.HasPrefix(errOut, "standard output: ") || !strings.HasSuffix(errOut, "(verified)\n") {
		t.Errorf("-o -: exit %d, %d bytes with sha256 %x, stderr %q; want 0 and the document (%s)", code, len(out), sum, errOut, rec.Document.SHA256)
	}
	path := filepath.Join(t.TempDir(), "isee.zip")
	if _, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "-o", path, "emp-7781-isee-2026"); code != 0 {
		t.Fatalf("-o FILE: exit %d, %s", code, errOut)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != out {
		t.Errorf("-o FILE: %d bytes (%v), want the same %d bytes", len(b), err, len(out))
	}
	if _, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "-o", "-", "nobody"); code != 1 || !strings.Contains(errOut, `no submission "nobody"`) {
		t.Errorf("unknown submission: exit %d, stderr %q", code, errOut)
	}
	// Past its retention the object is gone while the record still names
	// it: say so, not "object not found".
	obs, err := d.js.ObjectStore(ctx, rec.Document.Bucket)
	if err != nil {
		t.Fatal(err)
	}
	// A late callback's catch-up may find the object gone meanwhile and
	// store it again (the request's document is still there upstream): it
	// is deleted until it stays gone.
	var (
		gone     string
		goneCode int
	)
	waitUntil(t, 20*time.Second, "document get to name the retention of a deleted document", func() bool {
		if err := obs.Delete(ctx, rec.Document.Object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
			t.Fatal(err)
		}
		_, gone, goneCode = runCLI(t, "document", "get", "--tenant", "acme", "-o", "-", "emp-7781-isee-2026")
		return goneCode != 0
	})
	if goneCode != 1 || !strings.Contains(gone, "kept for ISEED_DOCUMENT_TTL") {
		t.Errorf("a deleted document: exit %d, stderr %q; want 1 and the retention named", goneCode, gone)
	}
}

// TestWriteOutputNamesThePathGiven: -o into a directory that does not
// exist, or naming a directory, fails naming the path the user gave and
// why, never the temporary file written beside it; what fill returns is
// returned as it is.
func TestWriteOutputNamesThePathGiven(t *testing.T) {
	dir := t.TempDir()
	fill := func(w io.Writer) error { _, err := io.WriteString(w, "pdf"); return err }
	for _, tc := range []struct {
		path, want string
	}{
		{filepath.Join(dir, "missing", "x.zip"), "-o " + filepath.Join(dir, "missing", "x.zip") + ": cannot create a file in " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{dir, "-o " + dir + ": is a directory: name a file in it"},
	} {
		e := &env{stdout: io.Discard, stderr: io.Discard}
		err := writeOutput(e, tc.path, fill)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), ".iseed-output") {
			t.Errorf("writeOutput(%s): got %v; want an error starting %q, naming no temporary file", tc.path, err, tc.want)
		}
	}
	sentinel := errors.New("no document")
	if err := writeOutput(&env{}, filepath.Join(dir, "y.zip"), func(io.Writer) error { return sentinel }); !errors.Is(err, sentinel) {
		t.Errorf("writeOutput with a failing fill: got %v; want %v", err, sentinel)
	}
}

// TestWriteOutputHangUpRemovesThePartialDocument: the operator's session
// drops (SIGHUP) while document get writes the decrypted document beside
// the file it names: the hang-up killed the process before the temporary
// file was removed, and part of a person's certificate stayed there, in
// clear, under a hidden name. Now the file is removed at once, the writes
// fail, and nothing is left.
func TestWriteOutputHangUpRemovesThePartialDocument(t *testing.T) {
	alive := make(chan os.Signal, 1) // the test survives the hang-up whatever writeOutput does
	signal.Notify(alive, syscall.SIGHUP)
	defer signal.Stop(alive)
	dir := t.TempDir()
	fill := func(w io.Writer) error {
		if _, err := io.WriteString(w, "%PDF-1.7 Mario Rossi"); err != nil {
			return err
		}
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if _, err := io.WriteString(w, " RSSMRA80A01H501U"); err != nil {
				return err
			}
		}
		return nil
	}
	err := writeOutput(&env{stdout: io.Discard, stderr: io.Discard}, filepath.Join(dir, "isee.pdf"), fill)
	if err == nil {
		t.Error("writeOutput hung up: got no error, want one (the document is not written)")
	}
	left, _ := os.ReadDir(dir)
	for _, f := range left {
		t.Errorf("%s is left in %s after the hang-up", f.Name(), dir)
	}
}

// TestDocumentGetKeyFileNamed: an identity --key-file names that cannot be
// read is refused naming the flag, not the ISEED_DOCUMENT_* variables that
// were not set.
func TestDocumentGetKeyFileNamed(t *testing.T) {
	startCLIDaemon(t)
	missing := filepath.Join(t.TempDir(), "nope.key")
	_, errOut, code := runCLI(t, "document", "get", "--tenant", "acme", "emp-1", "-o", filepath.Join(t.TempDir(), "x.zip"), "--key-file", missing)
	want := "iseed document get: --key-file " + missing + ": "
	if code != 2 || !strings.HasPrefix(errOut, want) || strings.Contains(errOut, "ISEED_DOCUMENT_") {
		t.Errorf("document get --key-file %s: got exit %d, %q; want 2 and %q…, not the variables", missing, code, errOut, want)
	}
}
