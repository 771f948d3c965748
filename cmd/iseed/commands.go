package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// version is the release of iseed, set at build time with
// -ldflags "-X main.version=…" (which needs a var; nothing assigns it at run time).
var version = "dev"

// Exit statuses every command shares; docs/cli.md lists them.
const (
	exitOK      = 0
	exitFailed  = 1 // a runtime error, or the command's documented "no"
	exitUsage   = 2 // the command line or the configuration is wrong
	exitTimeout = 3 // submit --wait: no final state in time
)

// env is what every command gets: its streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// exitError carries a process exit status other than 1 (0 for success is
// nil). usage marks a command-line mistake: it is printed with a hint to
// --help. A nil err prints nothing (the command said it already).
type exitError struct {
	code  int
	err   error
	usage bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usagef reports a command-line mistake: exit status 2.
func usagef(format string, a ...any) error {
	return &exitError{code: exitUsage, usage: true, err: fmt.Errorf(format, a...)}
}

// configError reports a configuration problem: exit status 2, no hint.
func configError(err error) error { return &exitError{code: exitUsage, err: err} }

// silent ends the command with code, having said why already.
func silent(code int) error { return &exitError{code: code} }

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return exitFailed
}

// run is iseed's entry point: it parses args with the command tree, runs
// the command, and prints its error (one line for a usage mistake).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	root.SetArgs(append([]string{}, args...)) // never nil: cobra would read os.Args
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return nil
	}
	if cmd == nil {
		cmd = root
	}
	reportError(e.stderr, cmd, err)
	return err
}

// reportError prints err for a person: "iseed <command>: <error>", and
// for a usage mistake a hint to the command's help. An error may carry
// what iseed did not write (the upstream's message, a name it chose):
// escapeControls keeps it from acting on the terminal.
func reportError(w io.Writer, cmd *cobra.Command, err error) {
	var ee *exitError
	if errors.As(err, &ee) && ee.err == nil {
		return
	}
	msg := err.Error()
	if errors.As(err, &ee) && ee.usage {
		msg = strings.ReplaceAll(msg, "\n", "; ") + fmt.Sprintf(" (see '%s --help')", cmd.CommandPath())
	}
	fmt.Fprintf(w, "%s: %s\n", cmd.CommandPath(), escapeControls(msg))
}
