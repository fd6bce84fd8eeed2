//go:build unix && !linux

package emulator

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// descendants is unknown without /proc; the group kill still reaches every
// child that did not start its own group.
func descendants(int) []int { return nil }
