package bench

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/function"
)

// BenchmarkSweepInProcess runs config-rule's scheduled sweep in this process
// against kumo (1,000 topics on 50 keys), so -cpuprofile and -memprofile show
// where a sweep spends its time and allocations:
//
//	go test ./internal/bench -run '^$' -bench SweepInProcess -benchtime 3x -memprofile mem.out
func BenchmarkSweepInProcess(b *testing.B) {
	const topics, keys = 1000, 50
	stack := emulator.NewStack(b, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: SweepSeed(topics, keys)}})
	for k, v := range emulator.With(stack.Env(), map[string]string{
		"MODE": "alert", "DISCOVER_SOURCES": "false", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_PROFILE": "", "AWS_SESSION_TOKEN": "",
	}) {
		b.Setenv(k, v)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	h, err := function.New(context.Background(), "config-rule", function.ConfigRule, os.Getenv, log)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rep, err := h(context.Background(), json.RawMessage(SweepEvent()))
		if err != nil {
			b.Fatal(err)
		}
		if rep.Summary == nil || rep.Summary.Topics != topics {
			b.Fatalf("report summary %+v, want %d topics", rep.Summary, topics)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*topics), "ns/topic")
}
