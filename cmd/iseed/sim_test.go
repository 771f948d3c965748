package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/internal/pipetest"
	"github.com/rs/zerolog"
)

func TestRunSim(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr pipetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--token", "t0k", "--step", "10ms", "--wallet", "0"}, strings.NewReader(""), &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`listening on (\S+)\n`)
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listen address; stdout %q stderr %q", stdout.String(), stderr.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !strings.Contains(stdout.String(), "token t0k") {
		t.Errorf("stdout: got %q, want the token", stdout.String())
	}
	client := &http.Client{Timeout: 5 * time.Second}
	tests := []struct {
		name, path, auth string
		want             int
	}{
		{"catalog with token", "/visure", "Bearer t0k", http.StatusOK},
		{"catalog without token", "/visure", "", http.StatusUnauthorized},
		{"catalog with a wrong token", "/visure", "Bearer nope", http.StatusUnauthorized},
		{"admin needs no token", "/_sim/counters", "", http.StatusOK},
		{"wallet flag", "/_sim/wallet", "", http.StatusOK},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, resp.StatusCode, body.String(), tt.want)
		}
		if tt.path == "/_sim/wallet" && body.String() != `{"euro":0}` {
			t.Errorf("%s: got %s, want {\"euro\":0}", tt.name, body.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func TestRunSimFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"bad cancel rate", []string{"--cancel-rate", "2"}, 2},
		{"bad step", []string{"--step", "0s"}, 2},
		{"bad faults", []string{"--faults", `{"errors":{"GET /visure":{"status":404,"next":1}}}`}, 2},
		{"malformed faults", []string{"--faults", `{`}, 2},
		{"extra argument", []string{"extra"}, 2},
		{"unknown profile", []string{"--profile", "real"}, 2},
		{"unknown echo", []string{"--echo", "everything"}, 2},
		{"bad late_commit", []string{"--faults", `{"late_commit":{"delay":"48h","next":1}}`}, 2},
		{"bad oversize", []string{"--faults", `{"oversize":{"*":{"next":1}}}`}, 2},
		{"help", []string{"-h"}, 0},
	}
	for _, tt := range tests {
		var stdout, stderr pipetest.Buffer
		err := run(context.Background(), append([]string{"sim", "--listen", "127.0.0.1:0"}, tt.args...), strings.NewReader(""), &stdout, &stderr)
		if got := exitCode(err); got != tt.code {
			t.Errorf("%s: got exit code %d (%v), want %d", tt.name, got, err, tt.code)
		}
	}
}

// TestRunSimPublished: the flags reach the simulator, and -h explains them.
func TestRunSimPublished(t *testing.T) {
	var help pipetest.Buffer
	if err := run(context.Background(), []string{"sim", "-h"}, strings.NewReader(""), &help, &help); exitCode(err) != 0 {
		t.Fatalf("sim -h: got %v", err)
	}
	for _, want := range []string{"-profile", "-echo", "none|values|files", "published answers exactly as the published examples", "late_commit", "php_scalars"} {
		if !strings.Contains(help.String(), want) {
			t.Errorf("sim -h: got %q, want it to mention %q", help.String(), want)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr pipetest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"sim", "--listen", "127.0.0.1:0", "--token", "t0k", "--profile", "published"}, strings.NewReader(""), &stdout, &stderr)
	}()
	addrRE := regexp.MustCompile(`listening on (\S+)\n`)
	var addr string
	deadline := time.Now().Add(5 * time.Second)
	for addr == "" {
		if m := addrRE.FindStringSubmatch(stdout.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no listen address; stdout %q stderr %q", stdout.String(), stderr.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !strings.Contains(stdout.String(), "profile published, echo none") {
		t.Errorf("stdout: got %q, want the profile and echo mode", stdout.String())
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/richiesta/t56yh843827583475g875hgj", nil)
	req.Header.Set("Authorization", "Bearer t0k")
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of a malformed id: got %d, want 404 (published)", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

// TestRunSimAddressTaken: an address another program holds is refused at
// once, exit 2, naming the flag and how to pick another.
func TestRunSimAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, errOut, code := runCLI(t, "sim", "--listen", addr)
	want := "iseed sim: --listen " + addr + " cannot be used ("
	if code != 2 || !strings.HasPrefix(errOut, want) || !strings.Contains(errOut, "pass a free address (port 0 picks one)") {
		t.Errorf("sim --listen %s (taken): got exit %d, %q; want 2 and %q…, saying how to pick another", addr, code, errOut, want)
	}
}

// panickySim is a simulator whose handlers panic with what they were asked.
type panickySim struct{ closed chan struct{} }

func (s panickySim) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	panic("cannot answer " + r.URL.Query().Get("cf"))
}

func (s panickySim) Close() { close(s.closed) }

// TestServeSimLogsPanics: iseed sim serves its simulator through
// newSimServer, so that a handler's panic is logged by type, never by its
// value (which may quote what was submitted), over a real connection; and
// stopping it closes the simulator and returns nil.
func TestServeSimLogsPanics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs pipetest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := panickySim{closed: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- serveSim(ctx, ln, s, zerolog.New(&logs)) }()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + ln.Addr().String() + "/visure?cf=RSSMRA80A01H501U")
	if err == nil {
		resp.Body.Close()
		t.Errorf("GET: got %s, want the connection aborted", resp.Status)
	}
	if !strings.Contains(logs.String(), "HTTP handler panicked") || !strings.Contains(logs.String(), `"panic_type":"string"`) {
		t.Errorf("logs %s: want the panic logged by its type", logs.String())
	}
	if strings.Contains(logs.String(), "RSSMRA80A01H501U") {
		t.Errorf("logs %s: want the panic's value left out", logs.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serveSim: got %v, want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveSim did not return after cancel")
	}
	select {
	case <-s.closed:
	default:
		t.Error("serveSim returned without closing the simulator")
	}
}
