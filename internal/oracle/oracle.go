// Package oracle drives an independent IAM policy evaluator,
// @cloud-copilot/iam-simulate (pinned in package-lock.json, installed by
// `make oracle-deps` into the git-ignored .cache/oracle), as a test oracle for
// the key-policy engine: the differential tests ask it and the engine the same
// fully known requests and report every disagreement. It is test tooling and
// never ships in a function.
package oracle

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
)

// Decision is the evaluator's answer for one request.
type Decision string

const (
	Allowed          Decision = "Allowed"
	ExplicitlyDenied Decision = "ExplicitlyDenied"
	ImplicitlyDenied Decision = "ImplicitlyDenied"
)

// ErrMissing is returned (wrapped) when node or the installed package is missing.
var ErrMissing = errors.New("IAM oracle not installed (run make oracle-deps)")

// Request is one request against a loaded key policy.
type Request struct {
	Principal       string         `json:"principal"` // a service principal or an AWS principal ARN
	Action          string         `json:"action"`
	Resource        string         `json:"resource"`        // the key ARN
	ResourceAccount string         `json:"resourceAccount"` // the key's account
	Context         map[string]any `json:"context"`         // string or []string values
	// IdentityAllowAll gives an AWS principal an identity policy that allows
	// everything: the key policy's delegation to IAM then shows as allowed.
	IdentityAllowAll bool `json:"identityAllowAll,omitempty"`
}

// Sim is one long-lived evaluator process. Its methods are safe for
// concurrent use (calls are serialised: the process answers in order).
type Sim struct {
	mu    sync.Mutex
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	next  int
	calls int
}

// Paths returns the node binary, the script and the node_modules directory
// the oracle runs from, or an error wrapping ErrMissing.
func Paths() (node, script, modules string, err error) {
	root, err := emulator.RepoRoot()
	if err != nil {
		return "", "", "", err
	}
	node, err = exec.LookPath("node")
	if err != nil {
		return "", "", "", fmt.Errorf("node: %w", ErrMissing)
	}
	script = filepath.Join(root, "internal", "oracle", "sim.mjs")
	modules = filepath.Join(root, ".cache", "oracle", "node_modules")
	pkg := filepath.Join(modules, "@cloud-copilot", "iam-simulate", "package.json")
	if _, err := os.Stat(pkg); err != nil {
		return "", "", "", fmt.Errorf("%s: %w", pkg, ErrMissing)
	}
	return node, script, modules, nil
}

// Start starts the evaluator process.
func Start() (*Sim, error) {
	node, script, modules, err := Paths()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, script, modules)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start oracle: %w", err)
	}
	return &Sim{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16)}, nil
}

// Require starts the oracle for a test and stops it at cleanup. A missing
// node or package skips the test, except under CI=true, where it fails (the
// same convention as the emulator tests).
func Require(t testing.TB) *Sim {
	t.Helper()
	s, err := Start()
	if err != nil {
		if errors.Is(err, ErrMissing) && os.Getenv("CI") != "true" {
			t.Skipf("skipping: %v", err)
		}
		t.Fatalf("%v; CI must not skip the oracle tests", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Close ends the process.
func (s *Sim) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.in.Close()
	return s.cmd.Wait()
}

// Calls is how many requests the oracle has evaluated.
func (s *Sim) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type reply struct {
	OK        bool       `json:"ok"`
	Errors    []string   `json:"errors"`
	Decision  Decision   `json:"decision"`
	Decisions []Decision `json:"decisions"`
	Error     string     `json:"error"`
}

func (s *Sim) roundTrip(msg any) (reply, error) {
	b, err := json.Marshal(msg)
	if err != nil {
		return reply{}, err
	}
	if _, err := s.in.Write(append(b, '\n')); err != nil {
		return reply{}, fmt.Errorf("oracle write: %w", err)
	}
	line, err := s.out.ReadBytes('\n')
	if err != nil {
		return reply{}, fmt.Errorf("oracle read: %w", err)
	}
	var r reply
	if err := json.Unmarshal(line, &r); err != nil {
		return reply{}, fmt.Errorf("oracle reply %q: %w", line, err)
	}
	return r, nil
}

// Policy is a key policy loaded into the oracle.
type Policy struct {
	s   *Sim
	ref string
	// Errors are the oracle's validation errors; a policy with errors cannot be evaluated.
	Errors []string
}

// Load validates and caches a key policy (JSON text).
func (s *Sim) Load(policy []byte) (*Policy, error) {
	if !json.Valid(policy) {
		return nil, errors.New("oracle: policy is not JSON")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	ref := "p" + strconv.Itoa(s.next)
	r, err := s.roundTrip(struct {
		Op     string          `json:"op"`
		Ref    string          `json:"ref"`
		Policy json.RawMessage `json:"policy"`
	}{"load", ref, policy})
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, errors.New("oracle: " + r.Error)
	}
	return &Policy{s: s, ref: ref, Errors: r.Errors}, nil
}

// Decide evaluates one request against the policy.
func (p *Policy) Decide(req Request) (Decision, error) {
	if len(p.Errors) > 0 {
		return "", fmt.Errorf("oracle rejected the policy: %s", strings.Join(p.Errors, "; "))
	}
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	r, err := s.roundTrip(struct {
		Op  string `json:"op"`
		Ref string `json:"ref"`
		Request
	}{"eval", p.ref, req})
	if err != nil {
		return "", err
	}
	if r.Error != "" {
		return "", errors.New("oracle: " + r.Error)
	}
	switch r.Decision {
	case Allowed, ExplicitlyDenied, ImplicitlyDenied:
		return r.Decision, nil
	}
	return "", fmt.Errorf("oracle: unexpected decision %q", r.Decision)
}

// DecideMany evaluates several requests against the policy in one round trip.
func (p *Policy) DecideMany(reqs []Request) ([]Decision, error) {
	if len(p.Errors) > 0 {
		return nil, fmt.Errorf("oracle rejected the policy: %s", strings.Join(p.Errors, "; "))
	}
	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls += len(reqs)
	r, err := s.roundTrip(struct {
		Op       string    `json:"op"`
		Ref      string    `json:"ref"`
		Requests []Request `json:"requests"`
	}{"evalMany", p.ref, reqs})
	if err != nil {
		return nil, err
	}
	if r.Error != "" {
		return nil, errors.New("oracle: " + r.Error)
	}
	if len(r.Decisions) != len(reqs) {
		return nil, fmt.Errorf("oracle: %d decisions for %d requests", len(r.Decisions), len(reqs))
	}
	for _, d := range r.Decisions {
		switch d {
		case Allowed, ExplicitlyDenied, ImplicitlyDenied:
		default:
			return nil, fmt.Errorf("oracle: unexpected decision %q", d)
		}
	}
	return r.Decisions, nil
}

// Reset forgets every loaded policy (their handles become unusable).
func (s *Sim) Reset() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, err := s.roundTrip(struct {
		Op string `json:"op"`
	}{"reset"})
	if err == nil && r.Error != "" {
		err = errors.New("oracle: " + r.Error)
	}
	return err
}
