package spec

import "syscall"

// dieWithParent makes the kernel kill a command when graphjob dies, even of
// SIGKILL: a resumed run must not race its previous attempt's commands.
func dieWithParent(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
