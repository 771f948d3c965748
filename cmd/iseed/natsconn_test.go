package main

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestCloseIsNotADisconnect: a clean stop ends the log without a warning
// that iseed is reconnecting (nats.go calls the disconnect handler on a
// close too), and a lost connection still warns.
func TestCloseIsNotADisconnect(t *testing.T) {
	srv := cliEnv(t)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c, err := connectNATS(cfg, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	c.close(5 * time.Second) // returns once the closed handler ran, after the disconnect handler
	if strings.Contains(logs.String(), "disconnected from NATS") {
		t.Errorf("a clean close logged %q", logs.String())
	}

	var lost bytes.Buffer
	reconnected := make(chan struct{})
	var once sync.Once
	c, err = connectNATS(cfg, zerolog.New(&lost).Hook(zerolog.HookFunc(func(_ *zerolog.Event, _ zerolog.Level, msg string) {
		if msg == "disconnected from NATS; reconnecting" {
			once.Do(func() { close(reconnected) })
		}
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer c.close(time.Second)
	srv.Shutdown()
	select {
	case <-reconnected:
	case <-time.After(10 * time.Second):
		t.Fatalf("a lost server logged no disconnect: %q", lost.String())
	}
}
