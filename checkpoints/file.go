package checkpoints

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"

	// file:// stores read, list and delete through fileblob.
	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob"
)

// fileCreator writes the objects of a file:// store create-only across
// processes: each object is written to an unnamed file in its directory
// (Linux's O_TMPFILE) or to a temporary file, synced, and linked to its name. link(2) fails if the name exists, atomically, on local and network
// filesystems alike, where fileblob's own check holds only inside one process.
// Reads, lists and deletes go through fileblob, which reads these files as its
// own.
type fileCreator struct {
	root   string // the directory keys are relative to: the bucket's directory and the prefix
	prefix string
	tmp    string
}

// namedTemp turns the unnamed files off (tests of the other way).
var namedTemp = false

// errFileExists is the error of a create whose name is taken; Store.create
// resolves it by reading the object back.
var errFileExists = errors.New("file exists")

func newFileCreator(u *url.URL) (*fileCreator, error) {
	dir := filepath.FromSlash(u.Path)
	if u.Host == "." {
		dir = strings.TrimPrefix(dir, string(filepath.Separator))
	}
	if dir == "" {
		return nil, errors.New("no directory in the URL: write file:///abs/path or file://./rel/path")
	}
	prefix := u.Query().Get("prefix")
	for _, r := range prefix {
		if r < ' ' || r == '\\' {
			return nil, fmt.Errorf("prefix %q: use letters, digits and / . _ -", prefix)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	return &fileCreator{root: abs, prefix: prefix, tmp: filepath.Join(abs, ".graphjob-tmp")}, nil
}

func (f *fileCreator) create(key string, obj object) error {
	path := filepath.Join(f.root, filepath.FromSlash(f.prefix+key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	if !namedTemp {
		if done, err := createUnnamed(filepath.Dir(path), path, obj); done {
			if err != nil {
				return err
			}
			return syncDir(filepath.Dir(path))
		}
	}
	if err := os.MkdirAll(f.tmp, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(f.tmp, "object-*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(obj.header); err != nil {
		_ = tmp.Close()
		return err
	}
	if _, err := tmp.Write(obj.body); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errFileExists
		}
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// read reads the object at key, at most limit bytes. It opens the file
// without waiting (a FIFO put in an object's place would block open(2), and
// with it the process's signals, until something writes to it), then
// refuses anything but a regular file.
func (f *fileCreator) read(key string, limit int64) ([]byte, error) {
	file, err := openNoWait(filepath.Join(f.root, filepath.FromSlash(f.prefix+key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file but %s: something other than graphjob put it there", ErrCorrupt, fileType(st.Mode()))
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d bytes (raise MaxObjectSize, --max-object-size)", ErrTooLarge, st.Size(), limit)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(file, data); err != nil {
		return nil, err
	}
	if n, _ := file.Read(make([]byte, 1)); n > 0 {
		return nil, fmt.Errorf("%w: the object grew while it was read", ErrCorrupt)
	}
	return data, nil
}

// fileType names what a file that is not a regular file is.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	}
	return "a " + m.Type().String() + " file"
}

// list lists the names of the objects under prefix (not their sizes or
// times) in one walk of the prefix's directory, sorted by key; with a
// delimiter, deeper keys collapse into directory entries. (fileblob walks
// the whole directory again for every page of a listing and reads a sidecar
// file per object: a run with 100,000 pending writes took minutes to list.)
// It stops when ctx ends.
func (f *fileCreator) list(ctx context.Context, prefix, delimiter string) ([]*blob.ListObject, error) {
	base := filepath.Join(f.root, filepath.FromSlash(f.prefix))
	dir := prefix[:strings.LastIndex(prefix, "/")+1] // the key of the directory to walk: "" or ending in /
	l := &listing{ctx: ctx, prefix: prefix, delimiter: delimiter}
	if err := l.walk(filepath.Join(base, filepath.FromSlash(dir)), dir); err != nil {
		return nil, err
	}
	slices.SortFunc(l.objs, func(a, b *blob.ListObject) int { return strings.Compare(a.Key, b.Key) })
	return l.objs, nil
}

// listing is a list in progress.
type listing struct {
	ctx               context.Context
	prefix, delimiter string
	objs              []*blob.ListObject
	last              string // the last directory entry made
}

// walk lists the directory at path, whose entries' keys start with key.
func (l *listing) walk(path, key string) error {
	entries, err := os.ReadDir(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := l.ctx.Err(); err != nil {
		return err
	}
	for _, e := range entries {
		k := key + e.Name()
		if e.IsDir() {
			k += "/"
			switch {
			case k == ".graphjob-tmp/" || !strings.HasPrefix(k, l.prefix) && !strings.HasPrefix(l.prefix, k):
			case l.delimiter != "" && len(k) > len(l.prefix) && strings.Contains(k[len(l.prefix):len(k)-1], l.delimiter):
				// Under a directory entry made from another key of it.
			default:
				if err := l.walk(filepath.Join(path, e.Name()), k); err != nil {
					return err
				}
			}
			continue
		}
		if !strings.HasPrefix(k, l.prefix) || strings.HasSuffix(k, ".attrs") {
			continue
		}
		if l.delimiter != "" {
			if i := strings.Index(k[len(l.prefix):], l.delimiter); i >= 0 {
				if d := k[:len(l.prefix)+i+len(l.delimiter)]; d != l.last {
					l.last = d
					l.objs = append(l.objs, &blob.ListObject{Key: d, IsDir: true})
				}
				continue
			}
		}
		l.objs = append(l.objs, &blob.ListObject{Key: k})
	}
	return nil
}
