//go:build !linux

package spec

import "syscall"

// dieWithParent does nothing here: only Linux kills a child with its parent.
func dieWithParent(*syscall.SysProcAttr) {}
