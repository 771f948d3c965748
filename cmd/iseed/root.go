package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// exitCodesKey is the annotation that documents a command's exit statuses
// (docs/cli.md); commands without it have the common ones.
const exitCodesKey = "exit-codes"

// runsAloneKey marks a command with verbs that also runs without one
// (iseed audit, iseed audit adopt).
const runsAloneKey = "runs-alone"

// commonExitCodes are the exit statuses of every command unless it says otherwise.
const commonExitCodes = "0 done; 1 failed (the error says why); 2 usage or configuration error"

// newRoot builds the whole command tree. Every command parses flags before
// or after its arguments, answers -h/--help with exit status 0, and reports
// a usage mistake in one line with exit status 2.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:   "iseed",
		Short: "NATS JetStream events in, Openapi Visengine (CAF/Patronato) requests out",
		Long: "iseed " + version + ": turns submission events on NATS JetStream into Openapi Visengine requests\n" +
			"(ISEE, NASpI, 730, …), tracks them and publishes their events.\n\n" +
			"Configuration is read from ISEED_* environment variables (README.md, Configuration).\n" +
			"Commands that print records take -o table|json: a table on a terminal, JSON otherwise.",
		Args:          cobra.ArbitraryArgs,
		RunE:          needVerb,
		SilenceErrors: true,
		SilenceUsage:  true,
		Annotations:   map[string]string{exitCodesKey: "0 help was asked for; 2 no command, or an unknown one"},
		Version:       strings.TrimSpace(version), // --version, as `iseed version`
	}
	root.SetVersionTemplate("iseed {{.Version}}\n")
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usagef("%v", err) })
	root.AddCommand(
		newServeCmd(e), newSimCmd(e), newSubmitCmd(e), newStatusCmd(e), newDLQCmd(e), newWatchCmd(e),
		newDocumentCmd(e), newTrackCmd(e), newSchemasCmd(e), newValidateCmd(e), newBenchCmd(e),
		newBudgetCmd(e), newSpendCmd(e), newAuditCmd(e), newTopCmd(e), newTenantCmd(e), newEraseCmd(e), newCancelCmd(e), newWithdrawCmd(e),
		newCompletionCmd(e, root), newVersionCmd(e),
	)
	root.SetHelpCommand(newHelpCmd(root))
	root.InitDefaultHelpCmd()
	return root
}

// needVerb is the RunE of a command that only groups others: without a
// verb, or with an unknown one, it is a usage mistake (cobra would print
// help and exit 0).
func needVerb(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef("a command is required: %s", verbs(cmd))
	}
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra sets it on the root only
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usagef("unknown command %q%s (commands: %s)", args[0], hint, verbs(cmd))
}

// verbs lists a command's subcommands.
func verbs(cmd *cobra.Command) string {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return strings.Join(names, ", ")
}

// group is a command that only holds verbs.
func group(use, short string, verbs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.ArbitraryArgs, RunE: needVerb}
	c.AddCommand(verbs...)
	return c
}

// newHelpCmd replaces cobra's help command, which prints nothing and exits
// 0 for a command that does not exist.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Args:  cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			cmd, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				return usagef("no command %q", strings.Join(args, " "))
			}
			cmd.InitDefaultHelpFlag()
			return cmd.Help()
		},
	}
}

// newCompletionCmd writes a shell completion script.
func newCompletionCmd(e *env, root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion SHELL",
		Short: "Print a completion script for bash, zsh or fish",
		Long: "Prints a shell completion script for iseed to standard output, e.g.\n\n" +
			"    iseed completion bash > /etc/bash_completion.d/iseed\n" +
			"    iseed completion zsh > \"${fpath[1]}/_iseed\"\n" +
			"    iseed completion fish > ~/.config/fish/completions/iseed.fish",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs("SHELL (bash, zsh or fish)"),
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(e.stdout, true)
			case "zsh":
				return root.GenZshCompletion(e.stdout)
			case "fish":
				return root.GenFishCompletion(e.stdout, true)
			}
			return usagef("unknown shell %q: bash, zsh or fish", args[0])
		},
	}
}

func newVersionCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  noArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(e.stdout, "iseed", strings.TrimSpace(version))
			return err
		},
	}
}

// exactArgs accepts exactly one argument per name.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("missing %s", strings.Join(names[len(args):], " and "))
		case len(args) > len(names):
			return usagef("unexpected argument %q", args[len(names)])
		}
		return nil
	}
}

// noArgs accepts no arguments.
func noArgs(_ *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// tenantFlag adds --tenant with a default ("" for every tenant).
func tenantFlag(fs *pflag.FlagSet, def, usage string) *string {
	return fs.String("tenant", def, usage)
}
