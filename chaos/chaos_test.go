//go:build chaos && linux

package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// plan sizes a run.
type plan struct {
	Submissions int
	AckWait     time.Duration // ISEED_ACK_WAIT and ISEED_TRACK_ACK_WAIT (default 60s and 2m)
	SimStep     time.Duration // iseed sim --step
	Partition   time.Duration // one server cut from the other two
	Cut         time.Duration // one iseed process cut from NATS (> AckWait)
	Stop        time.Duration // one iseed process SIGSTOPped (> AckWait)
	Slow        time.Duration // delay and loss between the servers
	Delay       time.Duration
	Loss        int           // percent
	PublishOver time.Duration // submissions are spread over this long
	Converge    time.Duration // after the faults, the longest wait for every submission to complete
	CLISample   int           // documents also fetched with `iseed document get`
}

var (
	fullPlan = plan{Submissions: 2000, AckWait: 20 * time.Second, SimStep: time.Second,
		Partition: 30 * time.Second, Cut: 35 * time.Second, Stop: 30 * time.Second, Slow: time.Minute,
		Delay: 200 * time.Millisecond, Loss: 5, PublishOver: 4 * time.Minute, Converge: 10 * time.Minute, CLISample: 100}
	shortPlan = plan{Submissions: 200, AckWait: 10 * time.Second, SimStep: time.Second,
		Partition: 15 * time.Second, Cut: 18 * time.Second, Stop: 15 * time.Second, Slow: 20 * time.Second,
		Delay: 200 * time.Millisecond, Loss: 5, PublishOver: 2 * time.Minute, Converge: 5 * time.Minute, CLISample: 40}
)

