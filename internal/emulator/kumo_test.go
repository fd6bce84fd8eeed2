package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
)

// sdkConfig is what a client pointed at an emulator needs; endpoints are set
// per client through BaseEndpoint.
func sdkConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	}
}

const (
	seededKeyID    = "11111111-2222-3333-4444-555555555555"
	disabledKeyID  = "22222222-2222-3333-4444-555555555555"
	awsSNSKeyID    = "33333333-2222-3333-4444-555555555555"
	otherAcctKeyID = "44444444-2222-3333-4444-555555555555"
)

const servicePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"cw","Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},` +
	`"Action":["kms:GenerateDataKey*","kms:Decrypt"],"Resource":"*","Condition":{"StringEquals":{"aws:SourceAccount":"000000000000"}}}]}`

func probeSeed() *KumoSeed {
	return &KumoSeed{
		Keys: []SeedKey{
			{ID: seededKeyID, Description: "orders key", Aliases: []string{"alias/orders"}, Policy: servicePolicy,
				Tags: map[string]string{"snskeyguard:exempt": "true"}},
			{ID: disabledKeyID, State: "Disabled"},
			AWSManagedSNSKey(awsSNSKeyID),
			{ID: otherAcctKeyID, ARN: "arn:aws:kms:us-east-1:111122223333:key/" + otherAcctKeyID},
		},
		Topics: []SeedTopic{{Name: "seeded", Attributes: map[string]string{"KmsMasterKeyId": "alias/orders"},
			Tags: map[string]string{"exempt": "true"}},
			{Name: "sample", ARN: "arn:aws:sns:us-east-1:111122223333:sample"}},
	}
}

