package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/nats-io/nats.go"
)

// TestServeDemoOnEmbeddedDefaults runs the README's first command: the
// embedded NATS server, the built-in simulator (with callbacks to the local
// listener), and the sample submission through its whole life to a stored
// document.
func TestServeDemoOnEmbeddedDefaults(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_SIM_STEP", "100ms")
	// A read-only root filesystem leaves no temporary directory: documents
	// are spooled under ISEED_DATA_DIR.
	t.Setenv("TMPDIR", "/nonexistent-iseed-tmpdir")
	stdout, stderr, stop := startDemo(t)
	waitUntil(t, 30*time.Second, "the demo submission to complete with its document", func() bool {
		out := stdout.String()
		return strings.Contains(out, "demo/emp-7781-isee-2026 completed") && strings.Contains(out, "document_ready object=demo/emp-7781-isee-2026/")
	})
	for _, state := range []string{"submitted", "in_progress", "data_ready"} {
		if !strings.Contains(stdout.String(), "demo/emp-7781-isee-2026 "+state+" ") {
			t.Errorf("demo output lacks the %s event:\n%s", state, stdout.String())
		}
	}
	// Standard output has the event lines only; the log is in the file
	// named on standard error.
	eventRE := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ demo/emp-7781-isee-2026 [a-z_]+( |$)`)
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if !eventRE.MatchString(line) {
			t.Errorf("standard output has a line that is not an event: %q", line)
		}
	}
	lm := regexp.MustCompile(`the log goes to (\S+);`).FindStringSubmatch(stderr.String())
	if lm == nil || filepath.Dir(lm[1]) != os.Getenv("ISEED_DATA_DIR") {
		t.Fatalf("standard error does not name the log file in the data directory: %q", stderr.String())
	}
	logText, err := os.ReadFile(lm[1])
	if err != nil {
		t.Fatal(err)
	}
	log := string(logText)
	if !strings.Contains(log, "SIMULATOR") || !strings.Contains(log, "embedded NATS server started") {
		t.Errorf("the log does not say loudly that it runs on the simulator and embedded NATS:\n%s", log)
	}
	for _, v := range examplePersonalData(t, "../../examples/isee.json") {
		if strings.Contains(log, v) {
			t.Errorf("personal data in the log: %q", v)
		}
	}
	// The tracker's metrics count the stored document.
	m := regexp.MustCompile(`"http":"([^"]+)"`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no HTTP address in the log:\n%s", log)
	}
	resp, err := http.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// A poll and callbacks racing (one per upstream state) may each store
	// the same document before any of them records it: at least one.
	for _, want := range []string{`iseed_documents_stored_total [1-9]\d*\n`, `iseed_tracking_polls_total\{result=`} {
		if !regexp.MustCompile(want).Match(body) {
			t.Errorf("/metrics lacks %s:\n%s", want, regexp.MustCompile(`(?m)^iseed_documents_stored_total.*$`).Find(body))
		}
	}
	// The callback endpoint counts its answers to the simulator's callbacks.
	waitUntil(t, 30*time.Second, "a callback counted in /metrics", func() bool {
		resp, err := http.Get("http://" + m[1] + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return regexp.MustCompile(`iseed_callbacks_total\{outcome="[a-z_]+"\} [1-9]`).Match(body)
	})
	// The upstream's callbacks have a listener of their own: operators'
	// endpoints are not on it, and callbacks are not on theirs.
	cb := regexp.MustCompile(`"callbacks":"([^"]+)"`).FindStringSubmatch(log)
	if cb == nil {
		t.Fatalf("no callbacks address in the log:\n%s", log)
	}
	for _, c := range []struct{ method, url string }{
		{http.MethodGet, "http://" + cb[1] + "/metrics"},
		{http.MethodPost, "http://" + m[1] + "/callbacks/demo/x"},
	} {
		req, _ := http.NewRequest(c.method, c.url, strings.NewReader("{}"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s %s: got %d, want 404", c.method, c.url, resp.StatusCode)
		}
	}
	// Other programs (the nats CLI, producers) reach the embedded server on loopback.
	m = regexp.MustCompile(`"url":"(nats://127\.0\.0\.1:\d+)"`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no embedded server URL in the log:\n%s", log)
	}
	nc, err := nats.Connect(m[1])
	if err != nil {
		t.Fatalf("connect to the embedded server at %s: %v", m[1], err)
	}
	if _, err := nc.JetStream(); err != nil {
		t.Error(err)
	}
	nc.Close()
	stop()

	// The same command again on the same data directory shows the stored
	// events, and says they are the earlier run's.
	stdout2, stderr2, stop2 := startDemo(t)
	waitUntil(t, 30*time.Second, "the stored events and the note", func() bool {
		return strings.Contains(stdout2.String(), "demo/emp-7781-isee-2026 completed") &&
			strings.Contains(stderr2.String(), "note: demo/emp-7781-isee-2026 was submitted by an earlier run in "+os.Getenv("ISEED_DATA_DIR")+" (now completed)")
	})
	stop2()
}

// TestServeDemoPrintsItsSubmissionOnly: a demo run earlier in the same
// data directory with another file left that submission's events on the
// stream. serve --demo FILE prints the events about FILE's submission, and
// printed the other one's too.
func TestServeDemoPrintsItsSubmissionOnly(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	t.Setenv("ISEED_SIM_STEP", "100ms")
	stdout, _, stop := startDemoOf(t, "../../examples/isee-invalid.json")
	waitUntil(t, 30*time.Second, "the earlier demo's submission to be rejected", func() bool {
		return strings.Contains(stdout.String(), "demo/emp-7782-isee-2026 rejected")
	})
	stop()
	stdout, _, stop = startDemoOf(t, "../../examples/isee.json")
	waitUntil(t, 30*time.Second, "the demo submission to complete", func() bool {
		return strings.Contains(stdout.String(), "demo/emp-7781-isee-2026 completed")
	})
	stop()
	if out := stdout.String(); strings.Contains(out, "emp-7782-isee-2026") {
		t.Errorf("serve --demo examples/isee.json: got the earlier demo's events too:\n%s\nwant emp-7781-isee-2026's only", out)
	}
}

// startDemo starts the README's first command, serve --demo
// examples/isee.json, on the environment's ISEED_DATA_DIR, with its
// listeners on loopback ports of their own. stop ends it and waits for it,
// 30 s at most; the test's end stops it too.
func startDemo(t *testing.T) (stdout, stderr *pipetest.Buffer, stop func()) {
	t.Helper()
	return startDemoOf(t, "../../examples/isee.json")
}

// startDemoOf is startDemo with another submission file.
func startDemoOf(t *testing.T, file string) (stdout, stderr *pipetest.Buffer, stop func()) {
	t.Helper()
	t.Setenv("ISEED_EMBEDDED_NATS_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_HTTP_LISTEN", "127.0.0.1:0")
	t.Setenv("ISEED_CALLBACK_LISTEN", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &pipetest.Buffer{}, &pipetest.Buffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--demo", file}, strings.NewReader(""), stdout, stderr)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve after cancel: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30 s of its cancel")
		}
	})
	t.Cleanup(stop)
	return stdout, stderr, stop
}

