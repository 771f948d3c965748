package main

import (
	"io"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// walk returns every command of the tree, root first.
func walk(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		out = append(out, walk(sub)...)
	}
	return out
}

// needsArgs reports whether a command cannot run without arguments: it
// holds verbs, or its synopsis names something outside [brackets].
func needsArgs(c *cobra.Command) bool {
	if c.HasAvailableSubCommands() {
		return c.Annotations[runsAloneKey] == "" // a group, unless it runs without a verb too
	}
	_, synopsis, _ := strings.Cut(c.Use, " ")
	depth := 0
	for _, r := range synopsis {
		switch {
		case r == '[':
			depth++
		case r == ']':
			depth--
		case depth == 0 && r != ' ':
			return true
		}
	}
	return false
}

// TestEveryCommandGrammar walks the command tree itself, so a command added
// later is checked too: -h and --help exit 0 with its usage on standard
// output; an unknown flag, before or after the verb, exits 2 with one line
// naming it and pointing to --help; a command that needs arguments exits 2
// with one line without them. Nothing here may reach NATS.
func TestEveryCommandGrammar(t *testing.T) {
	t.Setenv("ISEED_NATS_URL", "nats://127.0.0.1:1")
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	cmds := walk(newRoot(&env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}))
	if len(cmds) < 20 {
		t.Fatalf("walked %d commands; the tree is not what it seems", len(cmds))
	}
	for _, c := range cmds {
		path := strings.Fields(c.CommandPath())[1:]
		t.Run(c.CommandPath(), func(t *testing.T) {
			for _, h := range []string{"-h", "--help"} {
				out, errOut, code := runCLI(t, append(append([]string{}, path...), h)...)
				if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, c.CommandPath()) || errOut != "" {
					t.Errorf("%s %s: exit %d, stdout %q, stderr %q; want 0 and its usage on stdout", c.CommandPath(), h, code, out, errOut)
				}
			}
			for _, args := range [][]string{append(append([]string{}, path...), "--bogus-flag"), append([]string{"--bogus-flag"}, path...)} {
				if len(path) == 0 && args[0] == "--bogus-flag" && len(args) > 1 {
					continue
				}
				out, errOut, code := runCLI(t, args...)
				if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--bogus-flag") || !strings.Contains(errOut, "--help") {
					t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line naming the flag with a hint to --help", args, code, out, errOut)
				}
			}
			if !needsArgs(c) {
				return
			}
			out, errOut, code := runCLI(t, path...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "--help") {
				t.Errorf("%s without arguments: exit %d, stdout %q, stderr %q; want 2 and one line", c.CommandPath(), code, out, errOut)
			}
		})
	}
}

// TestUsageMistakes are command lines that once did the wrong thing.
func TestUsageMistakes(t *testing.T) {
	t.Setenv("ISEED_NATS_URL", "nats://127.0.0.1:1")
	tests := []struct {
		args []string
		want string // in the one line on standard error
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"dlq", "lsit"}, `did you mean "list"?`},
		{[]string{"help", "bogus"}, `no command "bogus"`},
		{[]string{"help", "dlq", "bogus"}, `no command "dlq bogus"`},
		{[]string{"schemas", "list", "--bogus", "xyz"}, "unknown flag: --bogus"},
		{[]string{"schemas", "show"}, "missing SERVICE"},
		{[]string{"schemas", "show", "isee", "extra"}, `unexpected argument "extra"`},
		{[]string{"status"}, "missing ID"},
		{[]string{"status", "x", "-o", "yaml"}, "-o must be table or json"},
		{[]string{"dlq", "list", "-o", "yaml"}, "-o must be table or json"},
		{[]string{"dlq", "list", "--since", "yesterday"}, `--since "yesterday"`},
		{[]string{"dlq", "list", "--since", "1h", "--until", "2h"}, "is before --since"},
		{[]string{"dlq", "show", "x"}, `not a dead-letter sequence: "x"`},
		{[]string{"track", "list", "--state", "bogus"}, `--state "bogus" is not the state of an open request`},
		{[]string{"track", "list", "--older-than", "-5m"}, "--older-than: want a duration of 0 or more"},
		{[]string{"budget", "set", "--account", "--daily-eur", "1.500"}, "thousands separators"},
		{[]string{"dlq", "replay"}, "select them with --reason"},
		{[]string{"dlq", "replay", "--tenant", "acme"}, "select them with --reason"},
		{[]string{"dlq", "replay", "1", "--reason", "invalid"}, "not both"},
		{[]string{"dlq", "replay", "1", "2", "--edit"}, "exactly one dead letter"},
		{[]string{"dlq", "replay", "1", "--edit", "--payload", "-"}, "use one"},
		{[]string{"dlq", "replay", "1", "--rate", "fast"}, `--rate "fast"`},
		{[]string{"dlq", "replay", "1", "--rate", "5/h"}, "the unit is s or m"},
		{[]string{"dlq", "replay", "1", "--rate", "NaN/s"}, `--rate "NaN/s"`},
		{[]string{"dlq", "replay", "1", "--rate", "Inf/m"}, `--rate "Inf/m"`},
		{[]string{"dlq", "purge"}, "--all"},
		{[]string{"dlq", "list", "--tenant", "*"}, "--tenant must be"},
		{[]string{"dlq", "replay", "--reason", "expired", "--tenant", "acme.>"}, "--tenant must be"},
		{[]string{"dlq", "purge", "--tenant", "*", "--yes"}, "--tenant must be"},
		{[]string{"dlq", "purge", "3", "--all"}, "not both"},
		{[]string{"document", "get", "x"}, "missing -o FILE"},
		{[]string{"submit", "../../examples/isee.json", "--tenant", "a.b"}, "--tenant must be"},
		{[]string{"submit", "../../examples/isee.json", "--wait", "--timeout", "0s"}, "--timeout must be positive"},
		{[]string{"submit", "testdata/fields.json"}, "malformed submission"},
		{[]string{"submit", "nope.json"}, "nope.json"},
		{[]string{"completion", "tcsh"}, `unknown shell "tcsh"`},
		{[]string{"serve", "--demo", "testdata/fields.json"}, "--demo testdata/fields.json"},
		{[]string{"sim", "--step", "0s"}, "--step must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := runCLI(t, tt.args...)
			if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2 and one line with %q", code, out, errOut, tt.want)
			}
		})
	}
}

func TestCompletionAndVersion(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"completion", "bash"}, "__start_iseed"},
		{[]string{"completion", "zsh"}, "#compdef iseed"},
		{[]string{"completion", "fish"}, "complete -c iseed"},
		{[]string{"version"}, "iseed dev"},
		{[]string{"--version"}, "iseed dev"},
		{[]string{"help", "dlq", "replay"}, "--dry-run"},
	} {
		out, errOut, code := runCLI(t, tt.args...)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("%v: exit %d, stdout %.80q…, stderr %q; want 0 and %q", tt.args, code, out, errOut, tt.want)
		}
	}
}
