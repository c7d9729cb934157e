package checkpoints

import (
	"context"
	"crypto/md5" //nolint:gosec // MD5 is what S3 and GCS check an upload's integrity with, not a security measure.
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Options tune a Store. The zero value gives the defaults.
type Options struct {
	// MaxObjectSize bounds the size of an object, written or read back; a
	// larger one is refused with ErrTooLarge. Default 256 MiB.
	MaxObjectSize int64
	// MaxStateSize bounds the JSON of a whole state a step commits (its
	// channels' values together): a larger one is refused with a
	// *TooLargeError, nothing written. Default 1 GiB.
	MaxStateSize int64
	// Attempts bounds the tries of one storage operation that fails with a
	// transient error (unreachable, timed out, throttled). Default 5.
	Attempts int
	// Backoff is the wait after the first failed try; it doubles after each
	// further one, up to 10 s. Default 200 ms.
	Backoff time.Duration
	// Timeout bounds one try of one operation. Default 2 minutes.
	Timeout time.Duration
	// Now tells the time recorded in commits and results. Default time.Now.
	Now func() time.Time
	// BeforeWrite, when set, is called before each try of each object write
	// with the object's key (without the store's prefix) and size; an error
	// fails that try as a transient storage error would. Tests inject faults
	// with it, benchmarks count bytes.
	BeforeWrite func(key string, size int64) error
}

func (o Options) withDefaults() Options {
	if o.MaxObjectSize <= 0 {
		o.MaxObjectSize = 256 << 20
	}
	if o.MaxStateSize <= 0 {
		o.MaxStateSize = 1 << 30
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 200 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Store keeps the checkpoints of runs in a blob bucket. It is safe for
// concurrent use, by goroutines and by processes sharing the bucket.
type Store struct {
	bucket *blob.Bucket
	files  *fileCreator // set for file:// stores
	opts   Options
	url    string
}

// Open opens the store at a gocloud.dev/blob URL, such as
// s3://bucket?region=eu-west-1&prefix=graphjob/, gs://bucket, azblob://container,
// file:///var/lib/graphjob or mem://. The drivers of the schemes used must be
// linked in (import gocloud.dev/blob/s3blob and so on). A file:// directory is
// created if missing, and its writes are create-only across processes.
func Open(ctx context.Context, rawURL string, opts Options) (*Store, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, redactError(fmt.Errorf("store URL: %w", err), u, rawURL)
	}
	shown := redact(u)
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("store %s: %w", shown, err)
	}
	var files *fileCreator
	if u.Scheme == "file" {
		if files, err = newFileCreator(u); err != nil {
			return nil, fmt.Errorf("store %s: %w", shown, err)
		}
		q := u.Query()
		if !q.Has("create_dir") {
			q.Set("create_dir", "true")
		}
		u.RawQuery = q.Encode()
	}
	b, err := blob.OpenBucket(ctx, u.String())
	if err != nil {
		// The driver's error may quote the URL, credentials and all.
		return nil, redactError(fmt.Errorf("store %s: %w", shown, err), u, rawURL)
	}
	s := New(b, opts)
	s.files, s.url = files, shown
	return s, nil
}

// New returns a store over an open bucket. Writes are create-only as far as
// the bucket's driver makes IfNotExist so (fileblob: within one process; use
// Open for file:// stores shared by processes).
func New(b *blob.Bucket, opts Options) *Store {
	return &Store{bucket: b, opts: opts.withDefaults()}
}

// Close closes the store's bucket.
func (s *Store) Close() error { return s.bucket.Close() }

// String returns the store's URL without credentials.
func (s *Store) String() string { return s.url }

// redact drops user information and credential-looking query parameters.
func redact(u *url.URL) string {
	c := *u
	c.User = nil
	q := c.Query()
	for k := range q {
		if secretParam(k) {
			q.Set(k, "REDACTED")
		}
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// secretParam says whether a URL parameter's value is hidden where the URL
// is shown: every one but those known to say where, not who (a parameter
// a driver adds later may well carry a credential).
func secretParam(k string) bool {
	switch k {
	case "region", "endpoint", "prefix", "use_path_style", "disable_https", "create_dir", "awssdk", "profile",
		"anonymous", "dualstack", "fips", "accelerate", "domain", "protocol", "storage_account", "localemu",
		"no_tmp_dir", "base_url", "hostname_immutable", "rate_limiter_capacity", "requestChecksumCalculation", "responseChecksumValidation":
		return false
	}
	return true
}

// redactError hides, in err's text, the secrets of the URL it was opened
// with: its password and credential parameters, raw and escaped.
func redactError(err error, u *url.URL, raw string) error {
	var secrets []string
	if u != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		}
		for k, vs := range u.Query() {
			if secretParam(k) {
				secrets = append(secrets, vs...)
			}
		}
	} else {
		secrets = append(secrets, raw) // unparsable: none of it is shown
	}
	var pairs []string
	for _, v := range secrets {
		if v != "" {
			pairs = append(pairs, v, "REDACTED", url.QueryEscape(v), "REDACTED", url.PathEscape(v), "REDACTED")
		}
	}
	if len(pairs) == 0 {
		return err
	}
	return &redactedError{err: err, text: strings.NewReplacer(pairs...).Replace(err.Error())}
}

// redactedError is an error whose text has its secrets replaced.
type redactedError struct {
	err  error
	text string
}

func (e *redactedError) Error() string { return e.text }
func (e *redactedError) Unwrap() error { return e.err }

// checkURL refuses a store URL that would put objects where its user did
// not mean them: a prefix that climbs out of the bucket (..), is absolute,
// has an empty or a . segment, or does not end in /; for file://, a host
// (graphjob writes local paths only) or the filesystem's root.
func checkURL(u *url.URL) error {
	if len(u.Query()["prefix"]) > 1 {
		return errors.New("prefix given more than once: give one")
	}
	if p := u.Query().Get("prefix"); u.Query().Has("prefix") {
		switch {
		case p == "" || strings.HasPrefix(p, "/"):
			return fmt.Errorf("prefix %q: give a path inside the bucket, such as prefix=graphjob/", p)
		case !strings.HasSuffix(p, "/"):
			return fmt.Errorf("prefix %q: end it with /, such as prefix=%s/", p, p)
		}
		for seg := range strings.SplitSeq(strings.TrimSuffix(p, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." || strings.ContainsFunc(seg, func(r rune) bool { return r < ' ' || r == '\\' }) {
				return fmt.Errorf("prefix %q: segment %q: segments are letters, digits, - _ and . between single slashes, never . or .. alone", p, seg)
			}
		}
	}
	if u.Scheme == "file" {
		switch {
		case u.User != nil:
			return errors.New("user information: a file:// store is a local directory, with no user or password")
		case u.Host != "" && u.Host != ".":
			return fmt.Errorf("host %q: a file:// store is a local directory: write file:///abs/path or file://./rel/path", u.Host)
		case path.Clean(u.Path) == "/" && u.Host == "":
			return errors.New("the filesystem's root: give the store a directory of its own, such as file:///var/lib/graphjob")
		}
	}
	return nil
}

// create writes obj at key, create-only. An existing object with the same
// bytes counts as success: it is this write, landed by an earlier try whose
// outcome was unknown. An existing object with other bytes is ErrExists.
// Every other failure (a timeout, S3's 409 ConditionalRequestConflict, a cut
// connection) leaves the outcome unknown; it is resolved by reading the object
// back, then retried.
func (s *Store) create(ctx context.Context, key string, obj object) error {
	if obj.size() > s.opts.MaxObjectSize {
		return fmt.Errorf("%w: %d bytes, over the limit of %d bytes: it could not be read back (raise MaxObjectSize, --max-object-size)", ErrTooLarge, obj.size(), s.opts.MaxObjectSize)
	}
	var err error
	for try := 1; ; try++ {
		if err = s.put(ctx, key, obj); err == nil {
			return nil
		}
		if ctx.Err() != nil || !retryable(err) && gcerrors.Code(err) != gcerrors.FailedPrecondition {
			return err
		}
		data, rerr := s.readOnce(ctx, key)
		switch {
		case rerr == nil && obj.equal(data):
			return nil
		case rerr == nil:
			return ErrExists
		case errors.Is(rerr, ErrTooLarge):
			return ErrExists
		case errors.Is(rerr, ErrCorrupt), errors.Is(rerr, ErrUnsupported):
			return fmt.Errorf("something is already there: %w", rerr) // damage, not another writer
		}
		if try >= s.opts.Attempts {
			return fmt.Errorf("%w (%d tries)", err, try)
		}
		if err := s.wait(ctx, try); err != nil {
			return err
		}
	}
}

// put makes one try of a create-only write.
func (s *Store) put(ctx context.Context, key string, obj object) error {
	if f := s.opts.BeforeWrite; f != nil {
		if err := f(key, obj.size()); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	if s.files != nil {
		return s.files.create(key, obj)
	}
	h := md5.New() //nolint:gosec // see the import
	h.Write(obj.header)
	h.Write(obj.body)
	w, err := s.bucket.NewWriter(ctx, key, &blob.WriterOptions{
		IfNotExist:  true,
		ContentMD5:  h.Sum(nil),
		ContentType: "application/octet-stream",
	})
	if err != nil {
		return err
	}
	if _, err := w.Write(obj.header); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	if _, err := w.Write(obj.body); err != nil {
		cancel()
		_ = w.Close()
		return err
	}
	return w.Close()
}

// read returns the bytes of the object at key, retrying transient errors.
// A missing object is ErrNotFound.
func (s *Store) read(ctx context.Context, key string) ([]byte, error) {
	return retry(ctx, s, func() ([]byte, error) { return s.readOnce(ctx, key) })
}

func (s *Store) readOnce(ctx context.Context, key string) ([]byte, error) {
	if s.files != nil {
		return s.files.read(key, s.opts.MaxObjectSize)
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	r, err := s.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, notFound(err)
	}
	defer func() { _ = r.Close() }()
	if r.Size() > s.opts.MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d bytes (raise MaxObjectSize, --max-object-size)", ErrTooLarge, r.Size(), s.opts.MaxObjectSize)
	}
	// The size is known, so the buffer is allocated once, at its final size.
	data := make([]byte, r.Size())
	if _, err := io.ReadFull(r, data); err != nil {
		return nil, err
	}
	if n, _ := r.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("%w: the object grew while it was read", ErrCorrupt)
	}
	return data, nil
}

