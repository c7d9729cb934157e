package spec

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/graphjob/graphjob/graph"
)

// httpNode posts the request to the node's URL. 2xx is success, 429 and 5xx
// are worth a retry, other statuses fail the node at once. Header values may
// read the process variables the graph declares as ${NAME}, so secrets stay
// out of the file.
//
// What the server sends back is quoted in errors (an excerpt of the body, the
// status line, a bad JSON value) with the header values the node sent
// redacted, so a server that echoes the request cannot put them there.
func (c *compiler) httpNode(n *nodeSpec) graph.NodeFunc[graph.State] {
	spec := n.http
	return protocolNode(func(ctx context.Context, _ graph.TaskInfo, body []byte) (graph.Update, error) {
		req, err := http.NewRequestWithContext(ctx, spec.method, spec.url, bytes.NewReader(body))
		if err != nil {
			return nil, graph.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "graphjob")
		sent := &redactor{}
		for _, h := range spec.headers {
			v := h.value.expand(func(name string) string {
				v := os.Getenv(name) // a variable of spec.env: the compiler checked
				sent.add(v)
				return v
			})
			req.Header.Set(h.name, v)
			sent.add(v)
		}
		u, err := c.post(ctx, spec, req, sent)
		return u, sent.Error(err)
	})
}

// post sends req and reads the response's updates. Its errors may quote what
// the server sent: the caller redacts them.
func (c *compiler) post(ctx context.Context, spec *httpSpec, req *http.Request, sent *redactor) (graph.Update, error) {
	resp, err := c.opts.client.Do(req)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			return nil, fmt.Errorf("%s %s: %w", spec.method, spec.url, cause)
		}
		return nil, fmt.Errorf("%s %s: %w", spec.method, spec.url, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the response: %w", spec.method, spec.url, err)
	}
	if len(out) > MaxResponse {
		return nil, graph.Permanent(fmt.Errorf("%s %s: the response is larger than the limit of %d bytes", spec.method, spec.url, MaxResponse))
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
	case code == http.StatusTooManyRequests || code >= 500:
		return nil, fmt.Errorf("%s %s: %s%s", spec.method, spec.url, resp.Status, excerpt(out, sent))
	default:
		return nil, graph.Permanent(fmt.Errorf("%s %s: %s%s", spec.method, spec.url, resp.Status, excerpt(out, sent)))
	}
	u, err := c.decodeUpdate(out)
	if err != nil {
		return nil, graph.Permanent(fmt.Errorf("%s %s: %w", spec.method, spec.url, err))
	}
	return u, nil
}

// excerpt is the end of a response body, for an error. Values the node sent
// are redacted before the body is cut, so that no part of one is left at the
// excerpt's start.
func excerpt(b []byte, sent *redactor) string {
	t := &tailBuffer{max: 512}
	_, _ = t.Write([]byte(sent.String(string(b))))
	if s := t.String(); s != "" {
		return ": " + s
	}
	return ""
}
