package function

import (
	"runtime/debug"
	"testing"
)

func TestSetMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if got := setMemoryLimit(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"})); got != 128<<20*8/10 {
		t.Fatalf("limit %d", got)
	}
	if got := setMemoryLimit(env(map[string]string{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128", "GOMEMLIMIT": "50MiB"})); got != -1 {
		t.Fatalf("GOMEMLIMIT must win, got %d", got)
	}
	if got := setMemoryLimit(env(nil)); got != -1 {
		t.Fatalf("no memory size: got %d", got)
	}
}
