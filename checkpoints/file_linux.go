package checkpoints

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// createUnnamed writes obj to an unnamed file in dir (O_TMPFILE), syncs it,
// and links it to path: the object appears whole or not at all, and there is
// no temporary name to remove. It reports false, having done nothing, where
// the filesystem or the missing /proc cannot do this.
func createUnnamed(dir, path string, obj object) (bool, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return false, nil
	}
	if err != nil {
		return true, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.Write(obj.header); err != nil {
		return true, err
	}
	if _, err := f.Write(obj.body); err != nil {
		return true, err
	}
	if err := f.Sync(); err != nil {
		return true, err
	}
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	switch {
	case errors.Is(err, unix.EEXIST):
		return true, errFileExists
	case errors.Is(err, unix.ENOENT):
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return false, nil // no /proc
		}
	}
	if err != nil {
		return true, &os.LinkError{Op: "link", Old: "(unnamed)", New: path, Err: err}
	}
	return true, nil
}

// openNoWait opens a file for reading without blocking on a FIFO or a
// device (O_NONBLOCK), so that its type can be checked first.
func openNoWait(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
}
