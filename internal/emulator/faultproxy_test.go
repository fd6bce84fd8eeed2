package emulator

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/smithy-go"
)

// TestFaultProxy checks each fault as the real SDK clients see it, through
// kumo: the error code or status the product's classifier will get, and
// whether the request reached the emulator.
func TestFaultProxy(t *testing.T) {
	k := NewKumo(t, KumoOptions{Seed: &KumoSeed{
		Keys:   []SeedKey{{ID: seededKeyID}},
		Topics: []SeedTopic{{Name: "orders"}},
	}})
	p, err := NewFaultProxy(FaultOptions{Target: k.URL, SlowDelay: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	cfg := sdkConfig()
	cfg.RetryMaxAttempts = 1 // one attempt: the test sees each fault itself
	cfg.HTTPClient = awshttp.NewBuildableClient().WithTimeout(400 * time.Millisecond)
	viaProxy := kms.NewFromConfig(cfg, func(o *kms.Options) { o.BaseEndpoint = aws.String(p.URL) })
	snsProxy := sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = aws.String(p.URL) })
	direct := kms.NewFromConfig(sdkConfig(), func(o *kms.Options) { o.BaseEndpoint = aws.String(k.URL) })
	ctx := context.Background()
	topicARN := "arn:aws:sns:us-east-1:" + KumoAccount + ":orders"

	getPolicy := func() error {
		_, err := viaProxy.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(seededKeyID), PolicyName: aws.String("default")})
		return err
	}
	stored := func() string {
		out, err := direct.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(seededKeyID), PolicyName: aws.String("default")})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.Policy)
	}
	put := func(doc string) error {
		_, err := viaProxy.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(seededKeyID), PolicyName: aws.String("default"), Policy: aws.String(doc)})
		return err
	}
	code := func(err error) string {
		var api smithy.APIError
		if errors.As(err, &api) {
			return api.ErrorCode()
		}
		return ""
	}
	status := func(err error) int {
		var re *awshttp.ResponseError
		if errors.As(err, &re) {
			return re.HTTPStatusCode()
		}
		return 0
	}
	only := func(op string, f Fault) []FaultRule {
		return []FaultRule{{Ops: []string{op}, Rate: 1, Faults: []Fault{f}}}
	}

	p.Reset(1, only("kms:GetKeyPolicy", FaultThrottling))
	if err := getPolicy(); code(err) != "ThrottlingException" || status(err) != 400 {
		t.Errorf("ThrottlingException: got %v (code %q, status %d)", err, code(err), status(err))
	}
	p.Reset(1, only("kms:GetKeyPolicy", FaultKMSThrottling))
	if err := getPolicy(); code(err) != "KMSThrottlingException" {
		t.Errorf("KMSThrottlingException: got %v", err)
	}
	p.Reset(1, only("sns:GetTopicAttributes", FaultSNSThrottled))
	if _, err := snsProxy.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topicARN)}); code(err) != "Throttled" || status(err) != 400 {
		t.Errorf("SNS Throttled: got %v (code %q)", err, code(err))
	}
	// A throttle fault that does not fit the protocol is not injected.
	p.Reset(1, only("sns:GetTopicAttributes", FaultThrottling))
	if _, err := snsProxy.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(topicARN)}); err != nil {
		t.Errorf("JSON throttle on a query request: %v, want it skipped", err)
	}
	p.Reset(1, only("kms:GetKeyPolicy", FaultHTTP500))
	if err := getPolicy(); status(err) != 500 {
		t.Errorf("HTTP500: got %v", err)
	}
	p.Reset(1, only("kms:GetKeyPolicy", FaultHTTP503))
	if err := getPolicy(); status(err) != 503 {
		t.Errorf("HTTP503: got %v", err)
	}
	p.Reset(1, only("kms:GetKeyPolicy", FaultDrop))
	if err := getPolicy(); err == nil || status(err) != 0 {
		t.Errorf("Drop: got %v, want a transport error", err)
	}

	// Writes: Drop never reaches kumo; DropAfter and Slow do, and the
	// client still sees a failure.
	orig := stored()
	doc := func(sid string) string {
		return `{"Version":"2012-10-17","Statement":[{"Sid":"` + sid + `","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}`
	}
	p.Reset(1, only("kms:PutKeyPolicy", FaultDrop))
	if err := put(doc("drop")); err == nil {
		t.Error("Drop on PutKeyPolicy: no error")
	}
	if got := stored(); got != orig {
		t.Errorf("Drop: the write reached kumo: %s", got)
	}
	p.Reset(1, only("kms:PutKeyPolicy", FaultDropAfter))
	if err := put(doc("dropafter")); err == nil {
		t.Error("DropAfter on PutKeyPolicy: no error")
	}
	if got := stored(); got != doc("dropafter") {
		t.Errorf("DropAfter: kumo has %s, want the write applied", got)
	}
	p.Reset(1, only("kms:PutKeyPolicy", FaultSlow))
	start := time.Now()
	err = put(doc("slow"))
	if err == nil || !strings.Contains(err.Error(), "Timeout") && !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Slow: got %v, want a client timeout", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("Slow: the client waited %v, its timeout is 400ms", d)
	}
	if got := stored(); got != doc("slow") {
		t.Errorf("Slow: kumo has %s, want the write applied", got)
	}

	want := map[string]int{
		"kms:GetKeyPolicy ThrottlingException": 1, "kms:GetKeyPolicy KMSThrottlingException": 1,
		"sns:GetTopicAttributes Throttled": 1, "kms:GetKeyPolicy HTTP500": 1, "kms:GetKeyPolicy HTTP503": 1,
		"kms:GetKeyPolicy Drop": 1, "kms:PutKeyPolicy Drop": 1, "kms:PutKeyPolicy DropAfter": 1, "kms:PutKeyPolicy Slow": 1,
	}
	if got := p.Injected(); !reflect.DeepEqual(got, want) {
		t.Errorf("injected %v\nwant %v", got, want)
	}
	if got := p.Forwarded(); got["kms:PutKeyPolicy 200"] != 2 || got["sns:GetTopicAttributes 200"] != 1 {
		t.Errorf("forwarded %v", got)
	}
}

