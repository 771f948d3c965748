package e2e_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/iseed-dev/iseed/publisher"
)

// checkGoldenShape compares the data of live status events with the
// golden example of their state (publisher/testdata, shown in
// docs/events.md): the same members, of the same JSON kinds, so that an
// example neither leaves out what live events carry nor shows what they
// do not. Only submitted and the tracked states are compared: what a
// rejected, held or failed event carries depends on how far its
// submission got.
func checkGoldenShape(t *testing.T, events []publisher.Event) {
	t.Helper()
	for _, ev := range events {
		state := strings.TrimPrefix(ev.Type, "iseed.submission.")
		if state == publisher.StateRejected || state == publisher.StateHeld || state == publisher.StateFailed {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("..", "..", "publisher", "testdata", "status_"+state+".golden.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		var golden publisher.Event
		if err == nil {
			err = json.Unmarshal(raw, &golden)
		}
		if err != nil {
			t.Fatalf("the golden %s event: %v", state, err)
		}
		if got, want := shape(ev.Data), shape(golden.Data); !slices.Equal(got, want) {
			t.Errorf("%s event: data %v; the golden example shows %v", state, got, want)
		}
	}
}

// shape lists an object's members, and those of objects within it, as
// "path:kind", sorted. Arrays are not entered: their items vary.
func shape(data json.RawMessage) []string {
	var out []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		for k, x := range v.(map[string]any) {
			kind := "null"
			switch x := x.(type) {
			case map[string]any:
				kind = "object"
				walk(prefix+k+".", x)
			case []any:
				kind = "array"
			case string:
				kind = "string"
			case float64:
				kind = "number"
			case bool:
				kind = "bool"
			}
			out = append(out, prefix+k+":"+kind)
		}
	}
	var v map[string]any
	if json.Unmarshal(data, &v) == nil {
		walk("", v)
	}
	slices.Sort(out)
	return out
}
