package main

import (
	"context"
	"strconv"
	"time"

	"github.com/iseed-dev/iseed/internal/bucket"
	"github.com/nats-io/nats.go/jetstream"
)

// spendingCapsName is the key of the keys bucket where each replica notes
// its ISEED_SPENDING_CAPS when it starts.
const spendingCapsName = "spending-caps"

// compareSpendingCaps notes this replica's ISEED_SPENDING_CAPS in the keys
// bucket and warns when the replica started before it had it otherwise.
// Unlike the settings a replica sets on the streams and consumers, this
// one is not the last started's for all: replicas that disagree each act
// on their own, and one with caps off releases every held submission (the
// others' held for a cap, a pause or a fair share too) and sends those
// delivered to it uncounted. No error would say so. It never stops the
// start.
func (d *daemon) compareSpendingCaps(ctx context.Context) {
	own := strconv.FormatBool(d.cfg.SpendingCaps)
	found, ok, err := noteSetting(ctx, d.res.Keys, spendingCapsName, own)
	log := d.log.With().Str("component", "budget").Logger()
	if err != nil {
		log.Warn().Err(err).Msg("cannot compare this replica's ISEED_SPENDING_CAPS with the other replicas'")
	}
	if !ok || found == own {
		return
	}
	log.Warn().Str("setting", "ISEED_SPENDING_CAPS").Str("found", found).Str("own", own).
		Msg("the replica started before this one (or this one, before a change) had spending caps otherwise: " +
			"while both run, a replica with caps off sends what the others hold for a cap or a pause, uncounted; give them all the same")
}

// noteSetting stores own under name in kv and returns the value it
// replaced, and whether there was one (bucket.Swap).
func noteSetting(ctx context.Context, kv jetstream.KeyValue, name, own string) (found string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	prev, ok, err := bucket.Swap(ctx, kv, name, []byte(own), 32)
	return string(prev), ok, err
}
