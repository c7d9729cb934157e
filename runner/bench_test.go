package runner_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"gocloud.dev/blob/memblob"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/runner"
)

// counter is a graph of one node that loops n times: a superstep per turn.
func counter(b *testing.B, n int) *graph.Graph[loopState] {
	g := graph.New[loopState]()
	if err := g.AddNode("work", func(_ context.Context, s loopState) (graph.Update, error) {
		return graph.Update{"step": s.Step + 1}, nil
	}); err != nil {
		b.Fatal(err)
	}
	_ = g.SetEntryPoint("work")
	_ = g.AddConditionalEdges("work", func(_ context.Context, s loopState) ([]string, error) {
		if s.Step >= n {
			return []string{graph.END}, nil
		}
		return []string{"work"}, nil
	}, "work", graph.END)
	c, err := g.Compile()
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkSuperstep measures the cost of one superstep of a run with no
// store, and committed to mem and file stores in each durability mode.
func BenchmarkSuperstep(b *testing.B) {
	const steps = 200
	g := counter(b, steps)
	b.Run("no-store", func(b *testing.B) {
		for b.Loop() {
			if _, err := g.Invoke(b.Context(), loopState{}, graph.WithRecursionLimit(steps+1)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
	})
	b.Run("bare-fsync", func(b *testing.B) { benchBareWrite(b, g, steps) })
	for _, store := range []string{"mem", "file"} {
		for _, mode := range []runner.Durability{runner.Sync, runner.Async, runner.Exit} {
			b.Run(fmt.Sprintf("%s-%s", store, mode), func(b *testing.B) {
				benchRun(b, func() *checkpoints.Store {
					if store == "mem" {
						return checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{})
					}
					s, err := checkpoints.Open(b.Context(), "file://"+b.TempDir(), checkpoints.Options{})
					if err != nil {
						b.Fatal(err)
					}
					return s
				}, mode)
			})
		}
	}
}

// benchRun runs the counter for 200 supersteps per iteration, a new run
// each time, and reports the time per superstep.
func benchRun(b *testing.B, open func() *checkpoints.Store, mode runner.Durability) {
	const steps = 200
	g := counter(b, steps)
	s := open()
	i := 0
	for b.Loop() {
		o := options(s, mode)
		o.ID = fmt.Sprint("bench-", i)
		o.RunOptions = []graph.RunOption{graph.WithRecursionLimit(steps + 1)}
		i++
		if _, err := runner.Run(b.Context(), g, loopState{}, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
}

// benchBareWrite is the yardstick for a file store: per superstep, one new
// file holding the bytes a committed step writes, synced, and its directory
// synced (what makes a new file durable), with no graph and no store.
func benchBareWrite(b *testing.B, g *graph.Graph[loopState], steps int) {
	var written atomic.Int64
	s := checkpoints.New(memblob.OpenBucket(nil), checkpoints.Options{BeforeWrite: func(_ string, n int64) error {
		written.Add(n)
		return nil
	}})
	o := options(s, runner.Sync)
	o.RunOptions = []graph.RunOption{graph.WithRecursionLimit(steps + 1)}
	if _, err := runner.Run(b.Context(), g, loopState{}, o); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, written.Load()/int64(steps+1))
	dir := b.TempDir()
	i := 0
	for b.Loop() {
		for range steps {
			i++
			if err := writeSynced(filepath.Join(dir, fmt.Sprint(i)), data); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
	b.ReportMetric(float64(len(data)), "bytes/step")
}

func writeSynced(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Sync(); err != nil {
		return errors.Join(err, f.Close())
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}