// TestKumoProbes checks, with the real SDK clients, the kumo behaviour the
// product relies on (and the surprises recorded in the package comment).
func TestKumoProbes(t *testing.T) {
	k := NewKumo(t, KumoOptions{Seed: probeSeed()})
	ctx := t.Context()
	cfg := sdkConfig()
	cfg.BaseEndpoint = aws.String(k.URL)
	kc := kms.NewFromConfig(cfg)
	sc := sns.NewFromConfig(cfg)

	t.Run("seeded keys", func(t *testing.T) {
		for _, c := range []struct{ id, manager, state string }{
			{seededKeyID, "CUSTOMER", "Enabled"}, {"alias/orders", "CUSTOMER", "Enabled"},
			{disabledKeyID, "CUSTOMER", "Disabled"}, {"alias/aws/sns", "AWS", "Enabled"},
			{"arn:aws:kms:us-east-1:000000000000:key/" + awsSNSKeyID, "AWS", "Enabled"},
		} {
			out, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(c.id)})
			if err != nil {
				t.Errorf("DescribeKey(%s): %v", c.id, err)
				continue
			}
			m := out.KeyMetadata
			if string(m.KeyManager) != c.manager || string(m.KeyState) != c.state || m.KeySpec != kmstypes.KeySpecSymmetricDefault ||
				m.KeyUsage != kmstypes.KeyUsageTypeEncryptDecrypt || m.Enabled != (c.state == "Enabled") {
				t.Errorf("DescribeKey(%s) = manager %s state %s spec %s usage %s enabled %v; want %s %s", c.id, m.KeyManager,
					m.KeyState, m.KeySpec, m.KeyUsage, m.Enabled, c.manager, c.state)
			}
		}
		pol, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(seededKeyID), PolicyName: aws.String("default")})
		if err != nil || aws.ToString(pol.Policy) != servicePolicy {
			t.Errorf("GetKeyPolicy(seeded) = %q, %v; want the policy kumo was started with", aws.ToString(pol.Policy), err)
		}
		tags, err := kc.ListResourceTags(ctx, &kms.ListResourceTagsInput{KeyId: aws.String(seededKeyID)})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].TagValue) != "true" {
			t.Errorf("ListResourceTags(seeded) = %+v, %v", tags, err)
		}
		al, err := kc.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(awsSNSKeyID)})
		if err != nil || len(al.Aliases) != 1 || aws.ToString(al.Aliases[0].AliasName) != "alias/aws/sns" {
			t.Errorf("ListAliases(aws/sns key) = %+v, %v", al, err)
		}
		// Seeded ARNs may name another account (the samples' 111122223333).
		oa, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:111122223333:key/" + otherAcctKeyID)})
		if err != nil || aws.ToString(oa.KeyMetadata.Arn) != "arn:aws:kms:us-east-1:111122223333:key/"+otherAcctKeyID {
			t.Errorf("DescribeKey(other account ARN) = %+v, %v", oa, err)
		} else if got := aws.ToString(oa.KeyMetadata.AWSAccountId); got != KumoAccount {
			t.Errorf("seeded other-account key: AWSAccountId = %q; the package comment says kumo answers %s", got, KumoAccount)
		}
		// Encrypt works with the key material kumo was started with.
		if _, err := kc.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/orders"), Plaintext: []byte("x")}); err != nil {
			t.Errorf("Encrypt with seeded key: %v", err)
		}
	})

	t.Run("key policy round trip", func(t *testing.T) {
		ck, err := kc.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("probe")})
		if err != nil {
			t.Fatal(err)
		}
		id := aws.ToString(ck.KeyMetadata.KeyId)
		if got := aws.ToString(ck.KeyMetadata.Arn); got != "arn:aws:kms:us-east-1:000000000000:key/"+id {
			t.Errorf("key ARN = %s", got)
		}
		if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/probe"), TargetKeyId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default"), Policy: aws.String(servicePolicy)}); err != nil {
			t.Fatal(err)
		}
		got, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(id), PolicyName: aws.String("default")})
		if err != nil || aws.ToString(got.Policy) != servicePolicy {
			t.Errorf("GetKeyPolicy = %q, %v; want byte-identical policy", aws.ToString(got.Policy), err)
		}
		d, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/probe")})
		if err != nil || aws.ToString(d.KeyMetadata.KeyId) != id {
			t.Errorf("DescribeKey(alias/probe) = %v, %v", d, err)
		}
		// Recorded surprise: DescribeKey by alias ARN fails in kumo.
		_, err = kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("arn:aws:kms:us-east-1:000000000000:alias/probe")})
		var nf *kmstypes.NotFoundException
		if !errors.As(err, &nf) {
			t.Errorf("DescribeKey(alias ARN) err = %v; the package comment says kumo answers NotFoundException", err)
		}
		_, err = kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
		if !errors.As(err, &nf) {
			t.Errorf("DescribeKey(missing alias) err = %v, want NotFoundException", err)
		}
	})

	t.Run("topics", func(t *testing.T) {
		topicPolicy := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"cloudwatch.amazonaws.com"},"Action":"sns:Publish","Resource":"*"}]}`
		ct, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("orders"),
			Attributes: map[string]string{"KmsMasterKeyId": "alias/orders", "Policy": topicPolicy}})
		if err != nil {
			t.Fatal(err)
		}
		arn := aws.ToString(ct.TopicArn)
		if arn != "arn:aws:sns:us-east-1:000000000000:orders" {
			t.Errorf("TopicArn = %s", arn)
		}
		ga, err := sc.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if ga.Attributes["KmsMasterKeyId"] != "alias/orders" || ga.Attributes["Policy"] != topicPolicy {
			t.Errorf("GetTopicAttributes = %v", ga.Attributes)
		}
		seeded := "arn:aws:sns:us-east-1:000000000000:seeded"
		ga, err = sc.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(seeded)})
		if err != nil || ga.Attributes["KmsMasterKeyId"] != "alias/orders" {
			t.Errorf("GetTopicAttributes(seeded) = %v, %v", ga, err)
		} else if ga.Attributes["Policy"] == "" {
			t.Errorf("seeded topic has no Policy; the package comment says kumo always returns one")
		}
		tags, err := sc.ListTagsForResource(ctx, &sns.ListTagsForResourceInput{ResourceArn: aws.String(seeded)})
		if err != nil || len(tags.Tags) != 1 || aws.ToString(tags.Tags[0].Value) != "true" {
			t.Errorf("ListTagsForResource(seeded) = %+v, %v; want exempt=true", tags, err)
		}
		lt, err := sc.ListTopics(ctx, &sns.ListTopicsInput{})
		if err != nil {
			t.Fatal(err)
		}
		var arns []string
		for _, tp := range lt.Topics {
			arns = append(arns, aws.ToString(tp.TopicArn))
		}
		slices.Sort(arns)
		sample := "arn:aws:sns:us-east-1:111122223333:sample"
		if _, err := sc.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String(sample)}); err != nil {
			t.Errorf("GetTopicAttributes(seeded other-account topic): %v", err)
		}
		if want := []string{arn, seeded, sample}; !slices.Equal(arns, want) {
			t.Errorf("ListTopics = %v, want %v", arns, want)
		}
		if _, err := sc.Publish(ctx, &sns.PublishInput{TopicArn: aws.String(arn), Message: aws.String(`{"k":"v"}`), Subject: aws.String("alert")}); err != nil {
			t.Errorf("Publish: %v", err)
		}
		_, err = sc.GetTopicAttributes(ctx, &sns.GetTopicAttributesInput{TopicArn: aws.String("arn:aws:sns:us-east-1:000000000000:none")})
		var api smithy.APIError
		if !errors.As(err, &api) || api.ErrorCode() != "NotFound" {
			t.Errorf("GetTopicAttributes(missing) err = %v, want NotFound", err)
		}
	})

	t.Run("cloudwatch alarms", func(t *testing.T) {
		cw := cloudwatch.NewFromConfig(cfg)
		action := "arn:aws:sns:us-east-1:000000000000:orders"
		_, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
			AlarmName: aws.String("cpu"), Namespace: aws.String("AWS/EC2"), MetricName: aws.String("CPUUtilization"),
			Statistic: cwtypes.StatisticAverage, Period: aws.Int32(300), EvaluationPeriods: aws.Int32(1),
			Threshold: aws.Float64(80), ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
			AlarmActions: []string{action},
		})
		if err != nil {
			t.Fatal(err)
		}
		out, err := cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.MetricAlarms) != 1 || !slices.Equal(out.MetricAlarms[0].AlarmActions, []string{action}) {
			t.Errorf("DescribeAlarms = %+v", out.MetricAlarms)
		}
	})

	t.Run("eventbridge rules", func(t *testing.T) {
		eb := eventbridge.NewFromConfig(cfg)
		target := "arn:aws:sns:us-east-1:000000000000:orders"
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("to-orders"),
			EventPattern: aws.String(`{"source":["aws.sns"]}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("to-orders"),
			Targets: []ebtypes.Target{{Id: aws.String("t1"), Arn: aws.String(target)}}}); err != nil {
			t.Fatal(err)
		}
		rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{})
		if err != nil || len(rules.Rules) != 1 || aws.ToString(rules.Rules[0].Name) != "to-orders" {
			t.Fatalf("ListRules = %+v, %v", rules, err)
		}
		tg, err := eb.ListTargetsByRule(ctx, &eventbridge.ListTargetsByRuleInput{Rule: aws.String("to-orders")})
		if err != nil || len(tg.Targets) != 1 || aws.ToString(tg.Targets[0].Arn) != target {
			t.Errorf("ListTargetsByRule = %+v, %v", tg, err)
		}
	})

	t.Run("sts", func(t *testing.T) {
		st := sts.NewFromConfig(cfg)
		id, err := st.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
		if err != nil || aws.ToString(id.Account) != KumoAccount {
			t.Errorf("GetCallerIdentity = %+v, %v", id, err)
		}
	})
}

