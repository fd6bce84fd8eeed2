package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/function"
)

func TestMinimum(t *testing.T) {
	for _, tc := range []struct{ n, k, d, want int }{
		{10000, 50, 0, 100 + 10000 + 100 + 100},
		{1, 1, 0, 1 + 1 + 2 + 1},
		{101, 3, 7, 2 + 101 + 6 + 2 + 7},
		{0, 0, 0, 0},
	} {
		if got := Minimum(tc.n, tc.k, tc.d); got != tc.want {
			t.Errorf("Minimum(%d, %d, %d) = %d, want %d", tc.n, tc.k, tc.d, got, tc.want)
		}
	}
	if got := Total(map[string]int{"SNS.ListTopics": 2, "KMS.DescribeKey": 3}); got != 5 {
		t.Errorf("Total = %d, want 5", got)
	}
}

// rieLog is aws-lambda-rie's log of a first invocation, as captured here.
const rieLog = "28 Nov 2026 03:22:40,583 [INFO] (rapid) INIT START(type: on-demand, phase: init)\n" +
	"28 Nov 2026 03:22:40,606 [INFO] (rapid) INIT REPORT(durationMs: 23.060000)\n" +
	"28 Nov 2026 03:22:40,606 [INFO] (rapid) INVOKE START(requestId: b315995a)\n" +
	"28 Nov 2026 03:22:40,612 [INFO] (rapid) INVOKE RTDONE(status: success, produced bytes: 0, duration: 5.370000ms)\n" +
	"END RequestId: b315995a\n" +
	"REPORT RequestId: b315995a\tInit Duration: 0.10 ms\tDuration: 28.81 ms\tBilled Duration: 29 ms\tMemory Size: 3008 MB\tMax Memory Used: 3008 MB\t\n" +
	"REPORT RequestId: c0ffee\tDuration: 2.46 ms\tBilled Duration: 3 ms\n"

func TestParseColdStart(t *testing.T) {
	c, err := ParseColdStart(rieLog)
	if err != nil {
		t.Fatal(err)
	}
	want := ColdStart{Init: 23060 * time.Microsecond, Invoke: 5370 * time.Microsecond, Report: 28810 * time.Microsecond}
	if c != want {
		t.Errorf("got %+v, want %+v", c, want)
	}
	if c.Total() != 28430*time.Microsecond {
		t.Errorf("Total = %v", c.Total())
	}
	if _, err := ParseColdStart("INIT REPORT(durationMs: 1.0)\n"); err == nil {
		t.Error("a log without the invocation parsed")
	}
}

func TestMedianAndParsers(t *testing.T) {
	if m := Median([]float64{5, 1, 3}); m != 3 {
		t.Errorf("odd median = %v", m)
	}
	if m := Median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("even median = %v", m)
	}
	if b, err := parseVmHWM("Name:\tbootstrap\nVmPeak:\t  9 kB\nVmHWM:\t   80280 kB\nVmRSS:\t 1 kB\n"); err != nil || b != 80280*1024 {
		t.Errorf("VmHWM = %d, %v", b, err)
	}
	if _, err := parseVmHWM("VmRSS:\t 1 kB\n"); err == nil {
		t.Error("status without VmHWM parsed")
	}
	ns, err := ParseNsPerOp("goos: linux\nBenchmarkEvaluatePlan-2   \t    9632\t    241391 ns/op\t 127.16 MB/s\t   41230 B/op\nPASS\n")
	if err != nil || ns != 241391 {
		t.Errorf("ns/op = %v, %v", ns, err)
	}
	// Our own process: a real VmHWM (emulator.TestChildren finds the function
	// process the way cmd/bench does).
	if b, err := PeakRSS(os.Getpid()); err != nil || b <= 0 {
		t.Errorf("PeakRSS(self) = %d, %v", b, err)
	}
}

func TestSweepSeed(t *testing.T) {
	s := SweepSeed(10, 4)
	if len(s.Keys) != 4 || len(s.Topics) != 10 {
		t.Fatalf("%d keys, %d topics", len(s.Keys), len(s.Topics))
	}
	want := []string{
		"arn:aws:kms:us-east-1:000000000000:key/bench000-0000-4000-8000-000000000000",
		"bench001-0000-4000-8000-000000000000", "alias/bench-002",
		"arn:aws:kms:us-east-1:000000000000:key/bench003-0000-4000-8000-000000000000",
		"arn:aws:kms:us-east-1:000000000000:key/bench000-0000-4000-8000-000000000000",
	}
	for i, w := range want {
		if got := s.Topics[i].Attributes["KmsMasterKeyId"]; got != w {
			t.Errorf("topic %d names %q, want %q", i, got, w)
		}
	}
	if s.Keys[0].Policy != compliantPolicy || s.Keys[1].Policy != "" {
		t.Error("even keys carry the compliant policy, odd ones kumo's default")
	}
}

