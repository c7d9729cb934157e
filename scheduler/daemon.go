package scheduler

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/graphjob/graphjob/checkpoints"
)

// DefaultReload is how often a Daemon looks at its configuration file.
// Polling, rather than file events, sees a mounted ConfigMap's update (a
// swapped symlink) like any other edit.
const DefaultReload = 2 * time.Second

// Daemon is the scheduler as `graphjob scheduler` runs it: a configuration
// file, read again when it changes, and a Scheduler that fires its
// schedules while the replica leads. A reload starts again only the
// schedules that changed; a new store starts them all.
type Daemon struct {
	// Path is the configuration file.
	Path string
	// Namespace gets the Jobs of a file that names none.
	Namespace string
	// Open opens the store a file names; checkpoints.Open with its default
	// options if nil.
	Open func(ctx context.Context, url string) (*checkpoints.Store, error)
	// Reload is DefaultReload if 0.
	Reload time.Duration
	// The Scheduler's fields (Clock is also the reload's).
	Launch  Launcher
	By      string
	Workers int
	Clock   clock.WithTicker
	Metrics *Metrics
	Events  Events

	leading sync.Mutex // held by Lead: one runs at a time
	mu      sync.Mutex
	data    []byte // the file as last read
	url     string
	store   *checkpoints.Store
	entries []*Entry
	leader  *Scheduler    // while leading
	restart chan struct{} // to Lead, when the store changed
}

// Load reads the file, if it changed since the last Load, and applies it.
// The first configuration's mistakes are the error; later, a file that
// cannot be used leaves the last good configuration running, with a
// ConfigInvalid event. A bad schedule is left out (ScheduleInvalid) and
// never stops the others.
func (d *Daemon) Load(ctx context.Context) error {
	data, err := readConfig(d.Path) // not under the lock: Ready must answer meanwhile
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil && bytes.Equal(data, d.data) {
		return nil
	}
	var cfg *Config
	if err == nil {
		cfg, err = ParseConfig(d.Path, data)
	}
	var store *checkpoints.Store
	opened := true
	if err == nil && cfg.Store != d.url {
		if store, err = d.open(ctx, cfg.Store); err != nil {
			err, opened = fmt.Errorf("%s: store: %w", d.Path, err), false
		}
	}
	if err != nil {
		if d.store == nil {
			return err
		}
		if opened {
			d.data = data // a mistake in the file: reported once, not at every look
		} // a store that cannot be opened now is tried again at the next look
		d.event(Event{Warning: true, Reason: ReasonConfigInvalid, Message: "configuration not reloaded: the last good one still runs", Err: err})
		return nil
	}
	d.data = data
	for _, ee := range cfg.Invalid {
		d.event(Event{Schedule: ee.Schedule, Warning: true, Reason: ReasonScheduleInvalid, Message: "schedule left out", Err: ee})
	}
	suspended := 0
	for _, e := range cfg.Entries {
		if e.Job.Namespace == "" {
			e.Job.Namespace = d.Namespace
		}
		if e.Suspend {
			suspended++
		}
	}
	d.Metrics.Schedules(len(cfg.Entries)-suspended, suspended, len(cfg.Invalid))
	d.entries = cfg.Entries
	var started []string
	switch {
	case store != nil && d.store != nil:
		if d.leader != nil {
			// Retired: Lead stops it, closes its store, and starts a
			// scheduler on the new one.
			d.leader = nil
			select {
			case d.restart <- struct{}{}:
			default:
			}
		} else {
			d.store.Close() // no scheduler uses it
		}
		started = []string{"all (a new store)"}
		fallthrough
	case store != nil:
		d.store, d.url = store, cfg.Store
	case d.leader != nil:
		started = d.leader.Set(d.entries)
	}
	msg := fmt.Sprintf("configuration loaded: %d schedules, %d suspended, %d invalid", len(cfg.Entries), suspended, len(cfg.Invalid))
	if len(started) > 0 {
		msg += "; started again: " + strings.Join(started, ", ")
	}
	d.event(Event{Reason: ReasonConfigLoaded, Message: msg})
	return nil
}

func (d *Daemon) open(ctx context.Context, url string) (*checkpoints.Store, error) {
	if d.Open != nil {
		return d.Open(ctx, url)
	}
	return checkpoints.Open(ctx, url, checkpoints.Options{})
}

// Watch loads the file every Reload until ctx ends.
func (d *Daemon) Watch(ctx context.Context) {
	every := d.Reload
	if every <= 0 {
		every = DefaultReload
	}
	t := d.clock().NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			_ = d.Load(ctx) // only the first Load's error is returned
		}
	}
}

// Lead fires the schedules' slots until ctx ends (the replica stops
// leading). Load must have succeeded first. A Lead started while another
// is still finishing (leader election hands leadership back before the
// last term's callback returned) waits for it.
func (d *Daemon) Lead(ctx context.Context) {
	d.leading.Lock()
	defer d.leading.Unlock()
	d.mu.Lock()
	if d.restart == nil {
		d.restart = make(chan struct{}, 1)
	}
	d.mu.Unlock()
	for ctx.Err() == nil {
		d.mu.Lock()
		s := &Scheduler{Store: d.store, Launch: d.Launch, By: d.By, Workers: d.Workers, Clock: d.Clock, Metrics: d.Metrics, Events: d.Events}
		s.Set(d.entries)
		d.leader = s
		d.mu.Unlock()
		run, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = s.Run(run, nil)
		}()
		select {
		case <-ctx.Done():
		case <-d.restart:
		}
		stop()
		<-done
		d.mu.Lock()
		if d.leader == s {
			d.leader = nil
		}
		if s.Store != d.store {
			s.Store.Close()
		}
		select {
		case <-d.restart: // the store changed as leadership ended
		default:
		}
		d.mu.Unlock()
	}
}

// Ready reports whether a configuration is loaded.
func (d *Daemon) Ready() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.store != nil
}

// Close closes the store. Lead must have returned.
func (d *Daemon) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.store == nil {
		return nil
	}
	return d.store.Close()
}

func (d *Daemon) clock() clock.WithTicker {
	if d.Clock == nil {
		return clock.RealClock{}
	}
	return d.Clock
}

func (d *Daemon) event(ev Event) {
	if d.Events != nil {
		d.Events.Event(ev)
	}
}
