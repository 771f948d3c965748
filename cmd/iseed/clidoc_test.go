package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

var update = flag.Bool("update", false, "rewrite docs/cli.md from the command tree")

// TestCLIDoc keeps docs/cli.md the command tree's own description: every
// command, flag and exit status. go test ./cmd/iseed -run TestCLIDoc -update
// rewrites it.
func TestCLIDoc(t *testing.T) {
	const path = "../../docs/cli.md"
	var b strings.Builder
	writeCLIDoc(&b, newRoot(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}))
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != b.String() {
		t.Errorf("%s is stale: run go test ./cmd/iseed -run TestCLIDoc -update", path)
	}
	// A table row is one line: a flag's usage with a line break would end
	// its row early and start a stray one.
	for i, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, "| `-") && !strings.HasSuffix(line, " |") {
			t.Errorf("cli.md line %d: a flag's row does not end on its line: %q", i+1, line)
		}
	}
}

// TestCLIDocExitStatusesNameTheirCommands: a status beyond 0, 1 and 2
// that a command exits with (withdraw --wait's 3, say) is named, with
// the command, in docs/cli.md's table of exit statuses and in README.md's
// "Exit statuses": a script reads those to learn what a status means, and
// both named submit --wait's 3 alone.
func TestCLIDocExitStatusesNameTheirCommands(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, ok := strings.Cut(string(readme), "**Exit statuses.**")
	if !ok {
		t.Fatal(`README.md has no "**Exit statuses.**" paragraph`)
	}
	para, _, _ = strings.Cut(para, "\n\n")
	status := regexp.MustCompile(`^([3-9]) `)
	for _, c := range walk(newRoot(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard})) {
		for entry := range strings.SplitSeq(c.Annotations[exitCodesKey], "; ") {
			m := status.FindStringSubmatch(entry)
			if m == nil {
				continue
			}
			name := strings.TrimPrefix(c.CommandPath(), "iseed ")
			row := ""
			for line := range strings.SplitSeq(cliDocIntro, "\n") {
				if strings.HasPrefix(line, "| "+m[1]+" |") {
					row = line
				}
			}
			if !strings.Contains(row, "`"+name) {
				t.Errorf("docs/cli.md's exit statuses: the row of %s is %q; want it to name %s, which exits %s (%s)", m[1], row, name, m[1], entry)
			}
			_, said, _ := strings.Cut(para, "; "+m[1]+" ")
			if !strings.Contains(said, "`"+name) {
				t.Errorf("README.md's exit statuses: %s is %q; want it to name %s, which exits %s (%s)", m[1], said, name, m[1], entry)
			}
		}
	}
}

