package emulator

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// sysProcAttr puts the child in its own process group (so Close can signal
// the whole group) and has the kernel kill it if the test binary dies first,
// for example on a test timeout panic where no cleanup runs.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Children lists the processes whose parent is pid, in ascending order, read
// from /proc (the function process is the child of aws-lambda-rie).
func Children(pid int) ([]int, error) {
	byParent, err := childrenByParent()
	if err != nil {
		return nil, err
	}
	out := slices.Clone(byParent[pid])
	slices.Sort(out)
	return out, nil
}

// descendants lists every process below pid, read from /proc.
func descendants(pid int) []int {
	children, err := childrenByParent()
	if err != nil {
		return nil
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// childrenByParent maps every parent pid in /proc to its children.
func childrenByParent() (map[int][]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses; fields resume
		// after the last ')': state, ppid, ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		ppid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], child)
	}
	return children, nil
}