// TestChaos is the suite; docs/reliability.md says what it does and why.
// Environment: CHAOS_SUBMISSIONS and CHAOS_CLI_SAMPLE override the plan;
// CHAOS_RUN_ID names the run (.ci/chaos sets it, to clean up after a
// killed run); CHAOS_KEEP=1 keeps the logs of a passing run;
// CHAOS_ISEED_PATCH builds iseed with a patch applied and CHAOS_STAGGER
// starts the second iseed later: both are workarounds, not the suite.
func TestChaos(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and nftables")
	}
	for _, tool := range []string{"ip", "nft", "go", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found (apt-get install -y iproute2 nftables): %v", tool, err)
		}
	}
	p := planFromEnv(t)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	run := os.Getenv("CHAOS_RUN_ID")
	if run == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b)
		run = hex.EncodeToString(b)
	}
	if err := claimRun(run); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "iseed-chaos-"+run+"-")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, plan: p, dir: dir, bin: filepath.Join(dir, "bin")}
	t.Cleanup(func() {
		w.close()
		if t.Failed() || os.Getenv("CHAOS_KEEP") != "" {
			t.Logf("logs and stores kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	t.Logf("run %s: %d submissions, AckWait %s, logs in %s", run, p.Submissions, p.AckWait, dir)

	w.step("build nats-server, iseed", func() (string, error) {
		root, err := filepath.Abs("..")
		if err != nil {
			return "", err
		}
		return build(ctx, root, w.bin, os.Getenv("CHAOS_ISEED_PATCH"))
	})
	w.step("network namespaces", func() (string, error) {
		roles := [][2]string{{"ctl", ctlAddr}, {"sim", simAddr}}
		for i, a := range natsAddrs {
			roles = append(roles, [2]string{fmt.Sprintf("n%d", i+1), a})
		}
		for i, a := range iseedAddrs {
			roles = append(roles, [2]string{fmt.Sprintf("i%d", i+1), a})
		}
		w.net, err = newNetwork(ctx, run, roles)
		if err != nil {
			return "", err
		}
		w.ctl = w.net.ns("ctl")
		return fmt.Sprintf("%d namespaces on bridge %s", len(roles), w.net.bridge), nil
	})
	w.step("3 nats-server, R3", func() (string, error) { return "", w.startNATS(ctx) })
	w.step("iseed sim", func() (string, error) { return "", w.startSim(ctx) })
	w.step("2 iseed serve, together", func() (string, error) {
		stagger, _ := time.ParseDuration(os.Getenv("CHAOS_STAGGER"))
		note := "started at once"
		if stagger > 0 {
			note = "WORKAROUND: second started " + stagger.String() + " later"
		}
		return note, w.startIseed(ctx, stagger)
	})

	tally, stopTally, err := followEvents(ctx, w.js)
	if err != nil {
		t.Fatal(err)
	}
	pub := &feeder{js: w.js, n: p.Submissions, interval: p.PublishOver / time.Duration(p.Submissions)}
	pctx, cancelPub := context.WithCancel(ctx)
	published := make(chan error, 1)
	go func() { published <- pub.run(pctx) }() // owned: the cleanup below or the "publishing" phase waits
	t.Cleanup(func() {
		cancelPub()
		<-published
		stopTally()
	})

	w.step("warm-up", func() (string, error) {
		want := max(1, p.Submissions/50)
		return "", waitFor(ctx, 2*time.Minute, fmt.Sprintf("%d submissions completed", want), func() error {
			if n, _, _ := tally.counts(); n < want {
				return fmt.Errorf("%d completed", n)
			}
			return nil
		})
	})
	w.step("kill submissions leader", func() (string, error) { return w.killLeader(ctx, "ISEED_SUBMISSIONS") })
	w.step("kill records-bucket leader", func() (string, error) { return w.killLeader(ctx, "KV_iseed_submissions") })
	w.step("minority partition", func() (string, error) { return w.partition(ctx, p.Partition) })
	w.step("cut i1 off from NATS", func() (string, error) { return w.cutIseed(ctx, 0, p.Cut) })
	w.step("SIGSTOP i2", func() (string, error) { return w.stopIseed(ctx, 1, p.Stop) })
	w.step("slow, lossy routes", func() (string, error) { return w.slowRoutes(ctx, p.Delay, p.Loss, p.Slow) })
	w.step("publishing ends", func() (string, error) {
		err := <-published
		published <- err // for the cleanup
		return fmt.Sprintf("%d messages, %d retried publishes", pub.messages.Load(), pub.retries.Load()), err
	})
	f := &figures{submissions: p.Submissions, messages: int(pub.messages.Load()), publishRetries: int(pub.retries.Load())}
	w.step("every submission completes", func() (string, error) {
		note, err := w.converge(ctx, tally, p)
		if err != nil && ctx.Err() == nil {
			f.problem("not every submission completed: %v", err) // verify says which and how far each got
			return note + "; NOT CONVERGED", nil
		}
		return note, err
	})
	w.step("verify", func() (string, error) { return "", w.verify(ctx, f, p) })
	t.Logf("figures:\n%s", w.report(f))
	for i, pr := range f.problems {
		if i == 30 {
			t.Errorf("… and %d more problems", len(f.problems)-30)
			break
		}
		t.Error(pr)
	}
}

func planFromEnv(t *testing.T) plan {
	p := fullPlan
	if testing.Short() {
		p = shortPlan
	}
	for k, v := range map[string]*int{"CHAOS_SUBMISSIONS": &p.Submissions, "CHAOS_CLI_SAMPLE": &p.CLISample} {
		if s := os.Getenv(k); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				t.Fatalf("%s=%q: want a number", k, s)
			}
			*v = n
		}
	}
	if p.Submissions < 1 {
		t.Fatal("CHAOS_SUBMISSIONS must be at least 1")
	}
	return p
}

// converge waits until every submission has ended (its completed event, or
// failed, cancelled or rejected) and the submitter consumer has nothing
// left, reporting progress; a submission that ended otherwise than
// completed is an error (verify says which and why).
func (w *world) converge(ctx context.Context, tally *liveTally, p plan) (string, error) {
	start, last := time.Now(), time.Now()
	err := waitFor(ctx, p.Converge, "every submission completed", func() error {
		for _, pr := range w.iseed {
			if !pr.running() {
				return stopWaiting(fmt.Errorf("%s exited (%s); its log ends:\n%s", pr.name, pr.exitStatus(), pr.tail(15)))
			}
		}
		done, ended, events := tally.counts()
		if time.Since(last) > 15*time.Second {
			w.t.Logf("  %d/%d completed, %d ended otherwise, %d events", done, p.Submissions, ended-done, events)
			last = time.Now()
		}
		if ended < p.Submissions {
			return fmt.Errorf("%d/%d completed, %d ended otherwise", done, p.Submissions, ended-done)
		}
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		c, err := w.js.Consumer(actx, "ISEED_SUBMISSIONS", "submitter")
		if err != nil {
			return err
		}
		if ci := c.CachedInfo(); ci.NumPending != 0 || ci.NumAckPending != 0 {
			return fmt.Errorf("submitter: %d pending, %d unacknowledged", ci.NumPending, ci.NumAckPending)
		}
		return nil
	})
	if done, _, _ := tally.counts(); err == nil && done < p.Submissions {
		err = fmt.Errorf("%d of %d submissions ended without completing", p.Submissions-done, p.Submissions)
	}
	return fmt.Sprintf("%s after the last fault", time.Since(start).Round(100*time.Millisecond)), err
}

// verify runs every check, filling f.
func (w *world) verify(ctx context.Context, f *figures, p plan) error {
	upstream, err := w.checkUpstream(ctx, f)
	if err != nil {
		return err
	}
	recs, err := w.checkRecords(ctx, f, upstream)
	if err != nil {
		return err
	}
	if err := w.checkEvents(ctx, f, recs); err != nil {
		return err
	}
	if err := w.checkQueues(ctx, f); err != nil {
		return err
	}
	w.checkCLI(ctx, f, recs, p.CLISample)
	w.checkLogs(f)
	if want := f.submissions + duplicates(f.submissions); f.messages != want {
		f.problem("published %d messages, want %d", f.messages, want)
	}
	return nil
}
