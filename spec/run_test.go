package spec_test

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/graphjob/graphjob/graph"
	"github.com/graphjob/graphjob/spec"
)

// load parses a graph whose spec is body, under a standard header.
func load(t *testing.T, body string, opts ...spec.Option) *spec.Graph {
	t.Helper()
	text := "apiVersion: graphjob.dev/v1\nkind: Graph\nmetadata: {name: test}\nspec:\n" + body
	g, err := spec.Parse("test.yaml", []byte(text), opts...)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	return g
}

func run(t *testing.T, g *spec.Graph, input map[string]any) (string, error) {
	t.Helper()
	in, err := g.Input(input)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Runnable.Invoke(t.Context(), in, graph.WithRecursionLimit(g.RecursionLimit), graph.WithRunID("r1"))
	b, _ := json.Marshal(out)
	return string(b), err
}

func TestYAMLGraphs(t *testing.T) {
	tests := []struct {
		desc  string
		spec  string
		input map[string]any
		want  string
		err   string
	}{
		{
			desc: "parallel branches join once",
			spec: `
  state:
    a: {type: int}
    b: {type: int}
    joins: {type: int, reducer: add}
  entry: [left, right]
  nodes:
    left: {set: {a: "1"}}
    right: {set: {b: "2"}}
    join: {set: {joins: "1"}}
  edges:
    - {from: left, to: join}
    - {from: right, to: join}
`,
			want: `{"a":1,"b":2,"joins":1}`,
		},
		{
			desc: "reducers",
			spec: `
  state:
    log: {type: list, reducer: append, default: [start]}
    total: {type: float, reducer: add, default: 0.5}
    tags: {type: object, reducer: merge, default: {keep: true}}
  entry: [a, b]
  nodes:
    a: {set: {log: "'a'", total: "1", tags: "{'a': 1}"}}
    b: {set: {log: "['b1', 'b2']", total: "2.5", tags: "{'b': 'x'}"}}
`,
			want: `{"log":["start","a","b1","b2"],"tags":{"a":1,"b":"x","keep":true},"total":4}`,
		},
		{
			desc: "conditional routing to several nodes",
			spec: `
  state:
    n: {type: int}
    seen: {type: list, reducer: append}
  entry: start
  nodes:
    start: {set: {seen: "'start'"}}
    even: {set: {seen: "'even'"}}
    big: {set: {seen: "'big'"}}
    other: {set: {seen: "'other'"}}
  edges:
    - from: start
      when:
        - if: state.n % 2 == 0 && state.n > 10
          to: [even, big]
        - if: state.n % 2 == 0
          to: even
        - to: other
`,
			input: map[string]any{"n": 12},
			want:  `{"n":12,"seen":["start","big","even"]}`, // applied by node name, as LangGraph does
		},
		{
			desc: "map items under their own name, with run info",
			spec: `
  state:
    words: {type: list, default: [a, bb, ccc]}
    out: {type: list, reducer: append}
  entry: split
  nodes:
    split: {set: {}}
    measure: {set: {out: "w + ':' + string(size(w)) + '@' + string(run.step)"}}
  edges:
    - from: split
      map: {over: state.words, to: measure, as: w}
`,
			want: `{"out":["a:1@2","bb:2@2","ccc:3@2"],"words":["a","bb","ccc"]}`,
		},
		{
			desc: "empty map ends the branch",
			spec: `
  state:
    xs: {type: list}
    out: {type: list, reducer: append}
  entry: split
  nodes:
    split: {set: {}}
    each: {set: {out: item}}
  edges:
    - {from: split, map: {over: state.xs, to: each}}
`,
			want: `{"out":[],"xs":[]}`,
		},
		{
			desc: "an int expression fits a float channel",
			spec: `
  state:
    x: {type: float}
  entry: a
  nodes:
    a: {set: {x: "2"}}
`,
			want: `{"x":2}`,
		},
		{
			desc: "two writers of a replace channel",
			spec: `
  state:
    x: {type: int}
  entry: [a, b]
  nodes:
    a: {set: {x: "1"}}
    b: {set: {x: "2"}}
`,
			err: `step 1: nodes "a" and "b" both wrote channel "x" in one superstep`,
		},
		{
			desc: "no when case matches",
			spec: `
  state:
    n: {type: int}
  entry: a
  nodes:
    a: {set: {}}
  edges:
    - from: a
      when:
        - if: state.n > 1
          to: END
`,
			err: `step 1: node "a": routing: no case of the when edge from "a" (line 12) matched; add a last case without if`,
		},
		{
			desc: "an any channel checked when written",
			spec: `
  state:
    v: {type: any}
    n: {type: int}
  entry: a
  nodes:
    a: {set: {n: "state.v"}}
`,
			input: map[string]any{"v": "text"},
			err:   `channel "n": "text" is not an int`,
		},
		{
			desc: "runtime errors name the expression",
			spec: `
  state:
    n: {type: int}
  entry: a
  nodes:
    a: {set: {n: "10 / state.n"}}
`,
			err: `node "a": expression "10 / state.n" (line 10): division by zero`,
		},
		{
			desc: "the cost limit stops an expensive expression",
			spec: `
  state:
    xs: {type: list}
    n: {type: int}
  entry: a
  nodes:
    a: {set: {n: "state.xs.map(x, state.xs.map(y, x * y)).size()"}}
`,
			input: map[string]any{"xs": numbers(3000)},
			err:   `cost limit exceeded`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got, err := run(t, load(t, tt.spec), tt.input)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestExamples(t *testing.T) {
	for file, want := range map[string]string{
		"../examples/loop/graph.yaml":   `{"done":true,"step":5}`,
		"../examples/fanout/graph.yaml": `{"count":3,"numbers":[1,2,3],"results":[1,4,9]}`,
	} {
		g, err := spec.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := run(t, g, nil); err != nil || got != want {
			t.Errorf("%s: got %s, %v; want %s", file, got, err, want)
		}
	}
}

func TestInput(t *testing.T) {
	g := load(t, `
  state:
    n: {type: int, default: 1}
    f: {type: float}
    s: {type: string, default: hi}
    l: {type: list, default: [1]}
  entry: a
  nodes:
    a: {set: {}}
`)
	in, err := g.Input(map[string]any{"f": 2})
	if err != nil || fmt.Sprint(in) != "map[f:2]" {
		t.Fatalf("Input = %v, %v", in, err)
	}
	// The run starts from the defaults, the input applied to them.
	out, err := g.Runnable.Invoke(t.Context(), in)
	if err != nil || fmt.Sprint(out) != "map[f:2 l:[1] n:1 s:hi]" {
		t.Fatalf("state = %v, %v", out, err)
	}
	out["l"].([]any)[0] = "changed"
	if again, _ := g.Runnable.Invoke(t.Context(), nil); fmt.Sprint(again["l"]) != "[1]" {
		t.Errorf("a run changed the default of the next: %v", again["l"])
	}
	for _, tc := range []struct{ ch, text, want, err string }{
		{"n", "5", "5", ""},
		{"n", "5.0", "5", ""},
		{"n", "five", "", `channel "n": "five" is not an int`},
		{"s", "plain text", "plain text", ""},
		{"s", `"quoted"`, "quoted", ""},
		{"l", "[1, 2]", "[1 2]", ""},
		{"nope", "1", "", `"nope" is not a channel of graph test; its channels are n, f, s, l`},
	} {
		v, err := g.ParseValue(tc.ch, tc.text)
		if tc.err != "" {
			if !errors.Is(err, spec.ErrInvalidInput) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseValue(%s, %s) err = %v, want %q", tc.ch, tc.text, err, tc.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(v) != tc.want {
			t.Errorf("ParseValue(%s, %s) = %v, %v; want %s", tc.ch, tc.text, v, err, tc.want)
		}
	}
	if _, err := g.Input(map[string]any{"n": "x"}); !errors.Is(err, spec.ErrInvalidInput) {
		t.Errorf("wrong input type: err = %v", err)
	}
}

// TestInputErrors checks that a bad input value is reported as invalid input,
// naming the channel, the type it wants and the value given.
func TestInputErrors(t *testing.T) {
	g := load(t, `
  state:
    n: {type: int}
    m: {type: object}
  entry: a
  nodes:
    a: {set: {}}
`)
	tests := []struct {
		desc string
		get  func() error
		want string
	}{
		{"a wrong type in the input", func() error { _, err := g.Input(map[string]any{"n": "abc"}); return err },
			`invalid input: channel "n": "abc" is not an int`},
		{"an input that is not a channel", func() error { _, err := g.Input(map[string]any{"x": 1}); return err },
			`invalid input: input "x" is not a channel of graph test; its channels are n, m`},
		{"a value of a wrong type", func() error { _, err := g.ParseValue("n", "abc"); return err },
			`invalid input: channel "n": "abc" is not an int`},
		{"a value of a wrong JSON type", func() error { _, err := g.ParseValue("m", "[1]"); return err },
			`invalid input: channel "m": [1] is not an object`},
		{"a value for no channel", func() error { _, err := g.ParseValue("x", "1"); return err },
			`invalid input: "x" is not a channel of graph test; its channels are n, m`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			err := tt.get()
			if err == nil || err.Error() != tt.want || !errors.Is(err, spec.ErrInvalidInput) {
				t.Errorf("err = %v, want %s, matching ErrInvalidInput", err, tt.want)
			}
		})
	}
}

// expect runs g and checks its final state, or its error when wantErr is set.
func expect(t *testing.T, g *spec.Graph, want, wantErr string) {
	t.Helper()
	got, err := run(t, g, nil)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
	} else if err != nil || got != want {
		t.Fatalf("got %s, %v; want %s", got, err, want)
	}
}

// sh runs a shell script as an exec node's command; the node itself uses no
// shell.
func sh(script string) string {
	b, _ := json.Marshal([]string{"sh", "-c", script})
	return string(b)
}

func TestExecNode(t *testing.T) {
	dir := t.TempDir()
	req := filepath.Join(dir, "request.json")
	attempts := filepath.Join(dir, "attempts")
	t.Setenv("REQ", req)
	t.Setenv("ATTEMPTS", attempts)
	tests := []struct {
		desc     string
		node     string
		want     string
		err      string
		attempts int
	}{
		{"writes updates from stdout",
			`{exec: {command: ` + sh(`cat > "$REQ"; echo '{"n": 7, "msg": "'$GREETING'"}'`) + `, env: {GREETING: hello, REQ: "${REQ}"}}}`,
			`{"msg":"hello","n":7}`, "", 0},
		{"empty output is no update", `{exec: {command: [true]}}`, `{"msg":"","n":0}`, "", 0},
		{"a failing command is retried and names its stderr",
			`{exec: {command: ` + sh(`echo x >> "$ATTEMPTS"; echo "disk full" >&2; exit 3`) + `, env: {ATTEMPTS: "${ATTEMPTS}"}}, retry: {maxAttempts: 3, initialBackoff: 1ms}}`,
			"", `node "work" failed after 3 attempts: command sh exited with code 3; its stderr ends: disk full`, 3},
		{"output that is not JSON fails at once",
			`{exec: {command: ` + sh(`echo x >> "$ATTEMPTS"; echo not json`) + `, env: {ATTEMPTS: "${ATTEMPTS}"}}, retry: {maxAttempts: 3, initialBackoff: 1ms}}`,
			"", `the response is not JSON`, 1},
		{"an unknown channel fails", `{exec: {command: ` + sh(`echo '{"nope": 1}'`) + `}}`,
			"", `the response updates "nope", which is not a channel; channels: n, msg`, 0},
		{"a wrong type fails", `{exec: {command: ` + sh(`echo '{"n": "x"}'`) + `}}`,
			"", `channel "n": "x" is not an int`, 0},
		{"a missing command fails at once", `{exec: {command: [/nonexistent/cmd]}, retry: {maxAttempts: 3}}`,
			"", `command /nonexistent/cmd cannot be started`, 0},
		{"the exec timeout stops the command",
			`{exec: {command: [sleep, "30"], timeout: 50ms}}`,
			"", `node "work": command sleep stopped: timed out after 50ms`, 0},
		// The trap is set after the child is started: a child forked while
		// its shell traps TERM can lose the signal (dash resets the trap
		// after the fork), which the next case covers.
		{"cancellation stops the command's children too",
			`{exec: {command: ` + sh(`sleep 30 & trap 'exit 143' TERM; wait`) + `}, timeout: 100ms}`,
			"", `timed out after 100ms`, 0},
		{"the shorter of the node and exec timeouts applies (node)",
			`{exec: {command: [sleep, "30"], timeout: 10s}, timeout: 50ms}`,
			"", `timed out after 50ms`, 0},
		{"the shorter of the node and exec timeouts applies (exec)",
			`{exec: {command: [sleep, "30"], timeout: 50ms}, timeout: 10s}`,
			"", `timed out after 50ms`, 0},
		{"the node timeout stops the command",
			`{exec: {command: [sleep, "30"]}, timeout: 50ms}`,
			"", `timed out after 50ms`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			os.Remove(attempts)
			g := load(t, `
  env: [REQ, ATTEMPTS]
  state:
    n: {type: int}
    msg: {type: string}
  entry: work
  nodes:
    work: `+tt.node+`
`)
			start := time.Now()
			expect(t, g, tt.want, tt.err)
			// A stopped command's process group ends at SIGTERM: no
			// lingering child makes the node wait out the kill grace.
			if elapsed := time.Since(start); elapsed >= spec.ExecGrace/2 {
				t.Errorf("took %s, as if a child outlived SIGTERM", elapsed)
			}
			if tt.attempts > 0 {
				b, _ := os.ReadFile(attempts)
				if n := strings.Count(string(b), "x"); n != tt.attempts {
					t.Errorf("ran %d times, want %d", n, tt.attempts)
				}
			}
		})
	}
	// The request of the first case.
	b, err := os.ReadFile(req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"state":{"msg":"","n":0},"run":{"id":"r1","step":1,"node":"work","attempt":1,"slot":""}}`
	if strings.TrimSpace(string(b)) != want {
		t.Errorf("request = %s, want %s", b, want)
	}
}

// TestExecGroupKilledAfterGrace: processes of a stopped command that ignore
// SIGTERM — the shell and its child — are killed with the group after the
// grace, not left running (exec.Cmd alone kills only the group's leader).
func TestExecGroupKilledAfterGrace(t *testing.T) {
	defer spec.SetExecGrace(300 * time.Millisecond)()
	pidFile := filepath.Join(t.TempDir(), "pid")
	t.Setenv("PIDFILE", pidFile)
	g := load(t, `
  env: [PIDFILE]
  state:
    n: {type: int}
  entry: work
  nodes:
    work: {exec: {env: {PIDFILE: "${PIDFILE}"}, command: `+sh(`trap "" TERM; sleep 30 & echo $! > "$PIDFILE"; wait`)+`}, timeout: 200ms}
`)
	start := time.Now()
	expect(t, g, "", "timed out after 200ms")
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the node took %s to stop", took)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	stat := "/proc/" + strings.TrimSpace(string(b)) + "/stat"
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Gone, or a zombie waiting for its reaper: either way dead.
		data, err := os.ReadFile(stat)
		if err != nil || strings.Contains(string(data), ") Z ") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command's child ignoring SIGTERM still runs: %s", data)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestExecStderrAndItem(t *testing.T) {
	var lines lockedBuffer
	g := load(t, `
  state:
    out: {type: list, reducer: append}
  entry: split
  nodes:
    split: {set: {}}
    each:
      exec:
        command: `+sh(`echo "working on $GRAPHJOB_NODE step $GRAPHJOB_STEP" >&2; python3 -c 'import json,sys; r=json.load(sys.stdin); print(json.dumps({"out": r["item"]}))' 2>/dev/null || sed -e 's/.*"item":\([^,}]*\).*/{"out": \1}/'`)+`
  edges:
    - {from: split, map: {over: "[10, null]", to: each}}
`, spec.WithStderr(func(_ context.Context, task graph.TaskInfo) io.Writer { return &lines }))
	got, err := run(t, g, nil)
	if err != nil || got != `{"out":[10,null]}` {
		t.Fatalf("got %s, %v", got, err)
	}
	if n := strings.Count(lines.String(), "working on each step 2"); n != 2 {
		t.Errorf("stderr %q: want two lines from each", lines.String())
	}
}

// TestExecStderrRedacted: what a command prints of the variables it was
// given from graphjob's environment is neither logged nor quoted in the
// node's error, whole or escaped, however its output is cut into writes.
func TestExecStderrRedacted(t *testing.T) {
	var lines lockedBuffer
	t.Setenv("API_TOKEN", "tok-9f8e7d6c5b4a")
	g := load(t, `
  env: [API_TOKEN]
  state:
    n: {type: int}
  entry: work
  nodes:
    work:
      exec:
        env: {TOKEN: "${API_TOKEN}", MODE: plain}
        command: `+sh(`printf 'token %s' "${TOKEN%????????}" >&2; sleep 0.05; printf '%s\n' "${TOKEN#????????}" >&2; echo "env: $TOKEN quoted \"$TOKEN\" mode $MODE" >&2; exit 1`)+`
`, spec.WithStderr(func(_ context.Context, task graph.TaskInfo) io.Writer { return &lines }))
	_, err := run(t, g, nil)
	if err == nil || strings.Contains(err.Error(), "9f8e7d6c5b4a") || !strings.Contains(err.Error(), "env: [redacted] quoted \"[redacted]\" mode plain") {
		t.Errorf("the node's error: %v", err)
	}
	if out := lines.String(); strings.Contains(out, "9f8e7d6c5b4a") || strings.Count(out, "[redacted]") != 3 {
		t.Errorf("stderr logged: %q", out)
	}

	// A line longer than the 64 KiB a log line holds, the value across
	// the cut: neither piece, nor the error's tail, shows it.
	lines = lockedBuffer{}
	g = load(t, `
  env: [API_TOKEN]
  state:
    n: {type: int}
  entry: work
  nodes:
    work:
      exec:
        env: {TOKEN: "${API_TOKEN}"}
        command: `+sh(`printf '%s%s\n' "$(head -c 98300 /dev/zero | tr '\\0' x)" "$TOKEN" >&2; exit 1`)+`
`, spec.WithStderr(func(_ context.Context, task graph.TaskInfo) io.Writer { return &lines }))
	_, err = run(t, g, nil)
	if err == nil || strings.Contains(err.Error(), "9f8e") || strings.Contains(err.Error(), "5b4a") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("the node's error: %.300s", err)
	}
	if out := lines.String(); strings.Contains(out, "9f8e") || strings.Contains(out, "5b4a") || !strings.Contains(out, "[redacted]") {
		t.Errorf("stderr logged ends: %q", out[max(len(out)-200, 0):])
	}
}

func TestHTTPNode(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("Authorization") != "Bearer s3cret" || !strings.Contains(string(b), `"run":{"id":"r1","step":1,"node":"work","attempt":1,"slot":""}`) {
				http.Error(w, "unexpected request", http.StatusBadRequest)
				return
			}
			fmt.Fprint(w, `{"n": 42}`)
		case "/flaky":
			if n < 3 {
				http.Error(w, "busy", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprint(w, `{"n": 3}`)
		case "/throttled":
			http.Error(w, "slow down", http.StatusTooManyRequests)
		case "/bad":
			http.Error(w, "missing field", http.StatusBadRequest)
		case "/slow":
			<-r.Context().Done()
		}
	}))
	defer srv.Close()
	t.Setenv("TOKEN", "s3cret")
	tests := []struct {
		desc  string
		node  string
		want  string
		err   string
		calls int32
	}{
		{"2xx updates the state", `{http: {url: "` + srv.URL + `/ok", headers: {Authorization: "Bearer ${TOKEN}"}}}`, `{"n":42}`, "", 1},
		{"5xx is retried", `{http: {url: "` + srv.URL + `/flaky"}, retry: {maxAttempts: 3, initialBackoff: 1ms}}`, `{"n":3}`, "", 3},
		{"429 is retried", `{http: {url: "` + srv.URL + `/throttled"}, retry: {maxAttempts: 2, initialBackoff: 1ms}}`, "",
			`failed after 2 attempts: POST ` + srv.URL + `/throttled: 429 Too Many Requests: slow down`, 2},
		{"other 4xx fails at once", `{http: {url: "` + srv.URL + `/bad"}, retry: {maxAttempts: 3, initialBackoff: 1ms}}`, "",
			`node "work": POST ` + srv.URL + `/bad: 400 Bad Request: missing field`, 1},
		{"the timeout applies", `{http: {url: "` + srv.URL + `/slow", timeout: 50ms}}`, "", `timed out after 50ms`, 1},
		{"without one, the default timeout applies", `{http: {url: "` + srv.URL + `/slow"}}`, "", `timed out after 200ms`, 1},
	}
	defer spec.SetDefaultHTTPTimeout(200 * time.Millisecond)()
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			calls.Store(0)
			g := load(t, `
  env: [TOKEN]
  state:
    n: {type: int}
  entry: work
  nodes:
    work: `+tt.node+`
`)
			expect(t, g, tt.want, tt.err)
			if c := calls.Load(); c != tt.calls {
				t.Errorf("%d calls, want %d", c, tt.calls)
			}
		})
	}
}

// lockedBuffer is a strings.Builder that concurrent tasks may write.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func numbers(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// TestExecDrain closes the drain channel while exec commands run: one that
// traps SIGTERM saves its work and succeeds at once; one that dies of it
// fails for good (no retry), and neither waits for its sleep to end.
func TestExecDrain(t *testing.T) {
	tests := []struct {
		desc, cmd, want, err string
	}{
		{"a command that handles SIGTERM finishes", `trap 'echo "{\"n\": 1}"; exit 0' TERM; sleep 30 & wait`, `{"n":1}`, ""},
		{"a command that dies of it is not retried", `sleep 30`, "", "stopped by the drain"},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			g := load(t, "  state: {n: {type: int}}\n  entry: a\n  nodes:\n    a: {exec: {command: "+sh(tt.cmd)+"}, retry: {maxAttempts: 5, initialBackoff: 1ms}}\n")
			drain := make(chan struct{})
			time.AfterFunc(300*time.Millisecond, func() { close(drain) })
			in, err := g.Input(nil)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, err := g.Runnable.Invoke(spec.WithDrain(t.Context(), drain), in)
			b, _ := json.Marshal(out)
			var ne *graph.NodeError
			switch {
			case time.Since(start) > 10*time.Second:
				t.Fatalf("the command ran on for %s after the drain", time.Since(start))
			case tt.err == "" && (err != nil || string(b) != tt.want):
				t.Fatalf("got %s, %v; want %s", b, err, tt.want)
			case tt.err != "" && (!errors.As(err, &ne) || ne.Attempts != 1 || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("err %v, want one attempt that failed with %q", err, tt.err)
			}
		})
	}
}

// TestExecProgress: a command writes cursors to $GRAPHJOB_PROGRESS_FILE and
// fails half-way; its retry gets the last cursor as "progress" in the request
// and works only the items left. A line that is not JSON fails the node,
// naming the line.
func TestExecProgress(t *testing.T) {
	worked := filepath.Join(t.TempDir(), "worked")
	t.Setenv("WORKED", worked)
	g := load(t, `
  env: [WORKED]
  state: {n: {type: int}}
  entry: a
  nodes:
    a:
      exec:
        env: {WORKED: "${WORKED}"}
        command: `+sh(`start=$(sed -n 's/.*"progress":{"done":\([0-9]*\)}.*/\1/p'); i=${start:-0}
while [ $i -lt 6 ]; do
  if [ "$GRAPHJOB_ATTEMPT" = 1 ] && [ $i = 4 ]; then exit 1; fi
  echo $i >> "$WORKED"
  i=$((i + 1))
  printf '{"done": %d}\n' $i >> "$GRAPHJOB_PROGRESS_FILE"
  sleep 0.07
done
echo '{"n": 6}'`)+`
      retry: {maxAttempts: 2, initialBackoff: 1ms}
`)
	got, err := run(t, g, nil)
	if err != nil || got != `{"n":6}` {
		t.Fatalf("got %s, %v", got, err)
	}
	data, err := os.ReadFile(worked)
	if err != nil || strings.Fields(string(data)) == nil || strings.Join(strings.Fields(string(data)), " ") != "0 1 2 3 4 5" {
		t.Errorf("items worked: %q, %v; want each of 0-5 once", data, err)
	}

	g = load(t, "  state: {n: {type: int}}\n  entry: a\n  nodes:\n    a: {exec: {command: "+sh(`printf '1\n\n{"a": 2}\nhalf {\n' >> "$GRAPHJOB_PROGRESS_FILE"`)+"}, retry: {maxAttempts: 3, initialBackoff: 1ms}}\n")
	_, err = run(t, g, nil)
	var ne *graph.NodeError
	if !errors.As(err, &ne) || ne.Attempts != 1 || !strings.Contains(err.Error(), `line 4 of $GRAPHJOB_PROGRESS_FILE is not JSON ("half {")`) {
		t.Errorf("a bad progress line: %v, want one attempt failing on line 4", err)
	}
}

func TestRunSlot(t *testing.T) {
	g := load(t, `
  state:
    expr: {type: string}
    request: {type: object}
  nodes:
    fromExpr: {set: {expr: "run.slot"}}
    fromRequest:
      exec: {command: [sh, -c, 'printf "{\"request\": %s}" "$(cat)"']}
  entry: fromExpr
  edges:
    - {from: fromExpr, to: fromRequest}
`)
	slot := time.Date(2026, 3, 29, 1, 30, 0, 0, time.FixedZone("CET", 3600))
	in, err := g.Input(nil)
	if err != nil {
		t.Fatal(err)
	}
	out, err := g.Runnable.Invoke(spec.WithSlot(t.Context(), slot), in, graph.WithRunID("r1"))
	if err != nil {
		t.Fatal(err)
	}
	if out["expr"] != "2026-03-29T00:30:00Z" {
		t.Errorf("run.slot = %v, want the slot in UTC", out["expr"])
	}
	run, _ := out["request"].(map[string]any)["run"].(map[string]any)
	if run["slot"] != "2026-03-29T00:30:00Z" {
		t.Errorf("the request's run = %v, want its slot", run)
	}
}

// TestHTTPErrorsRedactSentValues: a server that echoes the request — a debug
// endpoint, a proxy's error page — cannot put the values of the headers the
// node sent into its errors (and so into a failed run's result and the
// logs): each is "[redacted]" wherever the error quotes what came back.
func TestHTTPErrorsRedactSentValues(t *testing.T) {
	const (
		token = "s3cret-token-0123456789abcdef"
		key   = "k3y-literal"
		user  = "robot:pa55word"
	)
	basic := base64.StdEncoding.EncodeToString([]byte(user))
	raw := func(w http.ResponseWriter, text string) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString(text)
		_ = buf.Flush()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var echo strings.Builder
		for _, name := range slices.Sorted(maps.Keys(r.Header)) {
			fmt.Fprintf(&echo, "%s: %s\n", name, strings.Join(r.Header[name], ", "))
		}
		switch r.URL.Path {
		case "/echo":
			http.Error(w, echo.String(), http.StatusInternalServerError)
		case "/echo-400":
			http.Error(w, echo.String(), http.StatusBadRequest)
		case "/token":
			http.Error(w, "unknown token "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), http.StatusUnauthorized)
		case "/decoded":
			http.Error(w, "no access for robot:pa55word", http.StatusForbidden)
		case "/long":
			http.Error(w, r.Header.Get("Authorization")+strings.Repeat(".", 500), http.StatusBadGateway)
		case "/value":
			fmt.Fprintf(w, "%q", r.Header.Get("X-Api-Key"))
		case "/channel":
			fmt.Fprintf(w, `{%q: 1}`, r.Header.Get("X-Api-Key"))
		case "/status":
			raw(w, "HTTP/1.1 503 "+r.Header.Get("X-Api-Key")+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		case "/malformed":
			raw(w, r.Header.Get("Authorization")+"\r\n\r\n")
		}
	}))
	defer srv.Close()
	t.Setenv("TOKEN", token)
	bearer := `{Authorization: "Bearer ${TOKEN}", X-Api-Key: ` + key + `, X-Short: abc}`
	tests := []struct {
		desc, path, headers string
		want                []string // in the error
	}{
		{"a 5xx body that echoes the headers", "/echo", bearer,
			[]string{"500 Internal Server Error: ", "Authorization: [redacted]", "X-Api-Key: [redacted]", "X-Short: abc", "User-Agent: graphjob"}},
		{"a 4xx body that echoes the headers", "/echo-400", bearer, []string{"400 Bad Request: ", "Authorization: [redacted]"}},
		{"the token of Bearer alone", "/token", bearer, []string{"401 Unauthorized: unknown token [redacted]"}},
		{"the decoded credentials of Basic", "/decoded", `{Authorization: "Basic ` + basic + `"}`, []string{"403 Forbidden: no access for [redacted]"}},
		{"an excerpt that would cut a value", "/long", bearer, []string{"502 Bad Gateway: [redacted]..."}},
		{"a response that is not an object", "/value", bearer, []string{`the response is "[redacted]", not a JSON object`}},
		{"a response that names no channel", "/channel", bearer, []string{`the response updates "[redacted]", which is not a channel`}},
		{"a status line", "/status", bearer, []string{"503 [redacted]"}},
		{"a malformed response", "/malformed", bearer, []string{"[redacted]"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			g := load(t, `
  env: [TOKEN]
  state:
    n: {type: int}
  entry: work
  nodes:
    work: {http: {url: "`+srv.URL+tt.path+`", headers: `+tt.headers+`}}
`)
			_, err := run(t, g, nil)
			if err == nil {
				t.Fatal("the node succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want %q in it", err, w)
				}
			}
			for _, secret := range []string{token, token[len(token)-8:], key, basic, user, "pa55word"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("err = %v, quotes %q", err, secret)
				}
			}
		})
	}
}

// TestExecEnvironment: a command sees an allow-list of graphjob's own
// environment (PATH, HOME, locale, time zone, trace context...), what
// graphjob tells it (GRAPHJOB_NODE...), and the variables its node passes,
// literal or read from the process variables the graph declares (spec.env);
// never the rest, such as the store's credentials.
func TestExecEnvironment(t *testing.T) {
	for k, v := range map[string]string{
		"AWS_SECRET_ACCESS_KEY": "aws-secret", "AWS_SESSION_TOKEN": "aws-session", "AZURE_STORAGE_KEY": "azure-key",
		"GOOGLE_APPLICATION_CREDENTIALS": "/secrets/gcp.json", "API_TOKEN": "tok3n", "REGION": "eu-west-1",
		"GRAPHJOB_STORE_SECRET": "not graphjob's to give", "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC",
		"TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "GRAPHJOB_JOB_NAME": "job-1",
	} {
		t.Setenv(k, v)
	}
	tests := []struct {
		desc   string
		graph  string // spec.env, when the graph declares variables
		env    string // the node's env
		want   map[string]string
		absent []string
	}{
		{desc: "a graph that declares nothing passes no process variable",
			want: map[string]string{"PATH": os.Getenv("PATH"), "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC",
				"TRACEPARENT": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "GRAPHJOB_JOB_NAME": "job-1",
				"GRAPHJOB_RUN_ID": "r1", "GRAPHJOB_NODE": "work", "GRAPHJOB_STEP": "1", "GRAPHJOB_ATTEMPT": "1"},
			absent: []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AZURE_STORAGE_KEY", "GOOGLE_APPLICATION_CREDENTIALS",
				"API_TOKEN", "REGION", "GRAPHJOB_STORE_SECRET"}},
		{desc: "a node passes a declared variable, and literal values",
			graph: "[API_TOKEN, REGION]", env: `{API_TOKEN: "${API_TOKEN}", ENDPOINT: "https://${REGION}.example.com", MODE: batch, PRICE: "5$$"}`,
			want:   map[string]string{"API_TOKEN": "tok3n", "ENDPOINT": "https://eu-west-1.example.com", "MODE": "batch", "PRICE": "5$"},
			absent: []string{"REGION", "AWS_SECRET_ACCESS_KEY"}},
		{desc: "a declared variable the node does not pass is not seen",
			graph: "[API_TOKEN, REGION]", env: `{REGION: "${REGION}"}`,
			want:   map[string]string{"REGION": "eu-west-1"},
			absent: []string{"API_TOKEN"}},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "env")
			env := `{OUT: "` + out + `"}`
			if tt.env != "" {
				env = strings.Replace(tt.env, "{", `{OUT: "`+out+`", `, 1)
			}
			decl := ""
			if tt.graph != "" {
				decl = "  env: " + tt.graph + "\n"
			}
			g := load(t, decl+`
  state: {n: {type: int}}
  entry: work
  nodes:
    work: {exec: {command: `+sh(`env > "$OUT"`)+`, env: `+env+`}}
`)
			if _, err := run(t, g, nil); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]string{}
			for _, line := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(line, "="); ok {
					seen[k] = v
				}
			}
			for k, v := range tt.want {
				if got, ok := seen[k]; !ok || got != v {
					t.Errorf("%s = %q (set: %t), want %q", k, got, ok, v)
				}
			}
			for _, k := range tt.absent {
				if v, ok := seen[k]; ok {
					t.Errorf("the command sees %s=%q", k, v)
				}
			}
		})
	}
}

// TestHTTPHeaderVariables: ${NAME} in a header reads a process variable that
// the graph declares in spec.env; naming any other is an error when the file
// is loaded, so a graph file cannot send graphjob's own secrets anywhere.
func TestHTTPHeaderVariables(t *testing.T) {
	var got atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("X-Value"))
	}))
	defer srv.Close()
	t.Setenv("DECLARED", "declared-value")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
	tests := []struct {
		desc, decl, header string // decl: a line of spec, such as env: [A]
		sent               string // the header the server got
		err                string // the error of Parse
	}{
		{"a declared variable", "env: [DECLARED]", "v=${DECLARED}", "v=declared-value", ""},
		{"$$ is a $", "env: [DECLARED]", "$${DECLARED}$$", "${DECLARED}$", ""},
		{"an undeclared variable", "", "${AWS_SECRET_ACCESS_KEY}", "",
			`test.yaml:10:38: node "work" http header X-Value reads ${AWS_SECRET_ACCESS_KEY}, which the graph does not declare; ` +
				`declare the process variables it reads under spec: env: [AWS_SECRET_ACCESS_KEY]`},
		{"a variable spec.env does not declare", "env: [DECLARED]", "Bearer ${AWS_SECRET_ACCESS_KEY}", "",
			`test.yaml:10:38: node "work" http header X-Value reads ${AWS_SECRET_ACCESS_KEY}, which spec.env does not declare; ` +
				`add AWS_SECRET_ACCESS_KEY to spec.env (line 5)`},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			got.Store("")
			text := fmt.Sprintf(`apiVersion: graphjob.dev/v1
kind: Graph
metadata: {name: test}
spec:
  %s
  state:
    n: {type: int}
  entry: work
  nodes:
    work: {http: {headers: {X-Value: %q}, url: %q}}
`, cmp.Or(tt.decl, "recursionLimit: 3"), tt.header, srv.URL)
			g, err := spec.Parse("test.yaml", []byte(text))
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err = %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := run(t, g, nil); err != nil {
				t.Fatal(err)
			}
			if got.Load() != tt.sent {
				t.Errorf("X-Value: %q, want %q", got.Load(), tt.sent)
			}
		})
	}
}
