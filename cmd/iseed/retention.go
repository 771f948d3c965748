package main

import (
	"context"

	"github.com/iseed-dev/iseed/retention"
)

// buildRetention makes the scrubber of old closed records
// (ISEED_RECORD_SCRUB_AFTER); nil when the retention is off.
func (d *daemon) buildRetention() error {
	if !d.cfg.RecordScrub.On() {
		return nil
	}
	var err error
	d.scrubber, err = retention.New(retention.Config{After: d.cfg.RecordScrub.Duration(), Now: d.clock.Now, Logger: d.log},
		retention.Deps{JS: d.js, Records: d.res.Records, Keys: d.res.Keys, Metrics: retention.NewMetrics(d.metrics)})
	return err
}

// runRetention scrubs old closed records until ctx is done; without a
// retention it only waits.
func (d *daemon) runRetention(ctx context.Context) error {
	if d.scrubber == nil {
		<-ctx.Done()
		return nil
	}
	return d.scrubber.Run(ctx)
}
