package visengine_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/iseed-dev/iseed/visengine"
)

// rstAfterBody is an HTTP/2 server (or a proxy in front of it) that reads a
// whole request, commits it, then resets the stream with PROTOCOL_ERROR.
func rstAfterBody(t *testing.T, ln net.Listener, committed *atomic.Int32) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func(c net.Conn) {
			defer c.Close()
			if err := c.(*tls.Conn).Handshake(); err != nil {
				return
			}
			preface := make([]byte, len(http2.ClientPreface))
			if _, err := io.ReadFull(c, preface); err != nil {
				return
			}
			fr := http2.NewFramer(c, c)
			_ = fr.WriteSettings()
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					return
				}
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if !f.IsAck() {
						_ = fr.WriteSettingsAck()
					}
				case *http2.DataFrame:
					if f.StreamEnded() {
						committed.Add(1) // the upstream created and charged a request
						_ = fr.WriteRSTStream(f.StreamID, http2.ErrCodeProtocol)
					}
				}
			}
		}(c)
	}
}

func TestH2ResetAfterBodyIsNotReplayed(t *testing.T) {
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	cert := ts.TLS.Certificates
	client := ts.Client()
	ts.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: cert, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var committed atomic.Int32
	go rstAfterBody(t, ln, &committed)

	tr := client.Transport.(*http.Transport).Clone()
	tr.ForceAttemptHTTP2 = true
	u, _ := url.Parse("https://" + ln.Addr().String())
	c, err := visengine.New(visengine.Config{BaseURL: u, Token: "t", HTTPClient: &http.Client{Transport: tr}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateRichiesta(context.Background(), visengine.CreateRequest{HashVisura: "h", JSONVisura: map[string]string{"$0": "x"}})
	t.Logf("err: %v", err)
	if n := committed.Load(); n != 1 {
		t.Errorf("got %d requests committed upstream by one CreateRichiesta, want 1", n)
	}
	if got := visengine.ClassOf(err); got != visengine.ClassAmbiguous {
		t.Errorf("got class %s, want ambiguous", got)
	}
}