// exists reports whether an object exists at key, retrying transient errors.
func (s *Store) exists(ctx context.Context, key string) (bool, error) {
	return retry(ctx, s, func() (bool, error) { return s.bucket.Exists(ctx, key) })
}

// list returns the objects under prefix, in key order.
func (s *Store) list(ctx context.Context, prefix, delimiter string) ([]*blob.ListObject, error) {
	if s.files != nil {
		return s.files.list(ctx, prefix, delimiter)
	}
	return retry(ctx, s, func() ([]*blob.ListObject, error) {
		var objs []*blob.ListObject
		it := s.bucket.List(&blob.ListOptions{Prefix: prefix, Delimiter: delimiter})
		for {
			o, err := it.Next(ctx)
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
		}
	})
}

// remove deletes the object at key; a missing object is not an error.
func (s *Store) remove(ctx context.Context, key string) error {
	_, err := retry(ctx, s, func() (struct{}, error) {
		if err := s.bucket.Delete(ctx, key); gcerrors.Code(err) != gcerrors.NotFound {
			return struct{}{}, err
		}
		return struct{}{}, nil
	})
	return err
}

// retry calls op until it succeeds, fails for good, or has been tried
// Options.Attempts times, with backoff in between.
func retry[T any](ctx context.Context, s *Store, op func() (T, error)) (T, error) {
	for try := 1; ; try++ {
		v, err := op()
		if err == nil || !retryable(err) || ctx.Err() != nil || try >= s.opts.Attempts {
			return v, err
		}
		if err := s.wait(ctx, try); err != nil {
			return v, err
		}
	}
}

// parallel calls fn(0) … fn(n-1), at most limit at once, and returns their
// errors joined. Requests to a store are mostly waiting, so running a few at
// once cuts a commit's or a load's latency to a few round trips.
func parallel(n, limit int, fn func(i int) error) error {
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = fn(i)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// wait sleeps the backoff after the given try.
func (s *Store) wait(ctx context.Context, try int) error {
	d := s.opts.Backoff << min(try-1, 16)
	t := time.NewTimer(min(d, 10*time.Second))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// retryable reports whether err may pass if tried again.
func retryable(err error) bool {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrNotFound) {
		return false
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound, gcerrors.FailedPrecondition, gcerrors.PermissionDenied,
		gcerrors.InvalidArgument, gcerrors.Unimplemented, gcerrors.AlreadyExists, gcerrors.Canceled:
		return false
	}
	return true
}

func notFound(err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}
