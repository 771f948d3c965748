package visengine

import (
	"net/http"
	"net/url"
	"testing"
	"time"
)

// TestHeaderWaitCoversTheLongestCall: the client New builds waits for an
// answer's headers as long as its longest call may take. A fixed 30 s
// wait cut a document the upstream took longer to start sending (it
// encodes the whole file before answering) at every poll, whatever
// DocumentTimeout allowed: the document of a paid request never came.
func TestHeaderWaitCoversTheLongestCall(t *testing.T) {
	u, _ := url.Parse("https://visengine.example")
	for _, cfg := range []Config{
		{BaseURL: u, Token: "t"},
		{BaseURL: u, Token: "t", Timeout: 45 * time.Second, DocumentTimeout: 10 * time.Minute},
		{BaseURL: u, Token: "t", Timeout: 2 * time.Minute, DocumentTimeout: time.Minute},
	} {
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		tr, ok := c.hc.Transport.(*http.Transport)
		if !ok {
			t.Fatalf("transport %T, want *http.Transport", c.hc.Transport)
		}
		if want := max(c.timeout, c.docTime); tr.ResponseHeaderTimeout < want {
			t.Errorf("Timeout %s, DocumentTimeout %s: headers awaited %s, want at least %s",
				cfg.Timeout, cfg.DocumentTimeout, tr.ResponseHeaderTimeout, want)
		}
	}
}
