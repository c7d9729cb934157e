package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// subgraphCursor is the progress a subgraph run by Subgraph saves: its last
// superstep boundary.
type subgraphCursor struct {
	Subgraph *Checkpoint `json:"subgraph"`
}

// Subgraph runs sub from input as part of the node's task and returns its
// final state. Called with a node's context it is durable: each superstep of
// the subgraph is saved as the task's progress (SaveProgress), so a task run
// again, by a retry or by a resumed run whose process was killed inside the
// subgraph, continues the subgraph after its last superstep instead of
// starting it over: the subgraph's history is kept under the parent's task,
// as LangGraph's checkpoint namespaces keep it. A node calls Subgraph once
// and saves no progress of its own.
//
// The subgraph runs with opts; its nodes see the run ID
// "RUN/NODE:STEP.INDEX" of the parent's task. Called without a node's
// context, Subgraph is sub.Invoke.
func Subgraph[T any](ctx context.Context, sub *Graph[T], input T, opts ...RunOption) (T, error) {
	tc, ok := ctx.Value(taskKey{}).(*taskContext)
	if !ok {
		return sub.Invoke(ctx, input, opts...)
	}
	t := tc.info
	opts = append(slices.Clone(opts), WithRunID(fmt.Sprintf("%s/%s:%d.%d", t.RunID, t.Node, t.Step, t.Index)))
	data, err := tc.progress.load(ctx, t)
	if err != nil {
		return input, err
	}
	var cp Checkpoint
	if data != nil {
		if cp, err = decodeSubgraph(data); err != nil {
			return input, fmt.Errorf("subgraph of node %q: %w", t.Node, err)
		}
	} else if cp, err = sub.Start(ctx, input, opts...); err != nil {
		return input, err
	}
	save := func(_ context.Context, cp Checkpoint) error { return SaveProgress(ctx, subgraphCursor{Subgraph: &cp}) }
	return sub.Resume(ctx, cp, append(opts, WithCommit(save))...)
}

// decodeSubgraph reads a saved subgraph boundary, its numbers as a State's
// are: integers as int64, other numbers as float64.
func decodeSubgraph(data []byte) (Checkpoint, error) {
	var c struct {
		Subgraph *struct {
			Checkpoint
			Values map[string]json.RawMessage `json:"values"`
			Next   []struct {
				Task
				Item json.RawMessage `json:"item,omitempty"`
			} `json:"next"`
		} `json:"subgraph"`
	}
	if err := json.Unmarshal(data, &c); err != nil || c.Subgraph == nil {
		return Checkpoint{}, fmt.Errorf("the saved progress is not a subgraph's: %s", data)
	}
	cp := c.Subgraph.Checkpoint
	cp.Values = make(map[string]any, len(c.Subgraph.Values))
	for k, raw := range c.Subgraph.Values {
		v, err := decodeNumbers(raw)
		if err != nil {
			return Checkpoint{}, err
		}
		cp.Values[k] = v
	}
	cp.Next = make([]Task, len(c.Subgraph.Next))
	for i, n := range c.Subgraph.Next {
		cp.Next[i] = n.Task
		if n.HasItem {
			v, err := decodeNumbers(n.Item)
			if err != nil {
				return Checkpoint{}, err
			}
			cp.Next[i].Item = v
		}
	}
	return cp, nil
}

func decodeNumbers(raw json.RawMessage) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return numbers(v), nil
}

func numbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i, e := range x {
			x[i] = numbers(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = numbers(e)
		}
	}
	return v
}
