package main

import (
	"os"
	"regexp"
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
	var ratios []float64
	for _, m := range regexp.MustCompile(`(?m)^iseed/plain throughput: ([\d.]+)$`).FindAllStringSubmatch(out, -1) {
		r, _ := strconv.ParseFloat(m[1], 64)
		ratios = append(ratios, r)
	}
	m := regexp.MustCompile(`(?m)^over 3 runs: plain pipeline (\d+)/s \(median; (\d+)/s–(\d+)/s\), iseed (\d+)/s \(median; (\d+)/s–(\d+)/s\), iseed/plain throughput ([\d.]+) \(median; ([\d.]+)–([\d.]+)\), iseed/plain CPU per submission ([\d.]+) \(median; ([\d.]+)–([\d.]+)\)$`).FindStringSubmatch(out)
	if m == nil || len(ratios) != 3 {
		t.Fatalf("no summary of the 3 runs:\n%s", out)
	}
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
	for _, i := range []int{1, 4, 7, 10} { // each median within its range
		if f(m[i]) < f(m[i+1]) || f(m[i]) > f(m[i+2]) || f(m[i+1]) > f(m[i+2]) {
			t.Errorf("median %s outside %s–%s:\n%s", m[i], m[i+1], m[i+2], out)
		}
	}
	lo, hi := min(ratios[0], ratios[1], ratios[2]), max(ratios[0], ratios[1], ratios[2])
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
