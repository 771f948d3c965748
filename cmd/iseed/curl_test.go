package main

import (
	"context"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
)

// TestSimWithCurl is the check as a person runs it: `iseed sim`
// serves on a port, and curl with the token gets the catalog.
func TestSimWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr pipetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--token", "curl-t0k"}, strings.NewReader(""), &stdout, &stderr)
	}()
	var addr string
	re := regexp.MustCompile(`listening on (\S+)\n`)
	waitUntil(t, 10*time.Second, "the simulator to listen", func() bool {
		m := re.FindStringSubmatch(stdout.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	out, err := exec.Command(curl, "-sS", "--fail", "-H", "Authorization: Bearer curl-t0k", "http://"+addr+"/visure").Output()
	if err != nil {
		t.Fatalf("curl with the token: %v", err)
	}
	if !strings.Contains(string(out), `"hash_visura":"6aa0789f5ba34684b2bc5ccf364f8929"`) || !strings.Contains(string(out), `"success":true`) {
		t.Errorf("catalog: got %.300s", out)
	}
	code, _ := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://"+addr+"/visure").Output()
	if string(code) != "401" {
		t.Errorf("curl without the token: got HTTP %s, want 401", code)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sim after cancel: %v", err)
	}
}
