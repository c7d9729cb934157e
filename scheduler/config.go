package scheduler

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/graphjob/graphjob/kube"
)

// Config is the scheduler's configuration file.
type Config struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	// Store holds the slot records and the runs.
	Store string `yaml:"store"`
	// Namespace gets the Jobs.
	Namespace string `yaml:"namespace"`
	// Job is what every schedule's Jobs have unless the schedule says
	// otherwise.
	Job       JobOverrides `yaml:"job"`
	Schedules []*Entry     `yaml:"schedules"`

	// Entries are the valid schedules, Invalid what is wrong with the
	// others. Set by LoadConfig.
	Entries []*Entry      `yaml:"-"`
	Invalid []*EntryError `yaml:"-"`
}

// Entry is one schedule of the file.
type Entry struct {
	Name string `yaml:"name"`
	// Graph is where the graph is: a ConfigMap (configMap) or a URL (url).
	Graph             GraphRef                  `yaml:"graph"`
	Schedule          string                    `yaml:"schedule"`
	TimeZone          string                    `yaml:"timeZone"`
	Input             map[string]any            `yaml:"input"`
	ConcurrencyPolicy batchv1.ConcurrencyPolicy `yaml:"concurrencyPolicy"`
	Catchup           CatchupSpec               `yaml:"catchup"`
	DST               struct {
		Missing Missing `yaml:"missing"`
	} `yaml:"dst"`
	Suspend bool         `yaml:"suspend"`
	Job     JobOverrides `yaml:"job"`

	// Line is where the entry starts in the file.
	Line int `yaml:"-"`
	// Parsed and Rule are the schedule and its catch-up rule, set by
	// LoadConfig.
	Parsed *Schedule `yaml:"-"`
	Rule   Catchup   `yaml:"-"`
	// Run is what the schedule's Jobs share: all of kube.Run but the name,
	// the graph and the slot. Set by LoadConfig.
	Run kube.Run `yaml:"-"`
}

// GraphRef names where a schedule's graph is.
type GraphRef struct {
	ConfigMap string `yaml:"configMap"`
	URL       string `yaml:"url"`
}

// CatchupSpec is Catchup as the file writes it.
type CatchupSpec struct {
	Policy Policy `yaml:"policy"`
	Window string `yaml:"window"`
	Max    int    `yaml:"max"`
}

// JobOverrides change the Jobs of a schedule. A schedule's own fields win
// over the file's; its env adds to the file's.
type JobOverrides struct {
	Image          string   `yaml:"image"`
	ServiceAccount string   `yaml:"serviceAccount"`
	StoreSecret    string   `yaml:"storeSecret"`
	CPU            string   `yaml:"cpu"`
	Memory         string   `yaml:"memory"`
	MemoryLimit    string   `yaml:"memoryLimit"`
	Env            []EnvVar `yaml:"env"`
	// ActiveDeadline bounds a run's time, TTLAfterFinished deletes its
	// finished Job: durations such as 2h.
	ActiveDeadline   string `yaml:"activeDeadline"`
	TTLAfterFinished string `yaml:"ttlAfterFinished"`
}

