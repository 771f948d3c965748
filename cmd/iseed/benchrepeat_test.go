package main

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/natstest"
	natsserver "github.com/nats-io/nats-server/v2/test"
)

// TestBenchRepeats: --repeat N makes N whole runs against the server, each
// in a namespace of its own, and ends with the median of each throughput
// and of the runs' ratios, between their least and greatest.
func TestBenchRepeats(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	opts := natsserver.DefaultTestOptions
	opts.Port, opts.JetStream, opts.StoreDir = -1, true, t.TempDir()
	srv := natstest.RunWithOptions(t, &opts)
	out, errOut, code := runCLI(t, "bench", "--nats-url", srv.ClientURL(), "--n", "100", "--rate-for", "0", "--repeat", "3")
	if code != 0 {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if n := strings.Count(out, "iseed/plain throughput: "); n != 3 {
		t.Errorf("got %d runs' ratios, want 3:\n%s", n, out)
	}
	var ratios []float64 // of the runs that did not stall (rare: printRuns leaves them out)
	for _, m := range regexp.MustCompile(`(?m)^iseed/plain throughput: ([\d.]+)$`).FindAllStringSubmatch(out, -1) {
		r, _ := strconv.ParseFloat(m[1], 64)
		ratios = append(ratios, r)
	}
	m := regexp.MustCompile(`(?m)^over (\d) runs(?:, \d left out \(a queued phase STALLED\))?: plain pipeline (\d+)/s \(median; (\d+)/s–(\d+)/s\), iseed (\d+)/s \(median; (\d+)/s–(\d+)/s\), iseed/plain throughput ([\d.]+) \(median; ([\d.]+)–([\d.]+)\), iseed/plain CPU per submission ([\d.]+) \(median; ([\d.]+)–([\d.]+)\)$`).FindStringSubmatch(out)
	if m == nil || m[1] != strconv.Itoa(len(ratios)) || len(ratios) == 0 {
		t.Fatalf("no summary of the runs that did not stall (%d):\n%s", len(ratios), out)
	}
	m = append(m[:1], m[2:]...) // the groups of the figures from 1
	if len(ratios) < 3 {
		t.Logf("%d of 3 runs stalled, left out:\n%s", 3-len(ratios), out)
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	for _, i := range []int{1, 4, 7, 10} { // each median within its range
		if f(m[i]) < f(m[i+1]) || f(m[i]) > f(m[i+2]) || f(m[i+1]) > f(m[i+2]) {
			t.Errorf("median %s outside %s–%s:\n%s", m[i], m[i+1], m[i+2], out)
		}
	}
	lo, hi := slices.Min(ratios), slices.Max(ratios)
	if got := f(m[7]); got < lo-0.005 || got > hi+0.005 {
		t.Errorf("median ratio %.2f not among the runs' %v", got, ratios)
	}
	if strings.Contains(out, "run 4 of") || !strings.Contains(out, "run 3 of 3") {
		t.Errorf("runs not numbered 1 to 3:\n%s", out)
	}
	if _, _, code := runCLI(t, "bench", "--repeat", "0"); code != 2 {
		t.Errorf("--repeat 0: exit %d, want 2", code)
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{[]float64{1}, 1}, {[]float64{1, 3}, 2}, {[]float64{1, 2, 9}, 2}, {[]float64{1, 2, 3, 10}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestBenchUnreachableHidesCredentials: bench with a --nats-url it cannot
// reach says so without the URL's password, whether the URL parses or not.
func TestBenchUnreachableHidesCredentials(t *testing.T) {
	t.Setenv("ISEED_DATA_DIR", t.TempDir())
	for _, u := range []string{"nats://iseed:s3cret@127.0.0.1:1", "nats://iseed:s3cret/x@127.0.0.1:1"} {
		_, errOut, code := runCLI(t, "bench", "--nats-url", u, "--n", "1", "--rate-for", "0")
		if code == 0 || strings.Contains(errOut, "s3cret") || !strings.Contains(errOut, "--nats-url") {
			t.Errorf("bench --nats-url %s: got exit %d, %q; want a failure naming --nats-url without the password", u, code, errOut)
		}
	}
}

// TestStatCPU reads utime and stime from a /proc/PID/stat line whose
// command name holds spaces and parentheses, in ticks of 1/100 s.
func TestStatCPU(t *testing.T) {
	line := "4242 (nats server (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 12 0 100 0 0\n"
	got, err := statCPU([]byte(line))
	if err != nil || got != 3250*time.Millisecond {
		t.Errorf("statCPU: got %s, %v; want 3.25s (250 + 75 ticks)", got, err)
	}
	for _, bad := range []string{"", "4242 nats S 1", "4242 (nats) S 1 2 3", "4242 (nats) S 1 4242 4242 0 -1 4194560 1000 0 0 0 x 75 0"} {
		if _, err := statCPU([]byte(bad)); err == nil {
			t.Errorf("statCPU(%q): no error", bad)
		}
	}
	if d, err := pidCPU(os.Getpid()); err != nil || d <= 0 {
		t.Errorf("pidCPU(this process): %s, %v; want its CPU so far", d, err)
	}
}

// TestBenchSaysWhenAPhaseStalled: a queued phase whose events stopped for
// longer than stallPause, submissions waiting, is marked STALLED where its
// rate is printed and where the ratio is, and --repeat leaves its run out
// of the medians, saying so: a stalled run's rate measures the stall. A
// paced phase's pauses are its publisher's, never a stall.
func TestBenchSaysWhenAPhaseStalled(t *testing.T) {
	now := time.Now()
	w := &eventWatch{got: []time.Time{now, now.Add(2 * time.Millisecond), now.Add(4*time.Second + 2*time.Millisecond), now.Add(4*time.Second + 3*time.Millisecond)}, n: 4}
	if got := w.longestPause(); got != 4*time.Second {
		t.Fatalf("longest pause %s, want 4s", got)
	}
	var b strings.Builder
	stalled := phaseResult{name: "plain pipeline, queued", n: 4, took: 5 * time.Second, pause: w.longestPause()}
	stalled.print(&b)
	if !strings.Contains(b.String(), "longest pause between two events: 4s (STALLED") {
		t.Errorf("got\n%s\nwant the phase marked STALLED", b.String())
	}
	b.Reset()
	paced := phaseResult{name: "iseed, paced", n: 4, rate: 0.5, took: 6 * time.Second, pause: 2 * time.Second}
	if paced.print(&b); strings.Contains(b.String(), "STALLED") {
		t.Errorf("a paced phase marked STALLED:\n%s", b.String())
	}
	b.Reset()
	printRuns(&b, []benchResult{
		{plain: 5000, iseed: 2500, plainCPU: time.Millisecond, iseedCPU: 2 * time.Millisecond},
		{plain: 1500, iseed: 2600, plainCPU: time.Millisecond, iseedCPU: 2 * time.Millisecond, stalled: true},
		{plain: 5200, iseed: 2700, plainCPU: time.Millisecond, iseedCPU: 2 * time.Millisecond},
	})
	if want := "over 2 runs, 1 left out (a queued phase STALLED): plain pipeline 5100/s (median; 5000/s–5200/s)"; !strings.HasPrefix(b.String(), want) {
		t.Errorf("got %q, want it to begin %q", b.String(), want)
	}
}
