package kubelet

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// The kubelet starts every container through a shim: its own executable run
// again with shimEnv set, in new mount and UTS namespaces. The shim mounts the
// pod's volumes at their paths, sets the hostname, drops to the container's
// user and group, and execs the container's command in its place.
const shimEnv = "GRAPHJOB_KUBELET_SHIM"

// shimSpec is what the shim does, passed as JSON in shimEnv.
type shimSpec struct {
	Hostname  string
	Mounts    []shimMount
	ReadOnly  bool // remount / read-only
	Dir       string
	UID, GID  *int64
	Path      string
	Argv, Env []string
}

type shimMount struct {
	Source, Target string
	ReadOnly       bool
}

func init() {
	if spec := os.Getenv(shimEnv); spec != "" {
		if err := runShim(spec); err != nil {
			fmt.Fprintf(os.Stderr, "kubelet shim: %v\n", err)
			os.Exit(128)
		}
	}
}

func runShim(specJSON string) error {
	var s shimSpec
	if err := json.Unmarshal([]byte(specJSON), &s); err != nil {
		return err
	}
	// Mounts made here stay in this namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	// Pin every source before mounting anything: a volume mounted over a
	// directory (say /tmp) must not hide the sources of the mounts after it.
	for i, m := range s.Mounts {
		fd, err := syscall.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("volume source %s: %w", m.Source, err)
		}
		s.Mounts[i].Source = fmt.Sprintf("/proc/self/fd/%d", fd)
	}
	for _, m := range s.Mounts {
		if err := mountVolume(m); err != nil {
			return err
		}
	}
	if s.ReadOnly {
		// Only / itself: volumes are mounts of their own and keep their mode.
		if err := syscall.Mount("/", "/", "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only root filesystem: %w", err)
		}
	}
	if s.Hostname != "" {
		if err := syscall.Sethostname([]byte(s.Hostname)); err != nil {
			return fmt.Errorf("hostname: %w", err)
		}
	}
	if s.Dir != "" {
		if err := os.Chdir(s.Dir); err != nil {
			return fmt.Errorf("workingDir %s: %w", s.Dir, err)
		}
	}
	if s.GID != nil {
		if err := syscall.Setgroups([]int{int(*s.GID)}); err != nil {
			return fmt.Errorf("groups: %w", err)
		}
		if err := syscall.Setgid(int(*s.GID)); err != nil {
			return fmt.Errorf("runAsGroup %d: %w", *s.GID, err)
		}
	}
	if s.UID != nil {
		if err := syscall.Setuid(int(*s.UID)); err != nil {
			return fmt.Errorf("runAsUser %d: %w", *s.UID, err)
		}
	}
	return syscall.Exec(s.Path, s.Argv, s.Env)
}

func mountVolume(m shimMount) error {
	info, err := os.Stat(m.Source)
	if err != nil {
		return err
	}
	// The mount point is made on the host's filesystem; what is mounted on it
	// is seen only in this namespace.
	if info.IsDir() {
		err = os.MkdirAll(m.Target, 0o755)
	} else if err = os.MkdirAll(filepath.Dir(m.Target), 0o755); err == nil {
		var f *os.File
		if f, err = os.OpenFile(m.Target, os.O_CREATE, 0o644); err == nil {
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("mount point %s: %w", m.Target, err)
	}
	if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("mounting %s: %w", m.Target, err)
	}
	if m.ReadOnly {
		if err := syscall.Mount(m.Source, m.Target, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("read-only %s: %w", m.Target, err)
		}
	}
	return nil
}