// TestReadmeDemoTranscript runs the README's first command as the README
// shows it (the simulator's own 2 s step) and holds the transcript the
// README prints to what the demo prints: the same lines, times, ids,
// digests and sizes aside. A newcomer compares the two first.
func TestReadmeDemoTranscript(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)\n```text\n(.*?)```").FindSubmatch(readme)
	if block == nil || !strings.Contains(string(block[1]), "demo/emp-7781-isee-2026 completed") {
		t.Fatal("README.md: the first text block is not the demo's transcript")
	}
	want := demoShapes(string(block[1]))

	// The README's command runs on the defaults, the friendly profile
	// among them (.ci/test runs the package again on the published one,
	// whose final document is not the receipt's bytes).
	t.Setenv("ISEED_SIM_PROFILE", "friendly")
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	stdout, _, stop := startDemo(t)
	waitUntil(t, 60*time.Second, "the demo's completed event and final document", func() bool {
		out := stdout.String()
		return strings.Contains(out, "demo/emp-7781-isee-2026 completed ") && strings.Contains(out, " final\n")
	})
	stop()
	got := demoShapes(stdout.String())
	for _, s := range got {
		if !slices.Contains(want, s) {
			t.Errorf("the demo prints a line the README's transcript does not show:\n  %s", s)
		}
	}
	for _, s := range want {
		if !slices.Contains(got, s) {
			t.Errorf("the README's transcript shows a line the demo does not print:\n  %s", s)
		}
	}
	if t.Failed() {
		t.Logf("the demo printed:\n%s", stdout.String())
	}
}

// demoShapes returns the demo's event lines with what differs from run to
// run (times, request ids, digests, sizes) replaced by placeholders.
func demoShapes(text string) []string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		for _, r := range demoVarying {
			line = r.re.ReplaceAllString(line, r.to)
		}
		out = append(out, line)
	}
	return out
}

var demoVarying = []struct {
	re *regexp.Regexp
	to string
}{
	{regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ `), "TIME "},
	{regexp.MustCompile(`request=[0-9a-f]{24}\b`), "request=ID"},
	{regexp.MustCompile(`/[0-9a-f]{16}(\.final)?/…`), "/SHA16$1/…"},
	{regexp.MustCompile(`sha256=[0-9a-f]+…?`), "sha256=SHA256"},
	{regexp.MustCompile(`size=\d+`), "size=N"},
}

// examplePersonalData returns what an example submission says of the
// person: every field's value (an inline file's name, not its bytes) and
// the e-mail the document goes to.
func examplePersonalData(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Fields      map[string]string `json:"fields"`
		EmailTarget string            `json:"email_target"`
	}
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	out := []string{ev.EmailTarget}
	for _, v := range ev.Fields {
		if name, _, file := strings.Cut(v, "|data:"); file {
			v = name
		}
		out = append(out, v)
	}
	if len(out) < 5 {
		t.Fatalf("%s: found %q: not the example's personal data", path, out)
	}
	return out
}
