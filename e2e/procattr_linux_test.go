package e2e

import "syscall"

// procAttr makes a started binary die with the test process (if the test
// binary is killed by a timeout, no daemon is left behind).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