// TestFaultProxySchedule checks that a seed fixes the schedule, that the
// rate is honoured, and that Before sees each operation's sequence number.
func TestFaultProxySchedule(t *testing.T) {
	if _, err := NewFaultProxy(FaultOptions{Target: "not a url"}); err == nil {
		t.Error("a target that is not a URL was accepted")
	}
	p := &FaultProxy{}
	rules := []FaultRule{{Ops: []string{"kms:*"}, Rate: 0.3}}
	draw := func(seed int64) []Fault {
		p.reset(seed, rules)
		var out []Fault
		for i := 0; i < 200; i++ {
			out = append(out, p.decide("kms:GetKeyPolicy", protoJSON))
		}
		return out
	}
	a, b, c := draw(7), draw(7), draw(8)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same seed gave two schedules")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("two seeds gave the same schedule")
	}
	n := 0
	kinds := map[Fault]bool{}
	for _, f := range a {
		if f != "" {
			n++
			kinds[f] = true
		}
	}
	if n < 40 || n > 80 {
		t.Errorf("%d faults in 200 draws at rate 0.3", n)
	}
	if kinds[FaultSNSThrottled] || len(kinds) != len(AllFaults)-1 {
		t.Errorf("fault kinds for a JSON request: %v", kinds)
	}
	if f := p.decide("sns:Publish", protoQuery); f != "" {
		t.Errorf("a rule for kms:* matched sns:Publish (%s)", f)
	}

	// Sequence numbers per operation, through a live proxy.
	k := NewKumo(t, KumoOptions{Seed: &KumoSeed{Keys: []SeedKey{{ID: seededKeyID}}}})
	var seen []string
	live, err := NewFaultProxy(FaultOptions{Target: k.URL, Before: func(op string, n int, _ []byte) {
		seen = append(seen, op+"#"+string(rune('0'+n)))
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	c2 := kms.NewFromConfig(sdkConfig(), func(o *kms.Options) { o.BaseEndpoint = aws.String(live.URL) })
	for i := 0; i < 2; i++ {
		if _, err := c2.GetKeyPolicy(context.Background(), &kms.GetKeyPolicyInput{KeyId: aws.String(seededKeyID)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c2.DescribeKey(context.Background(), &kms.DescribeKeyInput{KeyId: aws.String(seededKeyID)}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"kms:GetKeyPolicy#1", "kms:GetKeyPolicy#2", "kms:DescribeKey#1"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("Before saw %v, want %v", seen, want)
	}
}
