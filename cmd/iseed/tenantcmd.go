package main

import (
	"context"
	"fmt"
	"io"

	"github.com/iseed-dev/iseed/layout"
	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/spf13/cobra"
)

func newTenantCmd(e *env) *cobra.Command {
	initCmd := &cobra.Command{
		Use:   "init TENANT...",
		Short: "Make a tenant's two event consumers and its files bucket",
		Long: "Makes each tenant's durable pull consumers on the events stream, <tenant>-status and <tenant>-documents,\n" +
			"so that its clients can bind them before its first event (iseed serve makes them with that event\n" +
			"otherwise). Tenants may not make consumers themselves (docs/security.md). An existing pull consumer is\n" +
			"kept as it is; a push consumer under one of the names is replaced.\n\n" +
			"Makes the tenant's files bucket iseed_files_<tenant> (for nats-os:// references) when there is none:\n" +
			"files kept ISEED_FILES_MAX_AGE at most, direct get off, the replicas and storage of the streams iseed\n" +
			"serve made, no size limit (set one: docs/deploy.md). An existing files bucket is left as it is, and a\n" +
			"line says what is wrong with it: no maximum age (identity documents kept for ever), one longer than\n" +
			"ISEED_FILES_MAX_AGE, or direct get on, with the nats command that mends it. Run it when adding a\n" +
			"tenant (docs/deploy.md).",
		Annotations: map[string]string{exitCodesKey: "0 the consumers and the files bucket exist; 1 an error; 2 usage or configuration error"},
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("missing TENANT")
			}
			for _, t := range args {
				if !record.ValidToken(t) {
					return usagef("invalid tenant %q: 1 to %d letters, digits, _ or -", t, record.MaxIDLen)
				}
			}
			return nil
		},
	}
	initCmd.RunE = func(cmd *cobra.Command, args []string) error {
		return initTenants(cmd.Context(), e, args)
	}
	return group("tenant", "Prepare what a tenant reads", initCmd)
}

func initTenants(ctx context.Context, e *env, tenants []string) error {
	c, err := openCLI(ctx, e.stderr, true)
	if err != nil {
		return err
	}
	defer c.close()
	l := c.res.Layout
	// The files buckets get the replicas and storage of the streams serve
	// made, whatever this command's own ISEED_REPLICAS and ISEED_STORAGE.
	if info := c.res.Submissions.CachedInfo(); info != nil {
		l.Replicas, l.Storage = info.Config.Replicas, info.Config.Storage
	}
	for _, t := range tenants {
		replaced, err := publisher.EnsureTenantConsumers(ctx, c.js, l.EventsStream(), l.Events(), t)
		if err != nil {
			return err
		}
		for _, name := range replaced {
			fmt.Fprintf(e.stdout, "%s: replaced push consumer %s with a pull consumer\n", t, name)
		}
		fmt.Fprintf(e.stdout, "%s: %s and %s on %s\n", t, publisher.TenantConsumer(t, publisher.KindStatus),
			publisher.TenantConsumer(t, publisher.KindDocuments), l.EventsStream())
		if err := initFilesBucket(ctx, e.stdout, c.js, l, t); err != nil {
			return err
		}
	}
	return nil
}

// initFilesBucket makes the tenant's files bucket, or says what is wrong
// with the one there is: identity documents kept for ever, or direct get on.
func initFilesBucket(ctx context.Context, w io.Writer, js jetstream.JetStream, l layout.Layout, t string) error {
	made, problems, err := layout.CreateFilesBucket(ctx, js, l, t)
	if err != nil {
		return err
	}
	bucket := l.FilesBucket(t)
	if made {
		fmt.Fprintf(w, "%s: made files bucket %s: files kept %s, direct get off, replicas %d, no size limit (set one: docs/deploy.md)\n",
			t, bucket, l.FilesMaxAge, l.Replicas)
		return nil
	}
	fmt.Fprintf(w, "%s: files bucket %s exists, left as it is\n", t, bucket)
	for _, p := range problems {
		fmt.Fprintf(w, "%s: files bucket %s: %s\n", t, bucket, p)
	}
	return nil
}
