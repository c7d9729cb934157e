package spec

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/graphjob/graphjob/graph"
)

// MaxResponse bounds the bytes an exec node's stdout or an http node's
// response body may hold.
const MaxResponse = 16 << 20

// request is what exec and http nodes receive: on stdin, or as the body.
type request struct {
	State graph.State `json:"state"`
	Item  *itemValue  `json:"item,omitempty"`
	Run   runInfo     `json:"run"`
	// Progress is the task's last saved cursor, when it runs again.
	Progress json.RawMessage `json:"progress,omitempty"`
}

// itemValue carries a map task's item, which may itself be null.
type itemValue struct{ v any }

func (i *itemValue) MarshalJSON() ([]byte, error) { return json.Marshal(i.v) }

type runInfo struct {
	ID      string `json:"id"`
	Step    int    `json:"step"`
	Node    string `json:"node"`
	Attempt int    `json:"attempt"`
	// Slot is a scheduled run's slot time (RFC 3339, UTC); "" otherwise.
	Slot string `json:"slot"`
}

func newRequest(ctx context.Context, s graph.State, t graph.TaskInfo, progress json.RawMessage) ([]byte, error) {
	r := request{State: s, Run: runInfo{ID: t.RunID, Step: t.Step, Node: t.Node, Attempt: t.Attempt, Slot: slotOf(ctx)}, Progress: progress}
	if t.HasItem {
		r.Item = &itemValue{t.Item}
	}
	return json.Marshal(r)
}

// protocolNode makes a node of a call that takes the encoded request: the
// shared half of exec and http nodes.
func protocolNode(call func(ctx context.Context, task graph.TaskInfo, req []byte) (graph.Update, error)) graph.NodeFunc[graph.State] {
	return func(ctx context.Context, s graph.State) (graph.Update, error) {
		task, _ := graph.TaskFromContext(ctx)
		var progress json.RawMessage
		if _, err := graph.LoadProgress(ctx, &progress); err != nil {
			return nil, fmt.Errorf("loading the task's cursor: %w", err)
		}
		req, err := newRequest(ctx, s, task, progress)
		if err != nil {
			return nil, graph.Permanent(fmt.Errorf("encoding the request: %w", err))
		}
		return call(ctx, task, req)
	}
}

// decodeUpdate reads a node's response: a JSON object of channel updates.
// Empty output means no update.
func (c *compiler) decodeUpdate(out []byte) (graph.Update, error) {
	if len(bytes.TrimSpace(out)) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(out)
	if err != nil {
		return nil, fmt.Errorf("the response is not JSON; print one JSON object of channel updates, such as {\"step\": 2}: %w", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the response is %s, not a JSON object of channel updates", describeValue(v))
	}
	u := make(graph.Update, len(obj))
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		ch, ok := c.byName[k]
		if !ok {
			return nil, fmt.Errorf("the response updates %q, which is not a channel; %s", k, c.envs.channelList())
		}
		if u[k], err = writeValue(ch, obj[k]); err != nil {
			return nil, fmt.Errorf("the response: %w", err)
		}
	}
	return u, nil
}

// tailBuffer keeps the last bytes written to it, for error messages.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, nil))) }

// limitBuffer holds up to max bytes and fails the write past them.
type limitBuffer struct {
	bytes.Buffer
	max int
}

func (l *limitBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		return 0, fmt.Errorf("output is larger than the limit of %d bytes", l.max)
	}
	return l.Buffer.Write(p)
}
