package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

// BenchmarkJobsCreated measures the Jobs per second the scheduler's
// launcher creates against the real API server, with the scheduler's
// default workers and client rate (200 QPS, burst 400). A quota of zero
// pods keeps the Job controller from starting them: this measures the
// creation alone.
func BenchmarkJobsCreated(b *testing.B) {
	ctx := b.Context()
	ns := fmt.Sprintf("bench-%d", time.Now().UnixNano()%1e9)
	if _, err := cluster.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cluster.client.CoreV1().Namespaces().Delete(context.WithoutCancel(ctx), ns, metav1.DeleteOptions{})
	})
	if _, err := cluster.client.CoreV1().ResourceQuotas(ns).Create(ctx, &corev1.ResourceQuota{
		ObjectMeta: metav1.ObjectMeta{Name: "no-pods"},
		Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}},
	}, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	cfg := *cluster.cp.Config
	cfg.QPS, cfg.Burst = 200, 400
	cfg.ContentType = "application/vnd.kubernetes.protobuf" // as graphjob's commands
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		b.Fatal(err)
	}
	s, err := scheduler.Parse("@every 1s", "UTC", scheduler.MissingSkip)
	if err != nil {
		b.Fatal(err)
	}
	e := &scheduler.Entry{Name: "bench", Schedule: s, Graph: scheduler.GraphRef{URL: "s3://graphs/loop.yaml"}}
	e.Job = kube.Template{Namespace: ns, Store: "s3://runs", Schedule: "bench"}
	jobs := &scheduler.Jobs{Client: client, Image: graphjobImage,
		Read:     func(context.Context, string) ([]byte, error) { return nil, nil },
		Describe: func([]byte) (string, string, error) { return "loop", "sha256:4466561b5aef", nil },
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// create makes Jobs for slots [from, to) on the scheduler's workers.
	create := func(from, to int) {
		var (
			next = from
			mu   sync.Mutex
			wg   sync.WaitGroup
		)
		for range scheduler.DefaultWorkers {
			wg.Go(func() {
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= to {
						return
					}
					slot := t0.Add(time.Duration(i) * time.Second)
					if err := jobs.Launch(ctx, e, slot, contract.Slot{Schedule: "bench", Time: slot}.RunID()); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	// The first Jobs on a control plane just started are made at a third of
	// the later rate (80-100/s here, against 240-330/s): warm it up, so the
	// figure is the steady rate.
	const warmup = 500
	create(0, warmup)
	b.ResetTimer()
	start := time.Now()
	create(warmup, warmup+b.N)
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "jobs/s")
}
