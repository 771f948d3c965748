package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/iseed-dev/iseed/schema"
	"github.com/iseed-dev/iseed/visengine"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// runSchemas lists the catalog and shows service schemas, reading through
// the cache (memory, the KV bucket, then the upstream).
func runSchemas(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "schemas", "list | show SERVICE\n\nLists the service catalog, or shows one service's fields, rule, options and price (SERVICE is a catalog name or a hash).")
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
		fs.Usage()
		return nil
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") || (args[0] == "show") != (len(args) == 2) {
		fs.Usage()
		return &exitError{code: 2}
	}
	c, err := openCLI(ctx, false)
	if err != nil {
		return err
	}
	defer c.close()
	up, closeUp, err := cliUpstream(c.cfg)
	if err != nil {
		return err
	}
	defer closeUp()
	// Read through the daemon's bucket when it exists; never create it.
	kv, err := c.js.KeyValue(ctx, c.layout.SchemasBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = nil, nil
	}
	if err != nil {
		return err
	}
	cache := schema.NewCache(up, kv, schema.CacheConfig{TTL: c.cfg.SchemaTTL, Logger: zerolog.Nop()})
	if args[0] == "list" {
		return schemasList(ctx, e, cache)
	}
	return schemasShow(ctx, e, cache, args[1])
}

// cliUpstream is the Visengine client of an operator command: the real API,
// or a private simulator (the same fixtures as the daemon's) on the defaults.
func cliUpstream(cfg *Config) (*visengine.Client, func(), error) {
	c, s, err := newUpstream(cfg)
	if err != nil {
		return nil, nil, err
	}
	if s == nil {
		return c, func() {}, nil
	}
	return c, s.close, nil
}

func schemasList(ctx context.Context, e *env, cache *schema.Cache) error {
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
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CATEGORY\tSERVICE\tHASH")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.NomeCategoria, strings.TrimSpace(s.NomeVisura), s.HashVisura)
	}
	return tw.Flush()
}

func schemasShow(ctx context.Context, e *env, cache *schema.Cache, service string) error {
	svc, err := cache.Service(ctx, service)
	if err != nil {
		return err
	}
	// The schema package's canonical form: what iseed validate --schema reads.
	enc := json.NewEncoder(e.stdout)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(svc)
}
