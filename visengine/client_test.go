package visengine_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/iseed-dev/iseed/visengine"
)

func TestNewValidates(t *testing.T) {
	good, _ := url.Parse("https://visengine2.altravia.com")
	parse := func(s string) *url.URL { u, _ := url.Parse(s); return u }
	tests := []struct {
		name    string
		cfg     visengine.Config
		wantErr string // "" for no error
	}{
		{"minimal", visengine.Config{BaseURL: good, Token: "t"}, ""},
		{"path prefix", visengine.Config{BaseURL: parse("http://localhost:8080/api/"), Token: "t"}, ""},
		{"no BaseURL", visengine.Config{Token: "t"}, "BaseURL is required"},
		{"relative BaseURL", visengine.Config{BaseURL: parse("/visure"), Token: "t"}, "absolute http(s) URL"},
		{"ftp BaseURL", visengine.Config{BaseURL: parse("ftp://x"), Token: "t"}, "absolute http(s) URL"},
		{"query in BaseURL", visengine.Config{BaseURL: parse("https://x/?a=1"), Token: "t"}, "must not carry a query"},
		{"user in BaseURL", visengine.Config{BaseURL: parse("https://u:p@x/"), Token: "t"}, "must not carry"},
		{"no token", visengine.Config{BaseURL: good}, "Token is required"},
		{"token with a newline", visengine.Config{BaseURL: good, Token: "t\n"}, "single line"},
		{"negative timeout", visengine.Config{BaseURL: good, Token: "t", Timeout: -time.Second}, "must not be negative"},
		{"negative limit", visengine.Config{BaseURL: good, Token: "t", MaxDocumentBytes: -1}, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := visengine.New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want no error", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), ":p@") {
				t.Errorf("got %v, want the password redacted", err)
			}
		})
	}
}

func TestBaseURLPathPrefixAndDefaultUserAgent(t *testing.T) {
	got := make(chan string, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path + " " + r.Header.Get("User-Agent")
		writeEnvelope(w, 200, true, 0, "", []any{})
	})
	mux := http.NewServeMux()
	mux.Handle("/api/", h)
	c := newClient(t, mux, func(cfg *visengine.Config) { cfg.BaseURL = cfg.BaseURL.JoinPath("/api/") })
	if _, err := c.Visure(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := "/api/visure " + visengine.UserAgent("dev")
	if g := <-got; g != want {
		t.Errorf("got %q, want %q", g, want)
	}
}

func TestGivenHTTPClientDoesNotFollowRedirects(t *testing.T) {
	hc := &http.Client{Timeout: 5 * time.Second}
	c := newClient(t, raw(307, "", "Location", "/elsewhere"), func(cfg *visengine.Config) { cfg.HTTPClient = hc })
	err := invoke(context.Background(), c, "POST /richiesta")
	if e := asError(t, err); e.Class != visengine.ClassAmbiguous || e.Status != 307 {
		t.Errorf("got %v, want an ambiguous failure with status 307", err)
	}
	if hc.CheckRedirect != nil {
		t.Error("got the caller's http.Client modified, want it left alone")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    visengine.Error
		want string
	}{
		{visengine.Error{Op: "POST /richiesta", Status: 402, Code: 211, Message: "insufficient credit in the wallet", Class: visengine.ClassInsufficientCredit},
			"visengine: POST /richiesta: insufficient_credit (HTTP 402, code 211): insufficient credit in the wallet"},
		{visengine.Error{Op: "GET /visure", Class: visengine.ClassRetryable, Message: "no answer", Err: context.DeadlineExceeded},
			"visengine: GET /visure: retryable: no answer: context deadline exceeded"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	for c := visengine.ClassRetryable; c <= visengine.ClassAmbiguous; c++ {
		if s := c.String(); strings.HasPrefix(s, "Class(") {
			t.Errorf("class %d has no name", int(c))
		}
	}
}
