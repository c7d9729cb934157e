package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
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

	"github.com/graphjob/graphjob/checkpoints"
	"github.com/graphjob/graphjob/kube"
	"github.com/graphjob/graphjob/scheduler"
)

// reloadEvery is how often the scheduler looks for a changed configuration
// file. Polling, rather than file events, sees a mounted ConfigMap's update
// (a swapped symlink) like any other edit.
const reloadEvery = 2 * time.Second

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
	d := &daemon{
		log: log, path: f.config, namespace: ns, changed: make(chan struct{}, 1),
		metrics: scheduler.NewMetrics(reg),
		jobs: &scheduler.Jobs{
			Client: client, Server: server, Image: f.image,
			Read: readGraph, Describe: describeGraph,
		},
		by: "scheduler/" + identity, workers: f.workers,
	}
	broadcaster := events.NewBroadcaster(&events.EventSinkImpl{Interface: client.EventsV1()})
	if err := broadcaster.StartRecordingToSinkWithContext(ctx); err != nil {
		return err
	}
	defer broadcaster.Shutdown()
	d.events = &podEvents{
		recorder: broadcaster.NewRecorder(scheme.Scheme, "graphjob-scheduler"),
		pod:      &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: identity},
	}
	if err := d.load(ctx); err != nil {
		return err
	}
	defer d.close()
	go d.watch(ctx)
	if f.listen != "" {
		if err := d.serve(ctx, f.listen, reg); err != nil {
			return err
		}
	}
	if !f.leaderElect {
		d.metrics.Leader(true)
		d.lead(ctx)
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
				d.metrics.Leader(true)
				d.lead(ctx)
			},
			OnStoppedLeading: func() {
				d.metrics.Leader(false)
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

// daemon is a running scheduler: its configuration, reloaded on change, and
// the loop that fires its slots while it leads.
type daemon struct {
	log       zerolog.Logger
	path      string
	namespace string // the Jobs' namespace when the file names none
	jobs      *scheduler.Jobs
	metrics   *scheduler.Metrics
	events    *podEvents
	by        string
	workers   int

	mu      sync.Mutex
	data    []byte
	storeAt string
	store   *checkpoints.Store
	entries []*scheduler.Entry
	changed chan struct{}
	ready   atomic.Bool
}

// load reads the configuration file if it changed. A file that cannot be
// used leaves the previous configuration running (at start, it is the
// error); a bad schedule is reported and left out.
func (d *daemon) load(ctx context.Context) error {
	data, err := os.ReadFile(d.path)
	if err == nil && bytes.Equal(data, d.data) {
		return nil
	}
	var cfg *scheduler.Config
	if err == nil {
		cfg, err = scheduler.ParseConfig(d.path, data)
	}
	if err != nil {
		if d.data != nil {
			d.log.Error().Err(err).Msg("configuration not reloaded: the previous one still runs")
			d.events.Event("", true, "ConfigInvalid", err.Error())
			d.data = data
		}
		return usagef("%w", err)
	}
	d.data = data
	for _, ee := range cfg.Invalid {
		d.events.Event(ee.Schedule, true, "ScheduleInvalid", fmt.Sprintf("%s:%d: %v", ee.File, ee.Line, ee.Err))
		d.log.Error().Err(ee).Msg("schedule left out")
	}
	entries, invalid, suspended := cfg.Entries, len(cfg.Invalid), 0
	for _, e := range entries {
		if e.Run.Namespace == "" {
			e.Run.Namespace = d.namespace
		}
		if e.Suspend {
			suspended++
		}
	}
	store := d.store
	if cfg.Store != d.storeAt {
		if store, err = checkpoints.Open(ctx, cfg.Store, checkpoints.Options{}); err != nil {
			err = fmt.Errorf("%s: store: %w", d.path, err)
			if d.store != nil {
				d.log.Error().Err(err).Msg("configuration not reloaded: the previous one still runs")
				return nil
			}
			return usagef("%w", err)
		}
	}
	d.metrics.Schedules(len(entries)-suspended, suspended, invalid)
	d.log.Info().Str("file", d.path).Int("schedules", len(entries)).Int("suspended", suspended).Int("invalid", invalid).Msg("configuration loaded")
	d.mu.Lock()
	old := d.store
	d.store, d.storeAt, d.entries = store, cfg.Store, entries
	d.mu.Unlock()
	if old != nil && old != store {
		defer old.Close() // after the loop restarted on the new one
	}
	d.ready.Store(true)
	select {
	case d.changed <- struct{}{}:
	default:
	}
	return nil
}

// watch reloads the file when it changes.
func (d *daemon) watch(ctx context.Context) {
	t := time.NewTicker(reloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = d.load(ctx)
		}
	}
}

// lead fires the slots of the current configuration until ctx ends,
// starting again (with a catch-up) whenever the configuration changes.
func (d *daemon) lead(ctx context.Context) {
	for ctx.Err() == nil {
		s := &scheduler.Scheduler{
			Launch: d.jobs, By: d.by, Workers: d.workers, Log: d.log, Metrics: d.metrics, Events: d.events,
		}
		d.mu.Lock()
		s.Store = d.store
		entries := d.entries
		d.mu.Unlock()
		select {
		case <-d.changed:
		default:
		}
		run, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.Run(run, entries)
		}()
		select {
		case <-ctx.Done():
		case <-d.changed:
			d.log.Info().Msg("configuration changed: schedules restarted")
		}
		stop()
		<-done
	}
}

func (d *daemon) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store != nil {
		d.store.Close()
	}
}

// serve starts the HTTP endpoints: /metrics, /healthz (the process
// answers), /readyz (a configuration is loaded).
func (d *daemon) serve(ctx context.Context, addr string, reg *prometheus.Registry) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
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
	d.log.Info().Str("listen", ln.Addr().String()).Msg("serving /metrics, /healthz, /readyz")
	return nil
}

// podEvents records a schedule's events on the scheduler's Pod, where
// kubectl describe and kubectl events show them.
type podEvents struct {
	recorder events.EventRecorder
	pod      *corev1.ObjectReference
}

func (p *podEvents) Event(schedule string, warning bool, reason, message string) {
	typ := corev1.EventTypeNormal
	if warning {
		typ = corev1.EventTypeWarning
	}
	if schedule != "" {
		message = "schedule " + schedule + ": " + message
	}
	if len(message) > 1000 { // an Event's note holds 1 kB
		message = message[:1000]
	}
	p.recorder.Eventf(p.pod, nil, typ, reason, "Schedule", "%s", message)
}
