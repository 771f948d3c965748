//go:build chaos && linux

package chaos

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// delayProxy carries the route connections coming into one NATS node and
// delays them. This kernel has no netem (CONFIG_NET_SCH_NETEM is off), so
// latency is added here, while packet loss and partitions are real drops
// made by nftables on the namespaces' interfaces.
//
// The node's cluster port listens on its namespace's loopback only
// (127.0.0.1:6222) and advertises its address on the bridge, where the
// proxy listens (same port): every route between two servers, solicited
// or accepted, explicit or gossiped, crosses exactly one proxy, the one of
// the node that accepted it. With a delay d, each byte waits d in each
// direction, as with `netem delay d` on every node's interface.
type delayProxy struct {
	ns     *netns
	ln     net.Listener
	target string
	delay  atomic.Int64 // nanoseconds

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startProxy listens on listen inside ns and forwards to target, dialled
// inside ns too.
func startProxy(ns *netns, listen, target string) (*delayProxy, error) {
	ln, err := ns.listen(listen)
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ns: ns, ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	return p, nil
}

// setDelay changes the delay of bytes read from now on.
func (p *delayProxy) setDelay(d time.Duration) { p.delay.Store(int64(d)) }

// close stops accepting, closes every connection and waits for the
// proxy's goroutines.
func (p *delayProxy) close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *delayProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.wg.Go(func() { p.handle(c) })
	}
}

func (p *delayProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *delayProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *delayProxy) handle(in net.Conn) {
	if !p.track(in) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	out, err := p.ns.dial(ctx, "tcp", p.target)
	cancel()
	if err != nil || !p.track(out) {
		p.untrack(in) // the server is down: refuse, as it would
		return
	}
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(out, in) })
	wg.Go(func() { p.pipe(in, out) })
	wg.Wait()
	p.untrack(in, out)
}

// chunk is bytes read from one side, due to be written to the other.
type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst through a delay line, keeping order; when either
// side fails, it closes both, which ends the other direction too.
func (p *delayProxy) pipe(dst, src net.Conn) {
	line := make(chan chunk, 256) // bounded: a slow reader holds the writer back
	var wg sync.WaitGroup
	wg.Go(func() {
		for c := range line {
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d)
			}
			if _, err := dst.Write(c.b); err != nil {
				src.Close()
				dst.Close()
				for range line { // let the reader finish
				}
				return
			}
		}
		dst.Close()
	})
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			line <- chunk{b: buf[:n], due: time.Now().Add(time.Duration(p.delay.Load()))}
		}
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				src.Close()
			}
			break
		}
	}
	close(line)
	wg.Wait()
}
