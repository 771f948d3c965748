package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestEditHangUpRemovesThePayload: the operator's session drops (SIGHUP)
// while the editor has the dead letter's payload, a person's data, in a
// temporary file: the edit is cancelled and the file removed, where the
// hang-up used to kill the process and leave the file behind.
func TestEditHangUpRemovesThePayload(t *testing.T) {
	// The editor waits as a person would.
	start := time.Now()
	done, file := startEditing(t, "exec sleep 20\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Error("a hung-up edit returned a payload, want an error: nothing replayed")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the edit went on after the hang-up")
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("the payload's file %s is still there after the hang-up (%v)", file, err)
	}
	t.Logf("cancelled %s after the editor started", time.Since(start).Round(time.Millisecond))
}

// startEditing runs editInEditor on a person's payload with an editor
// that notes the file it has, then runs script (sh, $1 the file). It
// returns when the editor has started: done gets editInEditor's error,
// file is the file the editor has.
func startEditing(t *testing.T, script string) (done <-chan error, file string) {
	t.Helper()
	dir := t.TempDir()
	seen := filepath.Join(dir, "path")
	editor := filepath.Join(dir, "editor")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\necho \"$1\" > "+seen+".tmp && mv "+seen+".tmp "+seen+"\n"+script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VISUAL", editor)
	e := &env{stdin: strings.NewReader(""), stdout: &pipetest.Buffer{}, stderr: &pipetest.Buffer{}}
	ch := make(chan error, 1)
	go func() {
		_, err := editInEditor(context.Background(), e, []byte(`{"id":"x","fields":{"Nome":"Zebedeo"}}`))
		ch <- err
	}()
	var path []byte
	pipetest.WaitFor(t, 10*time.Second, "the editor to start", func() bool {
		path, _ = os.ReadFile(seen)
		return len(path) > 0
	})
	return ch, string(path[:len(path)-1])
}

// TestEditRemovesTheEditorsCopies: an editor keeps copies of the file it
// edits beside it (vim's swap file while it runs, emacs's file~ backup
// when it saves), the dead letter's payload, a person's data, whole. They
// were left in the shared temporary directory: the backup after every
// edit, the swap file when the edit was cancelled (the editor is killed,
// and cannot remove it). The payload's file is now alone in a directory
// of its own, removed with whatever the editor put there.
func TestEditRemovesTheEditorsCopies(t *testing.T) {
	for _, tt := range []struct {
		name   string
		script string // after the editor noted its file in $seen
		hangUp bool
	}{
		{"a backup, then a save", "cp \"$1\" \"$1~\" && sed -i 's/Zebedeo/Zaccaria/' \"$1\"\n", false},
		{"a swap file, then a hang-up", "cp \"$1\" \"$(dirname \"$1\")/.$(basename \"$1\").swp\"\nexec sleep 20\n", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done, file := startEditing(t, tt.script)
			copies := []string{file + "~", filepath.Join(filepath.Dir(file), "."+filepath.Base(file)+".swp")}
			t.Cleanup(func() {
				for _, c := range copies {
					os.Remove(c)
				}
			})
			if tt.hangUp {
				pipetest.WaitFor(t, 10*time.Second, "the swap file", func() bool {
					_, err := os.Stat(copies[1])
					return err == nil
				})
				if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-done:
				if (err != nil) != tt.hangUp {
					t.Errorf("edit: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the edit did not end")
			}
			for _, f := range append(copies, file) {
				if _, err := os.Stat(f); !os.IsNotExist(err) {
					t.Errorf("%s is still there after the edit (%v): the payload outlives it", f, err)
				}
			}
		})
	}
}

// TestEditWithoutAnEditorSaysWhatToDo: with no editor to run (VISUAL and
// EDITOR unset, no vi, or one that does not exist), --edit says how to
// name one, or to give the correction with --payload, and keeps the letter.
func TestEditWithoutAnEditorSaysWhatToDo(t *testing.T) {
	startCLIDaemon(t)
	if _, errOut, code := runCLI(t, "submit", "--tenant", "acme", "--wait", "../../examples/isee-invalid.json"); code != 1 {
		t.Fatalf("submit invalid: exit %d, %s", code, errOut)
	}
	dl := waitDeadLetters(t, 1)["emp-7782-isee-2026"]
	t.Setenv("VISUAL", "iseed-test-no-such-editor")
	_, errOut, code := runCLI(t, "dlq", "replay", "--edit", fmt.Sprint(dl.Seq))
	want := "set VISUAL or EDITOR to an editor you have, or give the correction with --payload FILE"
	if code != 1 || !strings.Contains(errOut, "nothing replayed") || !strings.Contains(errOut, want) {
		t.Errorf("--edit with no editor: got exit %d, %q; want 1 and %q", code, errOut, want)
	}
	if len(deadLetters(t)) != 1 {
		t.Errorf("the dead letter is gone after an edit that could not start")
	}
}
