package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"syscall"
	"time"

	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"

	"github.com/graphjob/graphjob/contract"
	"github.com/graphjob/graphjob/kube"
)

// Config is a scheduler's configuration file, read and checked.
type Config struct {
	// Store holds the slot records and the runs.
	Store string
	// Namespace gets the Jobs; the scheduler's own if empty.
	Namespace string
	// Entries are the valid schedules, Invalid what is wrong with the
	// others.
	Entries []*Entry
	Invalid []*EntryError
}

// Entry is a schedule of the file, checked and ready to fire.
type Entry struct {
	Name     string
	Graph    GraphRef
	Schedule *Schedule
	Catchup  Catchup
	// ConcurrencyPolicy is Allow if empty.
	ConcurrencyPolicy batchv1.ConcurrencyPolicy
	Suspend           bool
	// Job is what the schedule's Jobs share: all of their Template but the
	// name, the graph and the slot, with the file's job: settings under the
	// schedule's own.
	Job kube.Template
	// Line is where the entry starts in the file.
	Line int
	// spec is the entry as the file writes it.
	spec scheduleSpec
}

// GraphRef names where a schedule's graph is.
type GraphRef struct {
	ConfigMap string `yaml:"configMap"`
	URL       string `yaml:"url"`
}

// configFile is the file as it is written.
type configFile struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Store      string `yaml:"store"`
	// Namespace gets the Jobs.
	Namespace string `yaml:"namespace"`
	// Job is what every schedule's Jobs have unless the schedule says
	// otherwise.
	Job       kube.Overrides `yaml:"job"`
	Schedules []scheduleSpec `yaml:"schedules"`
}

// scheduleSpec is a schedule as the file writes it.
type scheduleSpec struct {
	Name              string                    `yaml:"name"`
	Graph             GraphRef                  `yaml:"graph"`
	Schedule          string                    `yaml:"schedule"`
	TimeZone          string                    `yaml:"timeZone"`
	Input             map[string]any            `yaml:"input"`
	ConcurrencyPolicy batchv1.ConcurrencyPolicy `yaml:"concurrencyPolicy"`
	Catchup           struct {
		Policy Policy `yaml:"policy"`
		Window string `yaml:"window"`
		Max    int    `yaml:"max"`
	} `yaml:"catchup"`
	DST struct {
		Missing Missing `yaml:"missing"`
	} `yaml:"dst"`
	Suspend bool           `yaml:"suspend"`
	Job     kube.Overrides `yaml:"job"`
}

// EntryError is what is wrong with one schedule: the others still run.
type EntryError struct {
	File     string
	Line     int
	Schedule string // its name, or #N
	Err      error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("%s:%d: schedule %s: %v", e.File, e.Line, e.Schedule, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// LoadConfig reads a configuration file. The error is about the file as a
// whole (it is not YAML, an unknown field); a bad schedule is not an error
// but one of Config.Invalid, so that it never stops the good ones.
func LoadConfig(path string) (*Config, error) {
	data, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// MaxConfigSize bounds a configuration file.
const MaxConfigSize = 16 << 20

// readConfig reads a configuration file. It opens it without waiting and
// refuses anything but a regular file of at most MaxConfigSize bytes: a
// named pipe would block open(2), and the process's signals, until
// something writes to it.
func readConfig(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file (%v): give the configuration file's path", path, st.Mode().Type())
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigSize+1))
	if err == nil && len(data) > MaxConfigSize {
		err = fmt.Errorf("%s: larger than %d bytes", path, MaxConfigSize)
	}
	return data, err
}

// ParseConfig is LoadConfig on the file's contents.
func ParseConfig(file string, data []byte) (*Config, error) {
	var f configFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	if f.APIVersion != "graphjob.dev/v1" || f.Kind != "SchedulerConfig" {
		errs = append(errs, fmt.Errorf("%s: apiVersion and kind must be graphjob.dev/v1 and SchedulerConfig", file))
	}
	if f.Store == "" {
		errs = append(errs, fmt.Errorf("%s: store is missing: the store URL that holds slot records and runs", file))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := entryLines(&doc)
	c := &Config{Store: f.Store, Namespace: f.Namespace}
	names := map[string]int{}
	for i, sp := range f.Schedules {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		id := sp.Name
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
		}
		e, err := sp.check(&f)
		if prev, dup := names[sp.Name]; dup && err == nil {
			err = fmt.Errorf("name %q: the schedule on line %d has it too; names must be unique", sp.Name, prev)
		}
		if err != nil {
			c.Invalid = append(c.Invalid, &EntryError{File: file, Line: line, Schedule: id, Err: err})
			continue
		}
		e.Line = line
		names[sp.Name] = line
		c.Entries = append(c.Entries, e)
	}
	return c, nil
}

// check validates a schedule and makes its Entry.
func (sp scheduleSpec) check(f *configFile) (*Entry, error) {
	e := &Entry{Name: sp.Name, Graph: sp.Graph, ConcurrencyPolicy: sp.ConcurrencyPolicy, Suspend: sp.Suspend, spec: sp}
	var errs []error
	if err := contract.CheckScheduleName(sp.Name); err != nil {
		errs = append(errs, err)
	}
	if (sp.Graph.ConfigMap == "") == (sp.Graph.URL == "") {
		errs = append(errs, errors.New("graph: give configMap or url, one of them"))
	}
	switch sp.ConcurrencyPolicy {
	case "", batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, fmt.Errorf("concurrencyPolicy %q: use Allow, Forbid or Replace", sp.ConcurrencyPolicy))
	}
	e.Catchup = Catchup{Policy: sp.Catchup.Policy, Max: sp.Catchup.Max}
	if w := sp.Catchup.Window; w != "" {
		d, err := time.ParseDuration(w)
		if err != nil {
			errs = append(errs, fmt.Errorf("catchup.window %q: give a duration such as 24h", w))
		}
		e.Catchup.Window = d
	}
	if err := e.Catchup.Check(); err != nil {
		errs = append(errs, err)
	}
	if sp.Schedule == "" {
		errs = append(errs, errors.New("schedule is missing, such as schedule: \"0 2 * * *\""))
	} else if s, err := Parse(sp.Schedule, sp.TimeZone, sp.DST.Missing); err != nil {
		errs = append(errs, err)
	} else {
		e.Schedule = s
	}
	e.Job = kube.Template{Namespace: f.Namespace, Store: f.Store, Schedule: sp.Name}
	if err := f.Job.With(sp.Job).Apply(&e.Job, func(name string) string { return "job." + name }); err != nil {
		errs = append(errs, err)
	}
	if len(sp.Input) > 0 {
		in, err := json.Marshal(sp.Input)
		if err != nil {
			errs = append(errs, fmt.Errorf("input: %w", err))
		}
		e.Job.Input = string(in)
	}
	return e, errors.Join(errs...)
}

// Equal reports whether two entries fire the same slots with the same
// Jobs: what they say, whatever the line it is on.
func (e *Entry) Equal(o *Entry) bool {
	return reflect.DeepEqual(e.spec, o.spec) && reflect.DeepEqual(e.Job, o.Job)
}

// entryLines returns the line of each item of the schedules list.
func entryLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 {
		return nil
	}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "schedules" {
			var lines []int
			for _, item := range root.Content[i+1].Content {
				lines = append(lines, item.Line)
			}
			return lines
		}
	}
	return nil
}
