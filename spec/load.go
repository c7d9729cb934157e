package spec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/graphjob/graphjob/graph"
)

// Graph is a loaded graph file, ready to run.
type Graph struct {
	// Name is metadata.name.
	Name string
	// File is the path the graph was loaded from.
	File string
	// Digest is "sha256:" and the hex SHA-256 of the file's bytes.
	Digest string
	// RecursionLimit is spec.recursionLimit (default 25).
	RecursionLimit int
	// Env is spec.env: the variables of graphjob's environment that the
	// graph's nodes may read (as ${NAME} in an exec node's env or an http
	// node's headers), in file order. Nodes see no other of its variables
	// but a fixed few (PATH, HOME, the locale...).
	Env []string
	// Runnable is the compiled graph.
	Runnable *graph.Graph[graph.State]

	doc      *document
	channels map[string]*channelSpec
}

// An Option configures how a graph's nodes run.
type Option func(*options)

type options struct {
	stderr  func(ctx context.Context, task graph.TaskInfo) io.Writer
	client  *http.Client
	parents []string // the files of the graphs whose graph nodes lead here
	local   bool     // the graph was read from the local disk: graph nodes may read files beside it
}

// WithLocalFiles says the graph was read from a file on the local disk, so
// that its graph nodes may run the graph files beside it. Load sets it; a
// graph parsed without it (from a ConfigMap, a store) has no graph nodes.
func WithLocalFiles() Option { return func(o *options) { o.local = true } }

// WithStderr gives each exec node attempt a writer for the command's stderr,
// closed when the command has exited if it is an io.Closer. Without it stderr
// is discarded; its last lines still appear in the error of a failed command.
func WithStderr(f func(ctx context.Context, task graph.TaskInfo) io.Writer) Option {
	return func(o *options) { o.stderr = f }
}

// WithHTTPClient sets the client of http nodes. Default: a client whose only
// timeout is each node's.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// Load reads and compiles a graph file.
func Load(path string, opts ...Option) (*Graph, error) {
	data, err := ReadLocal(path, MaxFileSize)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read the graph file: %v", err)}
	}
	return Parse(path, data, append(opts, WithLocalFiles())...)
}

// Parse compiles a graph file's contents; file names it in errors.
func Parse(file string, data []byte, opts ...Option) (*Graph, error) {
	doc, errs := parse(file, data)
	if doc == nil {
		return nil, errs
	}
	o := options{client: &http.Client{}}
	for _, opt := range opts {
		opt(&o)
	}
	return compile(file, data, doc, errs, o)
}

func compile(file string, data []byte, doc *document, errs ErrorList, o options) (*Graph, error) {
	// The compiler goes on from the parser's errors, so that a file's problems
	// are all reported at once.
	c := &compiler{parser: parser{file: file, errs: errs}, doc: doc, opts: &o, byName: map[string]*channelSpec{}}
	runnable := c.build()
	c.sortErrors()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	// The digest pins the subgraphs' files too, and the graph reads what
	// their nodes read.
	h := sha256.New()
	h.Write(data)
	env := slices.Clone(doc.env)
	for _, sub := range c.subgraphs() {
		h.Write([]byte(sub.Digest))
		for _, e := range sub.Env {
			if !slices.Contains(env, e) {
				env = append(env, e)
			}
		}
	}
	return &Graph{
		Name: doc.name, File: file, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)),
		RecursionLimit: doc.recursionLimit, Env: env, Runnable: runnable, doc: doc, channels: c.byName,
	}, nil
}

// Input checks a run's input: values for some of the channels, each applied
// to the channel's default with its reducer when the run starts (a single
// item for an append channel is appended; an add channel adds). Numbers may
// be int, int64 or float64.
func (g *Graph) Input(values map[string]any) (graph.State, error) {
	s := make(graph.State, len(values))
	for _, k := range slices.Sorted(maps.Keys(values)) {
		c, ok := g.channels[k]
		if !ok {
			return nil, fmt.Errorf("%w: input %q is not a channel of graph %s; its channels are %s",
				ErrInvalidInput, k, g.Name, strings.Join(g.channelNames(), ", "))
		}
		v, err := writeValue(c, normalize(values[k]))
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidInput, err)
		}
		s[k] = v
	}
	return s, nil
}

// ParseValue reads a command-line value for a channel: JSON, or for string
// channels the plain text.
func (g *Graph) ParseValue(channel, text string) (any, error) {
	c, ok := g.channels[channel]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a channel of graph %s; its channels are %s",
			ErrInvalidInput, channel, g.Name, strings.Join(g.channelNames(), ", "))
	}
	v, err := c.typ.parseText(text)
	if err != nil {
		return nil, fmt.Errorf("%w: channel %q: %w", ErrInvalidInput, channel, err)
	}
	return v, nil
}

func (g *Graph) channelNames() []string {
	names := make([]string, len(g.doc.state))
	for i, c := range g.doc.state {
		names[i] = c.name
	}
	return names
}
