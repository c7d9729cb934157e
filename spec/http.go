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
// name environment variables as ${NAME}, so secrets stay out of the file.
func (c *compiler) httpNode(n *nodeSpec) graph.NodeFunc[graph.State] {
	spec, client := n.http, c.opts.client
	return protocolNode(func(ctx context.Context, _ graph.TaskInfo, body []byte) (graph.Update, error) {
		req, err := http.NewRequestWithContext(ctx, spec.method, spec.url, bytes.NewReader(body))
		if err != nil {
			return nil, graph.Permanent(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", "graphjob")
		for k, v := range spec.headers {
			req.Header.Set(k, os.Expand(v, os.Getenv))
		}
		resp, err := client.Do(req)
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
			return nil, fmt.Errorf("%s %s: %s%s", spec.method, spec.url, resp.Status, excerpt(out))
		default:
			return nil, graph.Permanent(fmt.Errorf("%s %s: %s%s", spec.method, spec.url, resp.Status, excerpt(out)))
		}
		u, err := c.decodeUpdate(out)
		if err != nil {
			return nil, graph.Permanent(fmt.Errorf("%s %s: %w", spec.method, spec.url, err))
		}
		return u, nil
	})
}

func excerpt(b []byte) string {
	t := &tailBuffer{max: 512}
	_, _ = t.Write(b)
	if s := t.String(); s != "" {
		return ": " + s
	}
	return ""
}
