package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/PID/stat's CPU times: fixed at 100 a second
// by Linux's ABI, whatever the kernel's own tick.
const userHZ = 100

// pidCPU is the CPU time (user and system) process pid has used, from
// /proc/PID/stat: for a nats-server on this machine (bench --server-pid).
func pidCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	d, err := statCPU(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return d, nil
}

// statCPU reads utime and stime from the text of a /proc/PID/stat.
func statCPU(b []byte) (time.Duration, error) {
	// The command name, the second field, is in parentheses and may hold
	// spaces: the fields are counted from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 { // state is field 3; utime and stime are fields 14 and 15
		return 0, fmt.Errorf("%d fields after the command name, want 13 or more", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("CPU ticks %q", s)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// cpuUse is CPU time used by this process (the daemon or the plain
// pipeline, the simulator, the bench's publisher and event watch, and an
// embedded server) and, when known (--server-pid), by the server's
// process: so far (a mark), or by a phase (the difference of two marks).
// A mark notes when it was taken; a phase, how long it lasted (wall).
type cpuUse struct {
	self, server       time.Duration
	hasSelf, hasServer bool
	at                 time.Time     // a mark's
	wall               time.Duration // a phase's
}

// cpuMark is the CPU used so far.
func (b *benchRun) cpuMark() cpuUse {
	m := cpuUse{at: time.Now()}
	m.self, m.hasSelf = processCPU()
	if b.o.serverPID > 0 {
		if d, err := pidCPU(b.o.serverPID); err == nil {
			m.server, m.hasServer = d, true
		}
	}
	return m
}

// since is the CPU used from mark m0 to mark m.
func (m cpuUse) since(m0 cpuUse) cpuUse {
	return cpuUse{self: m.self - m0.self, server: m.server - m0.server,
		hasSelf: m.hasSelf && m0.hasSelf, hasServer: m.hasServer && m0.hasServer, wall: m.at.Sub(m0.at)}
}

// busy is how many CPUs the phase kept busy on average: the CPU time
// total counts over the phase's wall time; 0 when unknown.
func (c cpuUse) busy() float64 {
	if !c.hasSelf || c.wall <= 0 {
		return 0
	}
	return float64(c.total()) / float64(c.wall)
}

// perSubmission is the phase's CPU per submission, this process's and,
// when known (hasServer), the server's together.
func (c cpuUse) perSubmission(n int) time.Duration { return c.total() / time.Duration(n) }

// total is the CPU this process and, when known (hasServer), the server
// used.
func (c cpuUse) total() time.Duration {
	if c.hasServer {
		return c.self + c.server
	}
	return c.self
}

func fmtMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
