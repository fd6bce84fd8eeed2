package emulator

import (
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return syscall.Kill(pid, 0) == nil
	}
	s := string(b)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ')' {
			return len(s) > i+2 && s[i+2] != 'Z'
		}
	}
	return true
}

func TestFunctionUnderRIE(t *testing.T) {
	RequireBinary(t, RIEBinary)
	t0 := time.Now()
	bin, err := BuildPackage("internal/emulator/testdata/echofn")
	if err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	f, err := StartFunction(t.Context(), bin, map[string]string{"MODE": "remediate", "AWS_REGION": "eu-west-1"})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t2 := time.Now()

	if _, ok := f.InitDuration(); ok {
		t.Errorf("InitDuration before the first invoke: want none")
	}
	out, err := f.Invoke(t.Context(), []byte(`{"echo":{"a":1},"env":["MODE","AWS_REGION","AWS_ACCESS_KEY_ID","AWS_SECRET_ACCESS_KEY","AWS_LAMBDA_FUNCTION_NAME","AWS_XRAY_CONTEXT_MISSING","AWS_PROFILE"]}`))
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, f.Logs())
	}
	var got, want any
	_ = json.Unmarshal(out, &got)
	_ = json.Unmarshal([]byte(`{"echo":{"a":1},"env":{"MODE":"remediate","AWS_REGION":"eu-west-1","AWS_ACCESS_KEY_ID":"test",
		"AWS_SECRET_ACCESS_KEY":"test","AWS_LAMBDA_FUNCTION_NAME":"echofn","AWS_XRAY_CONTEXT_MISSING":null,"AWS_PROFILE":null}}`), &want)
	if gb, wb := mustJSON(got), mustJSON(want); gb != wb {
		t.Errorf("response\n got %s\nwant %s", gb, wb)
	}

	t.Logf("build %v, emulator ready %v, first invoke %v", t1.Sub(t0), t2.Sub(t1), time.Since(t2))
	d, ok := f.InitDuration()
	if !ok || d <= 0 || d > 10*time.Second {
		t.Errorf("InitDuration = %v, %v; want a positive duration parsed from INIT REPORT; logs:\n%s", d, ok, f.Logs())
	}

	_, err = f.Invoke(t.Context(), []byte(`{"fail":"boom"}`))
	var fe *FunctionError
	if !errors.As(err, &fe) {
		t.Fatalf("invoke with failure: err = %v, want *FunctionError", err)
	}
	if fe.Type != "errorString" || fe.Message != "boom" {
		t.Errorf("function error = %q/%q, want errorString/boom", fe.Type, fe.Message)
	}
	if _, err := f.Invoke(t.Context(), []byte(`{"echo":2}`)); err != nil {
		t.Errorf("invoke after a function error: %v", err)
	}
	if logs := f.Logs(); !contains(logs, "echofn handling {\"fail\":\"boom\"}") {
		t.Errorf("logs do not hold the function's output:\n%s", logs)
	}

	// Close must take the function process (in its own process group, started
	// by the emulator) down with the emulator.
	kids := descendants(f.Pid())
	if len(kids) == 0 {
		t.Fatalf("no function process under aws-lambda-rie (pid %d)", f.Pid())
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range append(kids, f.Pid()) {
		if alive(pid) {
			t.Errorf("pid %d still alive after Close", pid)
		}
	}
	if err := f.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAsFunctionError(t *testing.T) {
	for body, want := range map[string]bool{
		`{"errorMessage":"x","errorType":"T"}`:                    true,
		`{"errorMessage":"x","errorType":"T","stackTrace":["a"]}`: true,
		`{"mode":"alert","errorType":"T"}`:                        false,
		`{"errorMessage":"x"}`:                                    false,
		`[1]`:                                                     false,
		`"errorType"`:                                             false,
	} {
		if got := asFunctionError([]byte(body)) != nil; got != want {
			t.Errorf("asFunctionError(%s) = %v, want %v", body, got, want)
		}
	}
}

func TestLookBinary(t *testing.T) {
	_, err := LookBinary("no-such-emulator-binary")
	if !errors.Is(err, ErrBinaryMissing) {
		t.Errorf("LookBinary(missing) err = %v, want ErrBinaryMissing", err)
	}
	root, err := RepoRoot()
	if err != nil || !isProductModule(root+"/go.mod") {
		t.Errorf("RepoRoot() = %q, %v", root, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
