package main

import (
	"context"
	"fmt"

	"github.com/iseed-dev/iseed/publisher"
	"github.com/iseed-dev/iseed/record"
	"github.com/spf13/cobra"
)

func newTenantCmd(e *env) *cobra.Command {
	initCmd := &cobra.Command{
		Use:   "init TENANT...",
		Short: "Make a tenant's two event consumers",
		Long: "Makes each tenant's durable pull consumers on the events stream, <tenant>-status and <tenant>-documents,\n" +
			"so that its clients can bind them before its first event (iseed serve makes them with that event\n" +
			"otherwise). Tenants may not make consumers themselves (docs/security.md). An existing pull consumer is\n" +
			"kept as it is; a push consumer under one of the names is replaced. Run it when adding a tenant\n" +
			"(docs/deploy.md).",
		Annotations: map[string]string{exitCodesKey: "0 the consumers exist; 1 an error; 2 usage or configuration error"},
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
	}
	return nil
}
