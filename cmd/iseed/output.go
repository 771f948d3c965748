package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"unicode/utf8"

	shownpkg "github.com/iseed-dev/iseed/internal/shown"
	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"
)

// Output formats of -o.
const (
	formatTable = "table"
	formatJSON  = "json"
)

// outputFlag adds -o/--output table|json to a command that prints records.
// Unset, it is a table when standard output is a terminal and JSON
// otherwise (a pipe, a file, a program): people read tables, programs
// read JSON.
type outputFlag struct{ value string }

func addOutputFlag(cmd *cobra.Command) *outputFlag {
	o := &outputFlag{}
	cmd.Flags().StringVarP(&o.value, "output", "o", "", "output format: table or json (default: table on a terminal, json otherwise)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{formatTable, formatJSON}, cobra.ShellCompDirectiveNoFileComp))
	return o
}

// format resolves the flag against where standard output goes.
func (o *outputFlag) format(w io.Writer) (string, error) {
	switch o.value {
	case formatTable, formatJSON:
		return o.value, nil
	case "":
		if isTerminal(w) {
			return formatTable, nil
		}
		return formatJSON, nil
	}
	return "", usagef("-o must be table or json, got %q", o.value)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// writeJSON prints v as indented JSON, leaving && and <> readable.
// encoding/json escapes only the C0 controls: what it leaves that a
// terminal acts on rather than shows (escapeUnprintable) is escaped too,
// for the strings a tenant chose (keys, metadata, values) reach the
// operator's terminal through dlq show and -o json.
func writeJSON(w io.Writer, v any) error {
	return writeEscapedJSON(w, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	})
}

// writeEscapedJSON writes the JSON text fill writes (audit.WriteJSON,
// ledger.WriteJSON, overview.WriteJSON: documents of their packages'
// own shape) to w as writeJSON does, with escapeUnprintable: it is
// buffered whole, so that w gets nothing when fill fails.
func writeEscapedJSON(w io.Writer, fill func(io.Writer) error) error {
	var b bytes.Buffer
	if err := fill(&b); err != nil {
		return err
	}
	_, err := w.Write(escapeUnprintable(b.Bytes()))
	return err
}

// escapeUnprintable rewrites the characters of JSON text that are not
// printable (strconv.IsPrint): C1 controls such as U+009B (CSI) and
// U+009D (OSC), bidi overrides, zero-width characters, as \uXXXX escapes.
// Outside ASCII, JSON text has characters only within strings, where an
// escape means the same character: the document decodes as before.
func escapeUnprintable(js []byte) []byte { return shownpkg.Escaped(js, unprintable) }

// unprintable reports whether r, outside ASCII, is not shown as itself
// by a terminal.
func unprintable(r rune) bool { return r >= utf8.RuneSelf && !strconv.IsPrint(r) }

// shown is s for a table or a line of text: as it is when a terminal
// shows each of its characters as itself, else quoted as strconv.Quote
// does. What a tenant or the upstream chose (a field name, a state, a
// request id, a document's file name) may hold an escape sequence that
// would set the window title or rewrite the screen, a newline or a tab
// that would fake a line or a column, or a bidi override.
func shown(s string) string { return shownpkg.Text(s) }

// escapeControls is s, a text of lines, with every character a terminal
// would act on rather than show (strconv.IsPrint) written as a Go escape
// (\x1b, \a, \u202e), but for its newlines and tabs: for text that mixes
// iseed's words with what a tenant or the upstream chose, an error.
func escapeControls(s string) string {
	control := func(r rune) bool { return r != '\n' && r != '\t' && !strconv.IsPrint(r) }
	if !strings.ContainsFunc(s, control) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if !control(r) {
			b.WriteRune(r)
			continue
		}
		q := strconv.QuoteRune(r)
		b.WriteString(q[1 : len(q)-1])
	}
	return b.String()
}

// newTable returns a writer for aligned columns; Flush it.
func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

// readInput reads a file, or standard input for "-", up to maxInput bytes.
func readInput(e *env, path string) ([]byte, error) {
	var r io.Reader = e.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err == nil && len(b) > maxInput {
		err = fmt.Errorf("%s is larger than %d bytes: put large files in the object store and reference them", path, maxInput)
	}
	return b, err
}

// maxInput bounds a submission file: NATS would refuse a larger message anyway.
const maxInput = 8 << 20

// writeOutput writes what fill produces to path, or to standard output for
// "-". A file is written beside path and renamed into place only when fill
// succeeded, so a failure never leaves a partial file, nor does a hang-up
// or a quit (partial: a hung-up file).
func writeOutput(e *env, path string, fill func(io.Writer) error) error {
	if path == "-" {
		return fill(e.stdout)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("-o %s: is a directory: name a file in it", path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".iseed-output-*")
	if err != nil {
		return fmt.Errorf("-o %s: cannot create a file in %s: %w", path, filepath.Dir(path), pathErr(err))
	}
	defer os.Remove(f.Name())
	p := watchHangUp(f)
	defer p.stop()
	err = fill(p)
	return p.finish(err, func() error {
		if err := os.Rename(f.Name(), path); err != nil {
			return fmt.Errorf("-o %s: %w", path, pathErr(err))
		}
		return nil
	})
}

// errHungUp fails the writes of a partial file after a hang-up.
var errHungUp = errors.New("hung up (SIGHUP or SIGQUIT): nothing written")

// partial is a file being written that a hang-up or a quit removes at
// once: they would end the process before its deferred removal, and what
// is written (a decrypted document) would stay beside the file named.
// Writes fail after it.
type partial struct {
	mu   sync.Mutex
	f    *os.File
	hung bool
	sig  chan os.Signal
	done chan struct{}
}

func watchHangUp(f *os.File) *partial {
	p := &partial{f: f, sig: make(chan os.Signal, 1), done: make(chan struct{})}
	signal.Notify(p.sig, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		select {
		case <-p.sig:
			p.mu.Lock()
			defer p.mu.Unlock()
			p.hung = true
			_ = p.f.Close()
			_ = os.Remove(p.f.Name())
		case <-p.done:
		}
	}()
	return p
}

func (p *partial) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hung {
		return 0, errHungUp
	}
	return p.f.Write(b)
}

// finish closes the file and, when err (fill's) is nil and no hang-up
// came, keeps it with keep; a hang-up meanwhile waits until it is done.
func (p *partial) finish(err error, keep func() error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hung {
		return errHungUp
	}
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return keep()
}

// stop ends the watch: the signals' default actions again.
func (p *partial) stop() {
	signal.Stop(p.sig)
	close(p.done)
}

// pathErr is err without the path of the temporary file it names, which
// the user never gave: the reason alone (no such file or directory, is a
// directory, permission denied).
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
