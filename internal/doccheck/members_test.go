package doccheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/dlq"
	"github.com/iseed-dev/iseed/publisher"
)

// jsonMembers returns the JSON names of a struct's members, those it
// never writes ("-") aside.
func jsonMembers(v any) []string {
	var out []string
	typ := reflect.TypeOf(v)
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	return out
}

// memberRows returns the backquoted names in the first cell of the rows
// of the tables in text whose header's first cell is head.
func memberRows(text, head string) map[string]bool {
	out := map[string]bool{}
	name := regexp.MustCompile("`([a-z_0-9]+)`")
	in := false
	for _, line := range strings.Split(text, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "|") || len(cells) < 3 {
			in = false
			continue
		}
		first := strings.TrimSpace(cells[1])
		switch {
		case first == head:
			in = true
		case in:
			for _, m := range name.FindAllStringSubmatch(first, -1) {
				out[m[1]] = true
			}
		}
	}
	return out
}

// TestEventsDocNamesEveryEventMember: the member tables of docs/events.md
// (a submission's keys, a status event's data, a document-ready event's)
// have a row for every member iseed reads or writes, and none for one it
// does not; the members
// of a problem, an esito and an account event are named in their
// sections. A consumer of the events is written from that page.
func TestEventsDocNamesEveryEventMember(t *testing.T) {
	const path = "docs/events.md"
	text := read(t, path)
	tables := []struct {
		section, head string
		data          any
	}{
		{"Submission event (in), version 1", "key", consumer.Submission{}},
		{"Status events (out)", "member", publisher.Status{}},
		{"Document-ready events (out)", "field", publisher.DocumentReady{}},
	}
	for _, tc := range tables {
		rows := memberRows(section(t, path, text, tc.section), tc.head)
		members := map[string]bool{}
		for _, m := range jsonMembers(tc.data) {
			members[m] = true
			if !rows[m] {
				t.Errorf("%s, %q: no row for %s's member %q", path, tc.section, reflect.TypeOf(tc.data).Name(), m)
			}
		}
		for r := range rows {
			if !members[r] {
				t.Errorf("%s, %q: a row for %q, which %s does not have", path, tc.section, r, reflect.TypeOf(tc.data).Name())
			}
		}
	}
	named := []struct {
		section string
		data    any
	}{
		{"Status events (out)", publisher.Problem{}},
		{"Status events (out)", publisher.Outcome{}},
		{"Account events (out)", publisher.AccountEvent{}},
	}
	for _, tc := range named {
		s := section(t, path, text, tc.section)
		for _, m := range jsonMembers(tc.data) {
			if !strings.Contains(s, "`"+m+"`") && !strings.Contains(s, "`data."+m+"`") && !regexp.MustCompile(`[{ ]`+m+`[,}]`).MatchString(s) {
				t.Errorf("%s, %q: %s's member %q is not named", path, tc.section, reflect.TypeOf(tc.data).Name(), m)
			}
		}
	}
}

// TestEventsDocSaysWhichEventsCarryEachMember: each status event pinned
// by a golden file (publisher/testdata/status_<state>.golden.json) that
// carries reason, errors or esito is named, by its state, in that
// member's row of docs/events.md's table, which says which events carry
// it: a consumer decodes each type as that column says.
func TestEventsDocSaysWhichEventsCarryEachMember(t *testing.T) {
	const path = "docs/events.md"
	present := map[string]string{} // member → its row's last cell
	for _, line := range strings.Split(section(t, path, read(t, path), "Status events (out)"), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) == 5 && strings.HasPrefix(line, "| `") {
			present[strings.Trim(strings.TrimSpace(cells[1]), "`")] = cells[3]
		}
	}
	goldens, err := filepath.Glob(filepath.Join(root, "publisher", "testdata", "status_*.golden.json"))
	if err != nil || len(goldens) < 10 {
		t.Fatalf("found %d status golden files (%v)", len(goldens), err)
	}
	for _, g := range goldens {
		var ev struct {
			Data map[string]json.RawMessage `json:"data"`
		}
		b, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		var state string
		if err := json.Unmarshal(ev.Data["state"], &state); err != nil {
			t.Fatalf("%s: state: %v", g, err)
		}
		for _, m := range []string{"reason", "errors", "esito"} {
			if _, ok := ev.Data[m]; ok && !strings.Contains(present[m], "`"+state+"`") {
				t.Errorf("%s: the row of %q says it is present in%s; %s's %s event carries it", path, m, present[m], filepath.Base(g), state)
			}
		}
	}
}

// TestConsumerDocExplainsEveryReason: the table of "Reasons an operator
// meets" in docs/consumer.md has a row for every reason a dead letter may
// carry (dlq.Reasons), and none for another: README.md's checklist for a
// new reason sends its author there, and an operator reading `iseed dlq
// list` looks each up in it.
func TestConsumerDocExplainsEveryReason(t *testing.T) {
	const path = "docs/consumer.md"
	rows := memberRows(read(t, path), "reason")
	for _, r := range dlq.Reasons() {
		if !rows[r] {
			t.Errorf("%s: the reasons table has no row for %q", path, r)
		}
		delete(rows, r)
	}
	for r := range rows {
		t.Errorf("%s: the reasons table has a row for %q, which is not in dlq.Reasons", path, r)
	}
}

// TestSchemaDocExplainsEveryProblemCode: docs/schema.md's table of problem
// codes has a row for every code the schema checks give (schema/errors.go)
// and none for another: a producer reading a rejected event switches on
// them.
func TestSchemaDocExplainsEveryProblemCode(t *testing.T) {
	const path = "docs/schema.md"
	codes := regexp.MustCompile(`(?m)^\s+Code[A-Za-z]+\s*=\s*"([a-z_]+)"`).FindAllStringSubmatch(read(t, "schema/errors.go"), -1)
	if len(codes) < 10 {
		t.Fatalf("found %d codes in schema/errors.go: the parser missed them", len(codes))
	}
	rows := memberRows(read(t, path), "code")
	for _, m := range codes {
		if !rows[m[1]] {
			t.Errorf("%s: the table of problem codes has no row for %q", path, m[1])
		}
		delete(rows, m[1])
	}
	for c := range rows {
		t.Errorf("%s: the table of problem codes has a row for %q, which schema/errors.go does not give", path, c)
	}
}