func TestKumoSeedFormat(t *testing.T) {
	dir := t.TempDir()
	if err := writeKumoSeed(dir, probeSeed()); err != nil {
		t.Fatal(err)
	}
	var kmsFile struct {
		Keys    map[string]map[string]any
		Aliases map[string]map[string]any
	}
	b, _ := os.ReadFile(filepath.Join(dir, "kms.json"))
	if err := json.Unmarshal(b, &kmsFile); err != nil {
		t.Fatal(err)
	}
	aws := kmsFile.Keys[awsSNSKeyID]
	if aws["KeyManager"] != "AWS" || aws["KeyID"] != awsSNSKeyID || aws["Enabled"] != true ||
		kmsFile.Aliases["alias/aws/sns"]["TargetKeyID"] != awsSNSKeyID {
		t.Errorf("kms.json = %s", b)
	}
	if err := writeKumoSeed(dir, &KumoSeed{Keys: []SeedKey{{ID: "a", Aliases: []string{"alias/x"}}, {ID: "b", Aliases: []string{"alias/x"}}}}); err == nil ||
		!strings.Contains(err.Error(), "alias/x") {
		t.Errorf("duplicate alias: err = %v", err)
	}
}

func TestKumoClose(t *testing.T) {
	RequireBinary(t, KumoBinary)
	k, err := StartKumo(context.Background(), KumoOptions{Seed: probeSeed()})
	if err != nil {
		t.Fatal(err)
	}
	pid, dir := k.Pid(), k.DataDir
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("kumo pid %d alive after Close", pid)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data dir %s left behind: %v", dir, err)
	}
}
