package natstest

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// DropProxy is a loopback TCP proxy in front of a server that drops the
// messages clients publish through it for which Drop returns true: a
// request the server never receives while the client counts on it (a lost
// pull request, say), which no server-side setting provokes. Rewrite, when
// set, may change the payload of what is published in place (its length
// stays): bytes damaged on their way to the server. Everything else passes
// unchanged in both directions.
type DropProxy struct {
	URL     string                               // what clients connect to
	Drop    func(subject string) bool            // nil: drop nothing
	Rewrite func(subject string, payload []byte) // nil: change nothing
	Dropped atomic.Int64                         // messages dropped so far
	ln      net.Listener
	target  string
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
}

// NewDropProxy starts a proxy to the server at addr (host:port) and stops
// it when the test ends. Set Drop before the first client connects.
func NewDropProxy(t testing.TB, addr string) *DropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &DropProxy{URL: "nats://" + ln.Addr().String(), ln: ln, target: addr, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *DropProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[s] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(c, s); c.Close(); s.Close() }) // server to client, as is
		p.wg.Go(func() { p.forward(s, c); c.Close(); s.Close() })      // client to server, filtered
	}
}

func (p *DropProxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// forward copies the client's protocol to the server command by command,
// leaving out the PUB and HPUB commands (with their payloads) Drop names.
func (p *DropProxy) forward(dst io.Writer, src io.Reader) {
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return
		}
		var body []byte
		f := bytes.Fields(line)
		if len(f) >= 3 && (bytes.EqualFold(f[0], []byte("PUB")) || bytes.EqualFold(f[0], []byte("HPUB"))) {
			n, err := strconv.Atoi(string(f[len(f)-1])) // PUB's size, HPUB's total size
			if err != nil {
				return
			}
			body = make([]byte, n+2) // payload and its CRLF
			if _, err := io.ReadFull(r, body); err != nil {
				return
			}
			if p.Drop != nil && p.Drop(string(f[1])) {
				p.Dropped.Add(1)
				continue
			}
			if p.Rewrite != nil {
				p.Rewrite(string(f[1]), payloadOf(f, body[:n]))
			}
		}
		if _, err := w.Write(line); err != nil {
			return
		}
		if _, err := w.Write(body); err != nil {
			return
		}
		if r.Buffered() == 0 { // flush at the end of what the client wrote
			if err := w.Flush(); err != nil {
				return
			}
		}
	}
}

// payloadOf is the payload of a PUB or HPUB command with fields f and body
// (headers and payload, without the CRLF): HPUB's headers are left out.
func payloadOf(f [][]byte, body []byte) []byte {
	if !bytes.EqualFold(f[0], []byte("HPUB")) || len(f) < 4 {
		return body
	}
	hdr, err := strconv.Atoi(string(f[len(f)-2]))
	if err != nil || hdr > len(body) {
		return nil
	}
	return body[hdr:]
}
