package scheduler

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"
	batchv1 "k8s.io/api/batch/v1"
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

// JobOverrides change the Jobs of a schedule.
type JobOverrides struct {
	Image          string            `yaml:"image"`
	ServiceAccount string            `yaml:"serviceAccount"`
	StoreSecret    string            `yaml:"storeSecret"`
	CPU            string            `yaml:"cpu"`
	Memory         string            `yaml:"memory"`
	MemoryLimit    string            `yaml:"memoryLimit"`
	Env            map[string]string `yaml:"env"`
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

// LoadConfig reads a configuration file. An error about the file as a whole
// (it is not YAML, an unknown field) comes back alone; otherwise the valid
// schedules come back with one EntryError for each invalid one, so that a bad
// schedule never stops the good ones.
func LoadConfig(path string) (*Config, []*Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return ParseConfig(path, data)
}

// ParseConfig is LoadConfig on the file's contents.
func ParseConfig(file string, data []byte) (*Config, []*Entry, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	var errs []error
	if c.APIVersion != "graphjob.dev/v1" || c.Kind != "SchedulerConfig" {
		errs = append(errs, fmt.Errorf("%s: apiVersion and kind must be graphjob.dev/v1 and SchedulerConfig", file))
	}
	if c.Store == "" {
		errs = append(errs, fmt.Errorf("%s: store is missing: the store URL that holds slot records and runs", file))
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := entryLines(&doc)
	var (
		good    []*Entry
		entries []error
		names   = map[string]int{}
	)
	for i, e := range c.Schedules {
		if i < len(lines) {
			e.Line = lines[i]
		}
		id := e.Name
		if id == "" {
			id = fmt.Sprintf("#%d", i+1)
		}
		err := e.check()
		if prev, dup := names[e.Name]; dup && err == nil {
			err = fmt.Errorf("name %q: the schedule on line %d has it too; names must be unique", e.Name, prev)
		}
		if err != nil {
			entries = append(entries, &EntryError{File: file, Line: e.Line, Schedule: id, Err: err})
			continue
		}
		names[e.Name] = e.Line
		good = append(good, e)
	}
	return &c, good, errors.Join(entries...)
}

// check validates an entry and parses its schedule.
func (e *Entry) check() error {
	var errs []error
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
