package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-logr/zerologr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

type schedulerFlags struct {
	kube          kubeFlags
	config        string
	listen        string
	image         string
	leaderElect   bool
	leaseName     string
	leaseDuration time.Duration
	qps           float32
	burst         int
	workers       int
}

func newSchedulerCmd(g *globals) *cobra.Command {
	var f schedulerFlags
	cmd := &cobra.Command{
		Use:   "scheduler --config FILE",
		Short: "Start a Job for each slot of the schedules in a configuration file",
		Long: `scheduler starts one Job per slot (schedule, time) of the schedules in its
configuration file, catches up on slots missed while it was down, and never
starts a slot twice: each slot is claimed in the store before its Job is made.
The file is read again when it changes; a schedule with a mistake is reported
(log, Event, metric) and the others run.

Replicas elect a leader with a Lease, which fires the slots; the others wait.
It serves /metrics, /healthz and /readyz on --listen. See docs/scheduling.md.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), g)
		},
	}
	f.kube.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.config, "config", "", "the configuration file (required)")
	fl.StringVar(&f.listen, "listen", ":8080", "address of /metrics, /healthz and /readyz; empty for none")
	fl.StringVar(&f.image, "image", defaultImage(), "graphjob's image for Jobs whose schedule names none")
	fl.BoolVar(&f.leaderElect, "leader-elect", true, "elect a leader among replicas with a Lease; off, this replica fires the slots (still each once)")
	fl.StringVar(&f.leaseName, "lease", "graphjob-scheduler", "the Lease's name, in the scheduler's namespace")
	fl.DurationVar(&f.leaseDuration, "lease-duration", 15*time.Second, "how long a leader's Lease lasts unrenewed: the longest wait for a replica to take over")
	fl.Float32Var(&f.qps, "kube-api-qps", 200, "requests per second to the API server")
	fl.IntVar(&f.burst, "kube-api-burst", 400, "requests in a burst to the API server")
	fl.IntVar(&f.workers, "workers", scheduler.DefaultWorkers, "slots fired at once (one schedule's slots fire in order)")
	return cmd
}

func (f *schedulerFlags) run(ctx context.Context, g *globals) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	if f.config == "" {
		return usageError{errors.New("--config is required"), "graphjob scheduler"}
	}
	klog.SetLogger(zerologr.New(&log))
	cfg, ns, err := f.kube.config()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst, cfg.Timeout = f.qps, f.burst, 30*time.Second
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	server, err := kube.ServerVersion(client)
	if err != nil {
		return err
	}
	identity := os.Getenv("GRAPHJOB_POD_NAME")
	if identity == "" {
		identity, _ = os.Hostname()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	defer broadcaster.Shutdown()
	d := &scheduler.Daemon{
		Path: f.config, Namespace: ns, By: "scheduler/" + identity, Workers: f.workers,
		Launch: &scheduler.Jobs{
			Client: client, Server: server, Image: f.image,
			Read: readGraph, Describe: describeGraph,
		},
		Metrics: scheduler.NewMetrics(reg),
		Events: &schedulerEvents{
			log:      log,
			recorder: broadcaster.NewRecorder(scheme.Scheme, "graphjob-scheduler"),
			pod:      &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: identity},
		},
	}
	if err := d.Load(ctx); err != nil {
		return usagef("%w", err)
	}
	defer d.Close()
	go d.Watch(ctx)
	if f.listen != "" {
		if err := serve(ctx, log, f.listen, reg, d.Ready); err != nil {
			return err
		}
	}
	if !f.leaderElect {
		d.Metrics.Leader(true)
		d.Lead(ctx)
		return nil
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Name: f.leaseName, Namespace: ns},
			Client:     client.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: identity},
		},
		Name:            f.leaseName,
		LeaseDuration:   f.leaseDuration,
		RenewDeadline:   f.leaseDuration * 2 / 3,
		RetryPeriod:     f.leaseDuration / 5,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(ctx context.Context) {
				log.Info().Str("identity", identity).Msg("leading: firing slots")
				d.Metrics.Leader(true)
				d.Lead(ctx)
			},
			OnStoppedLeading: func() {
				d.Metrics.Leader(false)
				log.Info().Str("identity", identity).Msg("not leading")
			},
			OnNewLeader: func(id string) {
				if id != identity {
					log.Info().Str("leader", id).Msg("another replica leads")
				}
			},
		},
	})
	if err != nil {
		return usagef("--lease-duration %v: %w", f.leaseDuration, err)
	}
	for ctx.Err() == nil {
		elector.Run(ctx) // returns when leadership is lost
	}
	return nil
}

// serve starts the HTTP endpoints: /metrics, /healthz (the process
// answers), /readyz (ready).
func serve(ctx context.Context, log zerolog.Logger, addr string, reg *prometheus.Registry, ready func() bool) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return usagef("--listen %s: %w", addr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info().Str("listen", ln.Addr().String()).Msg("serving /metrics, /healthz, /readyz")
	return nil
}

// schedulerEvents logs the scheduler's events, and records the notable ones
// (warnings, skipped slots) on the scheduler's Pod, where kubectl describe
// and kubectl events show them.
type schedulerEvents struct {
	log      zerolog.Logger
	recorder events.EventRecorder
	pod      *corev1.ObjectReference
}

func (p *schedulerEvents) Event(ev scheduler.Event) {
	l := p.log.Info()
	if ev.Warning {
		l = p.log.Warn()
	}
	if ev.Schedule != "" {
		l = l.Str("schedule", ev.Schedule)
	}
	if !ev.Slot.IsZero() {
		l = l.Time("slot", ev.Slot).Str("run_id", ev.RunID)
	}
	l.Str("reason", ev.Reason).Err(ev.Err).Msg(ev.Message)
	if !ev.Warning && ev.Reason != scheduler.ReasonSlotSkipped {
		return
	}
	typ := corev1.EventTypeNormal
	if ev.Warning {
		typ = corev1.EventTypeWarning
	}
	msg := ev.Message
	if !ev.Slot.IsZero() {
		msg = "slot " + ev.Slot.UTC().Format(time.RFC3339) + ": " + msg
	}
	if ev.Schedule != "" {
		msg = "schedule " + ev.Schedule + ": " + msg
	}
	if ev.Err != nil {
		msg += ": " + ev.Err.Error()
	}
	if len(msg) > 1000 { // an Event's note holds 1 kB; cut between characters
		msg = strings.ToValidUTF8(msg[:1000], "")
	}
	p.recorder.Eventf(p.pod, nil, typ, ev.Reason, "Schedule", "%s", msg)
}
