package visengine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

// stoppedChildEnv names the server the child process of
// TestStoppedProcessReadsItsAnswer posts to.
const stoppedChildEnv = "ISEED_TEST_STOPPED_CHILD"

// TestStoppedProcessReadsItsAnswer: a process stopped (SIGSTOP, a paused
// VM) between writing its POST and reading the answer, for longer than
// the call's timeout, reads the answer that came meanwhile when it runs
// again, instead of ending the call at once as timed out: the answer
// names the paid request. A real process, really stopped: the child is
// this test binary, posting with a 1 s timeout; it is stopped once the
// server has the request, the answer is written, and it runs again 3 s
// later.
func TestStoppedProcessReadsItsAnswer(t *testing.T) {
	if base := os.Getenv(stoppedChildEnv); base != "" {
		postOnce(t, base)
		return
	}
	if runtime.GOOS != "linux" {
		t.Skip("stops a process and reads its state in /proc")
	}
	const id = "5f22f722065afc42223c7131"
	received, release, written := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		received <- struct{}{}
		<-release
		writeEnvelope(w, http.StatusOK, true, 0, "", map[string]any{"_id": id, "stato_richiesta": "In erogazione"})
		w.(http.Flusher).Flush()
		close(written)
	}))
	defer srv.Close()
	var out bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestStoppedProcessReadsItsAnswer$", "-test.v")
	cmd.Env = append(os.Environ(), stoppedChildEnv+"="+srv.URL)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	select {
	case <-received:
	case <-time.After(time.Minute):
		close(release)
		t.Fatalf("the child's POST never came:\n%s", out.String())
	}
	pid := cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitProcessState(t, pid, 'T')
	stopped := time.Now()
	close(release)
	<-written
	// Running again only once its 1 s timeout has long passed: the
	// condition under test is a deadline gone by while it was stopped.
	<-time.After(time.Until(stopped.Add(3 * time.Second)))
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	if want := "answered " + id; !strings.Contains(out.String(), want) {
		t.Errorf("the child, stopped past its timeout with the answer in its socket, did not read it: want %q in\n%s", want, out.String())
	}
}

// postOnce is the child's part: one POST with a 1 s timeout, its outcome
// printed.
func postOnce(t *testing.T, base string) {
	c := clientFor(t, base, func(c *visengine.Config) { c.Timeout = time.Second })
	r, err := c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "x"}})
	if err != nil {
		fmt.Printf("the POST failed: %v (deadline exceeded: %t)\n", err, errors.Is(err, context.DeadlineExceeded))
		return
	}
	fmt.Printf("answered %s\n", r.ID)
}

// waitProcessState waits until process pid is in state (a letter of
// /proc/PID/stat: T is stopped).
func waitProcessState(t *testing.T, pid int, state byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) S ...: the state follows the last ')'.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never reached state %c: %s", pid, state, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunningTimeoutIsATimeout: unstopped, WithRunningTimeout ends as
// WithTimeout does, with its error.
func TestRunningTimeoutIsATimeout(t *testing.T) {
	ctx, cancel := visengine.WithRunningTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Errorf("Err %v, want %v", ctx.Err(), context.DeadlineExceeded)
	}
	ctx, cancel = visengine.WithRunningTimeout(context.Background(), time.Hour)
	cancel()
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("cancelled: Err %v, want %v", ctx.Err(), context.Canceled)
	}
}
