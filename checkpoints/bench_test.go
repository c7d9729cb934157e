package checkpoints_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
	"github.com/graphjob/graphjob/graph"
)

// benchStores opens a mem and a file store for each benchmark.
func benchStores(b *testing.B, opts checkpoints.Options) map[string]*checkpoints.Store {
	file, err := checkpoints.Open(b.Context(), "file://"+b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = file.Close() })
	return map[string]*checkpoints.Store{"mem": checkpoints.New(memblob.OpenBucket(nil), opts), "file": file}
}

// BenchmarkCommit measures the commit of one step of a 1 KiB state whose
// channels all change, on mem and file.
func BenchmarkCommit(b *testing.B) {
	for _, name := range []string{"mem", "file"} {
		b.Run(name, func(b *testing.B) {
			storetest.BenchmarkCommit(b, benchStores(b, checkpoints.Options{})[name])
		})
	}
}

// BenchmarkBytesPerStep measures what a step writes when a 1 MiB channel
// never changes and a small counter does.
func BenchmarkBytesPerStep(b *testing.B) {
	var written atomic.Int64
	s := benchStores(b, checkpoints.Options{BeforeWrite: func(_ string, n int64) error { written.Add(n); return nil }})["mem"]
	big := strings.Repeat("x", 1<<20)
	cp := func(i int) graph.Checkpoint {
		return graph.Checkpoint{Step: i, Values: map[string]any{"big": big, "count": int64(i)},
			Versions: map[string]uint64{"big": 1, "count": uint64(i + 1)}, Next: []graph.Task{{Node: "work"}}}
	}
	parent, err := s.Commit(b.Context(), "run", nil, cp(0))
	if err != nil {
		b.Fatal(err)
	}
	written.Store(0)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		if parent, err = s.Commit(b.Context(), "run", parent, cp(i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(written.Load())/float64(b.N), "bytes/step")
}

// BenchmarkLoadLatest measures loading the latest step of a run with a long
// history, before and after retention keeps the last 10 steps.
func BenchmarkLoadLatest(b *testing.B) {
	for _, name := range []string{"mem", "file"} {
		for _, steps := range []int{100, 10_000} {
			s := benchStores(b, checkpoints.Options{})[name]
			commitMany(b, s, steps)
			for _, retained := range []bool{false, true} {
				if retained {
					if _, err := s.Retain(b.Context(), "run", 10); err != nil {
						b.Fatal(err)
					}
				}
				b.Run(fmt.Sprintf("%s/steps=%d/retained=%v", name, steps, retained), func(b *testing.B) {
					for b.Loop() {
						if _, err := s.Latest(b.Context(), "run"); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}

// commitMany commits steps 0..n-1 of a small run.
func commitMany(b *testing.B, s *checkpoints.Store, n int) {
	var parent *checkpoints.Step
	ctx := context.Background()
	for i := range n {
		cp := graph.Checkpoint{Step: i, Values: map[string]any{"count": int64(i), "label": "nightly"},
			Versions: map[string]uint64{"count": uint64(i + 1), "label": 1}, Next: []graph.Task{{Node: "work"}}}
		var err error
		if parent, err = s.Commit(ctx, "run", parent, cp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoad64MiB measures loading a 64 MiB state (8 channels, each a
// list of 1 KiB strings). The reported alloc/state is the bytes allocated per
// byte of state: an upper bound on the peak memory the load needs.
func BenchmarkLoad64MiB(b *testing.B) {
	const size = 64 << 20
	s := benchStores(b, checkpoints.Options{})["mem"]
	values, versions := map[string]any{}, map[string]uint64{}
	row := strings.Repeat("r", 1020)
	for c := range 8 {
		list := make([]any, size/8/1024)
		for i := range list {
			list[i] = row
		}
		values[fmt.Sprint("part", c)], versions[fmt.Sprint("part", c)] = list, 1
	}
	if _, err := s.Commit(b.Context(), "run", nil, graph.Checkpoint{Values: values, Versions: versions}); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	var before, after runtime.MemStats
	b.ResetTimer()
	for b.Loop() {
		runtime.ReadMemStats(&before)
		if _, err := s.Latest(b.Context(), "run"); err != nil {
			b.Fatal(err)
		}
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/size, "alloc/state")
}

// BenchmarkResumeManyWrites measures reading the pending writes of a step
// of 20,000 finished tasks (a wide map stopped in its middle), as a resume
// does, on the file store: one walk of the directory, then one read each.
func BenchmarkResumeManyWrites(b *testing.B) {
	const n = 20_000
	s := benchStores(b, checkpoints.Options{})["file"]
	ctx := b.Context()
	for i := range n {
		w := checkpoints.Write{Step: 1, Index: i, Task: graph.Task{Node: "fan", Item: int64(i), HasItem: true}, Update: graph.Update{"out": int64(i)}}
		if err := s.PutWrite(ctx, "run", w); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		writes, err := s.Writes(ctx, "run", 1)
		if err != nil || len(writes) != n {
			b.Fatalf("%d writes, %v", len(writes), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/resume")
}

// BenchmarkAppendChannel grows a list by one 1 KiB item a step (a chat's
// messages) to 10, 1,000 and 10,000 items, the store told the step only
// appended (parts) or not (whole): it reports the bytes a step wrote, on
// average, and measures loading the latest step.
func BenchmarkAppendChannel(b *testing.B) {
	item := strings.Repeat("m", 1020)
	for _, mode := range []string{"parts", "whole"} {
		for _, n := range []int{10, 1_000, 10_000} {
			if mode == "whole" && n > 1_000 {
				continue // 50 GB written; the figure at 1,000 says enough
			}
			var written atomic.Int64
			s := benchStores(b, checkpoints.Options{BeforeWrite: func(_ string, n int64) error { written.Add(n); return nil }})["file"]
			var parent *checkpoints.Step
			var list []any
			for i := range n {
				list = append(list[:len(list):len(list)], item)
				cp := graph.Checkpoint{Step: i, Values: map[string]any{"messages": list}, Versions: map[string]uint64{"messages": uint64(i + 1)}}
				if i > 0 && mode == "parts" {
					cp.Appended = map[string]int{"messages": 1}
				}
				var err error
				if parent, err = s.Commit(b.Context(), "run", parent, cp); err != nil {
					b.Fatal(err)
				}
			}
			b.Run(fmt.Sprintf("%s/items=%d", mode, n), func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Latest(b.Context(), "run"); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(written.Load())/float64(n), "bytes/step")
				b.ReportMetric(float64(len(parent.Channels["messages"].Parts)), "parts")
			})
		}
	}
}
