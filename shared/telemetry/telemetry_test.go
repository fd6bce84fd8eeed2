package telemetry

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestLevel(t *testing.T) {
	cases := map[string]slog.Level{
		"": slog.LevelInfo, "info": slog.LevelInfo, "DEBUG": slog.LevelDebug, " warn ": slog.LevelWarn,
		"warning": slog.LevelWarn, "Error": slog.LevelError, "verbose": slog.LevelInfo,
	}
	for in, want := range cases {
		if got := Level(in); got != want {
			t.Errorf("Level(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNewLoggerHonoursLogLevel(t *testing.T) {
	t.Setenv("LOG_LEVEL", "warn")
	var buf bytes.Buffer
	l := NewLogger(&buf)
	l.Info("hidden")
	l.Warn("shown", "k", "v")
	got := buf.String()
	if bytes.Contains(buf.Bytes(), []byte("hidden")) || !bytes.Contains(buf.Bytes(), []byte(`"msg":"shown","k":"v"`)) {
		t.Fatalf("log output %q", got)
	}
}

func TestCounterConcurrent(t *testing.T) {
	var c Counter
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { c.Add("KMS.DescribeKey"); c.Add("SNS.ListTopics") })
	}
	wg.Wait()
	s := c.Snapshot()
	if s["KMS.DescribeKey"] != 50 || s["SNS.ListTopics"] != 50 || len(s) != 2 || c.Total() != 100 {
		t.Fatalf("snapshot %v total %d", s, c.Total())
	}
	s["KMS.DescribeKey"] = 0
	if c.Snapshot()["KMS.DescribeKey"] != 50 {
		t.Fatal("snapshot is not a copy")
	}
}

func TestWriteMetricsExactLine(t *testing.T) {
	var buf bytes.Buffer
	err := WriteMetrics(&buf, "SNSKeyGuard", map[string]string{"Function": "config-rule"},
		map[string]float64{"AWSCalls": 12, "Findings.GRANT_MISSING": 2}, time.UnixMilli(1700000000123))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"AWSCalls":12,"Findings.GRANT_MISSING":2,"Function":"config-rule","_aws":{"CloudWatchMetrics":[{"Dimensions":[["Function"]],"Metrics":[{"Name":"AWSCalls","Unit":"Count"},{"Name":"Findings.GRANT_MISSING","Unit":"Count"}],"Namespace":"SNSKeyGuard"}],"Timestamp":1700000000123}}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
}
