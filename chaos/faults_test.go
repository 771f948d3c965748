//go:build chaos && linux

package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The faults, each followed by a wait for the cluster to be whole again,
// so that the next one starts from a healthy system (a fault's own length
// is a fixed time: that is the fault; what follows it is polled).

// killLeader SIGKILLs the node leading stream, waits until another node
// leads it, restarts the killed node on its store and waits until every
// replica is current.
func (w *world) killLeader(ctx context.Context, stream string) (string, error) {
	var old int
	if err := waitFor(ctx, time.Minute, "a leader of "+stream, func() (err error) {
		old, err = w.leader(ctx, stream)
		return err
	}); err != nil {
		return "", err
	}
	start := time.Now()
	if err := w.nats[old].kill(); err != nil {
		return "", err
	}
	var next int
	if err := waitFor(ctx, 2*time.Minute, "a new leader of "+stream, func() error {
		i, err := w.leader(ctx, stream)
		if err != nil {
			return err
		}
		if i == old {
			return fmt.Errorf("n%d still named leader", i+1)
		}
		next = i
		return nil
	}); err != nil {
		return "", err
	}
	failover := time.Since(start)
	if err := w.nats[old].start(); err != nil {
		return "", err
	}
	if err := w.healthy(ctx, 3*time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("SIGKILL n%d (leader of %s); n%d leads after %s; n%d restarted, all current after %s",
		old+1, stream, next+1, failover.Round(100*time.Millisecond), old+1, time.Since(start).Round(100*time.Millisecond)), nil
}

// partition cuts the node leading the submissions stream from the other
// two for d (its clients still reach it), then heals.
func (w *world) partition(ctx context.Context, d time.Duration) (string, error) {
	var cut int
	if err := waitFor(ctx, time.Minute, "a leader of ISEED_SUBMISSIONS", func() (err error) {
		cut, err = w.leader(ctx, "ISEED_SUBMISSIONS")
		return err
	}); err != nil {
		return "", err
	}
	others := slices.Delete(slices.Clone(natsAddrs), cut, cut+1)
	ns := w.nats[cut].ns
	if err := ns.nft(ctx, dropRules("chaos_cut", others)); err != nil {
		return "", err
	}
	start := time.Now()
	elected := "no new leader seen by the majority"
	watcher := (cut + 1) % len(natsAddrs) // on the majority side
	_ = waitFor(ctx, d, "a leader on the majority side", func() error {
		i, err := w.leaderSeenBy(ctx, watcher, "ISEED_SUBMISSIONS")
		if err != nil || i == cut {
			return fmt.Errorf("leader n%d (%v)", i+1, err)
		}
		elected = fmt.Sprintf("n%d leads after %s", i+1, time.Since(start).Round(100*time.Millisecond))
		return nil
	})
	if err := sleep(ctx, d-time.Since(start)); err != nil {
		return "", err
	}
	if err := ns.nft(ctx, "delete table inet chaos_cut\n"); err != nil {
		return "", err
	}
	healed := time.Now()
	if err := w.healthy(ctx, 3*time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("n%d cut from n%s for %s; %s; all current %s after healing", cut+1,
		strings.Join(nodeNames(others), ",n"), d, elected, time.Since(healed).Round(100*time.Millisecond)), nil
}

// cutIseed cuts iseed process i off from every NATS node for d (it still
// reaches the simulator), then heals and checks that it carries on.
func (w *world) cutIseed(ctx context.Context, i int, d time.Duration) (string, error) {
	other := w.iseed[1-i]
	before := redeliveriesHandled(other)
	ns := w.iseed[i].ns
	if err := ns.nft(ctx, dropRules("chaos_cut", natsAddrs)); err != nil {
		return "", err
	}
	if err := sleep(ctx, d); err != nil {
		return "", err
	}
	if err := ns.nft(ctx, "delete table inet chaos_cut\n"); err != nil {
		return "", err
	}
	if err := w.iseedAlive(ctx, i); err != nil {
		return "", err
	}
	return fmt.Sprintf("i%d cut from NATS for %s (AckWait %s); redelivered submissions %s handled meanwhile: %d",
		i+1, d, w.plan.AckWait, other.name, redeliveriesHandled(other)-before), nil
}

// stopIseed stops iseed process i (SIGSTOP) for d, then continues it.
func (w *world) stopIseed(ctx context.Context, i int, d time.Duration) (string, error) {
	other := w.iseed[1-i]
	before := redeliveriesHandled(other)
	if err := w.iseed[i].signal(syscall.SIGSTOP); err != nil {
		return "", err
	}
	err := sleep(ctx, d)
	if cerr := w.iseed[i].signal(syscall.SIGCONT); cerr != nil {
		return "", cerr
	}
	if err != nil {
		return "", err
	}
	if err := w.iseedAlive(ctx, i); err != nil {
		return "", err
	}
	return fmt.Sprintf("i%d stopped for %s (AckWait %s); redelivered submissions %s handled meanwhile: %d",
		i+1, d, w.plan.AckWait, other.name, redeliveriesHandled(other)-before), nil
}

// slowRoutes adds delay each way and drops loss % of the packets between
// the servers (not between clients and servers) for d.
func (w *world) slowRoutes(ctx context.Context, delay time.Duration, loss int, d time.Duration) (string, error) {
	for i, px := range w.proxies {
		others := slices.Delete(slices.Clone(natsAddrs), i, i+1)
		if err := w.nats[i].ns.nft(ctx, lossRules("chaos_loss", others, loss)); err != nil {
			return "", err
		}
		px.setDelay(delay)
	}
	err := sleep(ctx, d)
	for i, px := range w.proxies {
		px.setDelay(0)
		if derr := w.nats[i].ns.nft(ctx, "delete table inet chaos_loss\n"); derr != nil && err == nil {
			err = derr
		}
	}
	if err != nil {
		return "", err
	}
	healed := time.Now()
	if err := w.healthy(ctx, 3*time.Minute); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s delay each way and %d%% loss between the servers for %s; all current %s after",
		delay, loss, d, time.Since(healed).Round(100*time.Millisecond)), nil
}

// iseedAlive checks that iseed process i still runs and answers /readyz.
func (w *world) iseedAlive(ctx context.Context, i int) error {
	return waitFor(ctx, time.Minute, fmt.Sprintf("i%d ready again", i+1), func() error {
		if !w.iseed[i].running() {
			return stopWaiting(fmt.Errorf("i%d exited (%s); its log ends:\n%s", i+1, w.iseed[i].exitStatus(), w.iseed[i].tail(15)))
		}
		return w.get(ctx, "http://"+iseedAddrs[i]+":8080/readyz")
	})
}

// redeliveriesHandled counts the submissions p has processed on a
// redelivery (delivery count above 1), from its log: one line per outcome.
func redeliveriesHandled(p *proc) int {
	n := 0
	for _, l := range p.logLines() {
		if l.Message == "submission processed" && l.Delivered > 1 {
			n++
		}
	}
	return n
}

// leaderSeenBy is the leader of stream as node i sees it, from its
// monitoring endpoint (so that a node cut off from the rest is not asked).
func (w *world) leaderSeenBy(ctx context.Context, i int, stream string) (int, error) {
	var jsz struct {
		Accounts []struct {
			Streams []struct {
				Name    string `json:"name"`
				Cluster *struct {
					Leader string `json:"leader"`
				} `json:"cluster"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := w.getJSON(ctx, "http://"+natsAddrs[i]+":8222/jsz?accounts=true&streams=true", false, &jsz); err != nil {
		return -1, err
	}
	for _, a := range jsz.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream && s.Cluster != nil && s.Cluster.Leader != "" {
				return nodeIndex(s.Cluster.Leader)
			}
		}
	}
	return -1, fmt.Errorf("n%d sees no leader of %s", i+1, stream)
}

// dropRules is an nftables table that drops every packet to or from addrs.
func dropRules(table string, addrs []string) string {
	set := strings.Join(addrs, ", ")
	return fmt.Sprintf(`table inet %s {
  chain in { type filter hook input priority 0; policy accept; ip saddr { %s } drop; }
  chain out { type filter hook output priority 0; policy accept; ip daddr { %s } drop; }
}
`, table, set, set)
}

// lossRules drops loss % of the packets sent to addrs, at random.
func lossRules(table string, addrs []string, loss int) string {
	return fmt.Sprintf(`table inet %s {
  chain out { type filter hook output priority 0; policy accept; ip daddr { %s } numgen random mod 100 < %d drop; }
}
`, table, strings.Join(addrs, ", "), loss)
}

func nodeNames(addrs []string) []string {
	var out []string
	for _, a := range addrs {
		out = append(out, fmt.Sprint(slices.Index(natsAddrs, a)+1))
	}
	return out
}

// sleep waits d (a fault's length), or less if ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