// EnvVar is a variable of the run's pod: a value, or a key of a Secret.
type EnvVar struct {
	Name   string `yaml:"name"`
	Value  string `yaml:"value"`
	Secret string `yaml:"secret"`
	Key    string `yaml:"key"`
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

// nameRE: a schedule's name starts its Jobs' names, which add
// -YYYYMMDD-HHMMSS (16 characters) and must be DNS labels.
var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,45}[a-z0-9])?$`)

// LoadConfig reads a configuration file. The error is about the file as a
// whole (it is not YAML, an unknown field); a bad schedule is not an error
// but one of Config.Invalid, so that it never stops the good ones.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on the file's contents.
func ParseConfig(file string, data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	if c.APIVersion != "graphjob.dev/v1" || c.Kind != "SchedulerConfig" {
		errs = append(errs, fmt.Errorf("%s: apiVersion and kind must be graphjob.dev/v1 and SchedulerConfig", file))
	}
	if c.Store == "" {
		errs = append(errs, fmt.Errorf("%s: store is missing: the store URL that holds slot records and runs", file))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := entryLines(&doc)
	names := map[string]int{}
	for i, e := range c.Schedules {
		if i < len(lines) {
			e.Line = lines[i]
		}
		id := e.Name
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
		}
		err := e.check(&c)
		if prev, dup := names[e.Name]; dup && err == nil {
			err = fmt.Errorf("name %q: the schedule on line %d has it too; names must be unique", e.Name, prev)
		}
		if err != nil {
			c.Invalid = append(c.Invalid, &EntryError{File: file, Line: e.Line, Schedule: id, Err: err})
			continue
		}
		names[e.Name] = e.Line
		c.Entries = append(c.Entries, e)
	}
	return &c, nil
}

// check validates an entry, parses its schedule and makes its Run.
func (e *Entry) check(c *Config) error {
	var errs []error
	if err := e.makeRun(c); err != nil {
		errs = append(errs, err)
	}
	if !nameRE.MatchString(e.Name) {
		errs = append(errs, fmt.Errorf("name %q: use 1 to 47 lower-case letters, digits and '-', starting and ending with a letter or digit", e.Name))
	}
	if (e.Graph.ConfigMap == "") == (e.Graph.URL == "") {
		errs = append(errs, errors.New("graph: give configMap or url, one of them"))
	}
	switch e.ConcurrencyPolicy {
	case "", batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	default:
		errs = append(errs, fmt.Errorf("concurrencyPolicy %q: use Allow, Forbid or Replace", e.ConcurrencyPolicy))
	}
	rule, err := e.Catchup.parse()
	if err == nil {
		err = rule.Check()
	}
	if err != nil {
		errs = append(errs, err)
	}
	e.Rule = rule
	if e.Schedule == "" {
		errs = append(errs, errors.New("schedule is missing, such as schedule: \"0 2 * * *\""))
	} else if s, err := Parse(e.Schedule, e.TimeZone, e.DST.Missing); err != nil {
		errs = append(errs, err)
	} else {
		e.Parsed = s
	}
	return errors.Join(errs...)
}

// makeRun makes the template of the entry's Jobs from the file's and the
// entry's Job fields.
func (e *Entry) makeRun(c *Config) error {
	j := c.Job.with(e.Job)
	r := kube.Run{
		Namespace: c.Namespace, Store: c.Store, Image: j.Image, StoreSecret: j.StoreSecret,
		ServiceAccount: j.ServiceAccount, Schedule: e.Name,
	}
	var errs []error
	if len(e.Input) > 0 {
		in, err := json.Marshal(e.Input)
		if err != nil {
			errs = append(errs, fmt.Errorf("input: %w", err))
		}
		r.Input = string(in)
	}
	quantity := func(field, v, def string) resource.Quantity {
		if v == "" {
			v = def
		}
		q, err := resource.ParseQuantity(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("job.%s %q: give a quantity such as 500m or 1Gi", field, v))
		}
		return q
	}
	r.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: quantity("cpu", j.CPU, "100m"), corev1.ResourceMemory: quantity("memory", j.Memory, "128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: quantity("memoryLimit", j.MemoryLimit, "512Mi")},
	}
	duration := func(field, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("job.%s %q: give a duration such as 2h", field, v))
		}
		return d
	}
	r.ActiveDeadline = duration("activeDeadline", j.ActiveDeadline)
	if ttl := duration("ttlAfterFinished", j.TTLAfterFinished); ttl > 0 {
		r.TTLAfterFinished = &ttl
	}
	for _, v := range j.Env {
		switch {
		case v.Name == "":
			errs = append(errs, errors.New("job.env: an entry has no name"))
		case v.Secret == "" && v.Key == "":
			r.Env = append(r.Env, corev1.EnvVar{Name: v.Name, Value: v.Value})
		case v.Secret != "" && v.Key != "" && v.Value == "":
			r.Env = append(r.Env, corev1.EnvVar{Name: v.Name, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: v.Secret}, Key: v.Key},
			}})
		default:
			errs = append(errs, fmt.Errorf("job.env %s: give a value, or a secret and its key", v.Name))
		}
	}
	e.Run = r
	return errors.Join(errs...)
}

// with returns the file's overrides with the schedule's own on top.
func (j JobOverrides) with(o JobOverrides) JobOverrides {
	pick := func(own, file string) string {
		if own != "" {
			return own
		}
		return file
	}
	out := JobOverrides{
		Image: pick(o.Image, j.Image), ServiceAccount: pick(o.ServiceAccount, j.ServiceAccount),
		StoreSecret: pick(o.StoreSecret, j.StoreSecret), CPU: pick(o.CPU, j.CPU), Memory: pick(o.Memory, j.Memory),
		MemoryLimit: pick(o.MemoryLimit, j.MemoryLimit), ActiveDeadline: pick(o.ActiveDeadline, j.ActiveDeadline),
		TTLAfterFinished: pick(o.TTLAfterFinished, j.TTLAfterFinished),
	}
	for _, v := range j.Env {
		if !slices.ContainsFunc(o.Env, func(w EnvVar) bool { return w.Name == v.Name }) {
			out.Env = append(out.Env, v)
		}
	}
	out.Env = append(out.Env, o.Env...)
	return out
}

func (c CatchupSpec) parse() (Catchup, error) {
	out := Catchup{Policy: c.Policy, Max: c.Max}
	if c.Window != "" {
		d, err := time.ParseDuration(c.Window)
		if err != nil {
			return out, fmt.Errorf("catchup.window %q: give a duration such as 24h", c.Window)
		}
		out.Window = d
	}
	return out, nil
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
