package scheduler_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/scheduler"
)

// timedLauncher records when each run was launched, in real time.
type timedLauncher struct {
	mu sync.Mutex
	at []time.Time
}

func (l *timedLauncher) Launch(context.Context, *scheduler.Entry, time.Time, string) error {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at = append(l.at, now)
	return nil
}
func (l *timedLauncher) Active(context.Context, *scheduler.Entry) ([]string, error) { return nil, nil }
func (l *timedLauncher) Stop(context.Context, *scheduler.Entry, string) error       { return nil }

// BenchmarkTenThousandSchedules: 10,000 schedules due in the same second.
// Firing lag is from the moment the clock reaches the slot to each run's
// launch (its slot claimed in the store); heap is the scheduler's live heap
// with the 10,000 schedules loaded and waiting; start is the time to start
// them (each schedule's first sighting recorded, its claimed slots listed).
func BenchmarkTenThousandSchedules(b *testing.B) {
	for _, backend := range []string{"mem", "file"} {
		b.Run(backend, func(b *testing.B) {
			const n = 10000
			var p50, p99, heapMiB, startS float64
			for range b.N {
				// file:// as the scheduler opens it: create-only across
				// processes, each claim synced to disk. The default workers.
				store, err := checkpoints.Open(b.Context(), "mem://", checkpoints.Options{})
				if backend == "file" {
					store, err = checkpoints.Open(b.Context(), "file://"+b.TempDir(), checkpoints.Options{})
				}
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
				clk := newFakeClock(t0)
				entries := make([]*scheduler.Entry, n)
				for i := range entries {
					s, err := scheduler.Parse("*/10 * * * * *", "Europe/Berlin", scheduler.MissingSkip)
					if err != nil {
						b.Fatal(err)
					}
					entries[i] = &scheduler.Entry{Name: fmt.Sprintf("s%05d", i), Schedule: s}
				}
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				l := &timedLauncher{}
				s := &scheduler.Scheduler{Store: store, Launch: l, Clock: clk.view()}
				ctx, cancel := context.WithCancel(b.Context())
				done := make(chan struct{})
				started := time.Now()
				s.Set(entries)
				go func() { defer close(done); _ = s.Run(ctx, nil) }()
				for !s.Waiting(clk.Now()) {
					time.Sleep(time.Millisecond)
				}
				startS = time.Since(started).Seconds()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				heapMiB = float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc)) / (1 << 20)

				due := time.Now()
				clk.Step(10 * time.Second)
				for {
					l.mu.Lock()
					got := len(l.at)
					l.mu.Unlock()
					if got == n {
						break
					}
					time.Sleep(time.Millisecond)
				}
				cancel()
				<-done
				lags := make([]time.Duration, n)
				for i, at := range l.at {
					lags[i] = at.Sub(due)
				}
				slices.Sort(lags)
				p50, p99 = lags[n/2].Seconds()*1000, lags[n*99/100].Seconds()*1000
				store.Close()
			}
			b.ReportMetric(p50, "lag-p50-ms")
			b.ReportMetric(p99, "lag-p99-ms")
			b.ReportMetric(heapMiB, "heap-MiB")
			b.ReportMetric(startS, "start-s")
		})
	}
}