// countingAWS is a loopback "AWS" that counts every request.
func countingAWS(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		t.Logf("AWS request %s %s %s", r.Method, r.URL.Path, r.Header.Get("X-Amz-Target"))
		http.Error(w, "no AWS call expected", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// TestNoAWSCallDuringInit: building a function's handler (everything main
// does before lambda.Start) makes no AWS request, for every entry point.
func TestNoAWSCallDuringInit(t *testing.T) {
	srv, n := countingAWS(t)
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "us-east-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"MODE": "remediate", "DISCOVER_SOURCES": "true", "CROSS_ACCOUNT_ROLE_NAME": "GuardMember", "SECURITY_HUB": "true",
	} {
		t.Setenv(k, v)
	}
	for name, entry := range map[string]function.Entry{
		"topic-guard": function.TopicGuard, "key-guard": function.KeyGuard, "config-rule": function.ConfigRule,
	} {
		if _, err := function.New(context.Background(), name, entry, os.Getenv, nil); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if got := n.Load(); got != 0 {
		t.Errorf("%d AWS requests during init, want 0", got)
	}
}

// TestNoAWSCallColdStartUnderRIE is the cold start the bench measures: the
// real topic-guard binary under aws-lambda-rie, invoked with an event it
// skips, makes no AWS request at all, and the emulator's log yields the figures.
func TestNoAWSCallColdStartUnderRIE(t *testing.T) {
	srv, n := countingAWS(t)
	root, err := emulator.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile(filepath.Join(root, "events", "topic-guard-CreateTopic-failed.json"))
	if err != nil {
		t.Fatal(err)
	}
	fn := emulator.NewFunction(t, "topic-guard", map[string]string{"AWS_ENDPOINT_URL": srv.URL, "DISCOVER_SOURCES": "true"})
	out, err := fn.Invoke(t.Context(), event)
	if err != nil {
		t.Fatalf("invoke: %v: %s", err, out)
	}
	deadline := time.Now().Add(2 * time.Second)
	var c ColdStart
	for {
		if c, err = ParseColdStart(fn.Logs()); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil || c.Init <= 0 || c.Invoke <= 0 {
		t.Errorf("cold start %+v, %v", c, err)
	}
	if got := n.Load(); got != 0 {
		t.Errorf("%d AWS requests during init and the skipped invocation, want 0", got)
	}
}

func TestRecordedSweepSeed(t *testing.T) {
	kumo, topics := RecordedSweepSeed(250, 4, false)
	if len(kumo.Keys) != 4 || len(kumo.Topics) != 0 || len(topics) != 250 {
		t.Fatalf("%d keys, %d kumo topics, %d recorded", len(kumo.Keys), len(kumo.Topics), len(topics))
	}
	if topics[1].KmsMasterKeyID != "bench001-0000-4000-8000-000000000000" || topics[1].ARN != "arn:aws:sns:us-east-1:000000000000:bench-topic-00001" ||
		!strings.Contains(topics[1].Policy, `"Resource":"arn:aws:sns:us-east-1:000000000000:bench-topic-00001"`) {
		t.Errorf("topic %+v", topics[1])
	}
	// 3 pages: 3 Select + 3 BatchGet + 3 PutEvaluations, 2 calls per key, 1 GetCallerIdentity.
	if got := MinimumRecorded(250, 4, false); got != 9+8+1 {
		t.Errorf("MinimumRecorded = %d", got)
	}
	// Configuration items without the access policy: kumo holds the topics
	// (the sweep reads each policy from SNS), one GetTopicAttributes each.
	kumo, topics = RecordedSweepSeed(250, 4, true)
	if len(kumo.Topics) != 250 || len(topics) != 250 || !topics[7].NoPolicy || kumo.Topics[7].Attributes["KmsMasterKeyId"] != topics[7].KmsMasterKeyID {
		t.Fatalf("policy from SNS: %d kumo topics, %d recorded, %+v", len(kumo.Topics), len(topics), topics[7])
	}
	if got := MinimumRecorded(250, 4, true); got != 9+8+1+250 {
		t.Errorf("MinimumRecorded without policies = %d", got)
	}
}
