package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
)

func newSchemasCmd(e *env) *cobra.Command {
	list := &cobra.Command{
		Use:   "list",
		Short: "List the service catalog",
		Args:  noArgs,
	}
	listOut := addOutputFlag(list)
	list.RunE = func(cmd *cobra.Command, _ []string) error {
		format, err := listOut.format(e.stdout)
		if err != nil {
			return err
		}
		return withSchemaCache(cmd.Context(), e.stderr, func(cache *schema.Cache) error { return schemasList(cmd.Context(), e, cache, format) })
	}
	show := &cobra.Command{
		Use:   "show SERVICE",
		Short: "Show one service's schema",
		Long: "Shows one service's schema (SERVICE is a catalog name or a hash). As JSON it is the schema's\n" +
			"canonical form, which 'iseed validate --schema FILE' reads; as a table, its fields, options and price.",
		Args: exactArgs("SERVICE"),
	}
	showOut := addOutputFlag(show)
	show.RunE = func(cmd *cobra.Command, args []string) error {
		format, err := showOut.format(e.stdout)
		if err != nil {
			return err
		}
		return withSchemaCache(cmd.Context(), e.stderr, func(cache *schema.Cache) error { return schemasShow(cmd.Context(), e, cache, args[0], format) })
	}
	c := group("schemas", "List the service catalog or show a service's schema, through the cache", list, show)
	c.Long = "Reads through the schema cache: memory, the daemon's KV bucket (never created here), then the upstream\n" +
		"(on the defaults, a private simulator with the daemon's fixtures)."
	return c
}

// withSchemaCache runs fn with a schema cache over the daemon's bucket
// (when it exists) and the upstream.
func withSchemaCache(ctx context.Context, stderr io.Writer, fn func(*schema.Cache) error) error {
	c, err := openCLI(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer c.close()
	up, closeUp, err := cliUpstream(c.cfg)
	if err != nil {
		return err
	}
	defer closeUp()
	kv, err := c.js.KeyValue(ctx, c.layout.SchemasBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = nil, nil
	}
	if err != nil {
		return err
	}
	return fn(schema.NewCache(up, kv, schema.CacheConfig{TTL: c.cfg.SchemaTTL, Logger: zerolog.Nop()}))
}

// cliUpstream is the Visengine client of an operator command: the real API,
// or a private simulator (the same fixtures as the daemon's) on the defaults.
func cliUpstream(cfg *Config) (*visengine.Client, func(), error) {
	log, err := newLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat) // the private simulator's panics
	if err != nil {
		return nil, nil, err
	}
	c, s, err := newUpstream(cfg, nil, log)
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		return c, func() {}, nil
	}
	return c, s.close, nil
}

func schemasList(ctx context.Context, e *env, cache *schema.Cache, format string) error {
	list, err := cache.Catalog(ctx)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].NomeCategoria != list[j].NomeCategoria {
			return list[i].NomeCategoria < list[j].NomeCategoria
		}
		return list[i].NomeVisura < list[j].NomeVisura
	})
	if format == formatJSON {
		return writeJSON(e.stdout, list)
	}
	tw := newTable(e.stdout)
	fmt.Fprintln(tw, "CATEGORY\tSERVICE\tHASH")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.NomeCategoria, strings.TrimSpace(s.NomeVisura), s.HashVisura)
	}
	return tw.Flush()
}

func schemasShow(ctx context.Context, e *env, cache *schema.Cache, service, format string) error {
	svc, err := cache.Service(ctx, service)
	if err != nil {
		return err
	}
	if format == formatJSON {
		return writeJSON(e.stdout, svc) // the canonical form: what iseed validate --schema reads
	}
	tw := newTable(e.stdout)
	fmt.Fprintf(tw, "service\t%s (%s), %s\n", svc.Name, svc.Hash, svc.Category)
	if svc.PriceUnknown { // not 0.00 €: free is not what it is (docs/money.md, unknown prices)
		fmt.Fprintln(tw, "price\tunknown (the service publishes no prezzo_visura)")
	} else {
		fmt.Fprintf(tw, "price\t%.2f €\n", svc.Price)
	}
	if svc.Rule != "" {
		fmt.Fprintf(tw, "rule\t%s\n", svc.Rule)
	}
	for _, o := range svc.Options {
		if o.PriceUnknown { // not +0.00 €, as the service's own
			fmt.Fprintf(tw, "option\t%s (%s), price unknown (no prezzo published)\n", o.Type, o.Name)
			continue
		}
		fmt.Fprintf(tw, "option\t%s (%s), +%.2f €\n", o.Type, o.Name, o.Price)
	}
	fmt.Fprintln(tw, "\nFIELD\tNAME\tTYPE\tREQUIRED")
	for _, f := range svc.Fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\n", f.Key, f.Label, f.Type, f.Required)
	}
	return tw.Flush()
}
