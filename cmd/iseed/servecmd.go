package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/iseed-dev/iseed/consumer"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newServeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve [--demo FILE] [--check-config]",
		Short: "Run the daemon: consume submissions, submit, track, publish",
		Long: "Runs the daemon until interrupted. Configuration comes from ISEED_* variables (README.md).\n\n" +
			"Before anything starts it claims what it needs: on the embedded server, the data directory\n" +
			"(ISEED_DATA_DIR, locked: a second iseed serve on it fails at once, naming the first one's PID),\n" +
			"and every listener (ISEED_HTTP_LISTEN; ISEED_CALLBACK_LISTEN when callbacks are served;\n" +
			"ISEED_EMBEDDED_NATS_LISTEN on the embedded server): a taken address fails at once,\n" +
			"naming the variable to change. An embedded server whose JetStream cannot use its store\n" +
			"(ISEED_DATA_DIR/nats not writable, full) fails at once as well, with the server's reason.\n" +
			"Before it creates any stream, it checks that the records bucket\n" +
			"this data directory remembers (records.json) is still there, not made anew: if it is gone, it\n" +
			"exits 2 saying so rather than make an empty one, on which a submission already paid for could be\n" +
			"paid for again (docs/operations.md; ISEED_ACCEPT_NEW_RECORDS). It then makes its streams, consumers\n" +
			"and buckets, trying again while NATS cannot yet (a cluster electing its leaders, a node down); a\n" +
			"refusal that waiting does not remove (a duplicate window over the server's limit, replicas on a\n" +
			"server not in a cluster, another storage type than the streams were made with, an account's\n" +
			"limits) ends it with exit 2, the server's words, the stream or bucket, and what to change.\n\n" +
			"--demo FILE also submits FILE as tenant \"demo\" and prints its events, one line each, on standard\n" +
			"output; the log then goes to demo.log in the data directory, named on standard error.\n\n" +
			"--check-config validates the configuration without connecting to anything or starting anything.",
		Args:        noArgs,
		Annotations: map[string]string{exitCodesKey: "0 stopped by a signal, or (--check-config) the configuration is valid; 1 a runtime error; 2 a usage or configuration error, a data directory or address in use, the records bucket gone, or a stream or bucket JetStream refuses for good"},
	}
	demo := cmd.Flags().String("demo", "", "also submit the event in `FILE` (tenant \"demo\", - for standard input) and print its events as they arrive")
	check := cmd.Flags().Bool("check-config", false, "validate the configuration and exit: 0 valid, 2 not")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		var demoEvent []byte
		if *demo != "" {
			var err error
			if demoEvent, err = readInput(e, *demo); err != nil {
				return usagef("--demo: %v", err)
			}
			if _, err := consumer.DecodeSubmission(demoEvent); err != nil {
				return usagef("--demo %s: %v", *demo, err)
			}
		}
		cfg, err := checkConfig()
		if err != nil {
			return err
		}
		if *check {
			_, err := fmt.Fprintln(e.stdout, "configuration valid")
			return err
		}
		return serve(cmd.Context(), e, cfg, demoEvent)
	}
	return cmd
}

// checkConfig reads and validates the configuration as serve would,
// reading key and credential files but connecting to nothing.
func checkConfig() (*Config, error) {
	cfg, err := loadConfig()
	if err != nil {
		return nil, configError(err)
	}
	if _, err := newLogger(io.Discard, cfg.LogLevel, cfg.LogFormat); err != nil {
		return nil, configError(fmt.Errorf("ISEED_LOG_LEVEL: %w", err))
	}
	if cfg.NATSURL != "" {
		if _, err := authOptions(cfg); err != nil {
			return nil, configError(err)
		}
	}
	if _, err := loadKeyring(cfg); err != nil { // a recipients file that does not parse fails here, not at the first document
		return nil, configError(err)
	}
	if cfg.BudgetsFile != "" {
		if _, err := readBudgetsFile(cfg.BudgetsFile); err != nil {
			return nil, configError(err)
		}
	}
	// The HMAC key files serve reads (the callback key only with callbacks
	// on), so that one missing or not a key fails here, not after start.
	keyFiles := []struct{ path, variable string }{{cfg.TaxcodeKeyFile, "ISEED_TAXCODE_KEY_FILE"}, {cfg.ReplayKeyFile, "ISEED_REPLAY_KEY_FILE"}}
	if cfg.PublicURL.Set() || (cfg.simulated() && cfg.SimCallbacks) {
		keyFiles = append(keyFiles, struct{ path, variable string }{cfg.CallbackKeyFile, "ISEED_CALLBACK_KEY_FILE"})
	}
	for _, k := range keyFiles {
		if k.path == "" {
			continue
		}
		if _, err := readKeyFile(k.path, k.variable); err != nil {
			return nil, configError(err)
		}
	}
	return cfg, nil
}

func serve(ctx context.Context, e *env, cfg *Config, demoEvent []byte) error {
	release, err := claimStartup(cfg)
	if err != nil {
		return err
	}
	defer release()
	logTo := e.stderr
	if demoEvent != nil {
		f, err := openDemoLog(cfg.DataDir)
		if err != nil {
			return err
		}
		defer f.Close()
		fmt.Fprintf(e.stderr, "iseed serve --demo: the log goes to %s; the demo's events follow here (Ctrl-C to stop)\n", f.Name())
		logTo = f
	}
	log, err := newLogger(logTo, cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		return configError(fmt.Errorf("ISEED_LOG_LEVEL: %w", err))
	}
	d, err := newDaemon(ctx, cfg, log)
	if err != nil && ctx.Err() != nil { // a signal while start-up waited (for NATS, say): a stop, not a failure
		log.Info().Str("component", "serve").Msg("stopped by a signal before start-up finished")
		return nil
	}
	if err != nil {
		return err
	}
	defer d.close()
	if demoEvent != nil {
		d.extra = append(d.extra, actor{"demo", func(ctx context.Context) error { return d.demo(ctx, demoEvent, e.stdout, e.stderr) }})
	}
	return d.run(ctx)
}

// openDemoLog opens (appending) the demo's log file in the data directory.
func openDemoLog(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("ISEED_DATA_DIR: %w", err)
	}
	return os.OpenFile(filepath.Join(dir, "demo.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
}

// demo submits one event as tenant "demo" and prints every event about it
// until ctx is done. A submission an earlier run in the same data
// directory made is not made again: a note says that the events shown are
// that run's.
func (d *daemon) demo(ctx context.Context, event []byte, w, note io.Writer) error {
	sub, _ := consumer.DecodeSubmission(event)
	if rec, _, err := record.NewStore(d.res.Records).Get(ctx, "demo", sub.ID); err == nil {
		fmt.Fprintf(note, "note: demo/%s was submitted by an earlier run in %s (now %s): the events below are that run's, "+
			"nothing is sent again; remove %s for a fresh demo\n", sub.ID, d.cfg.DataDir, rec.State, d.cfg.DataDir)
	}
	m := nats.NewMsg(d.res.Layout.SubmissionSubject("demo"))
	m.Data = event
	m.Header.Set(jetstream.MsgIDHeader, publisher.SubmissionMsgID("demo", sub.ID, sub.Fingerprint()))
	if _, err := d.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	id := sub.ID
	if !publisher.ValidToken(id) {
		id = "" // no subject of its own: its rejection is among the tenant's
	}
	return watchEvents(ctx, d.js, d.res.Layout, "demo", id, jetstream.DeliverAllPolicy, w, note)
}
