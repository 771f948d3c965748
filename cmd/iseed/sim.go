package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

func newSimCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the Visengine simulator standalone",
		Long: "Serves a simulated Visengine 2.0 API (bearer token required) with admin knobs under /_sim/\n" +
			"(no token): GET /_sim/counters, POST /_sim/reset, GET|PUT|DELETE /_sim/faults, GET|PUT /_sim/wallet.\n" +
			"Prints \"listening on ADDR\" and the token, then serves until interrupted.\n\n" +
			"Profiles: friendly (the default) echoes every request's input and answers malformed ids with 400;\n" +
			"published answers exactly as the published examples do and is never kinder: \"ricerche\": [] on\n" +
			"Patronato services, 404/202 and 404/244 for ids that are not 24 hex digits, the mandate ($7) of\n" +
			"the person-field services \"null\": false.\n\n" +
			"Fault knobs (--faults, PUT /_sim/faults), each with \"next\" (the next N calls) and \"rate\" (0..1):\n" +
			"errors, throttle (per endpoint key or \"*\"), commit_then_fail, late_commit {mode, delay} (POST\n" +
			"/richiesta committed, answer lost, request unseen until delay), and per endpoint key: preamble\n" +
			"{kind: bom|notice|both}, object_lists, php_scalars, oversize {pad, files}.",
		Args: noArgs,
	}
	fs := cmd.Flags()
	listen := fs.String("listen", "127.0.0.1:8089", "`address` to listen on (port 0 picks a free one)")
	token := fs.String("token", "sim-token", "bearer `token` every API call must carry")
	step := fs.Duration("step", 2*time.Second, "time between request states (In erogazione → Dati disponibili → Visura evasa)")
	cancelRate := fs.Float64("cancel-rate", 0, "share (0..1) of requests that end Annullata")
	wallet := fs.Float64("wallet", 1000, "initial wallet balance in euro")
	latency := fs.Duration("latency", 0, "latency added to every API call")
	seed := fs.Int64("seed", 1, "seed for ids, cancellations and fault rates")
	owner := fs.String("owner", "", "account e-mail shown as owner (default sandbox@example.com)")
	faultsJSON := fs.String("faults", "", `initial faults as JSON, as PUT /_sim/faults takes, e.g. '{"errors":{"*":{"rate":0.05,"status":503}}}'`)
	profile := sim.ProfileFriendly
	fs.TextVar(&profile, "profile", sim.ProfileFriendly, "`profile` to answer as: friendly or published")
	var echo sim.Echo
	fs.TextVar(&echo, "echo", sim.Echo(""), "what request answers echo of their input, `none|values|files`: none gives \"ricerche\": [] on Patronato services,\n"+
		"values elides inline-file payloads, files echoes (and keeps) them whole (default values when friendly, none when published)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		faults, err := simFaults(*faultsJSON, *latency)
		if err == nil {
			err = checkSimFlags(*step, *cancelRate, *wallet)
		}
		if err != nil {
			return usagef("%v", err)
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return usagef("--listen %s cannot be used (%v): another program, perhaps another iseed sim, listens there; "+
				"pass a free address (port 0 picks one)", *listen, err)
		}
		s := sim.New(sim.Config{Token: *token, Step: *step, CancelRate: *cancelRate, Owner: *owner, Seed: *seed, Faults: faults,
			Profile: profile, Echo: echo})
		s.SetWallet(*wallet) // Config.Wallet treats 0 as "default"
		fmt.Fprintf(e.stdout, "listening on %s\ntoken %s\nprofile %s, echo %s\n", ln.Addr(), *token, profile, echo.Resolve(profile))
		log, err := newLogger(e.stderr, "info", "json") // its handlers' panics
		if err != nil {
			return err
		}
		return serveSim(cmd.Context(), ln, s, log)
	}
	return cmd
}

func checkSimFlags(step time.Duration, cancelRate, wallet float64) error {
	switch {
	case step <= 0:
		return errors.New("--step must be positive")
	case cancelRate < 0 || cancelRate > 1:
		return errors.New("--cancel-rate must be between 0 and 1")
	case wallet < 0:
		return errors.New("--wallet must not be negative")
	}
	return nil
}

// simFaults reads --faults and adds --latency to it.
func simFaults(js string, latency time.Duration) (sim.Faults, error) {
	var f sim.Faults
	if js != "" {
		if err := json.Unmarshal([]byte(js), &f); err != nil {
			return f, fmt.Errorf("--faults: %w", err)
		}
	}
	if latency != 0 {
		f.Latency = latency
	}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("faults: %w", err)
	}
	return f, nil
}

// simHandler is what serveSim serves: a *sim.Server.
type simHandler interface {
	http.Handler
	Close()
}

// serveSim serves s on ln until ctx is done, then shuts down: the simulator
// first (it releases handlers held by a "hang" fault), then the HTTP server,
// waiting up to 5 s for calls in flight.
func serveSim(ctx context.Context, ln net.Listener, s simHandler, log zerolog.Logger) error {
	srv := newSimServer(s, log)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
	}
	s.Close()
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil && err == nil {
		err = fmt.Errorf("shutdown: %w", serr)
	}
	if ctx.Err() != nil {
		if serveErr := <-served; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
			err = serveErr
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
