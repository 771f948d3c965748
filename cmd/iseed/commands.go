package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// version is the release of iseed, set at build time with
// -ldflags "-X main.version=…" (which needs a var; nothing assigns it at run time).
var version = "dev"

// command is one subcommand of iseed.
type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

// env is what every subcommand gets: its streams.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// exitError carries a process exit code other than 1 (0 for success is nil).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode maps run's error to the process exit code.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 1
}

func commands() map[string]command {
	return map[string]command{
		"serve":    {"run the daemon: consume submissions, submit, track, publish", runServe},
		"sim":      {"run the Visengine simulator standalone", runSim},
		"submit":   {"publish a submission event from a file", runSubmit},
		"status":   {"show a submission's record and events", runStatus},
		"dlq":      {"list or replay dead letters", runDLQ},
		"schemas":  {"list the service catalog or show a service schema, through the cache", runSchemas},
		"bench":    {"measure end-to-end submissions per second on embedded NATS and the simulator", runBench},
		"validate": {"validate a submission against a saved service schema, offline", runValidate},
		"document": {"fetch, decrypt and verify a stored document", runDocument},
		"watch":    {"print status and document events as they arrive", runWatch},
		"track":    {"list the requests still being tracked", runTrack},
		"version":  {"print the version", runVersion},
	}
}

// run is iseed's entry point: it dispatches to a subcommand.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			return runHelpFor(ctx, e, args[1])
		}
		usage(stdout)
		if len(args) == 0 {
			return &exitError{code: 2}
		}
		return nil
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "iseed: unknown command %q\n\n", args[0])
		usage(stderr)
		return &exitError{code: 2}
	}
	err := cmd.run(ctx, e, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	var ee *exitError
	if err != nil && (!errors.As(err, &ee) || ee.err != nil) {
		fmt.Fprintf(stderr, "iseed %s: %v\n", args[0], err)
	}
	return err
}

func runHelpFor(ctx context.Context, e *env, name string) error {
	cmd, ok := commands()[name]
	if !ok {
		return &exitError{code: 2, err: fmt.Errorf("unknown command %q", name)}
	}
	err := cmd.run(ctx, e, []string{"-h"})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "iseed %s: NATS JetStream events in, Openapi Visengine (CAF/Patronato) requests out.\n\n", version)
	fmt.Fprintln(w, "Usage: iseed <command> [flags]\n\nCommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'iseed <command> -h' for a command's flags; configuration is read from ISEED_* environment variables (see README.md).")
}

// newFlagSet returns a flag set whose usage names the command and its synopsis.
func newFlagSet(e *env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: iseed %s %s\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

func runVersion(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "version", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(e.stdout, "iseed", strings.TrimSpace(version))
	return err
}
