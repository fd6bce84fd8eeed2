package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var builds sync.Map // package dir -> func() (string, error)

// BuildFunction builds ./functions/<name> the way the Lambda runtime wants it
// (CGO_ENABLED=0, -tags lambda.norpc, a binary named bootstrap) for this
// machine, once per process, and returns the binary's path.
func BuildFunction(name string) (string, error) {
	return BuildPackage("functions/" + name)
}

// BuildPackage is BuildFunction for any main package, given relative to the
// repository root. The binary goes to
// .cache/functions/<goos>_<goarch>/<package dir>/bootstrap: a stable, git-ignored
// place that `make clean` removes, instead of a temp dir no one cleans.
func BuildPackage(rel string) (string, error) {
	f, _ := builds.LoadOrStore(rel, sync.OnceValues(func() (string, error) { return build(rel) }))
	return f.(func() (string, error))()
}

func build(rel string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, ".cache", "functions", runtime.GOOS+"_"+runtime.GOARCH, filepath.FromSlash(rel))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Build to a private name and rename: other test processes may build or
	// run the same function at the same time.
	tmp, err := os.CreateTemp(dir, "bootstrap-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", tmp.Name(), "./"+filepath.ToSlash(rel))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./%s: %w\n%s", rel, err, out)
	}
	bin := filepath.Join(dir, "bootstrap")
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// FunctionOptions configures StartFunction beyond the environment.
type FunctionOptions struct {
	// Output, when set, also receives the emulator's and function's logs.
	Output io.Writer
}

// Function is a Lambda function binary running under aws-lambda-rie.
type Function struct {
	// URL is the invoke endpoint.
	URL string
	// RuntimeAPI is the address of the Lambda runtime API the function polls.
	RuntimeAPI string
	addr       string
	p          *process
	client     *http.Client
}

// FunctionError is a function's error result: aws-lambda-rie answers it with
// HTTP 200 and a body carrying errorType.
type FunctionError struct {
	Type       string   `json:"errorType"`
	Message    string   `json:"errorMessage"`
	StackTrace []string `json:"stackTrace,omitempty"`
	Body       []byte   `json:"-"`
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, e.Message)
}

// DefaultFunctionEnv is what a function gets unless env overrides it: dummy
// credentials (the emulator passes unset ones as empty strings, which the SDK
// rejects) and the region.
func DefaultFunctionEnv() map[string]string {
	return map[string]string{
		"AWS_ACCESS_KEY_ID":     "test",
		"AWS_SECRET_ACCESS_KEY": "test",
		"AWS_REGION":            "us-east-1",
		"AWS_DEFAULT_REGION":    "us-east-1",
	}
}

// StartFunction runs binaryPath under aws-lambda-rie on two free loopback
// ports and waits until the emulator answers. The function itself starts on
// the first Invoke, as in Lambda. env is layered over DefaultFunctionEnv and
// AWS_LAMBDA_FUNCTION_NAME (the binary's directory name); nothing else of the
// host environment reaches the function except PATH, HOME, TMPDIR and TZ.
func StartFunction(ctx context.Context, binaryPath string, env map[string]string, opts ...FunctionOptions) (*Function, error) {
	rie, err := LookBinary(RIEBinary)
	if err != nil {
		return nil, err
	}
	var o FunctionOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	abs, err := filepath.Abs(binaryPath)
	if err != nil {
		return nil, err
	}
	vars := DefaultFunctionEnv()
	vars["AWS_LAMBDA_FUNCTION_NAME"] = filepath.Base(filepath.Dir(abs))
	maps.Copy(vars, env)
	childEnv := baseEnv()
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		childEnv = append(childEnv, k+"="+vars[k])
	}
	var f *Function
	start := func() (*process, error) {
		p1, err := freePort()
		if err != nil {
			return nil, err
		}
		p2, err := freePort()
		if err != nil {
			return nil, err
		}
		addr := "127.0.0.1:" + strconv.Itoa(p1)
		api := "127.0.0.1:" + strconv.Itoa(p2)
		p, err := startProcess("aws-lambda-rie", rie, []string{
			"--runtime-interface-emulator-address", addr, "--runtime-api-address", api, abs,
		}, childEnv, o.Output)
		if err != nil {
			return nil, err
		}
		f = &Function{URL: "http://" + addr + "/2015-03-31/functions/function/invocations", RuntimeAPI: api,
			addr: addr, p: p, client: &http.Client{}}
		return p, nil
	}
	ready := func(p *process) error { return p.waitReady(ctx, tcpAnswers(f.addr)) }
	if _, err := startWithRetry(ctx, 3, start, ready); err != nil {
		return nil, err
	}
	return f, nil
}

// Invoke sends payload and returns the function's response. A function error
// comes back as a *FunctionError (with the raw body); an emulator failure
// (non-200) as a plain error.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("invoke: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return body, fmt.Errorf("invoke: emulator answered %s: %s", resp.Status, body)
	}
	if fe := asFunctionError(body); fe != nil {
		return body, fe
	}
	return body, nil
}

func asFunctionError(body []byte) *FunctionError {
	var fe FunctionError
	if json.Unmarshal(body, &fe) != nil || fe.Type == "" {
		return nil
	}
	// A report that happens to carry an errorType field alongside other data
	// is not an error envelope; Lambda's envelope has only these keys.
	var keys map[string]json.RawMessage
	_ = json.Unmarshal(body, &keys)
	for k := range keys {
		if k != "errorType" && k != "errorMessage" && k != "stackTrace" && k != "cause" {
			return nil
		}
	}
	fe.Body = body
	return &fe
}

// Logs returns everything the emulator and the function printed so far.
func (f *Function) Logs() string { return f.p.logs.String() }

var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// InitDuration is the function's real cold-start time from the emulator's
// `INIT REPORT` line; false until the first invoke has initialised it.
func (f *Function) InitDuration() (time.Duration, bool) {
	m := initReport.FindStringSubmatch(f.Logs())
	if m == nil {
		return 0, false
	}
	ms, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, false
	}
	return time.Duration(ms * float64(time.Millisecond)), true
}

// Close stops the emulator and the function process.
func (f *Function) Close() error { return f.p.Close() }

// Pid is the emulator's process id, for tests that check nothing is left.
func (f *Function) Pid() int { return f.p.cmd.Process.Pid }

// NewFunction builds functions/<name>, runs it under aws-lambda-rie for a
// test and stops it when the test ends; the logs are attached to a failing
// test's output.
func NewFunction(t testing.TB, name string, env map[string]string) *Function {
	t.Helper()
	RequireBinary(t, RIEBinary)
	bin, err := BuildFunction(name)
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return startForTest(t, bin, env)
}

// StartFunctionForTest is NewFunction for an already built binary.
func StartFunctionForTest(t testing.TB, binaryPath string, env map[string]string) *Function {
	t.Helper()
	RequireBinary(t, RIEBinary)
	return startForTest(t, binaryPath, env)
}

func startForTest(t testing.TB, bin string, env map[string]string) *Function {
	t.Helper()
	f, err := StartFunction(t.Context(), bin, env)
	if err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs of %s:\n%s", filepath.Base(filepath.Dir(bin)), f.Logs())
		}
		if err := f.Close(); err != nil {
			t.Errorf("stop %s: %v", bin, err)
		}
	})
	return f
}
