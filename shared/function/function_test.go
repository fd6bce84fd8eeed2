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

func TestSetGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if got := setGCPercent(func(string) string { return "" }); got != 50 || debug.SetGCPercent(50) != 50 {
		t.Fatalf("got %d", got)
	}
	if got := setGCPercent(func(k string) string { return map[string]string{"GOGC": "200"}[k] }); got != -1 {
		t.Fatalf("GOGC must win, got %d", got)
	}
}
