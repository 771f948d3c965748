package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iseed-dev/iseed/tracking"
)

// writeFile writes a file of name in dir, modified age ago.
func writeFile(t *testing.T, dir, name string, age time.Duration) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("%PDF-1.4 attestazione ISEE di RSSMRA80A01H501U"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-age)
	if err := os.Chtimes(p, at, at); err != nil {
		t.Fatal(err)
	}
	return p
}

// A restart removes every document a killed process spooled, however
// recently: each is an ISEE certificate in clear.
func TestDownloadDirRemovesEveryLeftover(t *testing.T) {
	data := t.TempDir()
	dir := filepath.Join(data, "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	left := []string{
		writeFile(t, dir, "iseed-document-1", 0), // killed a moment before the restart
		writeFile(t, dir, "iseed-document-2", 50*time.Minute),
		writeFile(t, dir, "iseed-document-3", 3*time.Hour),
	}
	other := writeFile(t, dir, "notes.txt", 3*time.Hour)
	s, err := downloadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	if s.dir != dir {
		t.Errorf("got directory %s, want %s", s.dir, dir)
	}
	for _, p := range left {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("after the restart, %s: got %v, want it removed", filepath.Base(p), err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("a file that is not a spooled document: got %v, want it kept", err)
	}
}

// While iseed runs, a document spooled after its start (by another
// process sharing the directory, killed) is gone within spoolSweep.
func TestSpoolSweptWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := spool{dir: t.TempDir(), every: spoolSweep}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()
		p := writeFile(t, s.dir, "iseed-document-4", 0)
		time.Sleep(spoolSweep) // the bubble's clock: no real wait
		synctest.Wait()
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%v after the document was spooled: got %v, want it removed", spoolSweep, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: got %v, want nil once stopped", err)
		}
	})
}

// A sweep during a download does not disturb it: the download goes on
// through the file it holds open, and reads back every byte.
func TestSpoolSweepSparesALiveDownload(t *testing.T) {
	s := spool{dir: t.TempDir(), every: spoolSweep}
	f, err := os.CreateTemp(s.dir, tracking.SpoolPattern)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("%PDF-1.4 "); err != nil {
		t.Fatal(err)
	}
	s.sweep()
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Fatalf("the download's file after a sweep: got %v, want no name", err)
	}
	if _, err := f.WriteString("attestazione ISEE"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "%PDF-1.4 attestazione ISEE" {
		t.Errorf("read back: got %q, %v; want the whole document", got, err)
	}
}
