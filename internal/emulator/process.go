package emulator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds every wait for an emulator to answer; they all answer in
// well under a second here, so reaching it means the process is stuck.
const readyTimeout = 15 * time.Second

// logBuffer collects a process's stdout and stderr for assertions; the
// optional tee lets a person watch them live.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	tee io.Writer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tee != nil {
		_, _ = l.tee.Write(p)
	}
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// process is one emulator child. It runs in its own process group so Close
// can take down whatever it spawned; aws-lambda-rie starts the function in yet
// another group, which killTree finds by walking the process tree.
type process struct {
	name     string
	cmd      *exec.Cmd
	logs     *logBuffer
	done     chan struct{}
	waitErr  error
	tempDirs []string
	close    sync.Once
	closeErr error
}

func startProcess(name, bin string, args, env []string, tee io.Writer) (*process, error) {
	p := &process{name: name, logs: &logBuffer{tee: tee}, done: make(chan struct{})}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout = p.logs
	cmd.Stderr = p.logs
	cmd.SysProcAttr = sysProcAttr()
	// The Go runtime copies pipe output in goroutines; without WaitDelay a
	// grandchild that inherited the pipes would keep Wait blocked forever.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = cmd
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Close kills the process, everything it started, and removes its temp dirs.
// It is safe to call more than once.
func (p *process) Close() error {
	p.close.Do(func() {
		var errs []error
		if p.cmd != nil {
			killTree(p.cmd.Process.Pid)
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				errs = append(errs, fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid))
			}
		}
		for _, d := range p.tempDirs {
			if err := os.RemoveAll(d); err != nil {
				errs = append(errs, err)
			}
		}
		p.closeErr = errors.Join(errs...)
	})
	return p.closeErr
}

// killTree stops the group first so nothing new is spawned while the tree is
// read, then kills every descendant's group and the root group.
func killTree(pid int) {
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	for _, d := range descendants(pid) {
		_ = syscall.Kill(-d, syscall.SIGKILL)
		_ = syscall.Kill(d, syscall.SIGKILL)
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// freePort asks the kernel for an unused loopback port. Another process may
// take it before the emulator binds it; the starters retry on that.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls check until it succeeds, the process exits, or the timeout.
func (p *process) waitReady(ctx context.Context, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	var last error
	for {
		if p.exited() {
			return fmt.Errorf("%s exited before it was ready (%v); log:\n%s", p.name, p.waitErr, p.logs.String())
		}
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		last = check(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %v; log:\n%s", p.name, readyTimeout, last, p.logs.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func httpAnswers(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	}
}

func tcpAnswers(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

// baseEnv is what every child gets from the host. The children do not inherit
// the whole environment so that a developer's real AWS profile or credentials
// can never reach an emulated run.
func baseEnv() []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "TZ"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startWithRetry starts a process on fresh ports until one start survives the
// readiness check; the retry covers the window in which another process can
// take a port that freePort handed out.
func startWithRetry(ctx context.Context, attempts int, start func() (*process, error), ready func(*process) error) (*process, error) {
	var errs []error
	for range attempts {
		p, err := start()
		if err != nil {
			return nil, err
		}
		if err := ready(p); err != nil {
			errs = append(errs, err)
			_ = p.Close()
			if ctx.Err() != nil {
				break
			}
			continue
		}
		return p, nil
	}
	return nil, errors.Join(errs...)
}
