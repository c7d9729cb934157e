package checkpoints

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	// file:// stores read, list and delete through fileblob.
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