const cliDocIntro = `# The iseed command line

This page is generated from the command tree (` + "`go test ./cmd/iseed -run TestCLIDoc -update`" + `);
a test fails when it is stale. README.md, "Operating iseed", walks through the daily work.

## Grammar

- ` + "`iseed COMMAND [VERB] [ARGUMENTS] [FLAGS]`" + `: flags go before or after the arguments;
  ` + "`--`" + ` ends the flags.
- ` + "`-h`/`--help`" + ` on every command and verb prints its usage on standard output and exits 0;
  ` + "`iseed help COMMAND…`" + ` does the same.
- A usage mistake (unknown command, verb or flag, a missing or extra argument, a bad value)
  prints one line on standard error, ending with a hint to ` + "`--help`" + `, and exits 2.
  A configuration problem (the ` + "`ISEED_*`" + ` variables) also exits 2, naming the variable.
- A runtime error prints ` + "`iseed COMMAND: what went wrong`" + ` and exits 1. What the error quotes
  from a tenant or the upstream (an object's file name, the upstream's message) has every
  character a terminal would act on written as a Go escape (` + "`\\x1b`, `\\u202e`" + `).
- ` + "`-o table|json`" + ` on every command that prints records: a table when standard output is a
  terminal, JSON otherwise (a pipe, a file, a program). Pass ` + "`-o`" + ` to choose. JSON, and the
  payload ` + "`dlq show`" + ` prints, escapes every character a terminal would act on rather than show
  (C1 controls such as U+009B, bidi overrides, zero-width characters) as ` + "`\\uXXXX`" + `: the
  document decodes the same, and what a tenant sent cannot rewrite the operator's screen. A
  table or a line of text (` + "`status`" + `, ` + "`track list`" + `, ` + "`watch`" + `, ` + "`audit`" + `, ` + "`spend`" + ` and its CSV, ` + "`top`" + `, problems) quotes, as Go's
  ` + "`strconv.Quote`" + `, a value a tenant or the upstream chose that holds such a character, an
  escape sequence, a tab or a newline: ` + "`\"In verifica\\x1b]0;…\\a\"`" + `.
- ` + "`-`" + ` is standard input (submission files, ` + "`--payload`" + `, ` + "`--input`" + `, ` + "`--demo`" + `) or standard
  output (` + "`document get -o -`" + `) where those name a file; ` + "`validate --schema`" + ` and the key files
  (` + "`document get --key-file`" + `, the ` + "`ISEED_*_FILE`" + ` variables) are read from files only.
- Operator commands connect to ` + "`ISEED_NATS_URL`" + ` (or the running daemon's embedded server) and
  never create or change streams, consumers or buckets (` + "`tenant init`" + ` makes a tenant's two event
  consumers, as ` + "`serve`" + ` would with its first event, and its files bucket when it has none).
  They need the grants of the ` + "`iseed`" + ` user (iseed's own streams and buckets), not a
  tenant's (only ` + "`submit`" + ` and ` + "`withdraw`" + ` without ` + "`--wait`" + ` work with a tenant's);
  [events.md](events.md#a-tenants-client) shows how a tenant's client publishes, reads its
  events and fetches its documents.
- What the NATS connection reports on its own is one line on standard error, in iseed's words,
  once per kind: a permissions violation (` + "`iseed: NATS refused to let this command subscribe to …`" + `)
  names the subject refused and the permission the credentials lack;
  [security.md](security.md#what-each-nats-user-may-do) lists each user's.
- ` + "`iseed completion bash|zsh|fish`" + ` prints a completion script; ` + "`iseed --version`" + ` (` + "`-v`" + `) prints the
  version, as ` + "`iseed version`" + ` does.

## Exit statuses

| status | meaning |
|---|---|
| 0 | done (for ` + "`-h`" + `: help printed) |
| 1 | failed: a runtime error; ` + "`validate`" + `: invalid; ` + "`submit --wait`" + `: rejected or dead-lettered; ` + "`dlq replay`" + `: something refused, not found or failed; ` + "`dlq purge`" + `, ` + "`cancel`" + `: not confirmed (` + "`cancel`" + `: or one not held, being sent or unknown); ` + "`withdraw --wait`" + `: a withdrawal refused; ` + "`audit`" + `: findings; ` + "`erase`" + `: a submission unknown, open or not all erased |
| 2 | usage or configuration error |
| 3 | ` + "`submit --wait`" + `, ` + "`withdraw --wait`" + `: no outcome before ` + "`--timeout`" + ` |
`

// writeCLIDoc writes the reference of every command, depth first.
func writeCLIDoc(w io.Writer, root *cobra.Command) {
	fmt.Fprint(w, cliDocIntro)
	fmt.Fprintln(w, "\n## Commands")
	for _, c := range walk(root) {
		if c == root || c.Name() == "help" {
			continue
		}
		writeCommandDoc(w, c)
	}
}

func writeCommandDoc(w io.Writer, c *cobra.Command) {
	fmt.Fprintf(w, "\n### %s\n\n%s.\n\n", c.CommandPath(), c.Short)
	if c.HasAvailableSubCommands() {
		fmt.Fprintf(w, "Verbs: %s.\n", verbs(c))
		if !c.Runnable() { // a group: its verbs say the rest
			if c.Long != "" {
				fmt.Fprintf(w, "\n%s\n", c.Long)
			}
			return
		}
		fmt.Fprintln(w) // a command of its own too (iseed audit): its usage and flags follow
	}
	fmt.Fprintf(w, "```\n%s\n```\n", c.UseLine())
	if c.Long != "" {
		fmt.Fprintf(w, "\n%s\n", c.Long)
	}
	var rows []string
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name == "help" || f.Hidden { // as --help shows them
			return
		}
		name := "--" + f.Name
		if f.Shorthand != "" {
			name = "-" + f.Shorthand + ", " + name
		}
		def := f.DefValue
		if def == "" || def == "[]" || def == "false" || def == "0" {
			def = ""
		} else {
			def = "`" + def + "`"
		}
		usage := strings.ReplaceAll(strings.ReplaceAll(f.Usage, "|", `\|`), "\n", " ") // one table row each
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |", name, def, usage))
	})
	if len(rows) > 0 {
		fmt.Fprintf(w, "\n| flag | default | meaning |\n|---|---|---|\n%s\n", strings.Join(rows, "\n"))
	}
	codes := c.Annotations[exitCodesKey]
	if codes == "" {
		codes = commonExitCodes
	}
	fmt.Fprintf(w, "\nExit status: %s.\n", codes)
}
