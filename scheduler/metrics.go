package scheduler

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the scheduler's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	slots     *prometheus.CounterVec
	lag       prometheus.Histogram
	jobs      *prometheus.CounterVec
	catchup   *prometheus.CounterVec
	schedules *prometheus.GaugeVec
	leader    prometheus.Gauge
}

// NewMetrics makes the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		slots: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphjob_scheduler_slots_total",
			Help: "Slots fired on time (fired), and slots skipped by concurrencyPolicy Forbid (skipped).",
		}, []string{"outcome"}),
		lag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "graphjob_scheduler_firing_lag_seconds",
			Help:    "From a slot's time to when the scheduler starts firing it.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphjob_scheduler_jobs_total",
			Help: "Jobs the scheduler created (created) and failed to create (failed).",
		}, []string{"result"}),
		catchup: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "graphjob_scheduler_catchup_slots_total",
			Help: "Missed slots found on start: run, or skipped by the catch-up policy.",
		}, []string{"result"}),
		schedules: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "graphjob_scheduler_schedules",
			Help: "Schedules of the configuration by state: active, suspended, invalid.",
		}, []string{"state"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "graphjob_scheduler_leader",
			Help: "1 while this replica is the leader and fires slots.",
		}),
	}
	reg.MustRegister(m.slots, m.lag, m.jobs, m.catchup, m.schedules, m.leader)
	return m
}

// Schedules sets the count of schedules in each state.
func (m *Metrics) Schedules(active, suspended, invalid int) {
	if m == nil {
		return
	}
	m.schedules.WithLabelValues("active").Set(float64(active))
	m.schedules.WithLabelValues("suspended").Set(float64(suspended))
	m.schedules.WithLabelValues("invalid").Set(float64(invalid))
}

// Leader sets whether this replica leads.
func (m *Metrics) Leader(leads bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leads {
		v = 1
	}
	m.leader.Set(v)
}

func (m *Metrics) fired(lag time.Duration) {
	if m == nil {
		return
	}
	m.slots.WithLabelValues("fired").Inc()
	m.lag.Observe(lag.Seconds())
}

func (m *Metrics) skipped() {
	if m != nil {
		m.slots.WithLabelValues("skipped").Inc()
	}
}

func (m *Metrics) launched() {
	if m != nil {
		m.jobs.WithLabelValues("created").Inc()
	}
}

func (m *Metrics) launchFailed() {
	if m != nil {
		m.jobs.WithLabelValues("failed").Inc()
	}
}

func (m *Metrics) caughtUp(run, skipped int) {
	if m == nil {
		return
	}
	m.catchup.WithLabelValues("run").Add(float64(run))
	m.catchup.WithLabelValues("skipped").Add(float64(skipped))
}
