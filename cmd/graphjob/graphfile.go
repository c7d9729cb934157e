package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/graphjob/graphjob/spec"
)

// loadGraph loads a graph file from a path, or from a URL of a store
// (s3://BUCKET/KEY?region=R, gs://, azblob://, file:///PATH), and returns it
// with the file's bytes. A file that is not there is invalid input (exit 2);
// a store that cannot be reached is transient (exit 1).
func loadGraph(ctx context.Context, file string, opts ...spec.Option) (*spec.Graph, []byte, error) {
	data, err := readGraph(ctx, file)
	var remote *remoteError
	if errors.As(err, &remote) && gcerrors.Code(remote.err) != gcerrors.NotFound {
		return nil, nil, fmt.Errorf("reading the graph file %s: %w", file, remote.err)
	}
	if err != nil {
		return nil, nil, &spec.Error{File: file, Msg: fmt.Sprintf("cannot read the graph file: %v", err)}
	}
	if !strings.Contains(file, "://") {
		opts = append(opts, spec.WithLocalFiles())
	}
	g, err := spec.Parse(file, data, opts...)
	return g, data, err
}

func readGraph(ctx context.Context, file string) ([]byte, error) {
	if !strings.Contains(file, "://") {
		return spec.ReadLocal(file, spec.MaxFileSize)
	}
	u, err := url.Parse(file)
	if err != nil {
		return nil, err
	}
	key := strings.TrimPrefix(u.Path, "/")
	if u.Scheme == "file" {
		if u.Host == "." { // file://./rel/path, as store URLs write a relative path
			return spec.ReadLocal(strings.TrimPrefix(u.Path, "/"), spec.MaxFileSize)
		}
		return spec.ReadLocal(u.Path, spec.MaxFileSize)
	}
	if key == "" {
		return nil, errors.New("the URL names no object: write SCHEME://BUCKET/PATH/graph.yaml")
	}
	u.Path = ""
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		return nil, err // a URL graphjob cannot open: invalid
	}
	defer b.Close()
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, &remoteError{err}
	}
	defer r.Close()
	data, err := readLimited(r)
	if err != nil {
		return nil, &remoteError{err}
	}
	return data, nil
}

// remoteError is a failure to read from a store.
type remoteError struct{ err error }

func (e *remoteError) Error() string { return e.err.Error() }

// readLimited reads up to one byte more than a graph file may hold, for
// spec.Parse to refuse.
func readLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, spec.MaxFileSize+1))
}
