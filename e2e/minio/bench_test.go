package minio_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/checkpoints/storetest"
	"github.com/graphjob/graphjob/e2e/minio"
	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/runner"
)

// benchStore starts MinIO for a benchmark and opens a store on a bucket.
func benchStore(b *testing.B) *checkpoints.Store {
	s := minio.StartForTest(b)
	if err := s.CreateBucket(b.Context(), "bench"); err != nil {
		b.Fatal(err)
	}
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	st, err := checkpoints.Open(b.Context(), s.URL("bench"), checkpoints.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	return st
}

// BenchmarkCommit measures the commit of one step of a 1 KiB state on MinIO.
func BenchmarkCommit(b *testing.B) {
	storetest.BenchmarkCommit(b, benchStore(b))
}

// BenchmarkSuperstep measures a superstep of a one-node loop run by the
// runner against MinIO, committed sync and async, with a node that returns at
// once and with one that works for 20 ms: async commits while the next step
// works, so its step costs the node's 20 ms alone.
func BenchmarkSuperstep(b *testing.B) {
	st := benchStore(b)
	for _, work := range []time.Duration{0, 20 * time.Millisecond} {
		for _, mode := range []runner.Durability{runner.Sync, runner.Async} {
			b.Run(fmt.Sprintf("node=%s/%s", work, mode), func(b *testing.B) { benchSuperstep(b, st, work, mode) })
		}
	}
}

func benchSuperstep(b *testing.B, st *checkpoints.Store, work time.Duration, mode runner.Durability) {
	const steps = 50
	type state struct {
		N int `json:"n"`
	}
	gb := graph.New[state]()
	_ = gb.AddNode("work", func(_ context.Context, s state) (graph.Update, error) {
		time.Sleep(work)
		return graph.Update{"n": s.N + 1}, nil
	})
	_ = gb.SetEntryPoint("work")
	_ = gb.AddConditionalEdges("work", func(_ context.Context, s state) ([]string, error) {
		if s.N >= steps {
			return []string{graph.END}, nil
		}
		return []string{"work"}, nil
	}, "work", graph.END)
	g, err := gb.Compile()
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		_, err := runner.Run(b.Context(), g, state{}, runner.Options{Store: st, ID: fmt.Sprint(mode, "-", work.Milliseconds(), "-", i, "-", time.Now().UnixNano()), Durability: mode,
			Log: zerolog.Nop(), RunOptions: []graph.RunOption{graph.WithRecursionLimit(steps + 1)}})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*steps), "ns/step")
}
