//go:build unix && !linux

package emulator

import (
	"errors"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// descendants is unknown without /proc; the group kill still reaches every
// child that did not start its own group.
func descendants(int) []int { return nil }

// Children needs /proc, which only Linux has here.
func Children(int) ([]int, error) {
	return nil, errors.New("children of a process: no /proc on this system")
}
