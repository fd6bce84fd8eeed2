package awsedge

import (
	"context"
	"encoding/json"
	"github.com/snskeyguard/snskeyguard/shared/configrule"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/snskeyguard/snskeyguard/internal/emulator"
	"github.com/snskeyguard/snskeyguard/shared/rules"
)

// TestAgainstKumo exercises every method once against a real kumo (plus the
// Config and Security Hub fakes kumo lacks), through the SDK's own
// AWS_ENDPOINT_URL* variables. It skips without the binary, except in CI.
func TestAgainstKumo(t *testing.T) {
	const (
		keyID   = "11111111-2222-3333-4444-555555555555"
		awsKey  = "99999999-2222-3333-4444-555555555555"
		acct    = emulator.KumoAccount
		keyARN  = "arn:aws:kms:us-east-1:" + acct + ":key/" + keyID
		topic   = "arn:aws:sns:us-east-1:" + acct + ":orders"
		plain   = "arn:aws:sns:us-east-1:" + acct + ":plain"
		policy1 = `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"}]}`
	)
	stack := emulator.NewStack(t, emulator.StackOptions{Kumo: emulator.KumoOptions{Seed: &emulator.KumoSeed{
		Keys: []emulator.SeedKey{
			{ID: keyID, Aliases: []string{"alias/orders"}, Tags: map[string]string{"team": "pay"}, Policy: policy1},
			emulator.AWSManagedSNSKey(awsKey),
		},
		Topics: []emulator.SeedTopic{
			{Name: "orders", Attributes: map[string]string{"KmsMasterKeyId": "alias/orders"}, Tags: map[string]string{"guard-exempt": "true"}},
			{Name: "plain"},
		},
	}}})
	for k, v := range stack.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_PROFILE", "")

	ctx := context.Background()
	e, err := Load(ctx, Options{CrossAccountRoleName: "GuardMember", MaxAttempts: 2, AttemptTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := e.Account(ctx, "")

	// Identity and accounts.
	own, role, err := e.Identity(ctx)
	if err != nil || own != acct {
		t.Fatalf("identity %q %q %v", own, role, err)
	}
	if same, _ := e.Account(ctx, acct); same != a {
		t.Fatal("own account id did not give the own clients")
	}
	member, err := e.Account(ctx, "444455556666")
	if err != nil {
		t.Fatal(err)
	}
	if topics, err := member.ListTopics(ctx); err != nil || len(topics) != 2 {
		t.Fatalf("through the assumed role: %v %v", topics, err)
	}

	// SNS.
	topics, err := a.ListTopics(ctx)
	sort.Strings(topics)
	if err != nil || !reflect.DeepEqual(topics, []string{topic, plain}) {
		t.Fatalf("topics %v %v", topics, err)
	}
	got, err := a.GetTopic(ctx, topic)
	if err != nil || got.ARN != topic || got.KMSMasterKeyID != "alias/orders" || !json.Valid(got.Policy) {
		t.Fatalf("topic %+v %v", got, err)
	}
	if tags, err := a.TopicTags(ctx, topic); err != nil || !reflect.DeepEqual(tags, map[string]string{"guard-exempt": "true"}) {
		t.Fatalf("topic tags %v %v", tags, err)
	}
	if err := a.SetTopicKey(ctx, plain, keyARN); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.GetTopic(ctx, plain); got.KMSMasterKeyID != keyARN {
		t.Fatalf("SetTopicKey not applied: %+v", got)
	}
	if _, err := a.GetTopic(ctx, "arn:aws:sns:us-east-1:"+acct+":missing"); Classify(err) != NotFound {
		t.Fatalf("missing topic: %v (%v)", err, Classify(err))
	}
	if err := a.Publish(ctx, topic, "SNS key guard: finding", `{"kind":"finding"}`, map[string]string{"code": "GRANT_MISSING"}); err != nil {
		t.Fatal(err)
	}

	// KMS: every way a topic can name the key resolves to the same key.
	want := rules.Key{ARN: keyARN, ID: keyID, Manager: "CUSTOMER", Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT", Origin: "AWS_KMS", State: "Enabled"}
	for _, name := range []string{keyID, keyARN, "alias/orders", "arn:aws:kms:us-east-1:" + acct + ":alias/orders"} {
		k, err := a.DescribeKey(ctx, name)
		w := want
		w.NamedAs = name
		if err != nil || !reflect.DeepEqual(k, w) {
			t.Errorf("DescribeKey(%s) = %+v, %v", name, k, err)
		}
	}
	if k, err := a.DescribeKey(ctx, "alias/aws/sns"); err != nil || k.Manager != "AWS" {
		t.Errorf("AWS managed key %+v %v", k, err)
	}
	if _, err := a.DescribeKey(ctx, "alias/none"); Classify(err) != NotFound {
		t.Errorf("missing alias: %v (%v)", err, Classify(err))
	}
	if _, err := a.DescribeKey(ctx, "00000000-0000-0000-0000-000000000000"); Classify(err) != NotFound {
		t.Errorf("missing key: %v (%v)", err, Classify(err))
	}
	p, err := a.KeyPolicy(ctx, keyARN)
	if err != nil || string(p) != policy1 {
		t.Fatalf("policy %s %v", p, err)
	}
	policy2 := `{"Version":"2012-10-17","Statement":[{"Sid":"root","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:root"},"Action":"kms:*","Resource":"*"},` +
		`{"Effect":"Allow","Principal":{"Service":"events.amazonaws.com"},"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*"}]}`
	if err := a.PutKeyPolicy(ctx, keyID, []byte(policy2)); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.KeyPolicy(ctx, keyID); string(p) != policy2 {
		t.Fatalf("policy after write %s", p)
	}
	if al, err := a.KeyAliases(ctx, keyID); err != nil || !reflect.DeepEqual(al, []string{"alias/orders"}) {
		t.Fatalf("aliases %v %v", al, err)
	}
	if tags, err := a.KeyTags(ctx, keyID); err != nil || !reflect.DeepEqual(tags, map[string]string{"team": "pay"}) {
		t.Fatalf("key tags %v %v", tags, err)
	}

	// Discovery: an alarm and a rule that publish to the topic.
	cfg := e.Config()
	cw := cloudwatch.NewFromConfig(cfg)
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String("cpu"), MetricName: aws.String("CPUUtilization"), Namespace: aws.String("AWS/EC2"),
		Statistic: "Average", Period: aws.Int32(60), EvaluationPeriods: aws.Int32(1), Threshold: aws.Float64(90),
		ComparisonOperator: "GreaterThanThreshold", AlarmActions: []string{topic},
	}); err != nil {
		t.Fatal(err)
	}
	alarms, err := a.AlarmTopics(ctx)
	if err != nil || len(alarms) != 1 || len(alarms[topic]) != 1 {
		t.Fatalf("alarm topics %v %v", alarms, err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("kms-changes"), EventPattern: aws.String(`{"source":["aws.kms"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("kms-changes"),
		Targets: []ebtypes.Target{{Id: aws.String("t1"), Arn: aws.String(topic)}}}); err != nil {
		t.Fatal(err)
	}
	ruleIx, err := a.RuleTopics(ctx)
	if err != nil || len(ruleIx) != 1 || len(ruleIx[topic]) != 1 {
		t.Fatalf("rule topics %v %v", ruleIx, err)
	}

	// Config and Security Hub (fakes).
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := a.PutEvaluations(ctx, "token", []configrule.Evaluation{{ResourceType: "AWS::SNS::Topic", ResourceID: topic, Compliance: "NON_COMPLIANT",
		Annotation: "GRANT_MISSING", OrderingTimestamp: at}}); err != nil {
		t.Fatal(err)
	}
	if ev := stack.Config.Evaluations(); len(ev) != 1 {
		t.Fatalf("evaluations recorded %+v", ev)
	}
	stack.Config.SetResources(`{"resourceId":"orders"}`)
	if rows, err := a.SelectResources(ctx, "SELECT resourceId WHERE resourceType = 'AWS::SNS::Topic'"); err != nil || len(rows) != 1 {
		t.Fatalf("select %s %v", rows, err)
	}
	if err := a.ImportFindings(ctx, []Finding{{TopicARN: topic, KeyARN: keyARN, Code: "GRANT_MISSING", Title: "t", Severity: "HIGH"}}); err != nil {
		t.Fatal(err)
	}
	if ids := stack.SecurityHub.FindingIDs(); !reflect.DeepEqual(ids, []string{topic + "/GRANT_MISSING"}) {
		t.Fatalf("finding ids %v", ids)
	}

	calls := e.Calls()
	for _, op := range []string{"STS.GetCallerIdentity", "STS.AssumeRole", "SNS.ListTopics", "SNS.GetTopicAttributes", "SNS.ListTagsForResource",
		"SNS.SetTopicAttributes", "SNS.Publish", "KMS.DescribeKey", "KMS.GetKeyPolicy", "KMS.PutKeyPolicy", "KMS.ListAliases",
		"KMS.ListResourceTags", "CloudWatch.DescribeAlarms", "EventBridge.ListEventBuses", "EventBridge.ListRules",
		"EventBridge.ListTargetsByRule", "ConfigService.PutEvaluations", "ConfigService.SelectResourceConfig", "SecurityHub.BatchImportFindings"} {
		if calls[op] == 0 {
			t.Errorf("no %s counted (calls %v)", op, calls)
		}
	}
	// 7 DescribeKey calls by the test, plus kumo's refusal of the alias ARN
	// answered by one fallback to the alias name.
	if calls["STS.GetCallerIdentity"] != 1 || calls["KMS.PutKeyPolicy"] != 1 || calls["KMS.DescribeKey"] != 8 {
		t.Errorf("calls %v", calls)
	}
}
