//go:build chaos && linux

package chaos

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The suite's network: one namespace per process, each with one veth
// (eth0) whose other end is a port of the bridge br0 in a namespace of its
// own. Nothing is added to the host's namespace: no interface, no route, no
// rule. Addresses are in 198.18.0.0/24 (RFC 2544, benchmarking) and are the
// same in every run: each run's bridge is a separate L2 segment, and only
// the namespace names (prefix "isc" + run id) must be unique.
const (
	subnetBits = 24
	netnsDir   = "/run/netns"       // where `ip netns add` keeps its handles
	markerDir  = "/run/iseed-chaos" // one file per live run: its owner's pid
	nsPrefix   = "isc"
)

// netns is one network namespace of the suite.
type netns struct {
	name string // full name, e.g. isc4f2a91-n1
	port string // its bridge port's name in the bridge namespace
	addr string // its address on the bridge
}

// network is every namespace of one run.
type network struct {
	run    string
	bridge string // the bridge namespace's name
	nodes  []*netns
}

// nsName is the namespace name of role in run.
func nsName(run, role string) string { return nsPrefix + run + "-" + role }

// newNetwork creates the bridge namespace and one namespace per role
// (role → address), wired to the bridge. On error, what was made is removed.
func newNetwork(ctx context.Context, run string, roles [][2]string) (_ *network, err error) {
	nw := &network{run: run, bridge: nsName(run, "br")}
	defer func() {
		if err != nil {
			nw.close()
		}
	}()
	if err = ipCmd(ctx, "netns", "add", nw.bridge); err != nil {
		return nil, err
	}
	if err = ipCmd(ctx, "-n", nw.bridge, "link", "add", "br0", "type", "bridge"); err != nil {
		return nil, err
	}
	if err = ipCmd(ctx, "-n", nw.bridge, "link", "set", "br0", "up"); err != nil {
		return nil, err
	}
	for _, r := range roles {
		n := &netns{name: nsName(run, r[0]), port: "p-" + r[0], addr: r[1]}
		nw.nodes = append(nw.nodes, n)
		if err = nw.wire(ctx, n); err != nil {
			return nil, err
		}
	}
	return nw, nil
}

func (nw *network) wire(ctx context.Context, n *netns) error {
	steps := [][]string{
		{"netns", "add", n.name},
		{"-n", nw.bridge, "link", "add", "name", n.port, "type", "veth", "peer", "name", "eth0", "netns", n.name},
		{"-n", nw.bridge, "link", "set", n.port, "master", "br0"},
		{"-n", nw.bridge, "link", "set", n.port, "up"},
		{"-n", n.name, "addr", "add", n.addr + "/" + strconv.Itoa(subnetBits), "dev", "eth0"},
		{"-n", n.name, "link", "set", "eth0", "up"},
		{"-n", n.name, "link", "set", "lo", "up"},
	}
	for _, s := range steps {
		if err := ipCmd(ctx, s...); err != nil {
			return err
		}
	}
	return nil
}

// ns returns the namespace of role.
func (nw *network) ns(role string) *netns {
	for _, n := range nw.nodes {
		if n.name == nsName(nw.run, role) {
			return n
		}
	}
	panic("chaos: no namespace for role " + role)
}

// close kills every process left in the run's namespaces (all started by
// this suite) and deletes the namespaces; deleting one removes its veth.
func (nw *network) close() {
	removeRun(nw.run)
}

// removeRun kills the processes inside run's namespaces and deletes them.
// It works from names alone, so a later run can clean up after one that
// was killed before its own cleanup ran.
func removeRun(run string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, nsPrefix+run+"-") {
			continue
		}
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", name).Output()
		for _, f := range strings.Fields(string(out)) {
			// Never this process: a do goroutine that ran on the main
			// thread leaves it wedged in its namespace (the runtime
			// cannot end the main thread), and `ip netns pids` reads a
			// process's namespace from its main thread. One CI run
			// killed itself here after every check had passed
			// ("signal: killed").
			if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		_ = ipCmd(ctx, "netns", "del", name)
	}
	_ = os.Remove(filepath.Join(markerDir, run))
}

// claimRun records this process as the owner of run, and removes what runs
// whose owner is gone left behind (a run killed before its cleanup).
func claimRun(run string) error {
	if err := os.MkdirAll(markerDir, 0o755); err != nil {
		return err
	}
	entries, _ := os.ReadDir(markerDir)
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(markerDir, e.Name()))
		pid, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		if err == nil && perr == nil && syscall.Kill(pid, 0) == nil {
			continue // its owner is alive: another run in progress
		}
		removeRun(e.Name())
	}
	return os.WriteFile(filepath.Join(markerDir, run), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

// command returns a command that runs bin inside n.
func (n *netns) command(bin string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.name, bin}, args...)...)
}

// nft loads an nftables ruleset (nft -f syntax) into n.
func (n *netns) nft(ctx context.Context, rules string) error {
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft in %s: %w: %s", n.name, err, bytes.TrimSpace(out))
	}
	return nil
}

// do runs f on an OS thread of its own switched into n. The thread is
// never switched back: its goroutine exits still locked, so the runtime
// ends the thread, and no other goroutine ever runs in n by accident. The
// main thread, which the runtime cannot end, is wedged instead: the
// process then looks to `ip netns pids` as if it were in n (removeRun).
// Sockets made in f stay in n for their whole life, whatever thread uses
// them later.
func (n *netns) do(f func() error) error {
	errc := make(chan error, 1)
	go func() { // owned: do waits for it
		runtime.LockOSThread()
		fd, err := syscall.Open(filepath.Join(netnsDir, n.name), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", n.name, err)
			return
		}
		defer syscall.Close(fd)
		if _, _, e := syscall.RawSyscall(sysSetns, uintptr(fd), syscall.CLONE_NEWNET, 0); e != 0 {
			errc <- fmt.Errorf("setns %s: %w", n.name, e)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// dial connects from inside n.
func (n *netns) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.do(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// listen listens inside n.
func (n *netns) listen(addr string) (net.Listener, error) {
	var ln net.Listener
	err := n.do(func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	return ln, err
}

// natsDialer is nats.CustomDialer for a namespace.
type natsDialer struct{ ns *netns }

func (d natsDialer) Dial(network, address string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return d.ns.dial(ctx, network, address)
}

func ipCmd(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}
