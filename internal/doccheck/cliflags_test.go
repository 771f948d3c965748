package doccheck

import (
	"regexp"
	"sort"
	"strings"
	"testing"
)

// cliFlags reads docs/cli.md, which TestCLIDoc keeps the command tree's
// own description, and returns every command's path ("iseed dlq replay")
// with the flags it takes, long and short ("--reason", "-o").
func cliFlags(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	var cmd string
	flag := regexp.MustCompile("^\\| `(?:(-[a-zA-Z]), )?(--[a-z0-9-]+)` \\|")
	for _, line := range strings.Split(read(t, "docs/cli.md"), "\n") {
		if name, ok := strings.CutPrefix(line, "### "); ok {
			cmd = name
			out[cmd] = map[string]bool{"-h": true, "--help": true}
			continue
		}
		if m := flag.FindStringSubmatch(line); m != nil && cmd != "" {
			out[cmd][m[2]] = true
			if m[1] != "" {
				out[cmd][m[1]] = true
			}
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d commands in docs/cli.md: the parser missed them", len(out))
	}
	return out
}

// commandLines returns the command lines of a page that call iseed: each
// line of a fenced block, and each `…` span of the prose (wrapped or not),
// from "iseed " on, cut at a comment or at the next command of a pipeline.
func commandLines(text string) []string {
	var out []string
	call := regexp.MustCompile(`(?:^|[\s(/])iseed ([a-z].*)`)
	add := func(s string) {
		for _, m := range call.FindAllStringSubmatch(s, -1) {
			cmd := m[1]
			for _, end := range []string{" # ", " | ", " && ", "; ", " || ", " &"} {
				if i := strings.Index(cmd, end); i >= 0 {
					cmd = cmd[:i]
				}
			}
			out = append(out, strings.TrimSpace("iseed "+cmd))
		}
	}
	fence := false
	for _, line := range strings.Split(joinSpans(text), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fence = !fence
			continue
		}
		if fence {
			add(line)
			continue
		}
		spans := strings.Split(line, "`")
		for i := 1; i < len(spans); i += 2 {
			add(spans[i])
		}
	}
	return out
}

// TestDocsUseCommandsAndFlagsThatExist: an iseed command shown in README.md
// or docs/ (a block's line, a `…` span) names a command that exists (a verb
// its group has) and only flags it takes, so that what a page tells an
// operator to type runs.
func TestDocsUseCommandsAndFlagsThatExist(t *testing.T) {
	cmds := cliFlags(t)
	flagRE := regexp.MustCompile(`(?:^|[\s\[|])(--?[a-zA-Z][a-z0-9-]*)`)
	verbRE := regexp.MustCompile(`^[a-z]+$`)
	var bad []string
	for path, text := range docs(t) {
		if path == "docs/cli.md" {
			continue
		}
		for _, line := range commandLines(text) {
			words := strings.Fields(line)
			cmd := "iseed"
			i := 1
			for ; i < len(words); i++ {
				if _, ok := cmds[cmd+" "+words[i]]; !ok {
					break
				}
				cmd += " " + words[i]
			}
			if cmd == "iseed" {
				continue // prose: "iseed sends…", or a command of the help family
			}
			if i < len(words) && group(cmds, cmd) && verbRE.MatchString(words[i]) {
				bad = append(bad, path+": `"+line+"`: "+cmd+" has no verb "+words[i])
			}
			rest := strings.Join(words[i:], " ")
			for _, m := range flagRE.FindAllStringSubmatch(rest, -1) {
				if !cmds[cmd][m[1]] {
					bad = append(bad, path+": `"+line+"`: "+cmd+" has no flag "+m[1])
				}
			}
		}
	}
	sort.Strings(bad)
	for _, b := range bad {
		t.Error(b)
	}
}

// group reports whether cmd has verbs of its own ("iseed dlq").
func group(cmds map[string]map[string]bool, cmd string) bool {
	for c := range cmds {
		if strings.HasPrefix(c, cmd+" ") {
			return true
		}
	}
	return false
}
