package emulator

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
)

// TestSeedDemo reads the demo back through the SDK: every key, alias, policy
// and topic of events/README.md, and an alert published to the alert topic
// arriving in the subscribed queue.
func TestSeedDemo(t *testing.T) {
	_, d := NewDemo(t)
	ctx := t.Context()

	wantKeys := map[string]struct{ manager, alias string }{
		DemoOrdersKeyID: {"CUSTOMER", "alias/orders-key"},
		DemoAlarmsKeyID: {"CUSTOMER", "alias/alarms-key"},
		DemoEventsKeyID: {"CUSTOMER", "alias/events-key"},
		DemoAWSSNSKeyID: {"AWS", "alias/aws/sns"},
		DemoAlertsKeyID: {"CUSTOMER", "alias/snskeyguard-alerts"},
	}
	for id, w := range wantKeys {
		out, err := d.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(w.alias)})
		if err != nil {
			t.Errorf("DescribeKey(%s): %v", w.alias, err)
			continue
		}
		if got := aws.ToString(out.KeyMetadata.KeyId); got != id || string(out.KeyMetadata.KeyManager) != w.manager ||
			string(out.KeyMetadata.KeyState) != "Enabled" {
			t.Errorf("%s = %s manager %s state %s; want %s %s Enabled", w.alias, got, out.KeyMetadata.KeyManager,
				out.KeyMetadata.KeyState, id, w.manager)
		}
		if d.Keys[DemoKeyARN(id)] != w.alias {
			t.Errorf("Demo.Keys[%s] = %q, want %q", id, d.Keys[DemoKeyARN(id)], w.alias)
		}
	}

	pols, err := d.KeyPolicies(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := slices.Sorted(maps.Keys(pols)), []string{DemoKeyARN(DemoOrdersKeyID), DemoKeyARN(DemoAlarmsKeyID),
		DemoKeyARN(DemoEventsKeyID), DemoKeyARN(DemoAlertsKeyID)}; !slices.Equal(got, want) {
		t.Errorf("policies of %v, want %v", got, want)
	}
	for arn, p := range pols {
		if string(p) != string(d.Policies[arn]) {
			t.Errorf("policy of %s changed since seeding", arn)
		}
	}
	// The account rewrite reached every statement: no sample account is left.
	for arn, p := range pols {
		if strings.Contains(string(p), "111122223333") {
			t.Errorf("policy of %s still names the samples' account", arn)
		}
	}

	keys, err := d.CurrentTopicKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantTopics := map[string]string{
		DemoTopicARN("orders"): "alias/orders-key", DemoTopicARN("alarms"): "alias/alarms-key",
		DemoTopicARN("events-bus"): "alias/events-key", DemoTopicARN("audit"): "",
		DemoTopicARN("legacy"): "alias/aws/sns", DemoTopicARN(DemoAlertTopic): "alias/snskeyguard-alerts",
	}
	if !maps.Equal(keys, wantTopics) {
		t.Errorf("topic keys = %v\nwant %v", keys, wantTopics)
	}
	if !maps.Equal(d.TopicKeys, wantTopics) {
		t.Errorf("Demo.TopicKeys = %v\nwant %v", d.TopicKeys, wantTopics)
	}
	attrs, err := d.SNS.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(DemoTopicARN("alarms"))})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := attrs.Attributes["Policy"], topicPolicy("alarms",
		[3]string{"AllowCloudWatchAlarms", "cloudwatch.amazonaws.com", "arn:aws:cloudwatch:us-east-1:000000000000:alarm:*"}); got != want {
		t.Errorf("alarms topic policy = %s\nwant %s", got, want)
	}

	if _, err := d.SNS.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(d.AlertTopicARN), Subject: aws.String("probe subject"),
		Message: aws.String(`{"kind":"probe"}`), MessageAttributes: map[string]snstypes.MessageAttributeValue{
			"kind": {DataType: aws.String("String"), StringValue: aws.String("probe")}}}); err != nil {
		t.Fatal(err)
	}
	got, err := d.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []AlertMessage{{TopicARN: d.AlertTopicARN, Subject: "probe subject", Message: `{"kind":"probe"}`,
		Attributes: map[string]string{"kind": "probe"}}}
	if len(got) != 1 || got[0].TopicARN != want[0].TopicARN || got[0].Subject != want[0].Subject ||
		got[0].Message != want[0].Message || !maps.Equal(got[0].Attributes, want[0].Attributes) {
		t.Errorf("alerts = %+v\nwant %+v", got, want)
	}
	// Alerts deletes what it read.
	if again, err := d.Alerts(ctx); err != nil || len(again) != 0 {
		t.Errorf("second Alerts = %+v, %v; want none", again, err)
	}
}

// TestDemoSamples holds the demo's embedded sample policies to the copies of
// shared/rules/testdata the rules tests judge, byte for byte.
func TestDemoSamples(t *testing.T) {
	for name, got := range map[string]string{
		"kms-policy-01-default.json":                        samplePolicy01,
		"kms-policy-02-compliant-cloudwatch-s3-events.json": samplePolicy02,
		"kms-policy-04-sourcearn-wrongly-on-events.json":    samplePolicy04,
	} {
		want, err := os.ReadFile(filepath.Join("..", "..", "shared", "rules", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if got != string(want) {
			t.Errorf("embedded %s differs from shared/rules/testdata/%s", name, name)
		}
	}
}
