package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/iseed-dev/iseed/visengine/sim"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

func newBenchCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure end-to-end submissions per second on embedded NATS and the simulator",
		Long:  "Publishes N valid ISEE submissions to a private embedded server and simulator and reports how fast they become upstream requests.",
		Args:  noArgs,
	}
	fs := cmd.Flags()
	n := fs.Int("n", 5000, "submissions to send")
	workers := fs.Int("workers", 32, "pipeline workers")
	latency := fs.Duration("latency", 0, "simulated upstream latency per call")
	storage := fs.String("storage", "file", "JetStream storage: file or memory")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `FILE`")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if *n < 1 {
			return usagef("--n must be at least 1")
		}
		return bench(cmd.Context(), e, *n, *workers, *latency, *storage, *cpuProfile)
	}
	return cmd
}

// bench runs the measurement: an embedded NATS server, the simulator over
// loopback HTTP, and the real pipeline.
func bench(ctx context.Context, e *env, n, workers int, latency time.Duration, storage, cpuProfile string) error {
	dir, err := os.MkdirTemp("", "iseed-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg, err := benchConfig(dir, workers, storage)
	if err != nil {
		return configError(err)
	}
	d, err := newDaemon(ctx, cfg, zerolog.Nop())
	if err != nil {
		return err
	}
	defer d.close()
	d.sim.sim.SetWallet(1e9)
	d.sim.sim.SetFaults(sim.Faults{Latency: latency})
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.run(runCtx) }()

	if cpuProfile != "" {
		stop, err := startCPUProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	if err := publishBench(d, n); err != nil {
		return err
	}
	published := time.Since(start)
	if err := waitSettled(ctx, d, n); err != nil {
		return err
	}
	took := time.Since(start)
	cancel()
	<-done
	rate := float64(n) / took.Seconds()
	fmt.Fprintf(e.stdout, "submissions: %d  workers: %d  upstream latency: %s  storage: %s\n", n, workers, latency, storage)
	fmt.Fprintf(e.stdout, "published in %s; all submitted, announced and acknowledged in %s\n", published.Round(time.Millisecond), took.Round(time.Millisecond))
	fmt.Fprintf(e.stdout, "throughput: %.0f submissions/s", rate)
	if latency > 0 {
		ideal := float64(workers) / latency.Seconds()
		fmt.Fprintf(e.stdout, " (%.0f%% of workers/latency = %.0f/s)", 100*rate/ideal, ideal)
	}
	fmt.Fprintln(e.stdout)
	return nil
}

// benchConfig is the environment's configuration on the embedded defaults
// (a fresh data directory, the simulator without callbacks, no rate limit).
func benchConfig(dir string, workers int, storage string) (*Config, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, err
	}
	cfg.DataDir, cfg.EmbeddedNATSListen, cfg.HTTPListen, cfg.CallbackListen = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.NATSURL, cfg.VisengineURL, cfg.VisengineToken = "", URL{}, ""
	cfg.Workers, cfg.UpstreamRPS, cfg.Storage = workers, 0, storage        // no upstream limit: measure iseed
	cfg.SimStep, cfg.SimCallbacks, cfg.PublicURL = time.Hour, false, URL{} // measure submissions, not callbacks
	return cfg, cfg.validate()
}

func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// iseeEvent is a complete, valid ISEE submission event for the simulator's
// catalog; name makes its input distinct.
func iseeEvent(id, name string) ([]byte, error) {
	return json.Marshal(map[string]any{
		"id": id, "service": "ISEE", "options": []string{"urgenza"},
		"fields": map[string]string{
			"$0": name, "$1": "Rossi", "$2": "mario.rossi@example.it", "$3": "+39 333 1234567",
			"$4": "RSSMRA85T10A562S", "$5": "ci.pdf|data:application/pdf;base64,JVBERi0xLjQK",
			"$6": "cf.pdf|data:application/pdf;base64,JVBERi0xLjQK",
		},
	})
}

func publishBench(d *daemon, n int) error {
	subject := d.res.Layout.SubmissionSubject("bench")
	for i := range n {
		body, err := iseeEvent(fmt.Sprintf("bench-%d", i), fmt.Sprintf("Nome%d", i))
		if err != nil {
			return err
		}
		if _, err := d.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: body}); err != nil {
			return err
		}
	}
	select {
	case <-d.js.PublishAsyncComplete():
		return nil
	case <-time.After(time.Minute):
		return fmt.Errorf("publishing %d submissions took over a minute", n)
	}
}

// waitSettled waits until the simulator has every request and the consumer
// has acknowledged every message.
func waitSettled(ctx context.Context, d *daemon, n int) error {
	for {
		if d.sim.sim.Counters()["created"] >= n {
			info, err := d.res.Consumer.Info(ctx)
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
