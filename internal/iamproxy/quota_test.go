package iamproxy

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func quotaFixture(t *testing.T, mode QuotaMode, clock func() time.Time) (*Proxy, aws.Config) {
	t.Helper()
	p, _, cfg := fixtureWith(t, alertEnv, nil, Options{Quotas: mode, Clock: clock})
	return p, cfg
}

func TestLimiterBurstThenRate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLimiter(QuotaRealTime, clk.now, nil)
	op := "sns:ListTagsForResource" // 10 per second
	for i := range burstOf(op) {
		if !l.admit("111111111111", "us-east-1", op) {
			t.Fatalf("call %d of a full bucket refused", i)
		}
	}
	if l.admit("111111111111", "us-east-1", op) {
		t.Fatal("call past the burst admitted")
	}
	// Buckets are per account and per Region.
	if !l.admit("222222222222", "us-east-1", op) || !l.admit("111111111111", "eu-west-1", op) {
		t.Fatal("another account's or Region's bucket was drained")
	}
	clk.add(100 * time.Millisecond) // one token at 10/s
	if !l.admit("111111111111", "us-east-1", op) {
		t.Fatal("a refilled token was refused")
	}
	if l.admit("111111111111", "us-east-1", op) {
		t.Fatal("two calls admitted on one refilled token")
	}
	if l.throttled[op] != 2 {
		t.Errorf("throttled %v", l.throttled)
	}
	// Operations without a documented quota pass.
	for range 1000 {
		if !l.admit("111111111111", "us-east-1", "sts:GetCallerIdentity") {
			t.Fatal("unmetered call refused")
		}
	}
}

func TestVirtualClockChargesTheWait(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLimiter(QuotaVirtual, clk.now, nil)
	op := "config:SelectResourceConfig" // 10 per second
	for range 10 + 50 {
		if !l.admit("111111111111", "us-east-1", op) {
			t.Fatal("the virtual clock refused a call")
		}
	}
	// 10 calls from the burst, then 50 more at 10/s: 5 s of emulated waits,
	// while the real clock did not move.
	if got := l.waited; got < 4900*time.Millisecond || got > 5100*time.Millisecond {
		t.Errorf("emulated wait %v, want 5s", got)
	}
	if got := l.now(); got != l.waited {
		t.Errorf("emulated now %v, want the waits %v", got, l.waited)
	}
	// Another quota's calls made in that emulated time find a full bucket.
	before := l.waited
	for range burstOf("kms:DescribeKey") {
		l.admit("111111111111", "us-east-1", "kms:DescribeKey")
	}
	if l.waited != before {
		t.Errorf("a full DescribeKey bucket charged %v", l.waited-before)
	}
}

func TestThrottledCallsGetTheServiceShapeAndTheRetryerAbsorbsThem(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0)} // frozen until the test moves it
	p, cfg := quotaFixture(t, QuotaRealTime, clk.now)
	ctx := context.Background()
	account := fixtureAccount
	// Drain the buckets, then call once more with no retry: the SDK sees the
	// service's throttling error.
	for range burstOf("sns:Publish") {
		p.quota.admit(account, "us-east-1", "sns:Publish")
	}
	_, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: aws.String(fixtureTopic), Message: aws.String("x")})
	if ae := apiError(t, err); ae.ErrorCode() != "Throttling" || ae.ErrorMessage() != "Rate exceeded" {
		t.Errorf("SNS over quota: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	if !(retry.ThrottleErrorCode{Codes: retry.DefaultThrottleErrorCodes}).IsErrorThrottle(err).Bool() {
		t.Errorf("the SDK does not take %v for a throttle", err)
	}
	for range burstOf("kms:DescribeKey") {
		p.quota.admit(account, "us-east-1", "kms:DescribeKey")
	}
	_, err = kms.NewFromConfig(cfg).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k-1")})
	if ae := apiError(t, err); ae.ErrorCode() != "ThrottlingException" ||
		ae.ErrorMessage() != "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls." {
		t.Errorf("KMS over quota: %s %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	if got := p.Throttled(); got["sns:Publish"] != 1 || got["kms:DescribeKey"] != 1 {
		t.Errorf("throttled %v", got)
	}
	// With the SDK's adaptive retry the same over-quota call succeeds once
	// the bucket refills (the clock moves a second on, 50 ms into the call).
	go func() { time.Sleep(50 * time.Millisecond); clk.add(time.Second) }()
	retrying := cfg.Copy()
	retrying.Retryer = func() aws.Retryer { return retry.NewAdaptiveMode() }
	if _, err := kms.NewFromConfig(retrying).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("k-1")}); err != nil {
		t.Fatalf("adaptive retry did not absorb the throttle: %v", err)
	}
	if got := p.Throttled()["kms:DescribeKey"]; got < 2 {
		t.Errorf("the retried call was never throttled (%d): the test proves nothing", got)
	}
}

