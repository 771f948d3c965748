//go:build chaos && linux

package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
)

// proc is one process of the suite (nats-server, iseed serve, iseed sim)
// in its namespace, with its output appended to a log file. `ip netns exec`
// execs the program in place, so the pid is the program's own.
type proc struct {
	name string
	ns   *netns
	bin  string
	args []string
	env  []string
	log  string

	mu     sync.Mutex
	pid    int
	done   chan struct{} // closed when the current run exits
	status string        // how the last run ended
	starts int
}

// start runs the program; a proc may be started again once it has exited.
func (p *proc) start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("%s: already running (pid %d)", p.name, p.pid)
		}
	}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "=== chaos: start %d of %s at %s\n", p.starts+1, p.name, time.Now().UTC().Format(time.RFC3339Nano))
	cmd := p.ns.command(p.bin, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", p.name, err)
	}
	p.starts++
	p.pid = cmd.Process.Pid
	done := make(chan struct{})
	p.done = done
	go func() { // owned: stop and the suite's cleanup wait on done
		err := cmd.Wait()
		f.Close()
		p.mu.Lock()
		p.status = fmt.Sprint(err)
		if err == nil {
			p.status = "exit status 0"
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// running reports whether the current run has not exited.
func (p *proc) running() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig to the running program.
func (p *proc) signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return fmt.Errorf("%s: not started", p.name)
	}
	return syscall.Kill(p.pid, sig)
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() error {
	if !p.running() {
		return nil
	}
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	return p.wait(30 * time.Second)
}

// stop asks the program to end (SIGTERM, after SIGCONT in case it is
// stopped) and kills it if it has not within grace.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
	if p.wait(grace) != nil {
		_ = p.kill()
	}
}

func (p *proc) wait(d time.Duration) error {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-time.After(d):
		return fmt.Errorf("%s: still running after %s", p.name, d)
	}
}

// exitStatus says how the last run ended ("" while running).
func (p *proc) exitStatus() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// tail returns the last n lines of the log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// logLine is the part of an iseed log line (zerolog JSON) the suite reads.
type logLine struct {
	Level     string `json:"level"`
	Message   string `json:"message"`
	Outcome   string `json:"outcome"`
	Delivered int    `json:"delivered"`
	Final     bool   `json:"final"`
}

// logLines parses the JSON lines of the log, skipping the others.
func (p *proc) logLines() []logLine {
	b, err := os.ReadFile(p.log)
	if err != nil {
		return nil
	}
	var out []logLine
	for _, l := range bytes.Split(b, []byte("\n")) {
		var ll logLine
		if len(l) > 0 && l[0] == '{' && json.Unmarshal(l, &ll) == nil {
			out = append(out, ll)
		}
	}
	return out
}
