//go:build !linux

package checkpoints

import (
	"fmt"
	"os"
)

// createUnnamed is Linux's; elsewhere objects go through a named temporary file.
func createUnnamed(string, string, object) (bool, error) { return false, nil }

// openNoWait opens a file for reading after checking it is a regular file
// (elsewhere than on Linux, without O_NONBLOCK: a file swapped for a FIFO in
// between may still block).
func openNoWait(path string) (*os.File, error) {
	st, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: not a regular file but %s: something other than graphjob put it there", ErrCorrupt, fileType(st.Mode()))
	}
	return os.Open(path)
}