func TestLambdaInvokeIsAuthorizedOnTheFunction(t *testing.T) {
	c := &call{service: "lambda", region: "us-east-1", path: "/2015-03-31/functions/fixture-config-rule/invocations"}
	id := &identity{session: fixtureSession}
	got, err := functionARN(nil, id, c)
	if err != nil || len(got) != 1 || got[0] != "arn:aws:lambda:us-east-1:000000000000:function:fixture-config-rule" {
		t.Errorf("functionARN = %v, %v", got, err)
	}
	c.path = "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction%3Ax/invocations"
	if got, _ := functionARN(nil, id, c); got[0] != "arn:aws:lambda:eu-west-1:000000000000:function:x" {
		t.Errorf("by ARN: %v", got)
	}
	if op := restOperation("lambda", "POST", "/2015-03-31/functions/f/invocations"); op != "Invoke" {
		t.Errorf("restOperation = %q", op)
	}
}

// Every row of the quota table names its bucket by its key and cites an AWS
// page, and the rows marked documented hold the figure their page states
// (as read on 2026-12-07): changing one of these figures, or marking a row
// documented, means re-reading its page and updating this list.
func TestQuotaTableIsCited(t *testing.T) {
	documented := map[string][2]float64{ // rate, burst
		"sns:ListTopics":                  {30, 30},
		"sns:ListTagsForResource":         {10, 10},
		"kms:DescribeKey":                 {1000, 1000},
		"kms:GetKeyPolicy":                {1000, 1000},
		"kms:PutKeyPolicy":                {5, 5},
		"kms:ListAliases":                 {100, 100},
		"kms:ListResourceTags":            {100, 100},
		"events:ListRules":                {50, 50},
		"events:ListEventBuses":           {50, 50},
		"events:ListTargetsByRule":        {50, 50},
		"monitoring:DescribeAlarms":       {9, 9},
		"securityhub:BatchImportFindings": {10, 30},
	}
	for op, q := range quotas {
		if q.bucket != op {
			t.Errorf("%s: bucket %q", op, q.bucket)
		}
		if !strings.HasPrefix(q.source, "https://docs.aws.amazon.com/") {
			t.Errorf("%s: source %q is not an AWS documentation page", op, q.source)
		}
		if !(q.rate > 0) || q.burst < 1 {
			t.Errorf("%s: rate %v burst %v", op, q.rate, q.burst)
		}
		want, ok := documented[op]
		if q.documented != ok {
			t.Errorf("%s: documented=%v, the list above says %v", op, q.documented, ok)
			continue
		}
		if ok && (q.rate != want[0] || q.burst != want[1]) {
			t.Errorf("%s: %v/s burst %v, its page states %v/s burst %v", op, q.rate, q.burst, want[0], want[1])
		}
	}
	for op := range documented {
		if _, ok := quotas[op]; !ok {
			t.Errorf("%s: documented but not in the table", op)
		}
	}
}

// An override replaces one operation's rate for one proxy (its bucket then
// holds one second of requests) and leaves the package's table alone; an
// unknown operation or a rate that is not a positive number is refused.
func TestQuotaOverrides(t *testing.T) {
	table, err := QuotaTable(map[string]float64{"config:SelectResourceConfig": 2.5})
	if err != nil {
		t.Fatal(err)
	}
	if q := table["config:SelectResourceConfig"]; q.rate != 2.5 || q.burst != 2.5 || q.documented || q.source != "override" {
		t.Fatalf("override: %+v", q)
	}
	if quotas["config:SelectResourceConfig"].rate == 2.5 {
		t.Fatal("the override changed the package table")
	}
	for _, bad := range []map[string]float64{{"config:NoSuchCall": 1}, {"config:PutEvaluations": 0}, {"config:PutEvaluations": -1}, {"config:PutEvaluations": math.Inf(1)}, {"config:PutEvaluations": math.NaN()}} {
		if _, err := QuotaTable(bad); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
	clk := &fakeClock{t: time.Unix(0, 0)}
	l := newLimiter(QuotaRealTime, clk.now, table)
	admitted := 0
	for i := 0; i < 10; i++ {
		if l.admit("111122223333", "us-east-1", "config:SelectResourceConfig") {
			admitted++
		}
	}
	if admitted != 2 { // floor(2.5) tokens at once
		t.Fatalf("admitted %d at once with a bucket of 2.5", admitted)
	}
	clk.add(400 * time.Millisecond) // one token at 2.5/s
	if !l.admit("111122223333", "us-east-1", "config:SelectResourceConfig") {
		t.Fatal("no token after 1/rate")
	}
	if _, err := New(Options{Default: "http://127.0.0.1:1", Template: []byte("Resources: {}\n"), QuotaOverrides: map[string]float64{"sns:Nope": 1}}); err == nil || !strings.Contains(err.Error(), "sns:Nope") {
		t.Fatalf("New with a bad override: %v", err)
	}
}
