package emulator

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The emulator binaries, as `make tools` names them in .cache/bin.
const (
	KumoBinary     = "kumo"
	LocalKMSBinary = "local-kms"
	RIEBinary      = "aws-lambda-rie"
)

// ErrBinaryMissing is returned (wrapped) when an emulator binary is neither in
// .cache/bin nor on PATH.
var ErrBinaryMissing = errors.New("emulator binary not found (run make tools)")

var rootOnce = sync.OnceValues(findRoot)

// RepoRoot returns the directory holding the product's go.mod. It walks up from
// the working directory instead of asking `go env GOMOD` first, because a
// program started by `make run` or a test binary may run where no go command
// is installed; `go env` is only the fallback.
func RepoRoot() (string, error) { return rootOnce() }

func findRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; {
		if isProductModule(filepath.Join(d, "go.mod")) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil {
		if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull && isProductModule(gomod) {
			return filepath.Dir(gomod), nil
		}
	}
	return "", fmt.Errorf("repository root: no go.mod of module %s above %s", productModule, dir)
}

const productModule = "github.com/snskeyguard/snskeyguard"

// isProductModule skips the nested tools module (tools/go.mod), whose
// directory is not the root even though it holds a go.mod.
func isProductModule(gomod string) bool {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == productModule
		}
	}
	return false
}

// LookBinary finds an emulator binary: first .cache/bin at the repository root
// (the pinned build of `make tools`), then PATH.
func LookBinary(name string) (string, error) {
	if root, err := RepoRoot(); err == nil {
		p := filepath.Join(root, ".cache", "bin", name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s: %w", name, ErrBinaryMissing)
}

// RequireBinary is LookBinary for tests: a missing binary fails the test in CI
// (CI=true), where it means the pipeline is broken, and skips it elsewhere.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := LookBinary(name)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%v; CI must not skip emulator tests", err)
	}
	t.Skipf("skipping: %v (run `make tools` to build the pinned emulators into .cache/bin)", err)
	return ""
}
