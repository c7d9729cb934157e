package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "gocloud.dev/blob/s3blob" // the soak reads the slot records in MinIO
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

// TestSoak is the scheduler's soak, run by hand (make soak, or
// GRAPHJOB_SOAK=10m): for that long, scheduler replicas are killed
// (SIGKILL or SIGTERM) and started again at random while schedules of each
// catch-up policy fire every few seconds, and a backfill overlaps the live
// schedule; then backfills over the days the clocks change in Berlin and Los
// Angeles are killed at random until they finish. Every slot must have run
// exactly once, as its policy says. GRAPHJOB_SOAK_SEED repeats a run's
// choices.
func TestSoak(t *testing.T) {
	soak, err := time.ParseDuration(os.Getenv("GRAPHJOB_SOAK"))
	if err != nil || soak <= 0 {
		t.Skip("the soak runs by hand: make soak, or GRAPHJOB_SOAK=10m")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("GRAPHJOB_SOAK_SEED"); s != "" {
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("GRAPHJOB_SOAK_SEED: %v", err)
		}
	}
	t.Logf("GRAPHJOB_SOAK_SEED=%d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	e := newSchedulerEnv(t, `  - name: all
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "@every 5s"
    catchup: {policy: all, window: 10m}
  - name: latest
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "*/3 * * * * *"
    catchup: {policy: latest}
  - name: none
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "@every 4s"
  - name: forbid
    graph: {configMap: graph-slow-REPLACE}
    schedule: "@every 5s"
    concurrencyPolicy: Forbid
  - name: berlin-fall
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "*/5 * * * *"
    timeZone: Europe/Berlin
    suspend: true
  - name: la-spring-skip
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "30 2 * * *"
    timeZone: America/Los_Angeles
    suspend: true
  - name: la-spring-shift
    graph: {configMap: graph-loop-4466561b5aef}
    schedule: "30 2 * * *"
    timeZone: America/Los_Angeles
    dst: {missing: shift}
    suspend: true
`)
	for _, kv := range e.storeEnv {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	store, err := checkpoints.Open(t.Context(), e.store, checkpoints.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	t.Run("replicas killed at random", func(t *testing.T) { soakLive(t, e, store, rng, soak) })
	t.Run("backfills over clock changes killed at random", func(t *testing.T) {
		for _, tt := range []struct {
			schedule, from, to string
			slots              int
		}{
			// 01:00 CEST to 04:00 CET: 02:00-02:55 come twice and run once.
			{"berlin-fall", "2026-10-24T23:00:00Z", "2026-10-25T03:00:00Z", 36},
			// 02:30 does not exist on 8 March: skipped, or run at 03:00 PDT.
			{"la-spring-skip", "2026-03-06T00:00:00Z", "2026-03-12T00:00:00Z", 5},
			{"la-spring-shift", "2026-03-06T00:00:00Z", "2026-03-12T00:00:00Z", 6},
		} {
			soakBackfill(t, e, store, rng, tt.schedule, tt.from, tt.to, tt.slots)
		}
	})
}

// fleet is the scheduler replicas of a soak: started, killed, and watched.
type fleet struct {
	e schedulerEnv
	n int

	mu      sync.Mutex
	live    map[string]*attempt
	stopped map[string]time.Time // when each stopped replica was signalled
	// dark holds the spans of time no live replica led, the last one
	// open (its end zero) while none does.
	dark []span
}

type span struct{ from, to time.Time }

func (f *fleet) start(t *testing.T) {
	f.n++
	name := fmt.Sprintf("replica-%d", f.n)
	a := f.e.replica(t, name, "")
	f.mu.Lock()
	f.live[name] = a
	f.mu.Unlock()
	t.Logf("%s started", name)
}

// kill stops a replica; it counts as gone from the signal on.
func (f *fleet) kill(t *testing.T, name string, sig syscall.Signal) {
	f.mu.Lock()
	a := f.live[name]
	delete(f.live, name)
	f.stopped[name] = time.Now()
	f.mu.Unlock()
	a.signal(t, sig)
	if !a.wait(30 * time.Second) {
		t.Errorf("%s still running 30 s after %v", name, sig)
		a.signal(t, syscall.SIGKILL)
		<-a.done
	}
	t.Logf("%s stopped (%v)", name, sig)
}

func (f *fleet) names() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for name := range f.live {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// watch records, every 100 ms until ctx ends, whether a live replica holds
// the Lease. A span without a leader starts when the last leader was
// signalled and ends when the next one acquired the Lease (its
// acquireTime), not when the watch saw either.
func (f *fleet) watch(ctx context.Context) {
	var last string // the last live holder seen
	for ctx.Err() == nil {
		l, err := cluster.client.CoordinationV1().Leases("default").Get(ctx, f.e.lease, metav1.GetOptions{})
		var holder string
		var acquired time.Time
		if err == nil && l.Spec.HolderIdentity != nil {
			holder = *l.Spec.HolderIdentity
			if l.Spec.AcquireTime != nil {
				acquired = l.Spec.AcquireTime.Time
			}
		}
		now := time.Now()
		f.mu.Lock()
		lit := f.live[holder] != nil
		open := len(f.dark) > 0 && f.dark[len(f.dark)-1].to.IsZero()
		switch {
		case !lit && !open:
			from := now
			if at, ok := f.stopped[last]; ok {
				from = at
			}
			f.dark = append(f.dark, span{from: from})
		case lit && open:
			to := now
			if d := &f.dark[len(f.dark)-1]; acquired.After(d.from) {
				to = acquired
			}
			f.dark[len(f.dark)-1].to = to
		}
		if lit {
			last = holder
		}
		f.mu.Unlock()
		time.Sleep(100 * time.Millisecond)
	}
}

// soakLive kills and starts replicas at random for d, then checks each
// schedule's slots against the spans no replica led.
func soakLive(t *testing.T, e schedulerEnv, store *checkpoints.Store, rng *rand.Rand, d time.Duration) {
	f := &fleet{e: e, live: map[string]*attempt{}, stopped: map[string]time.Time{}}
	begin := time.Now()
	f.start(t)
	f.start(t)
	ctx, stop := context.WithCancel(t.Context())
	var bg sync.WaitGroup
	bg.Go(func() { f.watch(ctx) })
	maxForbid := 0
	bg.Go(func() {
		for ctx.Err() == nil {
			// Not slotJobs: a failed List must not t.Fatal off the test's goroutine.
			jobs, err := cluster.client.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{LabelSelector: kube.LabelSchedule + "=forbid"})
			if err == nil {
				active := 0
				for _, j := range jobs.Items {
					if !jobFinished(&j) {
						active++
					}
				}
				maxForbid = max(maxForbid, active)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})

	kills, overlapped := 0, false
	for end := begin.Add(d); time.Now().Before(end); {
		time.Sleep(time.Duration(2000+rng.IntN(10000)) * time.Millisecond)
		live := f.names()
		if len(live) < 2 && (len(live) == 0 || rng.IntN(2) == 0) {
			f.start(t)
			continue
		}
		victim := live[rng.IntN(len(live))]
		if holder := leaseHolder(t, "default", e.lease); slices.Contains(live, holder) && rng.IntN(5) < 3 {
			victim = holder
		}
		sig := syscall.SIGKILL
		if rng.IntN(10) < 3 {
			sig = syscall.SIGTERM
		}
		f.kill(t, victim, sig)
		kills++
		if !overlapped && time.Since(begin) > d/2 {
			// A backfill over the live schedule's last 90 s, replicas
			// still killed meanwhile: it runs only what no replica did.
			overlapped = true
			to := time.Now().UTC().Truncate(time.Second)
			bg.Go(func() {
				bf := e.graphjob(t, "backfill", "all", "--config", e.config, "--kubeconfig", cluster.cp.Kubeconfig,
					"--from", to.Add(-90*time.Second).Format(time.RFC3339), "--to", to.Format(time.RFC3339), "--parallel", "3")
				if bf.code != 0 {
					t.Errorf("backfill over the live schedule: exit %d\n%s%s", bf.code, bf.stdout.String(), bf.stderr.String())
				} else {
					t.Logf("backfill over the live schedule:\n%s", bf.stdout.String())
				}
			})
		}
	}
	// One replica catches up on the last dark span, then all stop.
	if len(f.names()) == 0 {
		f.start(t)
	}
	time.Sleep(15 * time.Second)
	end := time.Now()
	for _, name := range f.names() {
		f.kill(t, name, syscall.SIGKILL)
	}
	stop()
	bg.Wait()
	t.Logf("%v: %d replicas started, %d killed; %d spans without a leader", end.Sub(begin).Round(time.Second), f.n, kills, len(f.dark))
	if maxForbid > 1 {
		t.Errorf("forbid: %d runs active at once", maxForbid)
	}

	// Every Job ends; a run ends once, succeeded.
	if err := wait.PollUntilContextTimeout(t.Context(), time.Second, 5*time.Minute, true, func(context.Context) (bool, error) {
		for _, s := range []string{"all", "latest", "none", "forbid"} {
			if _, active := slotJobs(t, e.ns, s); active > 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		t.Fatal("Jobs still running 5 minutes after the soak")
	}
	for _, s := range []string{"all", "latest", "none", "forbid"} {
		checkSoakSlots(t, e, store, f.dark, s, begin, end)
	}
}

// checkSoakSlots checks a schedule's slots in [begin, end): each claimed
// slot ran once, to success, or was skipped by concurrencyPolicy Forbid;
// none ran but claimed slots; and the slots no replica fired (in a span
// without a leader) ran as the schedule's catch-up policy says.
func checkSoakSlots(t *testing.T, e schedulerEnv, store *checkpoints.Store, dark []span, name string, begin, end time.Time) {
	t.Helper()
	entry := configEntry(t, e, name)
	claims, err := store.Slots(t.Context(), name, begin.Add(-time.Minute), end.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	jobs, _ := slotJobs(t, e.ns, name)
	claimed := map[time.Time]checkpoints.Slot{}
	ran := 0
	for _, c := range claims {
		claimed[c.Time] = c
		if c.Skipped != "" {
			if !strings.Contains(c.Skipped, "Forbid") {
				t.Errorf("%s: slot %v skipped: %s", name, c.Time, c.Skipped)
			}
			continue
		}
		ran++
		if !slices.ContainsFunc(jobs, c.Time.Equal) {
			t.Errorf("%s: slot %v claimed by %s, no Job", name, c.Time, c.By)
			continue
		}
		waitJob(t, e.ns, c.Run, batchv1.JobComplete, time.Second)
		if res, err := store.Result(t.Context(), c.Run); err != nil || res.Status != contract.Succeeded {
			t.Errorf("%s: run %s: result %+v, %v", name, c.Run, res, err)
		}
	}
	for _, j := range jobs {
		if c, ok := claimed[j]; !ok || c.Skipped != "" {
			t.Errorf("%s: a Job for slot %v, which is not claimed to run", name, j)
		}
	}
	if len(claims) == 0 {
		t.Fatalf("%s: no slot claimed", name)
	}
	// The slots from the first claimed to the soak's end, less 2 s for a
	// slot fired as the replicas stopped.
	var slots []time.Time
	for at := entry.Schedule.Next(claims[0].Time.Add(-time.Second)); at.Before(end.Add(-2 * time.Second)); at = entry.Schedule.Next(at) {
		slots = append(slots, at)
	}
	// slack covers a signal's delivery and a new leader's first steps. A
	// slot less than a second old when a leader starts is on time, not
	// missed: it runs under every policy.
	const slack = 300 * time.Millisecond
	missed := 0
	for _, at := range slots {
		if _, ok := claimed[at]; ok {
			continue
		}
		missed++
		if entry.Catchup.Policy == scheduler.CatchupAll {
			t.Errorf("%s (catch-up all): slot %v never claimed", name, at.Format(time.TimeOnly))
		}
		if !slices.ContainsFunc(dark, func(s span) bool { return s.contains(at, slack) }) {
			t.Errorf("%s: slot %v not claimed, though a replica led", name, at.Format(time.TimeOnly))
		}
	}
	// Inside a span without a leader: none runs nothing; latest runs the
	// last missed slot only.
	for _, s := range dark {
		var inside, ranInside []time.Time
		for _, at := range slots {
			if at.After(s.from.Add(slack)) && at.Before(s.to.Add(-time.Second-slack)) {
				inside = append(inside, at)
				if _, ok := claimed[at]; ok {
					ranInside = append(ranInside, at)
				}
			}
		}
		switch entry.Catchup.Policy {
		case "", scheduler.CatchupNone:
			if len(ranInside) > 0 {
				t.Errorf("%s (catch-up none): slots %v without a leader (%v) ran", name, ranInside, s)
			}
		case scheduler.CatchupLatest:
			if len(ranInside) > 1 || len(ranInside) == 1 && !ranInside[0].Equal(inside[len(inside)-1]) {
				t.Errorf("%s (catch-up latest): slots %v of %v without a leader (%v) ran, want the last only", name, ranInside, inside, s)
			}
		}
	}
	t.Logf("%s: %d slots, %d claimed (%d ran, %d skipped), %d missed without a leader", name, len(slots), len(claims), ran, len(claims)-ran, missed)
}

func (s span) contains(t time.Time, margin time.Duration) bool {
	return !t.Before(s.from.Add(-margin)) && (s.to.IsZero() || !t.After(s.to.Add(margin)))
}

func (s span) String() string {
	return s.from.Format("15:04:05.000") + "-" + s.to.Format("15:04:05.000")
}

// configEntry reads a schedule from the soak's configuration.
func configEntry(t *testing.T, e schedulerEnv, name string) *scheduler.Entry {
	t.Helper()
	cfg, err := scheduler.LoadConfig(e.config)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range cfg.Entries {
		if entry.Name == name {
			return entry
		}
	}
	t.Fatalf("no schedule %s in %s", name, e.config)
	return nil
}

// soakBackfill runs a backfill, killed at random (SIGKILL or SIGINT) and
// started again until one attempt finishes, and checks that it ran each slot of the dry run's
// plan once, to success, and nothing else.
func soakBackfill(t *testing.T, e schedulerEnv, store *checkpoints.Store, rng *rand.Rand, name, from, to string, want int) {
	args := []string{"backfill", name, "--config", e.config, "--kubeconfig", cluster.cp.Kubeconfig,
		"--from", from, "--to", to, "--parallel", "4", "-o", "json"}
	plan := backfillPlan(t, e, append(args, "--dry-run"))
	var runs []string
	for _, sl := range plan {
		if !sl.Skipped {
			runs = append(runs, sl.Run)
		}
	}
	if len(runs) != want {
		t.Errorf("%s: dry run plans %d slots, want %d:\n%+v", name, len(runs), want, plan)
	}
	// Killed after 0.3-3 s, up to 8 times, then left to finish.
	kills := 0
	for {
		a := startAttempt(t, e.storeEnv, args...)
		limit := time.Duration(300+rng.IntN(2700)) * time.Millisecond
		if kills == 8 {
			limit = 5 * time.Minute
		}
		if a.wait(limit) {
			if a.code != 0 {
				t.Fatalf("%s: backfill exit %d\n%s", name, a.code, a.stderr.String())
			}
			break
		}
		if kills == 8 {
			t.Fatalf("%s: backfill unfinished after 5 minutes", name)
		}
		sig := syscall.SIGKILL
		if rng.IntN(10) < 3 {
			sig = syscall.SIGINT
		}
		a.signal(t, sig)
		<-a.done
		kills++
	}
	// The backfill ends on the runs' results; their Jobs complete soon after.
	var (
		jobs   []time.Time
		active int
	)
	_ = wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		jobs, active = slotJobs(t, e.ns, name)
		return active == 0, nil
	})
	var got []string
	for _, j := range jobs {
		got = append(got, contract.Slot{Schedule: name, Time: j}.RunID())
	}
	slices.Sort(got)
	slices.Sort(runs)
	if !slices.Equal(got, runs) || active > 0 {
		t.Errorf("%s: Jobs %v (%d active), want %v, finished", name, got, active, runs)
	}
	for _, run := range runs {
		if res, err := store.Result(t.Context(), run); err != nil || res.Status != contract.Succeeded {
			t.Errorf("%s: run %s: result %+v, %v", name, run, res, err)
		}
	}
	for _, sl := range backfillPlan(t, e, args) {
		if sl.Started || !sl.Skipped && sl.Found != scheduler.SlotSucceeded {
			t.Errorf("%s: backfill again: %s found %s, started %v", name, sl.Run, sl.Found, sl.Started)
		}
	}
	t.Logf("%s: %d slots ran once, the backfill killed %d times", name, len(runs), kills)
}

func backfillPlan(t *testing.T, e schedulerEnv, args []string) []scheduler.BackfillSlot {
	t.Helper()
	bf := e.graphjob(t, args...)
	var plan []scheduler.BackfillSlot
	if err := json.Unmarshal(bf.stdout.Bytes(), &plan); bf.code != 0 || err != nil {
		t.Fatalf("%v: exit %d, %v\n%s", args, bf.code, err, bf.stderr.String())
	}
	return plan
}
