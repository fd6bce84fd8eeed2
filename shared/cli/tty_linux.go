//go:build linux

package cli

import (
	"os"
	"syscall"
	"unsafe"
)

// isTerminal says whether f is a terminal (its terminal attributes can be
// read), as isatty(3) does; /dev/null and pipes are not.
func isTerminal(f *os.File) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
