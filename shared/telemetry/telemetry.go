// Package telemetry sets up the functions' structured logging (log/slog, JSON,
// level from LOG_LEVEL), counts AWS calls, and writes CloudWatch Embedded
// Metric Format lines. It imports no AWS SDK, so every layer may use it.
package telemetry

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Level parses a LOG_LEVEL value (debug, info, warn/warning, error; any
// case). Anything else, including "", is info: a typo must not silence the
// decision log lines.
func Level(s string) slog.Level {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// NewLogger returns a JSON logger writing to w at the level LOG_LEVEL names.
func NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: Level(os.Getenv("LOG_LEVEL"))}))
}

// Setup installs NewLogger(os.Stdout) as slog's default (Lambda ships stdout
// to CloudWatch Logs) and returns it.
func Setup() *slog.Logger {
	l := NewLogger(os.Stdout)
	slog.SetDefault(l)
	return l
}

// Counter counts named events (AWS calls by "Service.Operation"). It is safe
// for concurrent use; the zero value is ready.
type Counter struct {
	mu sync.Mutex
	n  map[string]int
}

// Add counts one occurrence of name.
func (c *Counter) Add(name string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[name]++
	c.mu.Unlock()
}

// Snapshot returns a copy of the counts so far.
func (c *Counter) Snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.n))
	maps.Copy(out, c.n)
	return out
}

// Total returns the sum of all counts.
func (c *Counter) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := 0
	for _, v := range c.n {
		t += v
	}
	return t
}

// WriteMetrics writes one CloudWatch Embedded Metric Format line: CloudWatch
// Logs turns it into metrics without any PutMetricData call (which would cost
// AWS calls and time in the function). Metric names are sorted so the line is
// deterministic; dimensions may be empty.
func WriteMetrics(w io.Writer, namespace string, dimensions map[string]string, metrics map[string]float64, now time.Time) error {
	doc := make(map[string]any, len(dimensions)+len(metrics)+1)
	dimKeys := make([]string, 0, len(dimensions))
	for k, v := range dimensions {
		dimKeys = append(dimKeys, k)
		doc[k] = v
	}
	sort.Strings(dimKeys)
	names := make([]string, 0, len(metrics))
	for k := range metrics {
		names = append(names, k)
	}
	sort.Strings(names)
	defs := make([]map[string]string, 0, len(names))
	for _, k := range names {
		doc[k] = metrics[k]
		defs = append(defs, map[string]string{"Name": k, "Unit": "Count"})
	}
	doc["_aws"] = map[string]any{
		"Timestamp": now.UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  namespace,
			"Dimensions": [][]string{dimKeys},
			"Metrics":    defs,
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
