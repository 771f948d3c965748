package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

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
// replaced, and whether there was one. The write is a compare-and-set on
// what was read (Create when there was nothing), read again when another
// replica wrote in between, so that of two replicas started together one
// at least is given the other's value.
func noteSetting(ctx context.Context, kv jetstream.KeyValue, name, own string) (found string, ok bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for range 32 {
		e, err := kv.Get(ctx, name)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			found, ok = "", false
			_, err = kv.Create(ctx, name, []byte(own))
		case err != nil:
			return "", false, fmt.Errorf("read %s: %w", name, err)
		default:
			found, ok = string(e.Value()), true
			_, err = kv.Update(ctx, name, []byte(own), e.Revision())
		}
		switch {
		case err == nil:
			return found, ok, nil
		case !errors.Is(err, jetstream.ErrKeyExists) && !errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			return found, ok, fmt.Errorf("write %s: %w", name, err)
		}
	}
	return found, ok, fmt.Errorf("write %s: every write lost to another replica's", name)
}
